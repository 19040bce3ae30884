"""The machinery both roles of the sans-IO HTTP/1.1 protocol share.

Layer 4 (private to ``typhoon.http1proto``): imports ``typhoon._http1events``,
``typhoon._headers``, ``typhoon.errors`` and ``httptools``; never a stream or a loop.

Strategy. Received bytes stay in one buffer (``bytes`` while a single segment holds
everything unconsumed, a ``bytearray`` once segments must be joined); positions into
it only move forward, and the consumed prefix is dropped in bulk. httptools (llhttp
in strict mode) does the byte-level validation, but it is never allowed to read past
what the protocol has decided belongs to the current message part:

* Heads. A head is handed to the *head parser* only once its terminating CRLFCRLF is
  buffered (strict llhttp ends a head nowhere else), so its size is exact for the
  431/414 checks and every field value reaches the parser whole. Until then only
  complete lines are fed, so garbage is refused as soon as a line of it arrives. The
  head parser is given no callbacks beyond the request-target and fields, and is
  kept for the next head when the message has no body (the common case).
* Chunked bodies go to a separate *body parser*, primed with a synthetic head, and
  are fed no further than the next CRLFCRLF: a chunked message can only end right
  after one (the end of its trailer section), so the parser never runs into a
  pipelined message behind it. Below a few KiB, feeds stop at the last complete line,
  so a trailer value is not trickled into the parser byte by byte either.
* Content-Length and read-until-close bodies are sliced from the buffer directly.

Every wait for more bytes resumes where the previous search stopped, so the work per
message is linear in its size however the bytes are split.
"""

from __future__ import annotations

__all__ = ["HTTP1Base"]

import re
from collections.abc import Iterable
from typing import ClassVar, Final, Literal

from httptools import (
    HttpParserError,
    HttpParserInvalidMethodError,
    HttpParserUpgrade,
    HttpRequestParser,
    HttpResponseParser,
)

from typhoon._headers import _CANONICAL_BYTES, HTTPHeaders, _normalize_uncommon
from typhoon._http1events import (
    NEED_DATA,
    AnyEvent,
    Data,
    EndOfMessage,
    Signal,
    State,
)
from typhoon.errors import HTTPInputError, HTTPOutputError

NextEvent = AnyEvent | Literal[Signal.NEED_DATA, Signal.PAUSED]

#: What the protocol objects accept as bytes (bodies, received data); anything but
#: ``bytes`` is copied to ``bytes`` on entry.
BytesLike = bytes | bytearray | memoryview

DEFAULT_MAX_HEADER_SIZE: Final = 64 * 1024
DEFAULT_MAX_BODY_SIZE: Final = 100 * 1024 * 1024
DEFAULT_CHUNK_SIZE: Final = 64 * 1024
# Below this many pending bytes a chunked body is fed only up to its last complete
# line, so trailer values reach the parser whole (httptools joins pieces by
# concatenation, which is quadratic for a value trickled a byte at a time).
LINE_GATE: Final = 4096

IDLE: Final = State.IDLE
SEND_BODY: Final = State.SEND_BODY
DONE: Final = State.DONE
MUST_CLOSE: Final = State.MUST_CLOSE
CLOSED: Final = State.CLOSED
SWITCHED: Final = State.SWITCHED_PROTOCOL
ERROR: Final = State.ERROR

HTTP11: Final = "HTTP/1.1"
HTTP10: Final = "HTTP/1.0"

# Body framing modes (RFC 9112, section 6).
NO_BODY: Final = 0
LENGTH: Final = 1
CHUNKED: Final = 2
UNTIL_CLOSE: Final = 3

#: The shared end of a message without trailers (EndOfMessage is immutable).
END_OF_MESSAGE: Final = EndOfMessage()

TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Parser error reasons (llhttp's) and the words a refusal log line leads with.
_PARSER_REASONS: Final = (
    ("in Content-Length", "Only integer Content-Length is allowed"),
    ("Duplicate Content-Length", "Multiple unequal Content-Lengths"),
    ("chunk size", "invalid chunk size"),
    ("can't be present with", "Message with both Transfer-Encoding and Content-Length"),
    ("`Transfer-Encoding` header", "Unsupported Transfer-Encoding"),
    ("Expected CRLF after version", "Malformed HTTP request line"),
    ("Invalid header token", "no colon in header line"),
)
#: The known method a head with an unknown one is parsed under, and the longest unknown
#: method taken.
_STAND_IN_METHOD: Final = b"POST"
_MAX_METHOD_LENGTH: Final = 64
_VERSION_RE: Final = re.compile(rb"HTTP/[0-9]\.[0-9]")


#: The methods llhttp knows, as the bytes it reports them in (never mutated).
METHODS: Final[dict[bytes, str]] = {
    m.encode(): m
    for m in (
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "OPTIONS",
        "PATCH",
        "CONNECT",
        "TRACE",
        "PROPFIND",
        "PROPPATCH",
        "MKCOL",
        "COPY",
        "MOVE",
        "LOCK",
        "UNLOCK",
        "REPORT",
        "SEARCH",
        "PURGE",
    )
}
METHOD_NAMES: Final = frozenset(METHODS.values())

# RFC 9110, section 15.1 / RFC 9112, section 4: reason-phrase is HTAB, SP, VCHAR and
# obs-text; anything else could end the status line or smuggle control bytes.
BAD_REASON_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def tokens(values: list[str]) -> list[str]:
    """The comma-separated tokens of a list-valued field, lower-cased (RFC 9110, 5.6.1)."""
    return [t.strip(" \t").lower() for v in values for t in v.split(",")]


class HeadSink:
    """Callbacks of the head parser: the request-target (or reason) and the fields.

    Field lines go straight into ``fields`` under their canonical names, with values
    decoded as latin-1 and trailing whitespace dropped (llhttp drops the leading
    whitespace; neither is part of the value, RFC 9110 section 5.5).
    """

    __slots__ = ("fields", "on_status", "on_url", "urls")

    def __init__(self) -> None:
        self.urls: list[bytes] = []
        # Bound list.append: a C call per start line, no Python frame.
        self.on_url = self.on_status = self.urls.append
        self.fields: dict[str, list[str]] = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        key = _CANONICAL_BYTES.get(name)
        if key is None:
            key = _normalize_uncommon(name.decode("latin-1"))
        text = value.decode("latin-1").rstrip(" \t")
        fields = self.fields
        values = fields.get(key)
        if values is None:
            fields[key] = [text]
        else:
            values.append(text)


class BodySink(HeadSink):
    """Callbacks of a chunked-body parser: data, trailer fields (``fields``), completion."""

    __slots__ = ("done", "on_body", "parts")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []
        self.on_body = self.parts.append
        self.done = False

    def on_message_complete(self) -> None:
        self.done = True


class HTTP1Base:
    """Receive buffer, parser feeding, body reading and body framing for both roles."""

    __slots__ = (
        "_body_checked",
        "_body_mode",
        "_body_parser",
        "_body_sink",
        "_buf",
        "_chunk_size",
        "_default_max_body_size",
        "_eof",
        "_error",
        "_fed",
        "_head_begun",
        "_head_sink",
        "_keep_alive",
        "_mark",
        "_max_body_size",
        "_max_header_size",
        "_max_start_line",
        "_our_state",
        "_parser",
        "_pending",
        "_pos",
        "_received",
        "_remaining",
        "_req_method",
        "_req_upgrade",
        "_scan",
        "_send_mode",
        "_send_remaining",
        "_stall",
        "_their_state",
        "_unknown_method",
    )

    _parser_class: ClassVar[type[HttpRequestParser] | type[HttpResponseParser]]
    _chunked_primer: ClassVar[bytes]

    def __init__(
        self,
        *,
        max_header_size: int | None,
        max_body_size: int | None,
        chunk_size: int | None,
        max_start_line_size: int | None,
    ) -> None:
        self._max_header_size = max_header_size or DEFAULT_MAX_HEADER_SIZE
        self._default_max_body_size = (
            DEFAULT_MAX_BODY_SIZE if max_body_size is None else max_body_size
        )
        self._max_body_size = self._default_max_body_size
        self._chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
        self._max_start_line = max_start_line_size or self._max_header_size
        self._head_sink = HeadSink()
        self._parser: HttpRequestParser | HttpResponseParser | None = None
        self._body_sink: BodySink | None = None  # made for the first chunked body
        self._body_parser: HttpRequestParser | HttpResponseParser | None = None
        # Unconsumed bytes are _buf[_pos:]; the other positions are absolute too.
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._fed = 0  # the head parser has seen the current head up to here
        self._mark = 0  # start of the current head, or of the current chunked body
        self._scan = 0  # where the next CRLFCRLF search resumes
        self._stall = 0  # chunked framing bytes fed since the last body byte
        self._eof = False
        self._pending: AnyEvent | None = None
        self._their_state = IDLE
        self._our_state = IDLE
        self._error: HTTPInputError | None = None
        self._keep_alive = True
        self._head_begun = False
        self._body_mode = NO_BODY
        self._remaining = 0
        self._received = 0
        # A request method the head parser does not know, parsed under a stand-in.
        self._unknown_method: bytes | None = None
        self._body_checked = False
        self._send_mode = NO_BODY
        self._send_remaining = 0
        self._req_method: str | None = None
        self._req_upgrade = False

    # --- public surface shared by both roles ---------------------------------------

    @property
    def their_state(self) -> State:
        """Where the peer's current message stands."""
        return self._their_state

    @property
    def our_state(self) -> State:
        """Where our current message stands."""
        return self._our_state

    @property
    def keep_alive(self) -> bool:
        """False once it is known that the connection cannot carry another exchange."""
        return self._keep_alive

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Received bytes not consumed yet, and whether the peer has closed (EOF).

        After a protocol switch these are the first bytes of the new protocol.
        """
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            return b"", self._eof
        return bytes(buf[pos:]), self._eof

    def receive_data(self, data: BytesLike) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed its side.

        Never parses and never raises for bad input: problems surface from
        ``next_event``.

        Raises:
            HTTPOutputError: data after the end of file (a bug in the caller).
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise HTTPOutputError("receive_data called with data after end of file")
        if type(data) is not bytes:
            data = bytes(data)
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            # Everything before was consumed: keep the new segment as it is.
            self._buf = data
            self._pos = self._fed = self._mark = self._scan = 0
        elif type(buf) is bytearray:
            buf += data
        else:
            # Keep up to 3 consumed bytes (see _compact).
            cut = max(pos - 3, 0)
            grown = bytearray(memoryview(buf)[cut:])
            grown += data
            self._buf = grown
            self._shift(cut)

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change the body size limit for the message being received (not later ones).

        A declared length is checked at the first ``next_event`` after the head, so
        this may be called once the head event has been seen.
        """
        self._max_body_size = max_body_size

    # --- buffer bookkeeping ----------------------------------------------------------

    def _shift(self, delta: int) -> None:
        self._pos -= delta
        self._fed = max(self._fed - delta, 0)
        self._mark = max(self._mark - delta, 0)
        self._scan = max(self._scan - delta, 0)

    def _compact(self) -> None:
        buf = self._buf
        pos = self._pos
        if type(buf) is bytearray and pos > DEFAULT_CHUNK_SIZE and pos * 2 > len(buf):
            # Keep the 3 bytes before pos: the end of a chunked body is searched from
            # there (a CRLFCRLF may straddle what the parser has already seen).
            cut = pos - 3
            del buf[:cut]
            self._shift(cut)

    def _release(self) -> None:
        """Between exchanges: drop consumed bytes, so an idle connection holds none."""
        if self._pos >= len(self._buf):
            self._buf = b""
            self._pos = 0
        elif type(self._buf) is bytearray:
            self._compact()

    # --- errors ----------------------------------------------------------------------

    def _fail(self, message: str, status_code: int = 400) -> HTTPInputError:
        error = HTTPInputError(message, status_code=status_code)
        self._error = error
        self._their_state = ERROR
        self._keep_alive = False
        self._pending = None
        return error

    def _parse_error(self, exc: HttpParserError) -> HTTPInputError:
        if isinstance(exc, HttpParserInvalidMethodError):
            return self._method_error(exc)
        reason = str(exc) or type(exc).__name__
        # RFC 9110, section 15.6.6: a well-formed version we do not speak.
        status = 505 if reason == "Invalid HTTP version" else 400
        # The parser's reasons, led by the words Tornado uses for the same refusals.
        for known, words in _PARSER_REASONS:
            if known in reason:
                return self._fail(f"{words} ({reason})", status)
        return self._fail(f"malformed HTTP message: {reason}", status)

    def _method_error(self, exc: HttpParserError) -> HTTPInputError:
        return self._fail(f"malformed HTTP message: {exc}")

    # --- heads -----------------------------------------------------------------------

    def _find_head(self) -> int:
        """Return the end of the next complete head in the buffer, or -1.

        Skips empty lines before a head (RFC 9112, section 2.2), enforces the size
        limits and, while the head is incomplete, feeds its complete lines.
        """
        buf = self._buf
        if not self._head_begun:
            pos = self._pos
            n = len(buf)
            while pos < n and buf[pos] == 13:
                if pos + 1 == n:
                    # A lone CR: wait to see whether an LF completes the empty line.
                    self._pos = pos
                    return -1
                if buf[pos + 1] != 10:
                    break
                pos += 2
            if pos >= n:
                self._pos = pos
                return -1
            self._head_begun = True
            self._pos = self._mark = self._fed = self._scan = pos
        end = buf.find(b"\r\n\r\n", self._scan)
        if end < 0:
            self._incomplete_head()
            return -1
        head_end = end + 4
        mark = self._mark
        if head_end - mark > self._max_header_size:
            line_end = buf.find(b"\r\n", mark, head_end)
            if line_end - mark > self._max_start_line:
                raise self._fail("start line too long", 414)
            raise self._fail("header block too large", 431)
        return head_end

    def _incomplete_head(self) -> None:
        buf = self._buf
        mark = self._mark
        n = len(buf)
        size = n - mark
        if size > self._max_start_line and buf.find(b"\n", mark, n) < 0:
            raise self._fail("start line too long", 414)
        if size > self._max_header_size:
            raise self._fail("header block too large", 431)
        self._scan = max(mark, n - 3)
        last_line = buf.rfind(b"\n", self._fed, n)
        if last_line >= 0:
            # Complete lines only: a malformed head fails now rather than at a timeout.
            self._feed_head(self._fed, last_line + 1)
            self._fed = last_line + 1

    def _feed_head(self, start: int, end: int) -> bool:
        """Feed buf[start:end] to the head parser; True when it reports an upgrade."""
        parser = self._parser
        if parser is None:
            parser = self._parser = self._parser_class(self._head_sink)
        buf = self._buf
        try:
            if start == 0 and end == len(buf) and type(buf) is bytes:
                parser.feed_data(buf)
            else:
                parser.feed_data(memoryview(buf)[start:end])
        except HttpParserUpgrade:
            return True
        except HttpParserError as exc:
            if str(exc) == "Pause on CONNECT/Upgrade":
                # A 101 response: llhttp stops without resuming; the caller drops the
                # parser once it has read the status.
                return True
            return self._reparse_head(exc, start, end)
        return False

    def _reparse_head(self, exc: HttpParserError, start: int, end: int) -> bool:
        """Recover from a head parser error, or raise it as an :class:`HTTPInputError`.

        The one recoverable error is a method the parser does not know. Any token is a
        method (RFC 9110, section 9.1) and the application decides what an unsupported
        one gets (a web handler answers 405), but llhttp knows a fixed table. The head is
        parsed again with a known stand-in method (a request's framing never depends on
        its method, RFC 9112, section 6.3) and the real one is kept for the request.
        ``start`` is where the feed that failed began; returns whether the parser
        reported an upgrade.
        """
        buf = self._buf
        if isinstance(exc, HttpParserInvalidMethodError) and start == self._mark:
            space = buf.find(b" ", start, min(end, start + _MAX_METHOD_LENGTH + 1))
            method = bytes(buf[start:space]) if space > start else b""
            if method and TOKEN_RE.fullmatch(method.decode("latin-1")) is not None:
                parser = self._parser = self._parser_class(self._head_sink)
                self._unknown_method = method
                try:
                    parser.feed_data(_STAND_IN_METHOD + bytes(buf[space:end]))
                except HttpParserUpgrade:
                    return True
                except HttpParserError as again:
                    raise self._parse_error(again) from again
                return False
        raise self._parse_error(exc) from exc

    def _version_error(self, line_start: int, line_end: int, where: int) -> HTTPInputError:
        text = bytes(self._buf[where : where + 8])
        if _VERSION_RE.fullmatch(text):
            return self._fail(f"HTTP version not supported: {text.decode('latin-1')}", 505)
        return self._fail("malformed start line")

    def _check_framing(self, fields: dict[str, list[str]], version: str) -> tuple[int, int]:
        """Framing of a received message with CL or TE: (mode, length). RFC 9112, 6."""
        te = fields.get("Transfer-Encoding")
        cl = fields.get("Content-Length")
        if te is not None:
            if cl is not None:
                # RFC 9112, section 6.1: both at once is how requests are smuggled.
                raise self._fail("Message with both Transfer-Encoding and Content-Length")
            if version == HTTP10:
                # RFC 9112, section 6.1: TE in an HTTP/1.0 message is faulty framing.
                raise self._fail("Transfer-Encoding in an HTTP/1.0 message")
            codings = tokens(te)
            if codings.count("chunked") > 1:
                raise self._fail("Unsupported Transfer-Encoding: chunked applied more than once")
            for coding in codings:
                if TOKEN_RE.fullmatch(coding) is None:
                    raise self._fail("malformed Transfer-Encoding")
            if codings != ["chunked"]:
                return self._other_codings(codings)
            return CHUNKED, 0
        assert cl is not None
        value = cl[0]
        # RFC 9112, section 6.3: one decimal length. Repeats, lists, signs, underscores
        # and non-ASCII digits are refused (GHSA-qppv-j76h-2rpx).
        if len(cl) != 1:
            raise self._fail("Multiple unequal Content-Lengths (or a list): one length only")
        if not (value.isascii() and value.isdigit()):
            raise self._fail("Only integer Content-Length is allowed")
        length = int(value)
        return (LENGTH, length) if length else (NO_BODY, 0)

    def _other_codings(self, codings: list[str]) -> tuple[int, int]:
        """Framing for transfer codings other than ``chunked`` alone (each role decides:
        a server refuses them, a client reads such a body until the close)."""
        raise NotImplementedError

    def _start_body(self, mode: int, length: int, head_end: int) -> None:
        self._their_state = SEND_BODY
        self._body_mode = mode
        self._remaining = length
        self._received = 0
        self._body_checked = False
        self._stall = 0
        self._mark = self._scan = head_end
        # The head parser now expects this body, which it will never see: replace it.
        self._parser = None
        if mode == CHUNKED:
            sink = self._body_sink
            if sink is None:
                sink = self._body_sink = BodySink()
            parser = self._body_parser = self._parser_class(sink)
            parser.feed_data(self._chunked_primer)
            sink.urls.clear()
            sink.fields = {}
            sink.done = False

    # --- bodies ----------------------------------------------------------------------

    def _read_body(self) -> NextEvent:
        mode = self._body_mode
        if mode == LENGTH:
            return self._read_length_body()
        if mode == CHUNKED:
            return self._read_chunked_body()
        return self._read_until_close()

    def _read_length_body(self) -> NextEvent:
        if not self._body_checked:
            if self._remaining > self._max_body_size:
                # RFC 9110, section 15.5.14: refused before any of it is read.
                raise self._fail("Content-Length too long: body larger than the limit", 413)
            self._body_checked = True
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available <= 0:
            if self._eof:
                raise self._fail("connection closed before the end of the body")
            return NEED_DATA
        self._body_started()
        take = min(self._remaining, available, self._chunk_size)
        if pos == 0 and take == len(buf) and type(buf) is bytes:
            data = buf
        else:
            data = bytes(memoryview(buf)[pos : pos + take])
        self._pos = pos + take
        self._remaining -= take
        if self._remaining == 0:
            self._pending = self._message_complete(END_OF_MESSAGE)
        else:
            self._compact()
        return Data(data)

    def _read_until_close(self) -> NextEvent:
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available <= 0:
            if self._eof:
                return self._message_complete(END_OF_MESSAGE)
            return NEED_DATA
        take = min(available, self._chunk_size)
        self._received += take
        if self._received > self._max_body_size:
            raise self._fail("body larger than the limit", 413)
        data = bytes(memoryview(buf)[pos : pos + take])
        self._pos = pos + take
        self._compact()
        return Data(data)

    def _read_chunked_body(self) -> NextEvent:
        sink = self._body_sink
        parser = self._body_parser
        assert sink is not None
        assert parser is not None
        while True:
            buf = self._buf
            pos = self._pos
            n = len(buf)
            if pos >= n:
                if self._eof:
                    raise self._fail("connection closed before the end of the body")
                return NEED_DATA
            limit = min(n, pos + self._chunk_size)
            # A chunked message ends right after a CRLFCRLF (the end of its trailer
            # section): feeding no further than the next one keeps the parser out of
            # whatever follows the message.
            # The search starts 3 bytes back: a CRLFCRLF may straddle what was fed.
            boundary = buf.find(b"\r\n\r\n", max(self._scan, pos - 3, self._mark))
            if boundary >= 0 and boundary + 4 <= limit:
                limit = boundary + 4
            else:
                self._scan = boundary if boundary >= 0 else max(n - 3, self._mark)
                # Bytes at the very end that may begin the CRLFCRLF ending the message
                # wait until the bytes after them show whether they do.
                available = n
                if buf[n - 1] == 13:
                    available = n - 3 if buf[n - 3 : n] == b"\r\n\r" else n - 1
                elif buf[n - 1] == 10 and n >= 2 and buf[n - 2] == 13:
                    available = n - 2
                if self._stall and n - pos < LINE_GATE:
                    # No body byte since the last feed: chunk-size lines or trailers,
                    # which go to the parser a whole line at a time.
                    available = min(available, buf.rfind(b"\n", pos, n) + 1)
                limit = min(limit, available)
                if limit <= pos:
                    if self._eof:
                        raise self._fail("connection closed before the end of the body")
                    return NEED_DATA
            self._body_started()
            try:
                parser.feed_data(memoryview(buf)[pos:limit])
            except HttpParserError as exc:
                raise self._fail(f"invalid chunk size or chunked framing: {exc}") from exc
            self._pos = limit
            parts = sink.parts
            if parts:
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                parts.clear()
                self._received += len(data)
                if self._received > self._max_body_size:
                    raise self._fail("chunked body too large: larger than the limit", 413)
                self._stall = 0
            else:
                data = b""
                self._stall += limit - pos
                if self._stall > self._max_header_size:
                    raise self._fail("chunk framing or trailer section too large", 431)
            if sink.done:
                self._body_parser = None
                trailers = sink.fields
                end = self._message_complete(
                    EndOfMessage(HTTPHeaders._from_parsed(trailers)) if trailers else END_OF_MESSAGE
                )
                sink.fields = {}
                if data:
                    self._pending = end
                    return Data(data)
                return end
            self._compact()
            if data:
                return Data(data)

    def _body_started(self) -> None:
        """Hook: body bytes are being consumed."""

    def _message_complete(self, end: EndOfMessage) -> EndOfMessage:
        """The peer's message is complete: move the states on (each role has its own
        rules for starting the next exchange) and return ``end``."""
        raise NotImplementedError

    # --- sending ---------------------------------------------------------------------

    def _declared_framing(
        self, te: list[str] | None, cl: list[str] | None, chunked_allowed: bool
    ) -> tuple[int, int]:
        """Framing of our message when the application set CL or TE itself."""
        if te is not None:
            if cl is not None:
                raise HTTPOutputError("both Transfer-Encoding and Content-Length set")
            if tokens(te) != ["chunked"]:
                raise HTTPOutputError("only the chunked transfer coding can be sent")
            if not chunked_allowed:
                raise HTTPOutputError("Transfer-Encoding cannot be sent to an HTTP/1.0 peer")
            return CHUNKED, 0
        assert cl is not None
        value = cl[0]
        if len(cl) != 1 or not (value.isascii() and value.isdigit()):
            raise HTTPOutputError(f"invalid Content-Length {cl!r}")
        return LENGTH, int(value)

    def _frame(self, data: BytesLike) -> bytes:
        if type(data) is not bytes:
            data = bytes(data)
        mode = self._send_mode
        if mode == CHUNKED:
            if not data:
                return b""
            return b"%x\r\n%b\r\n" % (len(data), data)
        if mode == LENGTH:
            self._send_remaining -= len(data)
            if self._send_remaining < 0:
                raise HTTPOutputError("Tried to write more data than Content-Length")
            return data
        if mode == NO_BODY:
            if data:
                raise HTTPOutputError("this message cannot have a body")
            return b""
        return data

    def _end_bytes(self, trailers: HTTPHeaders | None) -> bytes:
        mode = self._send_mode
        if mode == CHUNKED:
            if trailers:
                lines = ["0\r\n"]
                for name, value in trailers.get_all():
                    lines.append(f"{name}: {value}\r\n")
                lines.append("\r\n")
                return encode_head(lines)
            return b"0\r\n\r\n"
        if trailers:
            raise HTTPOutputError("trailers need a chunked body")
        if mode == LENGTH and self._send_remaining:
            raise HTTPOutputError(
                f"Tried to write {self._send_remaining} bytes less than Content-Length"
            )
        return b""


def fields_of(headers: HTTPHeaders | Iterable[tuple[str, str]] | None) -> dict[str, list[str]]:
    """The fields of headers given as HTTPHeaders, ``(name, value)`` pairs, or None."""
    if headers is None:
        return {}
    if isinstance(headers, HTTPHeaders):
        return headers._as_list
    result = HTTPHeaders()
    for name, value in headers:
        result.add(name, value)
    return result._as_list


def head_lines(first: str, fields: dict[str, list[str]]) -> list[str]:
    """The text of a head before its framing fields: ``first``, then each field line.

    Each line comes as its pieces (name, ``": "``, value, CRLF), which a join puts
    together at no extra cost; building each line as one string first would make a
    string per field only to copy it again.
    """
    lines = [first]
    for name, values in fields.items():
        for value in values:
            lines.append(name)
            lines.append(": ")
            lines.append(value)
            lines.append("\r\n")
    return lines


def encode_head(lines: list[str]) -> bytes:
    """Join head lines into bytes; field values must be latin-1 text."""
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise HTTPOutputError(
            "header values must be latin-1 text; encode other characters first"
        ) from exc
