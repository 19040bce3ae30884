"""HTTP header fields: the :class:`HTTPHeaders` multi-map and header-parameter parsing.

Layer 4 (private to ``typhoon.httputil`` and ``typhoon.http1proto``): imports only
``typhoon.errors`` and the standard library (and ``mypy_extensions`` for the compiler's
class decorator, when it is installed). ``typhoon.httputil`` re-exports the public names.
Compiled with the request path in the wheel (``core/build_native.py``); the class stays
open to subclasses written in Python.

Strategy. Field names are case-insensitive (RFC 9110, section 5.1), so every name is
stored in one canonical spelling, ``Content-Type``: each ``-``-separated word
capitalised. The canonical spelling of the few dozen names seen on nearly every message
comes from constant tables (for text and for the raw bytes the parser hands over), so
the hot path costs one dictionary lookup; other names are normalised once and memoised
in a bounded cache. Values are kept as a list per name, in arrival order, so repeated
field lines cost O(1) each and the comma-joined form (RFC 9110, section 5.3) is built
only when someone asks for it, in one pass.

Values that reach the wire through :meth:`HTTPHeaders.add` or item assignment are
checked for CR, LF and NUL (RFC 9110, section 5.5), the three characters that would let
a value end its line and start another (response splitting); the check raises instead
of cleaning, so a bug is seen rather than hidden.
"""

from __future__ import annotations

__all__ = [
    "HTTPHeaders",
    "normalize_header_name",
    "parse_header_params",
]

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from functools import lru_cache
from typing import Any, Final

from typhoon.errors import HTTPInputError, HTTPOutputError

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # only the compiler reads the decorator; at run time it does nothing

    def mypyc_attr(*_args: Any, **_kwargs: Any) -> Any:  # type: ignore[misc]
        return lambda cls: cls


# Names seen on most requests and responses. Their canonical spelling is precomputed so
# the parser and the web layer never normalise them at run time.
_COMMON_NAMES: Final = (
    "Accept",
    "Accept-Charset",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Ranges",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Request-Headers",
    "Access-Control-Request-Method",
    "Age",
    "Allow",
    "Authorization",
    "Cache-Control",
    "Connection",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Location",
    "Content-Range",
    "Content-Security-Policy",
    "Content-Type",
    "Cookie",
    "Date",
    "Dnt",
    "Etag",
    "Expect",
    "Expires",
    "Forwarded",
    "From",
    "Host",
    "If-Match",
    "If-Modified-Since",
    "If-None-Match",
    "If-Range",
    "If-Unmodified-Since",
    "Keep-Alive",
    "Last-Modified",
    "Link",
    "Location",
    "Max-Forwards",
    "Origin",
    "Pragma",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Connection",
    "Range",
    "Referer",
    "Retry-After",
    "Sec-Ch-Ua",
    "Sec-Ch-Ua-Mobile",
    "Sec-Ch-Ua-Platform",
    "Sec-Fetch-Dest",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Site",
    "Sec-Fetch-User",
    "Sec-Websocket-Accept",
    "Sec-Websocket-Extensions",
    "Sec-Websocket-Key",
    "Sec-Websocket-Protocol",
    "Sec-Websocket-Version",
    "Server",
    "Set-Cookie",
    "Strict-Transport-Security",
    "Te",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    "Upgrade-Insecure-Requests",
    "User-Agent",
    "Vary",
    "Via",
    "Www-Authenticate",
    "X-Content-Type-Options",
    "X-Csrftoken",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Proto",
    "X-Frame-Options",
    "X-Http-Method-Override",
    "X-Real-Ip",
    "X-Request-Id",
    "X-Requested-With",
    "X-Scheme",
    "X-Xsrftoken",
)


def _spellings(name: str) -> tuple[str, ...]:
    """The spellings of a canonical name that clients commonly send."""
    usual = {
        "Dnt": "DNT",
        "Etag": "ETag",
        "Te": "TE",
        "Www-Authenticate": "WWW-Authenticate",
        "X-Real-Ip": "X-Real-IP",
        "X-Csrftoken": "X-CSRFToken",
        "X-Xsrftoken": "X-XSRFToken",
        "Sec-Websocket-Accept": "Sec-WebSocket-Accept",
        "Sec-Websocket-Extensions": "Sec-WebSocket-Extensions",
        "Sec-Websocket-Key": "Sec-WebSocket-Key",
        "Sec-Websocket-Protocol": "Sec-WebSocket-Protocol",
        "Sec-Websocket-Version": "Sec-WebSocket-Version",
        "Sec-Ch-Ua": "Sec-CH-UA",
        "Sec-Ch-Ua-Mobile": "Sec-CH-UA-Mobile",
        "Sec-Ch-Ua-Platform": "Sec-CH-UA-Platform",
        "X-Http-Method-Override": "X-HTTP-Method-Override",
    }.get(name, name)
    return (name, name.lower(), name.upper(), usual)


#: Canonical spelling by text spelling, for the common names (never mutated).
_CANONICAL: Final[dict[str, str]] = {
    spelling: name for name in _COMMON_NAMES for spelling in _spellings(name)
}

#: Canonical spelling by raw bytes, for the parser's hot path (never mutated).
_CANONICAL_BYTES: Final[dict[bytes, str]] = {
    spelling.encode("latin-1"): name for spelling, name in _CANONICAL.items()
}

#: RFC 9110, section 5.6.2: token = 1*tchar.
_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters never allowed in a received field line (tab is).
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@lru_cache(maxsize=1024)
def _normalize_uncommon(name: str) -> str:
    return "-".join([word.capitalize() for word in name.split("-")])


def normalize_header_name(name: str) -> str:
    """Return the canonical spelling of a field name: ``content-TYPE`` -> ``Content-Type``.

    Field names are case-insensitive (RFC 9110, section 5.1); one spelling per name lets
    :class:`HTTPHeaders` use a plain dict.
    """
    canonical = _CANONICAL.get(name)
    if canonical is None:
        return _normalize_uncommon(name)
    return canonical


def normalize_header_name_bytes(name: bytes) -> str:
    """Canonical text spelling of a raw field name (latin-1, as received)."""
    canonical = _CANONICAL_BYTES.get(name)
    if canonical is None:
        return _normalize_uncommon(name.decode("latin-1"))
    return canonical


def _bad_value(name: str) -> HTTPOutputError:
    return HTTPOutputError(f"invalid character (CR, LF or NUL) in value of header {name!r}")


def _field_value(name: str, value: object) -> str:
    """``value`` as it goes on the wire, checked for CR, LF and NUL.

    Bytes stand for themselves (their latin-1 text).

    Raises:
        HTTPOutputError: the value contains one of them.
        TypeError: the value is neither text nor bytes.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray):
        text = bytes(value).decode("latin-1")
    else:
        raise TypeError(
            f"value of header {name!r} must be str or bytes, not {type(value).__name__}"
        )
    # RFC 9110, section 5.5: CR, LF and NUL never belong in a value; one would let the
    # value start a new header line (response splitting). A printable value has none of
    # them, which one pass tells for nearly every value.
    if not text.isprintable() and ("\r" in text or "\n" in text or "\x00" in text):
        raise _bad_value(name)
    return text


def _check_output_name(name: str) -> None:
    if name not in _CANONICAL and _TOKEN_RE.fullmatch(name) is None:
        raise HTTPOutputError(f"invalid header name {name!r}: not an RFC 9110 token")


# Compiled as a native class that interpreted code may still subclass.
@mypyc_attr(allow_interpreted_subclasses=True)
class HTTPHeaders(MutableMapping[str, str]):
    """A case-insensitive multi-map of HTTP header fields.

    Item access works with one value per name: ``headers["Set-Cookie"]`` returns every
    value joined with ``,`` and assigning replaces all of them. :meth:`add`,
    :meth:`get_list` and :meth:`get_all` work with the individual field lines, which is
    what ``Set-Cookie`` and other non-combinable fields need. Names come back in their
    canonical ``Http-Header-Case`` spelling.

    Values given through :meth:`add`, item assignment or the constructor must not
    contain CR, LF or NUL: these raise :class:`~typhoon.errors.HTTPOutputError`, since
    such a value would inject extra header lines on the wire. A ``bytes`` value is
    kept as the text of the same bytes (latin-1), so it goes on the wire unchanged.

    >>> h = HTTPHeaders({"content-type": "text/html"})
    >>> h["Content-Type"]
    'text/html'
    >>> h.add("Set-Cookie", "A=B")
    >>> h.add("Set-Cookie", "C=D")
    >>> h["set-cookie"]
    'A=B,C=D'
    >>> h.get_list("set-cookie")
    ['A=B', 'C=D']
    """

    __slots__ = ("_as_list",)

    _as_list: dict[str, list[str]]

    def __init__(
        self,
        __fields: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        **kwargs: str,
    ) -> None:
        self._as_list = {}
        if __fields is None:
            if kwargs:
                self.update(**kwargs)
        elif not kwargs and isinstance(__fields, HTTPHeaders):
            # Copy every field line, not just the joined values.
            for name, value in __fields.get_all():
                self.add(name, value)
        else:
            self.update(__fields, **kwargs)

    @classmethod
    def _from_parsed(cls, fields: dict[str, list[str]]) -> HTTPHeaders:
        """Wrap fields the HTTP/1.1 parser already normalised and validated (no copy)."""
        headers = HTTPHeaders() if cls is HTTPHeaders else cls()
        headers._as_list = fields
        return headers

    # --- multi-value interface -----------------------------------------------------

    def add(self, name: str, value: str | bytes | bytearray) -> None:
        """Add a field line, keeping the values already present for ``name``.

        Raises:
            HTTPOutputError: ``value`` contains CR, LF or NUL, or ``name`` is not a token.
        """
        norm = _CANONICAL.get(name)
        if norm is None:
            norm = _normalize_uncommon(name)
            _check_output_name(norm)
        text = _field_value(norm, value)
        values = self._as_list.get(norm)
        if values is None:
            self._as_list[norm] = [text]
        else:
            values.append(text)

    def get_list(self, name: str) -> list[str]:
        """Return every value of ``name`` as a new list (empty when absent)."""
        values = self._as_list.get(normalize_header_name(name))
        return [] if values is None else list(values)

    def get_all(self) -> Iterator[tuple[str, str]]:
        """Yield every ``(name, value)`` field line; a repeated name yields one pair per line."""
        for name, values in self._as_list.items():
            for value in values:
                yield name, value

    def parse_line(self, line: str) -> None:
        """Add one received ``Name: value`` field line.

        An empty line (the end of a header block, which a ``header_callback`` also
        receives) adds nothing. Obsolete line folding (a line starting with whitespace,
        RFC 9112 section 5.2), whitespace between the name and the colon (RFC 9112
        section 5.1), and control characters other than horizontal tab are rejected.

        Raises:
            HTTPInputError: the line is not a valid field line.
        """
        if line.endswith("\r\n"):
            line = line[:-2]
        if not line:
            return
        # RFC 9110, section 5.5: a field value is VCHAR, obs-text, SP and HTAB; no
        # other control character (CR, LF and NUL included) belongs in a field line.
        if _CONTROL_RE.search(line) is not None:
            raise HTTPInputError("Invalid header value: a control character in a header line")
        if line[:1] in (" ", "\t"):
            raise HTTPInputError("obsolete line folding is not supported")
        name, sep, value = line.partition(":")
        if not sep:
            raise HTTPInputError(f"no colon in header line {line[:64]!r}")
        if _TOKEN_RE.fullmatch(name) is None:
            raise HTTPInputError(f"invalid header name {name[:64]!r}")
        norm = normalize_header_name(name)
        value = value.strip(" \t")
        values = self._as_list.get(norm)
        if values is None:
            self._as_list[norm] = [value]
        else:
            values.append(value)

    @classmethod
    def parse(cls, headers: str) -> HTTPHeaders:
        """Build headers from a received header block, in time linear in its length.

        Lines end with CRLF; a block that contains no CR at all may use bare LF (older
        peers). A bare CR, or a CR not followed by LF, is rejected.

        >>> h = HTTPHeaders.parse("Content-Type: text/html\\r\\nContent-Length: 42\\r\\n")
        >>> sorted(h.items())
        [('Content-Length', '42'), ('Content-Type', 'text/html')]

        Raises:
            HTTPInputError: a line is not a valid field line.
        """
        result = cls()
        lines = headers.split("\r\n") if "\r" in headers else headers.split("\n")
        for line in lines:
            if line:
                result.parse_line(line)
        return result

    # --- mapping interface ---------------------------------------------------------

    def __setitem__(self, name: str, value: str | bytes | bytearray) -> None:
        norm = _CANONICAL.get(name)
        if norm is None:
            norm = _normalize_uncommon(name)
            _check_output_name(norm)
        self._as_list[norm] = [_field_value(norm, value)]

    def __getitem__(self, name: str) -> str:
        values = self._as_list[_CANONICAL.get(name) or _normalize_uncommon(name)]
        if len(values) == 1:
            return values[0]
        # RFC 9110, section 5.3: field lines with the same name combine with commas.
        return ",".join(values)

    def get(self, name: str, default: Any = None) -> Any:
        """Return the (comma-joined) value of ``name``, or ``default`` when absent."""
        values = self._as_list.get(_CANONICAL.get(name) or _normalize_uncommon(name))
        if values is None:
            return default
        if len(values) == 1:
            return values[0]
        return ",".join(values)

    def __contains__(self, name: object) -> bool:
        if type(name) is not str and not isinstance(name, str):
            return False
        return (_CANONICAL.get(name) or _normalize_uncommon(name)) in self._as_list

    def __delitem__(self, name: str) -> None:
        del self._as_list[normalize_header_name(name)]

    def __len__(self) -> int:
        return len(self._as_list)

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_list)

    def copy(self) -> HTTPHeaders:
        """Return an independent copy holding the same field lines."""
        headers = HTTPHeaders()
        headers._as_list = {name: list(values) for name, values in self._as_list.items()}
        return headers

    def __copy__(self) -> HTTPHeaders:
        return self.copy()

    def __str__(self) -> str:
        return "".join([f"{name}: {value}\n" for name, value in self.get_all()])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.get_all())!r})"


# --- header parameters (Content-Type, Content-Disposition) ------------------------------

# One token per match: a quoted string (backslash escapes allowed, closing quote
# optional so truncated input still ends), a ';', or a run of anything else. Every
# quantifier is possessive, so the scan never backtracks: linear time on any input,
# which is what CVE-2025-67726 (quadratic parameter parsing) asked for.
_PARAM_TOKEN_RE: Final = re.compile(r'"(?:[^"\\]++|\\.)*+"?|;|[^";]++', re.DOTALL)
_QUOTED_PAIR_RE: Final = re.compile(r"\\(.)", re.DOTALL)


def _split_params(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    for match in _PARAM_TOKEN_RE.finditer(value):
        token = match.group()
        if token == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(token)
    parts.append("".join(current))
    return parts


def _unquote_param(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        if "\\" in value:
            # RFC 9110, section 5.6.4: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
            value = _QUOTED_PAIR_RE.sub(r"\1", value)
    return value


def _decode_extended(value: str) -> str | None:
    # RFC 8187 (ext-value): charset "'" [ language ] "'" value-chars, percent-encoded.
    charset, sep, rest = value.partition("'")
    if not sep:
        return None
    _language, sep, encoded = rest.partition("'")
    if not sep:
        return None
    charset = charset.strip().lower() or "us-ascii"
    try:
        raw = _percent_decode(encoded)
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError, ValueError):
        return None


_PCT_RE: Final = re.compile(rb"%([0-9A-Fa-f]{2})")


def _percent_decode(text: str) -> bytes:
    data = text.encode("latin-1")
    if b"%" not in data:
        return data
    return _PCT_RE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type/subtype; name=value; ...`` into the main value and its parameters.

    Parameter names are lower-cased; quoted values are unquoted (RFC 9110, section
    5.6.6) and RFC 8187 extended values (``filename*=UTF-8''...``) are decoded and stored
    under the plain name, where they take precedence. Runs in time linear in the length
    of ``value`` whatever its quoting.

    >>> parse_header_params('form-data; name="a\\\\"b"; filename="x.txt"')
    ('form-data', {'name': 'a"b', 'filename': 'x.txt'})
    """
    parts = _split_params(value)
    main = parts[0].strip()
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, raw = part.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        raw = raw.strip()
        if name.endswith("*") and sep:
            decoded = _decode_extended(raw)
            if decoded is not None:
                extended[name[:-1]] = decoded
            continue
        params[name] = _unquote_param(raw) if sep else ""
    params.update(extended)
    return main, params
