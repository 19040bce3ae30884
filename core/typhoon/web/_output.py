"""The response side of ``RequestHandler``: status, headers, body buffer, flush and finish.

Layer 5 (web), private to ``typhoon.web.handler``. Imports ``typhoon.httputil``,
``typhoon.escape`` and ``typhoon.web._encode``; the handler and application types are
named for the checker only.

:class:`OutputMixin` holds the methods that build and send the response: the status
line, response headers (``set_header`` and friends), the body buffer (``write``),
:meth:`~OutputMixin.flush`, :meth:`~OutputMixin.finish` with its automatic ``Etag``,
``304 Not Modified`` and ``Content-Length``, and ``redirect``.

Cost. These methods run for every response, so they work on the field table of the
response's :class:`~typhoon.httputil.HTTPHeaders` (canonical name to list of values,
the form the HTTP layer writes from) rather than through the mapping methods: a
header name is canonicalised and checked once per process (:func:`_canonical_name`),
and a value once per call. The default headers (``Server``, ``Content-Type``, ``Date``)
are a fresh table per response whose ``Date`` is formatted once per second
(:class:`HeaderTemplate`).
"""

from __future__ import annotations

__all__ = ["DEFAULT_CONTENT_TYPE", "SERVER_HEADER", "HeaderTemplate", "OutputMixin", "start_line"]

import asyncio
import datetime
import hashlib
import http.client
import re
import time
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typhoon
from typhoon import httputil
from typhoon.escape import utf8
from typhoon.web._encode import ETAG_CACHE_MAX_BODY, etag_of, json_body, known_etags

if TYPE_CHECKING:
    from typhoon.web.application import Application
    from typhoon.web.handler import _ClassInfo

#: The ``Server`` header of every response.
SERVER_HEADER = f"TyphoonServer/{typhoon.version}"
#: The ``Content-Type`` a response has unless the handler sets one.
DEFAULT_CONTENT_TYPE = "text/html; charset=UTF-8"
_JSON_CONTENT_TYPE = "application/json; charset=UTF-8"

# Header values must not carry control characters: CR and LF would end the line
# (response splitting, RFC 9112 section 2.2), the others confuse intermediaries.
_INVALID_HEADER_CHAR_RE = re.compile(r"[\x00-\x1f\x7f]")
# RFC 9112, section 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
_REASON_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]+")
# An entity tag or "*" (RFC 9110, section 8.8.3).
_ETAG_RE = re.compile(rb'\*|(?:W/)?"[^"]*"')

_GET_OR_HEAD = frozenset({"GET", "HEAD"})
# RFC 9110, sections 15.2, 15.3.5 and 15.4.5: statuses whose responses carry no content.
_NO_CONTENT = frozenset({*range(100, 200), 204, 304})
#: Looks up the tag of a small body answered before (bound once: see handler.py on
#: ``name.method()`` for names bound by an import).
_known_etag = known_etags.get
#: The decimal text of the body sizes most responses have, made once.
_DECIMALS_KEPT = 1024
_DECIMALS = tuple(str(size) for size in range(_DECIMALS_KEPT))

_wrap_fields = httputil.HTTPHeaders._from_parsed
_time = time.time

_HeaderValue = str | bytes | int | datetime.datetime


class HeaderTemplate:
    """The default response headers; the ``Date`` value is formatted once per second.

    Each application owns one. :meth:`fresh` gives each response its own copy.
    """

    __slots__ = ("date", "second")

    def __init__(self) -> None:
        self.second = -1
        self.date = ""

    def fresh(self) -> httputil.HTTPHeaders:
        """A new set of the default headers, with the current ``Date``."""
        now = _time()
        if int(now) != self.second:
            self.refresh(now)
        # A new table of new lists: each response changes its own.
        return _wrap_fields(
            {
                "Server": [SERVER_HEADER],
                "Content-Type": [DEFAULT_CONTENT_TYPE],
                "Date": [self.date],
            }
        )

    def refresh(self, now: float) -> None:
        """Format ``Date`` for the second of ``now``."""
        self.date = httputil.format_timestamp(now)
        self.second = int(now)


#: Canonical spellings of the response header names seen so far (checked once each).
_NAMES: dict[str, str] = {}
_NAMES_MAX = 1024


def _canonical_name(name: str) -> str:
    """The canonical spelling of header ``name``, checked as ``HTTPHeaders`` checks it.

    Raises:
        HTTPOutputError: ``name`` is not a valid field name (RFC 9110, section 5.1).
    """
    probe = httputil.HTTPHeaders()
    probe[name] = ""
    (canonical,) = probe
    if len(_NAMES) >= _NAMES_MAX:  # odd names must not grow it without bound
        _NAMES.clear()
    _NAMES[name] = canonical
    return canonical


def _checked_text(text: str) -> str:
    # Every control character is unprintable: most values skip the pattern.
    if not text.isprintable() and _INVALID_HEADER_CHAR_RE.search(text):
        raise ValueError(f"Unsafe header value {text!r}")
    return text


#: Response start lines by (status, reason): immutable, so shared between responses.
_START_LINES: dict[tuple[int, str], httputil.ResponseStartLine] = {}
_OK_LINE = httputil.ResponseStartLine("", 200, "OK")


def start_line(status: int, reason: str) -> httputil.ResponseStartLine:
    """The (shared) response start line for ``status`` and ``reason``."""
    if status == 200 and reason == "OK":
        return _OK_LINE
    key = (status, reason)
    line = _START_LINES.get(key)
    if line is None:
        line = httputil.ResponseStartLine("", status, reason)
        if len(_START_LINES) >= 256:  # custom reasons must not grow it without bound
            _START_LINES.clear()
        _START_LINES[key] = line
    return line


class OutputMixin:
    """The response methods of ``RequestHandler``: status, headers, body, flush, finish."""

    if TYPE_CHECKING:
        application: Application
        request: httputil.HTTPServerRequest
        _info: _ClassInfo
        _new_cookie: dict[str, str] | None

        def set_default_headers(self) -> None: ...
        def on_finish(self) -> None: ...
        def _notify_finished(self) -> None: ...

    # Per-request state: RequestHandler.__init__ stores these on each instance (an
    # instance's own attribute reads several times faster than a class default); the
    # class-level values document the start state.
    _headers_written = False
    _finished = False
    _status_code = 200
    _reason = "OK"
    _transforms: Sequence[Any] = ()

    _headers: httputil.HTTPHeaders
    _write_buffer: list[bytes]

    # --- status and headers ---------------------------------------------------------------

    def clear(self) -> None:
        """Reset the response: default headers, empty body, status 200.

        Cookies set so far are kept.
        """
        self._headers = self.application._header_template.fresh()
        if self._info.has_default_headers:
            self.set_default_headers()
        self._write_buffer = []
        self._status_code = 200
        self._reason = "OK"

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Set the response status; ``reason`` replaces the standard reason phrase.

        Any three-digit code is accepted: the status line carries three digits (RFC
        9112, section 4), and although RFC 9110 (section 15) defines only the classes
        1xx-5xx, some applications answer private codes above 599. A code without a
        standard phrase has the reason ``Unknown`` unless ``reason`` is given.

        Raises:
            ValueError: the code is not an int from 100 to 999 (a bool is refused), or
                the reason contains characters a status line cannot carry (CR, LF,
                other controls) or ``<``, which would let a reflected reason inject
                markup into error pages.
        """
        if (
            not isinstance(status_code, int)
            or isinstance(status_code, bool)
            or not 100 <= status_code <= 999
        ):
            raise ValueError(f"invalid HTTP status code {status_code!r}")
        self._status_code = status_code
        if reason is not None:
            if "<" in reason or not _REASON_RE.fullmatch(reason):
                raise ValueError(f"invalid reason phrase {reason!r}")
            self._reason = reason
        else:
            self._reason = http.client.responses.get(status_code, "Unknown")

    def get_status(self) -> int:
        """The response status code set so far."""
        return self._status_code

    def set_header(self, name: str, value: _HeaderValue) -> None:
        """Set response header ``name``, replacing earlier values.

        ``value`` may be text, bytes (latin-1), an int or a ``datetime`` (written as an
        HTTP date). Values with control characters are refused with ``ValueError``.
        """
        if type(value) is str:
            if not value.isprintable() and _INVALID_HEADER_CHAR_RE.search(value):
                raise ValueError(f"Unsafe header value {value!r}")
        else:
            value = self._convert_header_value(value)
        self._headers._as_list[_NAMES.get(name) or _canonical_name(name)] = [value]

    def add_header(self, name: str, value: _HeaderValue) -> None:
        """Add a value to response header ``name`` (for headers that repeat)."""
        self._headers.add(name, self._convert_header_value(value))

    def clear_header(self, name: str) -> None:
        """Remove response header ``name`` (a default one too)."""
        if name in self._headers:
            del self._headers[name]

    def _convert_header_value(self, value: _HeaderValue) -> str:
        if isinstance(value, str):
            return _checked_text(value)
        if isinstance(value, bytes):
            return _checked_text(value.decode("latin1"))
        if isinstance(value, int):
            return str(value)
        if isinstance(value, datetime.datetime):
            return httputil.format_timestamp(value)
        raise TypeError(f"unsupported header value {value!r}")

    # --- output ---------------------------------------------------------------------------

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        """Append ``chunk`` to the response body buffer.

        Text is encoded as UTF-8. A dict is written as JSON and sets the content type to
        ``application/json``. Lists are refused: a JSON array at the top level of a
        response could be read by other sites through ``<script>`` inclusion in old
        browsers; wrap it in a dict.
        """
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if type(chunk) is bytes:
            self._write_buffer.append(chunk)
        elif isinstance(chunk, str):
            self._write_buffer.append(chunk.encode("utf-8"))
        elif isinstance(chunk, dict):
            self._headers._as_list["Content-Type"] = [_JSON_CONTENT_TYPE]
            self._write_buffer.append(json_body(chunk))
        elif isinstance(chunk, bytes):
            self._write_buffer.append(chunk)
        else:
            raise TypeError(_refused_chunk_message(chunk))

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        """Send the buffered output; the first call also sends the status and headers.

        Flushing before :meth:`finish` makes an HTTP/1.1 response chunked. The returned
        future resolves once the data has been handed to the network (wait on it to
        respect flow control when streaming a large response).
        """
        request = self.request
        connection = request.connection
        assert connection is not None
        buffer = self._write_buffer
        chunk = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        self._write_buffer = []
        if not self._headers_written:
            self._headers_written = True
            for transform in self._transforms:
                self._status_code, self._headers, chunk = transform.transform_first_chunk(
                    self._status_code, self._headers, chunk, include_footers
                )
            if request.method == "HEAD":
                chunk = b""
            new_cookies = self._new_cookie
            if new_cookies:
                for line in new_cookies.values():
                    self._headers.add("Set-Cookie", line)
            try:
                return connection.write_headers(
                    start_line(self._status_code, self._reason), self._headers, chunk
                )
            except httputil.HTTPOutputError:
                # Refused before anything was sent: an error page can still replace it.
                self._headers_written = False
                raise
        for transform in self._transforms:
            chunk = transform.transform_chunk(chunk, include_footers)
        if request.method != "HEAD":
            return connection.write(chunk)
        return _done_future()

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Complete the response, writing ``chunk`` first if given.

        Sets ``Content-Length`` when the body was not flushed before, computes the
        ``Etag`` of GET/HEAD responses and turns a matching conditional request into a
        304. Returns a future that resolves when the last data is sent.
        """
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        request = self.request
        info = self._info
        body: bytes | None = None
        if not self._headers_written:
            status = self._status_code
            fields = self._headers._as_list
            buffer = self._write_buffer
            body = buffer[0] if len(buffer) == 1 else b"".join(buffer)
            if status == 200 and request.method in _GET_OR_HEAD and "Etag" not in fields:
                if info.default_etag:
                    # A small body answered before has its tag in the table already.
                    tag = len(body) <= ETAG_CACHE_MAX_BODY and _known_etag(body)
                    fields["Etag"] = [tag or etag_of(body)]
                else:
                    # Overridable: it may replace the header object.
                    self.set_etag_header()
                    fields = self._headers._as_list
                if "If-None-Match" in request.headers and self.check_etag_header():
                    self._write_buffer = []
                    body = b""
                    self.set_status(304)
                    status = 304
                    fields = self._headers._as_list
            if status in _NO_CONTENT:
                if any(self._write_buffer):
                    raise RuntimeError(f"Cannot send body with {status}")
                self._write_buffer = []
                body = b""
                self._clear_representation_headers()
            elif "Content-Length" not in fields:
                size = len(body)
                fields["Content-Length"] = [_DECIMALS[size] if size < _DECIMALS_KEPT else str(size)]
        connection: Any = request.connection
        assert connection is not None
        application = self.application
        notify = application._hooks.request_finished
        if info.needs_close_callback or notify:
            connection.set_close_callback(None)
        if body is not None and info.default_flush and not self._transforms:
            # The whole response in one piece: what flush() does for a first call.
            self._headers_written = True
            self._write_buffer = []
            headers = self._headers
            new_cookies = self._new_cookie
            if new_cookies:
                for line in new_cookies.values():
                    headers.add("Set-Cookie", line)
            status = self._status_code
            reason = self._reason
            try:
                future: asyncio.Future[None] = connection.write_headers(
                    _OK_LINE if status == 200 and reason == "OK" else start_line(status, reason),
                    headers,
                    b"" if request.method == "HEAD" else body,
                )
            except httputil.HTTPOutputError:
                # The connection refused the head (invalid framing headers, say) before
                # sending anything: the error path can still answer with a 500.
                self._headers_written = False
                raise
        else:
            future = self.flush(True)
        connection.finish()
        if application._default_log_request:
            log_function = application.settings.get("log_function")
            if log_function is not None:
                log_function(self)
        else:
            application.log_request(self)  # type: ignore[arg-type]  # self is a RequestHandler
        self._finished = True
        if info.has_on_finish:
            self.on_finish()
        if notify:
            self._notify_finished()
        return future

    def _clear_representation_headers(self) -> None:
        # A 304 describes a representation it does not carry (RFC 9110, section 15.4.5).
        for name in ("Content-Encoding", "Content-Language", "Content-Type"):
            self.clear_header(name)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Redirect the client to ``url`` (302, or 301 when ``permanent``) and finish.

        ``status`` picks another 3xx code. URLs containing control characters are
        refused (``ValueError``), so a redirect cannot split the response. Characters
        outside ASCII are sent percent-encoded as UTF-8, the form a URI takes them in
        (RFC 3986, section 2.1; RFC 3987, section 3.1) and the one browsers expect in
        ``Location``.
        """
        if self._headers_written:
            raise RuntimeError("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not isinstance(status, int) or not 300 <= status <= 399:
            raise ValueError(f"redirect status must be 3xx, not {status!r}")
        if _INVALID_HEADER_CHAR_RE.search(url):
            raise ValueError(f"unsafe redirect URL {url!r}")
        self.set_status(status)
        if not url.isascii():
            url = _NON_ASCII_RE.sub(_percent_encoded, url)
        self._headers["Location"] = url
        self.finish()

    # --- caching --------------------------------------------------------------------------

    def compute_etag(self) -> str | None:
        """The entity tag of the buffered body (SHA-1); ``None`` sends no ``Etag``."""
        hasher = hashlib.sha1()
        for part in self._write_buffer:
            hasher.update(part)
        return f'"{hasher.hexdigest()}"'

    def set_etag_header(self) -> None:
        """Set ``Etag`` from :meth:`compute_etag`, when it returns one."""
        etag = self.compute_etag()
        if etag is not None:
            self._headers["Etag"] = etag

    def check_etag_header(self) -> bool:
        """Whether the response ``Etag`` matches the request's ``If-None-Match``.

        Weak comparison (RFC 9110, section 13.1.2): ``W/`` prefixes are ignored and
        ``*`` matches anything.
        """
        computed = utf8(self._headers.get("Etag", ""))
        candidates = _ETAG_RE.findall(utf8(self.request.headers.get("If-None-Match", "")))
        if not computed or not candidates:
            return False
        if candidates[0] == b"*":
            return True
        target = computed[2:] if computed.startswith(b"W/") else computed
        return any((tag[2:] if tag.startswith(b"W/") else tag) == target for tag in candidates)


# Runs of characters a URI cannot carry as they are (RFC 3986, section 2).
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")


def _percent_encoded(match: re.Match[str]) -> str:
    return urllib.parse.quote(match.group(), safe="")


def _refused_chunk_message(chunk: object) -> str:
    message = "write() only accepts bytes, str and dict objects"
    if isinstance(chunk, list):
        message += " (a list is refused: wrap it in a dict so it cannot be read as JSONP)"
    return message


def _done_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future
