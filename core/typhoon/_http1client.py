"""The client role of the sans-IO HTTP/1.1 protocol: frames requests, parses responses.

Layer 4 (private to ``typhoon.http1proto``, which re-exports
:class:`HTTP1ClientProtocol`): imports ``typhoon._http1base``, ``typhoon._http1events``,
``typhoon.httputil``, ``typhoon.errors`` and ``httptools``; never a stream or a loop.
See ``typhoon.http1proto`` for how the protocol objects are driven.
"""

from __future__ import annotations

__all__ = ["HTTP1ClientProtocol"]

import re
from collections.abc import Iterable
from typing import Final

from httptools import HttpResponseParser

from typhoon._http1base import (
    CHUNKED,
    CLOSED,
    DONE,
    END_OF_MESSAGE,
    ERROR,
    HTTP10,
    HTTP11,
    IDLE,
    LENGTH,
    METHOD_NAMES,
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
from typhoon._http1events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    EndOfMessage,
    InformationalResponse,
    Response,
)
from typhoon.errors import HTTPOutputError
from typhoon.httputil import HTTPHeaders

_BAD_TARGET_RE: Final = re.compile(r"[\x00-\x20\x7f]")
# Methods whose requests carry content, so an empty one still gets Content-Length: 0
# (RFC 9110, section 8.6).
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
_BAD_REASON_BYTES_RE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_RESPONSE_PRIMER: Final = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


class HTTP1ClientProtocol(HTTP1Base):
    """The client side of one HTTP/1.1 connection: frames requests, parses responses.

    Args:
        max_header_size: largest response head, in bytes (64 KiB by default).
        max_body_size: largest response body (100 MiB by default).
        chunk_size: largest ``Data`` event (64 KiB by default).

    Response framing follows RFC 9112, section 6.3, with the request it answers in
    mind: no body for HEAD, 1xx, 204 and 304, a tunnel after a 2xx to CONNECT and a
    new protocol after a 101, otherwise chunked, Content-Length, or until the
    connection closes.
    """

    __slots__ = ()

    _parser_class = HttpResponseParser
    _chunked_primer = _RESPONSE_PRIMER

    def __init__(
        self,
        *,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(
            max_header_size=max_header_size,
            max_body_size=max_body_size,
            chunk_size=chunk_size,
            max_start_line_size=None,
        )

    # --- sending ---------------------------------------------------------------------

    def send_request(
        self,
        method: str,
        target: str,
        headers: HTTPHeaders | Iterable[tuple[str, str]] | None = None,
        *,
        body: BytesLike = b"",
        end: bool = False,
    ) -> bytes:
        """Return the bytes of a request head (and of ``body`` and the end, if given).

        The headers must hold exactly one ``Host``. A complete empty body gets no
        Content-Length unless the method defines content (POST, PUT, PATCH); a body
        sent in pieces (``end=False``) is chunked unless Content-Length is set.

        Raises:
            HTTPOutputError: a request is in progress, or the method, target or
                headers are invalid.
        """
        if self._our_state is not IDLE or self._their_state is not IDLE:
            raise HTTPOutputError("a request is already in progress")
        if type(body) is not bytes:
            body = bytes(body)
        if method not in METHOD_NAMES and TOKEN_RE.fullmatch(method) is None:
            raise HTTPOutputError(f"invalid method {method!r}")
        if not target or _BAD_TARGET_RE.search(target) is not None:
            raise HTTPOutputError(f"invalid request target {target[:64]!r}")
        fields = fields_of(headers)
        hosts = fields.get("Host")
        if hosts is None or len(hosts) != 1:
            raise HTTPOutputError("a request needs exactly one Host header")
        connection = fields.get("Connection")
        options = tokens(connection) if connection is not None else ()
        self._keep_alive = "close" not in options
        self._req_upgrade = method == "CONNECT" or ("upgrade" in options and "Upgrade" in fields)
        lines = head_lines(f"{method} {target} HTTP/1.1\r\n", fields)
        te = fields.get("Transfer-Encoding")
        cl = fields.get("Content-Length")
        length = 0
        if te is not None or cl is not None:
            mode, length = self._declared_framing(te, cl, True)
        elif end and not body and method not in _BODY_METHODS:
            mode = NO_BODY
        elif end:
            mode = LENGTH
            length = len(body)
            lines.append(f"Content-Length: {length}\r\n")
        else:
            mode = CHUNKED
            lines.append("Transfer-Encoding: chunked\r\n")
        lines.append("\r\n")
        head = encode_head(lines)
        self._req_method = method
        self._send_mode = mode
        self._send_remaining = length
        self._our_state = SEND_BODY
        if body:
            head += self._frame(body)
        if end:
            head += self._end_bytes(None)
            self._finish_ours()
        return head

    def expect_response(self, method: str = "GET") -> None:
        """Read the response to a request that was sent by other means.

        For a caller that wrote a whole request (head and body) on the connection
        itself: the next response is framed as the answer to ``method`` (a HEAD
        response has no body; a 2xx to CONNECT opens a tunnel).

        Raises:
            HTTPOutputError: a request is already in progress.
        """
        if self._our_state is not IDLE or self._their_state is not IDLE:
            raise HTTPOutputError("a request is already in progress")
        self._keep_alive = True
        self._req_upgrade = method == "CONNECT"
        self._req_method = method
        self._send_mode = NO_BODY
        self._send_remaining = 0
        self._finish_ours()

    def send_data(self, data: BytesLike) -> bytes:
        """Return the framed bytes of the next piece of the request body.

        Raises:
            HTTPOutputError: no request body is in progress or ``data`` overruns its
                Content-Length.
        """
        if self._our_state is not SEND_BODY:
            raise HTTPOutputError("no request body is in progress")
        return self._frame(data)

    def send_end(self, trailers: HTTPHeaders | None = None) -> bytes:
        """Return the bytes that complete the request (the last chunk and trailers).

        Raises:
            HTTPOutputError: no request is in progress, fewer bytes than its
                Content-Length were sent, or trailers without chunked framing.
        """
        if self._our_state is not SEND_BODY:
            raise HTTPOutputError("no request body is in progress")
        data = self._end_bytes(trailers)
        self._finish_ours()
        return data

    def _finish_ours(self) -> None:
        their = self._their_state
        if their is DONE:
            # The response ended before the request: the server expects no more.
            self._keep_alive = False
            self._our_state = self._their_state = MUST_CLOSE
        elif their is SWITCHED:
            self._our_state = SWITCHED
        else:
            self._our_state = DONE

    # --- receiving -------------------------------------------------------------------

    def next_event(self) -> NextEvent:
        """Return the next event, or ``NEED_DATA`` / ``PAUSED``.

        ``ConnectionClosed`` also comes when the server closes before sending any byte
        of a response (a keep-alive connection it had already given up on), so the
        caller can retry on a new connection.

        Raises:
            HTTPInputError: the response violates HTTP/1.1. Raised again by every
                later call.
        """
        pending = self._pending
        if pending is not None:
            self._pending = None
            return pending
        state = self._their_state
        if state is IDLE:
            if self._our_state is IDLE:
                if self._eof and self._pos >= len(self._buf):
                    self._their_state = CLOSED
                    return ConnectionClosed()
                return PAUSED
            return self._next_response()
        if state is SEND_BODY:
            return self._read_body()
        if state is ERROR:
            assert self._error is not None
            raise self._error
        if state is CLOSED or (state is MUST_CLOSE and self._eof):
            self._their_state = CLOSED
            return ConnectionClosed()
        return PAUSED

    def _next_response(self) -> NextEvent:
        head_end = self._find_head()
        if head_end < 0:
            if self._eof:
                if self._head_begun:
                    raise self._fail("connection closed in the middle of a response head")
                self._their_state = CLOSED
                self._keep_alive = False
                return ConnectionClosed()
            return NEED_DATA
        upgraded = self._feed_head(self._fed, head_end)
        self._pos = self._fed = head_end
        parser = self._parser
        assert isinstance(parser, HttpResponseParser)
        sink = self._head_sink
        buf = self._buf
        mark = self._mark
        if buf.startswith(b"HTTP/1.1 ", mark):
            version = HTTP11
        elif buf.startswith(b"HTTP/1.0 ", mark):
            version = HTTP10
        else:
            raise self._version_error(mark, head_end, mark)
        status = parser.get_status_code()
        if upgraded:
            self._parser = None
        reason = b"".join(sink.urls)
        sink.urls.clear()
        fields = sink.fields
        sink.fields = {}
        if status < 100:
            raise self._fail(f"invalid status code {status}")
        if _BAD_REASON_BYTES_RE.search(reason) is not None:
            raise self._fail("invalid character in reason phrase")
        headers = HTTPHeaders._from_parsed(fields)
        text_reason = reason.decode("latin-1")
        if status < 200 and status != 101:
            # RFC 9110, section 15.2: interim responses; the final one follows.
            self._head_begun = False
            return InformationalResponse(status, text_reason, version, headers)
        keep_alive = self._keep_alive
        connection = fields.get("Connection")
        options = tokens(connection) if connection is not None else []
        if version is HTTP10:
            keep_alive = keep_alive and "keep-alive" in options
        elif "close" in options:
            keep_alive = False
        method = self._req_method
        if status == 101 or (method == "CONNECT" and status < 300):
            if not self._req_upgrade:
                raise self._fail(f"unexpected {status} response switching protocols")
            self._their_state = SWITCHED
            if self._our_state is DONE:
                self._our_state = SWITCHED
            return Response(status, text_reason, version, headers, keep_alive)
        if method == "HEAD" or status == 204 or status == 304:
            mode, length = NO_BODY, 0
        elif "Transfer-Encoding" in fields or "Content-Length" in fields:
            mode, length = self._check_framing(fields, version)
        else:
            # RFC 9112, section 6.3, rule 8: the body runs until the connection closes.
            mode, length = UNTIL_CLOSE, 0
        if mode == UNTIL_CLOSE:
            keep_alive = False
        self._keep_alive = keep_alive
        response = Response(status, text_reason, version, headers, keep_alive)
        if mode == NO_BODY:
            # llhttp may expect a body here (HEAD); a fresh parser takes the next head.
            self._parser = None
            self._pending = self._message_complete(END_OF_MESSAGE)
        else:
            self._start_body(mode, length, head_end)
        return response

    def _other_codings(self, codings: list[str]) -> tuple[int, int]:
        if codings[-1] != "chunked":
            # RFC 9112, section 6.3, rule 4: not chunked last means read until close.
            return UNTIL_CLOSE, 0
        raise self._fail(f"transfer coding not supported: {', '.join(codings)}", 501)

    def _message_complete(self, end: EndOfMessage) -> EndOfMessage:
        our = self._our_state
        if our is DONE and self._keep_alive:
            # Both messages complete: ready for the next request.
            self._their_state = self._our_state = IDLE
            self._head_begun = False
            self._req_method = None
            self._req_upgrade = False
            self._max_body_size = self._default_max_body_size
            self._release()
        elif our is DONE or our is MUST_CLOSE:
            self._their_state = self._our_state = MUST_CLOSE
        else:
            self._their_state = DONE
        return end
