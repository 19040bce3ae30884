"""Sans-IO HTTP/1.1: bytes in, events out; events to bytes. No sockets, no loop.

Layer 4: imports ``typhoon.httputil`` (start lines, headers), ``typhoon.errors``,
``httptools``, the standard library and its private helpers (``typhoon._http1base``:
buffer, parser feeding and body framing shared by both roles; ``typhoon._http1client``:
the client role; ``typhoon._http1events``: the events); never a stream or the event
loop. The connection code (``typhoon.http1connection``, ``typhoon.httpserver``) moves
bytes between a transport and one of the two protocol objects here and applies the
timeouts.

Two protocol objects, one per role:

* :class:`HTTP1ServerProtocol` parses requests and frames responses.
* :class:`HTTP1ClientProtocol` frames requests and parses responses.

Both are driven by the same loop::

    proto.receive_data(data)          # b"" means the peer closed its side (EOF)
    while True:
        event = proto.next_event()    # raises HTTPInputError on a protocol violation
        if event is NEED_DATA:        # read more bytes, then call receive_data again
            break
        if event is PAUSED:           # finish our side of the exchange first
            break
        handle(event)                 # Request / Response / InformationalResponse /
                                      # Data / EndOfMessage / ConnectionClosed

and write out what the ``send_*`` methods return. A server writes
``send_response(...)``, then ``send_data(...)`` any number of times, then
``send_end()``; ``send_response(..., body=..., end=True)`` does all three at once.
When both messages of an exchange are complete and the connection stays open, the
next exchange starts by itself: pipelined requests already received are parsed next,
in order, never lost and never parsed ahead of their turn (``PAUSED`` until then).

Framing is decided here (RFC 9112, section 6), on top of httptools (llhttp in strict
mode) for the byte-level grammar; see ``typhoon._http1base`` for how the parser is
fed. Limits are checked when the event is asked for, not when bytes arrive, so
:meth:`~HTTP1ServerProtocol.set_max_body_size` called after the ``Request`` event
(from the web layer's ``prepare``) still governs that request's body, and a declared
Content-Length over the limit is refused (413) before any of the body is read and so
before any ``100 Continue`` is sent.

Protocol violations raise :class:`~typhoon.errors.HTTPInputError`; its
``status_code`` is the status to answer with: 400 for malformed or ambiguous input
(the request smuggling defences: Content-Length with Transfer-Encoding, repeated,
signed or listed lengths, repeated codings, bare CR or LF, NUL, whitespace before a
colon, obsolete line folding, a missing, repeated or invalid Host), 413 for a body
over the limit, 414 for a request line over the limit, 431 for a header block over
the limit, 501 for a method or transfer coding not implemented, 505 for an HTTP
version other than 1.0 and 1.1. After one, a server may still send one response,
which closes the connection. Misuse of the sending side (a body on a HEAD response,
CR or LF in a reason phrase, a short Content-Length) raises
:class:`~typhoon.errors.HTTPOutputError`.
"""

from __future__ import annotations

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "AnyEvent",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "HTTP1ClientProtocol",
    "HTTP1ServerProtocol",
    "InformationalResponse",
    "Request",
    "Response",
    "Signal",
    "State",
]

import http.client
import re
from collections.abc import Iterable
from typing import Final, NoReturn

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from typhoon._http1base import (
    BAD_REASON_RE,
    CHUNKED,
    CLOSED,
    DONE,
    END_OF_MESSAGE,
    ERROR,
    HTTP10,
    HTTP11,
    IDLE,
    LENGTH,
    METHODS,
    MUST_CLOSE,
    NO_BODY,
    SEND_BODY,
    SWITCHED,
    TOKEN_RE,
    UNTIL_CLOSE,
    BytesLike,
    HTTP1Base,
    NextEvent,
    encode_head,
    fields_of,
    head_lines,
    tokens,
)
from typhoon._http1client import HTTP1ClientProtocol
from typhoon._http1events import (
    NEED_DATA,
    PAUSED,
    AnyEvent,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
    Signal,
    State,
)
from typhoon.errors import HTTPInputError, HTTPOutputError
from typhoon.httputil import HTTPHeaders

#: "HTTP/1.1 200 OK\r\n" for every registered status code (never mutated).
_REASONS: Final = http.client.responses
_STATUS_LINES: Final[dict[int, str]] = {
    code: f"HTTP/1.1 {code} {reason}\r\n" for code, reason in http.client.responses.items()
}
# RFC 9110, section 7.2 and RFC 3986, section 3.2.2: Host = uri-host [ ":" port ].
_HOST_RE: Final = re.compile(
    r"(?:\[[0-9A-Za-z:.%_~!$&'()*+,;=-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?"
)
_REQUEST_PRIMER: Final = b"POST / HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n"

#: A request head as ``_next_head`` returns it: the arguments of :class:`Request`.
RequestHead = tuple[str, str, str, HTTPHeaders, bool, bool, bool]

#: Methods whose responses never carry content framed by Content-Length.
_BODYLESS_METHODS: Final = frozenset(("HEAD", "CONNECT"))

_V11_TAIL: Final = b" HTTP/1.1\r\n"
_V10_TAIL: Final = b" HTTP/1.0\r\n"


def _decimal_value(digits: str) -> int:
    """The number ``digits`` spells: ASCII digits only, which the caller checked."""
    if len(digits) > 18:
        return int(digits)
    # Shorter than int()'s general parsing for the few digits a length has.
    value = 0
    for digit in digits:
        value = value * 10 + ord(digit) - 48
    return value


def _status_line(status_code: int, reason: str | None) -> str:
    # Any int, http.HTTPStatus members included; never a bool.
    if isinstance(status_code, bool) or not isinstance(status_code, int):
        raise HTTPOutputError(f"invalid status code {status_code!r}")
    status_code = int(status_code)
    if not 100 <= status_code <= 999:
        raise HTTPOutputError(f"invalid status code {status_code!r}")
    if reason is None:
        return _STATUS_LINES.get(status_code) or f"HTTP/1.1 {status_code} Unknown\r\n"
    # CVE-2025-67724: an application-chosen reason phrase must not be able to end the
    # status line (response splitting) or carry other control characters.
    if BAD_REASON_RE.search(reason) is not None:
        raise HTTPOutputError(f"invalid character in reason phrase {reason[:64]!r}")
    return f"HTTP/1.1 {status_code} {reason}\r\n"


class HTTP1ServerProtocol(HTTP1Base):
    """The server side of one HTTP/1.1 connection: parses requests, frames responses.

    Args:
        max_header_size: largest request head (request line and fields), in bytes;
            more is answered 431 (64 KiB by default).
        max_body_size: largest request body (100 MiB by default); more is answered
            413, before reading when the length is declared. See
            :meth:`set_max_body_size` for one request.
        chunk_size: largest ``Data`` event (64 KiB by default).
        max_start_line_size: longest request line; more is answered 414 (defaults to
            ``max_header_size``).
        no_keep_alive: close the connection after every response.

    Response framing (RFC 9112, section 6): no body for HEAD, 1xx, 204 and 304 and
    for a 2xx to CONNECT; otherwise the Content-Length or ``Transfer-Encoding:
    chunked`` the application set, else Content-Length when the whole body is given at
    once (``end=True``), else chunked for an HTTP/1.1 client, else the body runs until
    the connection closes. ``Connection: close`` (or ``keep-alive`` for an HTTP/1.0
    client) is added when needed; the headers object passed in is never modified.
    """

    __slots__ = ("_host_ok", "_no_keep_alive", "_req_version", "_waiting_continue")

    _parser: HttpRequestParser | None
    _parser_class = HttpRequestParser
    _chunked_primer = _REQUEST_PRIMER

    def __init__(
        self,
        *,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        chunk_size: int | None = None,
        max_start_line_size: int | None = None,
        no_keep_alive: bool = False,
    ) -> None:
        super().__init__(
            max_header_size=max_header_size,
            max_body_size=max_body_size,
            chunk_size=chunk_size,
            max_start_line_size=max_start_line_size,
        )
        self._no_keep_alive = no_keep_alive
        self._req_version = HTTP11
        self._waiting_continue = False
        self._host_ok: str | None = None

    @property
    def client_waiting_for_continue(self) -> bool:
        """The client sent ``Expect: 100-continue`` and neither body nor answer came yet.

        Send :meth:`send_continue` once the body is wanted, or a final response.
        """
        return self._waiting_continue

    # --- receiving -------------------------------------------------------------------

    def next_event(self) -> NextEvent:
        """Return the next event, or ``NEED_DATA`` / ``PAUSED``.

        Raises:
            HTTPInputError: the request violates HTTP/1.1; ``status_code`` is the status
                to answer with. Raised again by every later call.
        """
        event = self._next_head()
        if not isinstance(event, tuple):
            return event
        if self._their_state is DONE:
            self._pending = END_OF_MESSAGE
        return Request(*event)

    def _next_head(self) -> NextEvent | RequestHead:
        """``next_event``, with a new request's head as a plain tuple instead of an event.

        For a request without a body the ``EndOfMessage`` is not queued: the request is
        complete when ``_their_state`` is ``DONE`` right after the head. The server
        connection takes this path, which spares an event object and a call per request.
        """
        pending = self._pending
        if pending is not None:
            self._pending = None
            return pending
        if self._their_state is not IDLE:
            return self._next_other()
        # The hot path, written out here: the next request head.
        buf = self._buf
        if self._head_begun:
            mark = self._mark
            fed = self._fed
            end = buf.find(b"\r\n\r\n", self._scan)
        else:
            mark = fed = self._pos
            if mark >= len(buf):
                # Nothing buffered: wait for more (or notice the end of the connection).
                return self._next_request_slow() if self._eof else NEED_DATA
            if buf[mark] == 13:
                # Empty lines before the request: the general path.
                return self._next_request_slow()
            end = buf.find(b"\r\n\r\n", mark)
        head_end = end + 4
        if end < 0 or head_end - mark > self._max_header_size:
            # Incomplete, or over the limit: the general path (which keeps the positions
            # the fast path only holds in locals).
            return self._next_request_slow()
        parser = self._parser
        if parser is None:
            parser = self._parser = HttpRequestParser(self._head_sink)
        try:
            if fed == 0 and head_end == len(buf) and type(buf) is bytes:
                parser.feed_data(buf)
            else:
                parser.feed_data(memoryview(buf)[fed:head_end])
            upgrade = False
        except HttpParserUpgrade:
            upgrade = True
        except HttpParserError as exc:
            self._mark = mark
            # (Raises unless the method was unknown: then the method is not read from
            # the parser below.)
            upgrade = self._reparse_head(exc, fed, head_end)
        self._pos = head_end
        # The head is consumed; until the next one begins, these describe nothing.
        self._head_begun = False
        sink = self._head_sink
        urls = sink.urls
        url = urls[0] if len(urls) == 1 else b"".join(urls)
        urls.clear()
        raw_method = self._unknown_method
        if raw_method is None:
            raw_method = parser.get_method()
        else:
            self._unknown_method = None
        # RFC 9112, section 3: method SP request-target SP HTTP-version CRLF with single
        # spaces; llhttp has checked each part, so the lengths must add up exactly.
        version_at = mark + len(raw_method) + 1 + len(url)
        tail = buf[version_at : version_at + 11]
        if tail == _V11_TAIL:
            version = HTTP11
        elif tail == _V10_TAIL:
            version = HTTP10
        else:
            self._mark = mark
            raise self._bad_request_line(version_at)
        if version_at + 9 - mark > self._max_start_line:
            raise self._fail("request line too long", 414)
        method = METHODS.get(raw_method) or raw_method.decode("latin-1")
        fields = sink.fields
        sink.fields = {}
        # RFC 9112, section 3.2: exactly one valid Host in HTTP/1.1, never several.
        hosts = fields.get("Host")
        if hosts is None:
            if version is HTTP11:
                raise self._fail("missing Host header")
        elif len(hosts) != 1:
            raise self._fail("Invalid Host header: more than one")
        elif hosts[0] != self._host_ok:
            if _HOST_RE.fullmatch(hosts[0]) is None:
                raise self._fail("Invalid Host header")
            self._host_ok = hosts[0]
        keep_alive = version is HTTP11
        expect = False
        mode = NO_BODY
        length = 0
        if len(fields) > 1 or (fields and hosts is None):
            if "Transfer-Encoding" in fields or "Content-Length" in fields:
                mode, length = self._check_framing(fields, version)
            # Otherwise, RFC 9112, section 6.3, rule 6: no CL and no TE means no body.
            connection = fields.get("Connection")
            if connection is not None:
                # RFC 9112, section 9.3: persistence.
                options = tokens(connection)
                if "close" in options:
                    keep_alive = False
                elif version is HTTP10 and "keep-alive" in options:
                    keep_alive = True
            expectation = fields.get("Expect")
            if expectation is not None and version is HTTP11:
                # RFC 9110, section 10.1.1: HTTP/1.0 requests' expectations are ignored.
                expect = expectation[-1].strip(" \t").lower() == "100-continue"
        self._req_method = method
        self._req_version = version
        self._req_upgrade = upgrade
        self._keep_alive = keep_alive and not self._no_keep_alive
        headers = HTTPHeaders._from_parsed(fields)
        if mode == NO_BODY:
            self._their_state = DONE
        else:
            self._waiting_continue = expect
            self._start_body(mode, length, head_end)
        return (method, url.decode("latin-1"), version, headers, keep_alive, expect, upgrade)

    def _defer_end(self) -> None:
        """Queue the ``EndOfMessage`` of a complete request taken through ``_next_head``."""
        self._pending = END_OF_MESSAGE

    def _next_other(self) -> NextEvent:
        state = self._their_state
        if state is SEND_BODY:
            return self._read_body()
        if state is ERROR:
            assert self._error is not None
            raise self._error
        if state is CLOSED:
            return ConnectionClosed()
        return PAUSED

    def _next_request_slow(self) -> NextEvent | RequestHead:
        """The general path: empty lines, partial heads, end of file, size limits."""
        head_end = self._find_head()
        if head_end < 0:
            if self._eof:
                if self._head_begun:
                    raise self._fail("connection closed in the middle of a request head")
                self._their_state = CLOSED
                return ConnectionClosed()
            return NEED_DATA
        # A complete head within the limits is now buffered: take the fast path.
        return self._next_head()

    def _bad_request_line(self, version_at: int) -> HTTPInputError:
        buf = self._buf
        line_end = buf.find(b"\r\n", self._mark)
        if buf[version_at : version_at + 1] == b" " and line_end - version_at == 9:
            return self._version_error(self._mark, line_end, version_at + 1)
        return self._fail("Malformed HTTP request line")

    def _parse_error(self, exc: HttpParserError) -> HTTPInputError:
        te = self._head_sink.fields.get("Transfer-Encoding")
        if te is not None and "Transfer-Encoding" in str(exc):
            codings = tokens(te)
            if (
                codings
                and all(TOKEN_RE.fullmatch(c) for c in codings)
                and "chunked" not in codings
                and "identity" not in codings
            ):
                # RFC 9112, section 6.1: well-formed codings the server does not know.
                # ("identity", dropped from the registry, stays a framing error: a body
                # "framed" by it has no defined length.)
                return self._other_codings(codings)
        return super()._parse_error(exc)

    def _method_error(self, exc: HttpParserError) -> HTTPInputError:
        buf = self._buf
        space = buf.find(b" ", self._mark, self._mark + 64)
        method = bytes(buf[self._mark : space]) if space > self._mark else b""
        if method and TOKEN_RE.fullmatch(method.decode("latin-1")):
            # RFC 9110, section 9.1: a well-formed method this server does not know.
            return self._fail(f"method not implemented: {method.decode('latin-1')}", 501)
        return self._fail(f"Malformed HTTP request line: {exc}")

    def _other_codings(self, codings: list[str]) -> NoReturn:
        # RFC 9112, section 6.1: a transfer coding the server does not understand.
        raise self._fail(f"Unsupported Transfer-Encoding {', '.join(codings)}", 501)

    def _body_started(self) -> None:
        self._waiting_continue = False

    def _message_complete(self, end: EndOfMessage) -> EndOfMessage:
        self._their_state = DONE
        self._waiting_continue = False
        return end

    # --- sending ---------------------------------------------------------------------

    def send_continue(self) -> bytes:
        """Return ``100 Continue`` for a client waiting on ``Expect: 100-continue``."""
        return self.send_response(100)

    def send_response(
        self,
        status_code: int,
        headers: HTTPHeaders | Iterable[tuple[str, str]] | None = None,
        *,
        reason: str | None = None,
        body: BytesLike = b"",
        end: bool = False,
    ) -> bytes:
        """Return the bytes of a response head (and of ``body`` and the end, if given).

        A 1xx other than 101 may precede the final response. After a protocol error
        from :meth:`next_event` one response may still be sent; it closes the
        connection.

        Args:
            status_code: the status; the reason phrase defaults to the standard one.
            headers: the header fields (:class:`~typhoon.httputil.HTTPHeaders` or
                ``(name, value)`` pairs); framing fields are added as needed.
            reason: a custom reason phrase (no control characters).
            body: the first (or only) piece of the body.
            end: the response is complete with ``body``.

        Raises:
            HTTPOutputError: the response is not allowed now or is malformed.
        """
        if type(body) is not bytes:
            body = bytes(body)
        return self._respond(status_code, headers, reason, body, end)

    def _respond(
        self,
        status_code: int,
        headers: HTTPHeaders | Iterable[tuple[str, str]] | None,
        reason: str | None,
        body: bytes,
        end: bool,
    ) -> bytes:
        """:meth:`send_response` with positional arguments (the server's hot path)."""
        if self._our_state is not IDLE:
            raise HTTPOutputError("a response was already started")
        their = self._their_state
        if their is not DONE and their is not SEND_BODY and their is not ERROR:
            raise HTTPOutputError("no request to respond to")
        status_line = _STATUS_LINES.get(status_code) if type(status_code) is int else None
        if status_line is None or (reason is not None and reason != _REASONS[status_code]):
            status_line = _status_line(status_code, reason)
        fields = fields_of(headers)
        lines = head_lines(status_line, fields)
        if status_code < 200:
            return self._send_informational(status_code, lines, body, end)
        self._waiting_continue = False
        cl = fields.get("Content-Length")
        if (
            cl is not None
            and their is DONE
            and self._keep_alive
            and self._req_version is HTTP11
            and len(cl) == 1
            and "Connection" not in fields
            and "Transfer-Encoding" not in fields
            and status_code != 204
            and status_code != 304
            and self._req_method not in _BODYLESS_METHODS
            and cl[0].isdigit()
            and cl[0].isascii()
        ):
            # The usual response: a declared length on a persistent HTTP/1.1 connection,
            # none of the special cases the general framing below deals with.
            mode = LENGTH
            length = _decimal_value(cl[0])
            keep_alive = True
        else:
            framing = self._response_framing(status_code, their, fields, lines, body, end)
            if framing is None:
                # A 2xx to CONNECT: the head is the whole response.
                return encode_head(lines)
            mode, length, keep_alive = framing
        lines.append("\r\n")
        if mode == LENGTH:
            remaining = length - len(body)
            if remaining < 0:
                raise HTTPOutputError("Tried to write more data than Content-Length")
            if end and remaining:
                raise HTTPOutputError(f"Tried to write {remaining} bytes less than Content-Length")
            try:
                head = "".join(lines).encode("latin-1")
            except UnicodeEncodeError:
                head = encode_head(lines)
            if body:
                head += body
        else:
            remaining = 0
            head = encode_head(lines)
            if body:
                head += self._frame_as(mode, body)
            if end and mode == CHUNKED:
                head += b"0\r\n\r\n"
        self._keep_alive = keep_alive
        self._send_mode = mode
        self._send_remaining = remaining
        if end:
            self._finish_ours()
        else:
            self._our_state = SEND_BODY
        return head

    def _response_framing(
        self,
        status_code: int,
        their: State,
        fields: dict[str, list[str]],
        lines: list[str],
        body: bytes,
        end: bool,
    ) -> tuple[int, int, bool] | None:
        """Framing of a final response: (mode, length, keep-alive); None for a tunnel.

        Adds the framing and persistence fields the response needs to ``lines``.
        RFC 9112, sections 6 and 9.3.
        """
        method = self._req_method
        keep_alive = self._keep_alive
        chunked_ok = self._req_version is HTTP11
        if their is not DONE:
            if their is ERROR:
                method = None
                keep_alive = chunked_ok = False
            elif end:
                # The response is complete before the request: the connection closes.
                keep_alive = False
        connection = fields.get("Connection")
        options = tokens(connection) if connection is not None else ()
        if "close" in options:
            keep_alive = False
        te = fields.get("Transfer-Encoding")
        cl = fields.get("Content-Length")
        length = 0
        if method == "HEAD" or status_code == 204 or status_code == 304:
            # RFC 9110, sections 9.3.2, 15.3.5 and 15.4.5: no content. RFC 9110 section
            # 8.6 and RFC 9112 section 6.1: no length or coding fields on a 204.
            if status_code == 204 and (te is not None or cl is not None):
                raise HTTPOutputError(
                    "a 204 response cannot have Content-Length or Transfer-Encoding"
                )
            mode = NO_BODY
        elif method == "CONNECT" and status_code < 300:
            # RFC 9110, section 9.3.6: a 2xx to CONNECT starts a tunnel; no framing.
            if te is not None or cl is not None:
                raise HTTPOutputError(
                    "a 2xx to CONNECT cannot have Content-Length or Transfer-Encoding"
                )
            if body:
                raise HTTPOutputError("a 2xx to CONNECT has no body")
            if not keep_alive:
                lines.append("Connection: close\r\n")
            lines.append("\r\n")
            self._our_state = self._their_state = SWITCHED
            return None
        elif te is None:
            if cl is None:
                if end:
                    mode = LENGTH
                    length = len(body)
                    lines.append(f"Content-Length: {length}\r\n")
                elif chunked_ok:
                    mode = CHUNKED
                    lines.append("Transfer-Encoding: chunked\r\n")
                else:
                    # RFC 9112, section 6.3, rule 8: an HTTP/1.0 client reads to the close.
                    mode = UNTIL_CLOSE
                    keep_alive = False
            elif len(cl) == 1 and cl[0].isdigit() and cl[0].isascii():
                mode = LENGTH
                length = _decimal_value(cl[0])
            else:
                raise HTTPOutputError(f"invalid Content-Length {cl!r}")
        else:
            mode, length = self._declared_framing(te, cl, chunked_ok)
        if not keep_alive:
            if "close" not in options:
                lines.append("Connection: close\r\n")
        elif not chunked_ok and "keep-alive" not in options:
            # RFC 9112, section 9.3: an HTTP/1.0 client keeps the connection only if told.
            lines.append("Connection: keep-alive\r\n")
        return mode, length, keep_alive

    def _frame_as(self, mode: int, data: bytes) -> bytes:
        self._send_mode = mode
        return self._frame(data)

    def _send_informational(
        self, status_code: int, lines: list[str], body: bytes, end: bool
    ) -> bytes:
        if body or end:
            raise HTTPOutputError("a 1xx response has no body")
        if status_code == 101:
            if not self._req_upgrade or self._their_state is not DONE:
                raise HTTPOutputError("101 needs a complete request asking for an upgrade")
            self._our_state = self._their_state = SWITCHED
        self._waiting_continue = False
        lines.append("\r\n")
        return encode_head(lines)

    def send_data(self, data: BytesLike) -> bytes:
        """Return the framed bytes of the next piece of the response body.

        Raises:
            HTTPOutputError: no response body is in progress, or this response cannot
                take ``data`` (HEAD, 204, 304, beyond its Content-Length).
        """
        if self._our_state is not SEND_BODY:
            raise HTTPOutputError("no response body is in progress")
        return self._frame(data)

    def send_end(self, trailers: HTTPHeaders | None = None) -> bytes:
        """Return the bytes that complete the response (the last chunk and trailers).

        Raises:
            HTTPOutputError: no response is in progress, fewer bytes than its
                Content-Length were sent, or trailers without chunked framing.
        """
        if self._our_state is not SEND_BODY:
            raise HTTPOutputError("no response body is in progress")
        if trailers is None and self._send_mode == LENGTH:
            if self._send_remaining:
                raise HTTPOutputError(
                    f"Tried to write {self._send_remaining} bytes less than Content-Length"
                )
            data = b""
        else:
            data = self._end_bytes(trailers)
        if self._keep_alive and self._their_state is DONE:
            # Both messages complete: the next exchange starts. This is
            # _start_next_cycle written out: it runs once per request, and the two
            # calls it saves are about 1.5 % of a minimal request's instructions.
            self._their_state = self._our_state = IDLE
            self._max_body_size = self._default_max_body_size
            if self._pos >= len(self._buf):
                # Drop the consumed bytes: an idle connection holds none.
                self._buf = b""
                self._pos = 0
            elif type(self._buf) is bytearray:
                self._compact()
        else:
            self._keep_alive = False
            self._our_state = MUST_CLOSE
        return data

    def _finish_ours(self) -> None:
        if self._keep_alive and self._their_state is DONE:
            self._start_next_cycle()
            return
        # Closing, or the request body was not read to its end: no reuse.
        self._keep_alive = False
        self._our_state = MUST_CLOSE

    def _start_next_cycle(self) -> None:
        # Both messages are complete and the connection stays open. (The request's
        # method, version and upgrade flag are set again by the next request head.)
        self._their_state = self._our_state = IDLE
        self._max_body_size = self._default_max_body_size
        self._release()
