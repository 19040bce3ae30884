"""Escaping and unescaping for HTML, URLs and JSON, plus text/bytes conversion helpers.

These are the small conversions every layer above needs: the HTTP layer decodes query
strings and bodies with :func:`parse_qs_bytes` and :func:`url_unescape`, templates
escape output with :func:`xhtml_escape`, handlers answer with :func:`json_encode`.
Names and behaviour follow ``tornado.escape``.

Everything here runs in time linear in its input, because most of it is fed straight
from the network: :func:`parse_qs_bytes` refuses more than ``max_fields`` fields and
:func:`linkify` scans its text once, without a backtracking regular expression.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_FIELDS",
    "json_decode",
    "json_encode",
    "linkify",
    "native_str",
    "parse_qs_bytes",
    "recursive_unicode",
    "squeeze",
    "to_basestring",
    "to_unicode",
    "url_escape",
    "url_unescape",
    "utf8",
    "xhtml_escape",
    "xhtml_unescape",
]

import html
import json
import re
import string
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, overload

from typhoon.errors import HTTPInputError

#: Default bound on the number of fields :func:`parse_qs_bytes` accepts. One request
#: with millions of empty fields would otherwise hold the event loop for seconds
#: (Tornado GHSA-mpf4-983q-p7j4, CVE-2026-103261).
DEFAULT_MAX_FIELDS = 1000


def xhtml_escape(value: str | bytes) -> str:
    """Escape a string so it is safe to place in HTML or XML text and quoted attributes.

    ``<``, ``>``, ``&``, ``"`` and ``'`` are replaced by character references, so the
    result can appear both as element content and inside single- or double-quoted
    attribute values.
    """
    return html.escape(to_unicode(value), quote=True)


def xhtml_unescape(value: str | bytes) -> str:
    """Replace the named and numeric character references in an HTML string by characters."""
    return html.unescape(to_unicode(value))


def json_encode(value: Any) -> str:
    """Serialize ``value`` to JSON that is also safe inside an HTML ``<script>`` element.

    ``</`` is written as ``<\\/`` (an equivalent JSON escape), so a string value holding
    ``</script>`` cannot end the surrounding script block (HTML Living Standard, 4.12.1.3
    "Restrictions for contents of script elements").
    """
    return json.dumps(value).replace("</", "<\\/")


def json_decode(value: str | bytes) -> Any:
    """Parse a JSON document given as text or UTF-8 bytes into Python objects."""
    return json.loads(value)


_WHITESPACE_RUN = re.compile(r"[\x00-\x20]+")


def squeeze(value: str) -> str:
    """Collapse every run of whitespace and control characters into one space, and strip."""
    return _WHITESPACE_RUN.sub(" ", value).strip()


def url_escape(value: str | bytes, plus: bool = True) -> str:
    """Percent-encode ``value`` for use in a URL (RFC 3986, section 2.1).

    With ``plus`` (the default) spaces become ``+`` and ``/`` is encoded too, the form
    used in query strings; with ``plus=False`` spaces become ``%20`` and ``/`` is kept,
    the form used in paths.
    """
    if plus:
        return urllib.parse.quote_plus(utf8(value))
    return urllib.parse.quote(utf8(value))


@overload
def url_unescape(value: str | bytes, encoding: None, plus: bool = True) -> bytes: ...


@overload
def url_unescape(value: str | bytes, encoding: str = "utf-8", plus: bool = True) -> str: ...


def url_unescape(
    value: str | bytes, encoding: str | None = "utf-8", plus: bool = True
) -> str | bytes:
    """Decode a percent-encoded URL component.

    The result is text decoded with ``encoding``, or bytes when ``encoding`` is None.
    With ``plus`` (the default) ``+`` means a space, as in query strings; pass
    ``plus=False`` for paths, where ``+`` is literal.
    """
    text = to_unicode(value)
    if encoding is None:
        raw = text.encode("utf-8")
        return _unquote_bytes(raw.replace(b"+", b" ") if plus else raw)
    if plus:
        return urllib.parse.unquote_plus(text, encoding=encoding)
    return urllib.parse.unquote(text, encoding=encoding)


def parse_qs_bytes(
    qs: str | bytes,
    keep_blank_values: bool = False,
    strict_parsing: bool = False,
    max_fields: int | None = DEFAULT_MAX_FIELDS,
    *,
    max_num_fields: int | None = None,
) -> dict[str, list[bytes]]:
    """Parse a query string or urlencoded body into ``{name: [raw value bytes, ...]}``.

    Values stay bytes because the charset of a form submission is not known at this
    layer; names are decoded as latin-1 so that no byte is lost. At most ``max_fields``
    fields are accepted (``max_num_fields`` is an alias); more raise
    :class:`~typhoon.errors.HTTPInputError` (a ``ValueError``) before any decoding
    work is done. ``None`` removes the limit. Malformed input under ``strict_parsing``
    raises the same error.
    """
    if max_num_fields is not None:
        max_fields = max_num_fields
    # Worked on as bytes throughout, each field decoded in one pass: memory stays a small
    # multiple of the input whatever it holds (a text detour through urllib keeps a
    # separate object per "%", about 190 times the input for "%%%...").
    data = qs if isinstance(qs, bytes) else qs.encode("latin1")
    if not data:
        return {}
    # Count separators before splitting: this is what bounds the work, since an input
    # made only of "&" would otherwise produce one list entry per byte.
    if max_fields is not None and data.count(b"&") + 1 > max_fields:
        raise HTTPInputError(
            f"Max number of fields exceeded: more than {max_fields} in a query string"
        )
    parsed: dict[str, list[bytes]] = {}
    for field in data.split(b"&"):
        name, equals, value = field.partition(b"=")
        if not equals:
            if strict_parsing:
                bad = field.decode("latin1")
                raise HTTPInputError(f"malformed query string: bad query field: {bad!r}")
            if not field or not keep_blank_values:
                continue
        elif not value and not keep_blank_values:
            continue
        # application/x-www-form-urlencoded: "+" stands for a space (WHATWG URL, 5.1).
        key = _unquote_bytes(name.replace(b"+", b" ")).decode("latin1")
        decoded = _unquote_bytes(value.replace(b"+", b" "))
        values = parsed.get(key)
        if values is None:
            parsed[key] = [decoded]
        else:
            values.append(decoded)
    return parsed


# RFC 3986, section 2.1: "%" and two hex digits, either case; any other "%" is literal.
_PERCENT_ESCAPE_RE = re.compile(rb"%([0-9A-Fa-f]{2})")
#: How many bytes :func:`_unquote_bytes` decodes at a time.
_UNQUOTE_PIECE = 16 * 1024
_ESCAPED_BYTES = {
    (high + low).encode(): bytes([int(high + low, 16)])
    for high in string.hexdigits
    for low in string.hexdigits
}


def _escaped_byte(match: re.Match[bytes]) -> bytes:
    return _ESCAPED_BYTES[match[1]]


def _unquote_bytes(data: bytes) -> bytes:
    """``data`` with its percent escapes decoded; malformed ones are kept as they are.

    Long inputs are decoded a piece at a time: a regular-expression substitution holds
    about 90 bytes per match until it ends, 30 times the input for ``%41%41...``.
    """
    if b"%" not in data:
        return data
    size = len(data)
    if size <= _UNQUOTE_PIECE:
        return _PERCENT_ESCAPE_RE.sub(_escaped_byte, data)
    decoded = bytearray()
    start = 0
    while start < size:
        end = start + _UNQUOTE_PIECE
        if end < size:
            # An escape is "%" and two more bytes, and contains no other "%": cutting
            # just before a "%" in the last two bytes never splits one.
            cut = data.rfind(b"%", end - 2, end)
            if cut > start:
                end = cut
        decoded += _PERCENT_ESCAPE_RE.sub(_escaped_byte, data[start:end])
        start = end
    return bytes(decoded)


@overload
def utf8(value: None) -> None: ...


@overload
def utf8(value: str | bytes) -> bytes: ...


def utf8(value: str | bytes | None) -> bytes | None:
    """Return ``value`` as bytes, encoding text as UTF-8; bytes and None pass unchanged.

    Any other type is a programming error and raises :class:`TypeError`.
    """
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"Expected bytes, str or None; got {type(value)!r}")
    return value.encode("utf-8")


@overload
def to_unicode(value: None) -> None: ...


@overload
def to_unicode(value: str | bytes) -> str: ...


def to_unicode(value: str | bytes | None) -> str | None:
    """Return ``value`` as text, decoding bytes as UTF-8; text and None pass unchanged.

    Any other type is a programming error and raises :class:`TypeError`.
    """
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise TypeError(f"Expected bytes, str or None; got {type(value)!r}")
    return value.decode("utf-8")


#: Tornado's names for :func:`to_unicode`: on Python 3 the native string type is text.
_unicode = to_unicode
native_str = to_unicode
to_basestring = to_unicode


def recursive_unicode(obj: Any) -> Any:
    """Decode every bytes object inside nested dicts, lists and tuples to text.

    Keys and values of dicts are both converted; other objects are returned as they are.
    """
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(item) for item in obj)
    if isinstance(obj, bytes):
        return to_unicode(obj)
    return obj


# --- linkify ------------------------------------------------------------------------------

# A URL may not end with one of these (so "see http://a.com." leaves the dot outside).
_TRAILING_PUNCTUATION = frozenset("!\"#$%&'()*+,.:;<=>?@[]^`{|}~")
# Characters that end a URL wherever they appear (besides whitespace); parentheses are
# allowed only as a balanced, non-nested pair.
_URL_STOPPERS = frozenset("()<>'")
# Schemes that run script when followed; never linked, whatever permitted_protocols says.
_SCRIPT_SCHEMES = frozenset({"javascript", "vbscript", "data"})
_SHORTEN_AT = 30


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_url_char(ch: str) -> bool:
    return not ch.isspace() and ch not in _URL_STOPPERS


def _scan_url_body(text: str, start: int) -> int:
    """Return the end of the longest URL body at ``start``, or ``start`` if there is none.

    A body is a run of URL characters and balanced ``(...)`` groups that ends on a
    character that is not punctuation, or on a closing parenthesis. One forward pass;
    a parenthesised group is scanned only up to the next stopper, so every character is
    visited a bounded number of times.
    """
    n = len(text)
    i = start
    end = start
    while i < n:
        ch = text[i]
        if ch == "(":
            j = i + 1
            while j < n and _is_url_char(text[j]):
                j += 1
            if j < n and text[j] == ")":
                i = end = j + 1
                continue
            break
        if not _is_url_char(ch):
            break
        i += 1
        if ch not in _TRAILING_PUNCTUATION:
            end = i
    return end


class _UrlFinder:
    """Finds URL candidates left to right, remembering where the next ``:/`` and
    ``www.`` are so that repeated searches never rescan the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._colon = -2
        self._www = -2
        self._scheme_hit: tuple[int, int, str | None] | None = None

    def _next(self, needle: str, cached: int, pos: int) -> int:
        if cached == -1 or cached >= pos:
            return cached
        return self.text.find(needle, pos)

    def find(self, pos: int) -> tuple[int, int, str | None] | None:
        """Return ``(start, body_start, scheme)`` of the next candidate at or after
        ``pos`` (``scheme`` is None for a bare ``www.`` host), or None.

        A candidate begins at a word boundary with ``scheme:`` and one to three
        slashes, or with ``www.``.
        """
        text = self.text
        best = self._scheme_hit
        if best is not None and best[0] < pos:
            best = None
        colon = -1 if best is not None else self._next(":/", self._colon, pos)
        self._colon = colon if best is None else self._colon
        while colon != -1:
            s = colon
            while s > pos and (_is_word_char(text[s - 1]) or text[s - 1] == "-"):
                s -= 1
            while s < colon and text[s] == "-":
                s += 1
            if s < colon and (s == 0 or not _is_word_char(text[s - 1])):
                slashes = 1
                while slashes < 3 and text.startswith("/", colon + 1 + slashes):
                    slashes += 1
                best = self._scheme_hit = (s, colon + 1 + slashes, text[s:colon])
                break
            self._colon = colon = text.find(":/", colon + 1)
        self._www = www = self._next("www.", self._www, pos)
        while www != -1 and (best is None or www < best[0]):
            if www == 0 or not _is_word_char(text[www - 1]):
                return (www, www + 4, None)
            self._www = www = text.find("www.", www + 1)
        return best


def _shorten(url: str, prefix_len: int) -> str:
    """Shorten a long URL for display: host plus the start of the first path segment."""
    parts = url[prefix_len:].split("/")
    short = url
    if len(parts) > 1:
        # Keep the host and a hint of the path: its first 8 characters, cut before any
        # query or extension.
        hint = parts[1][:8].split("?")[0].split(".")[0]
        short = url[:prefix_len] + parts[0] + "/" + hint
    if len(short) > _SHORTEN_AT * 1.5:
        short = short[:_SHORTEN_AT]
    if short != url:
        ampersand = short.rfind("&")
        if ampersand > _SHORTEN_AT - 5:
            short = short[:ampersand]
        short += "..."
    return short if len(short) < len(url) else url


def linkify(
    text: str | bytes,
    shorten: bool = False,
    extra_params: str | Callable[[str], str] = "",
    require_protocol: bool = False,
    permitted_protocols: Iterable[str] = ("http", "https"),
) -> str:
    """Escape ``text`` as HTML and turn the URLs in it into ``<a href>`` links.

    ``shorten`` abbreviates long link texts (the full URL goes in a ``title``);
    ``extra_params`` is raw HTML added inside each ``<a>`` tag (for example
    ``'rel="nofollow"'``) or a function from the URL to such a string;
    ``require_protocol`` leaves bare ``www.`` hosts unlinked; only schemes in
    ``permitted_protocols`` are linked. Script-running schemes (``javascript:``,
    ``vbscript:``, ``data:``) are never linked. Runs in time linear in ``text``.
    """
    source = to_unicode(text)
    permitted = {p.lower() for p in permitted_protocols} - _SCRIPT_SCHEMES
    static_params = ""
    if extra_params and not callable(extra_params):
        static_params = " " + extra_params.strip()
    out: list[str] = []
    emitted = 0
    pos = 0
    finder = _UrlFinder(source)
    while True:
        found = finder.find(pos)
        if found is None:
            break
        start, body_start, scheme = found
        end = _scan_url_body(source, body_start)
        if end == body_start:
            # No body: no other candidate can start inside "scheme:/" or "www.".
            pos = body_start
            continue
        pos = end
        url = source[start:end]
        if scheme is None and require_protocol:
            continue
        if scheme is not None and scheme.lower() not in permitted:
            continue
        href = url if scheme is not None else "http://" + url
        params = static_params
        if callable(extra_params):
            params = " " + extra_params(href).strip()
        shown = url
        if shorten and len(url) > _SHORTEN_AT:
            prefix_len = body_start - start if scheme is not None else 0
            shown = _shorten(url, prefix_len)
            if shown != url:
                params += f' title="{xhtml_escape(href)}"'
        out.append(xhtml_escape(source[emitted:start]))
        out.append(f'<a href="{xhtml_escape(href)}"{params}>{xhtml_escape(shown)}</a>')
        emitted = end
    out.append(xhtml_escape(source[emitted:]))
    return "".join(out)
