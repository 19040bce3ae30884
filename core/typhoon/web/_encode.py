"""Response body helpers on the request path: JSON bodies and entity tags.

Layer 5 (web), private to ``typhoon.web.handler``. Imports ``json``, ``hashlib`` and
``typhoon.escape``.

Both helpers give exactly what the plain spelling gives (``json_encode(value)`` encoded
as UTF-8; the quoted SHA-1 hex digest of the body) at a fraction of its fixed cost,
which dominates for the small bodies most responses carry:

* ``json.dumps`` builds a new C encoder for every call; :func:`json_body` keeps one.
  That encoder skips the circular-reference bookkeeping, so any failure (a cycle, a
  value JSON cannot represent) is retried with :func:`typhoon.escape.json_encode`,
  which raises the usual error.
* A SHA-1 through OpenSSL costs several thousand instructions of set-up however short
  the input; :func:`etag_of` remembers the tags of recent small bodies (a hello-world
  or a fixed JSON answer is the same bytes every time) in a bounded table.
"""

from __future__ import annotations

__all__ = ["etag_of", "json_body", "known_etags"]

import hashlib
import json.encoder
from collections.abc import Callable, Iterable
from typing import Any

from typhoon.escape import json_encode

#: Bodies up to this size have their entity tag remembered.
ETAG_CACHE_MAX_BODY = 512
#: The table is emptied when it holds this many tags (bounded memory: about 300 KiB).
ETAG_CACHE_MAX_ENTRIES = 512

#: Entity tags of recent small bodies (see etag_of); read directly on the hot path.
known_etags: dict[bytes, str] = {}


def etag_of(body: bytes) -> str:
    """The entity tag ``RequestHandler.compute_etag`` gives ``body``: quoted SHA-1 hex.

    ``finish`` reads :data:`known_etags` itself for a small body and calls this only
    when the tag is not there.
    """
    if len(body) > ETAG_CACHE_MAX_BODY:
        return f'"{hashlib.sha1(body).hexdigest()}"'
    tag = known_etags.get(body)
    if tag is None:
        tag = f'"{hashlib.sha1(body).hexdigest()}"'
        if len(known_etags) >= ETAG_CACHE_MAX_ENTRIES:
            known_etags.clear()
        known_etags[body] = tag
    return tag


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_encoder() -> Callable[[Any, int], Iterable[str]] | None:
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return None
    # The arguments of json.dumps's defaults: no indent, ", " and ": " separators,
    # keys unsorted and never skipped, NaN allowed, ASCII output. No markers table.
    encoder: Callable[[Any, int], Iterable[str]] = make(
        None,
        _not_serializable,
        json.encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )
    return encoder


_encoder = _make_encoder()


def json_body(value: dict[str, Any]) -> bytes:
    """``json_encode(value)`` as UTF-8 bytes (``</`` escaped for ``<script>`` blocks)."""
    if _encoder is not None:
        try:
            text = "".join(_encoder(value, 0))
        except Exception:
            # Cycles and unsupported values: the standard encoder names the problem.
            text = json_encode(value)
        else:
            if "</" in text:
                text = text.replace("</", "<\\/")
    else:
        text = json_encode(value)
    return text.encode("utf-8")
