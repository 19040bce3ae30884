"""A sans-IO WebSocket codec (RFC 6455) with permessage-deflate (RFC 7692).

This module does no I/O. The opening handshake is a set of pure helpers; after it, a
:class:`WebSocketCodec` turns received bytes into events and outgoing messages into
bytes. The network side (``typhoon.websocket``) owns the socket, timers and
callbacks; the codec owns every protocol rule.

Server, after the HTTP layer parsed a request::

    request = validate_client_handshake(method, version, headers)   # or 4xx
    accept = accept_client_handshake(request, subprotocol=..., deflate=DeflateOptions())
    # answer "101 Switching Protocols" with accept.headers, then:
    codec = WebSocketCodec(Role.SERVER, deflate=accept.deflate)

Client::

    handshake = ClientHandshake(subprotocols=["chat"], deflate=DeflateOptions())
    # send GET with Host and handshake.request_headers(); on the response:
    accept = handshake.validate_response(status, headers)
    codec = WebSocketCodec(Role.CLIENT, deflate=accept.deflate)

Then, on both sides::

    codec.receive_data(chunk)            # b"" when the peer closed the transport
    try:
        for event in codec.events():
            ...                          # TextMessage, BinaryMessage, Ping, Pong, Close
    except WebSocketError as exc:        # the peer broke the protocol
        ...                              # exc.close_code is already queued to send
    transport.write(codec.data_to_send())   # automatic pongs and close replies
    transport.write(codec.send_message("hi"))

Read loops may skip event objects: ``next_item()`` gives a message as ``str``/``bytes``,
``receive_single(chunk)`` reads a chunk that is exactly one small message in one call.

Strictness: every violation of RFC 6455 or RFC 7692 by the peer raises
:class:`~typhoon.errors.WebSocketError` with the close code to use (1002 protocol
error, 1007 invalid data, 1009 too big). Before raising, the codec queues a Close
frame with that code in :meth:`WebSocketCodec.data_to_send` and moves to
:attr:`ConnectionState.CLOSED`, so the caller writes it and closes the transport
(section 7.1.7, "Fail the WebSocket Connection").

Closing: once :attr:`WebSocketCodec.state` is :attr:`ConnectionState.CLOSED` and
:meth:`WebSocketCodec.data_to_send` has been written, a server closes the TCP
connection; a client waits a little for the server to do so first (section 7.1.1).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "WEBSOCKET_GUID",
    "BinaryMessage",
    "ClientHandshake",
    "Close",
    "CloseCode",
    "ConnectionState",
    "DeflateOptions",
    "DeflateParams",
    "Event",
    "Extension",
    "HandshakeAccept",
    "HandshakeRequest",
    "HeadersLike",
    "Ping",
    "Pong",
    "Role",
    "TextMessage",
    "WebSocketClosedError",
    "WebSocketCodec",
    "WebSocketError",
    "WebSocketHandshakeError",
    "WebSocketOutputError",
    "accept_client_handshake",
    "apply_mask",
    "compute_accept",
    "format_extension",
    "generate_key",
    "is_valid_close_code",
    "parse_extensions",
    "validate_client_handshake",
    "verify_accept",
]

import codecs
from collections.abc import Iterator
from typing import Any

from ._wsdeflate import (
    DeflateOptions,
    DeflateParams,
    Extension,
    MessageDeflater,
    MessageInflater,
    format_extension,
    message_compressors,
    parse_extensions,
)
from ._wsevents import (
    BinaryMessage,
    Close,
    CloseCode,
    ConnectionState,
    Event,
    Ping,
    Pong,
    Role,
    TextMessage,
)
from ._wsframes import (
    BINARY_HEADERS,
    MAX_CONTROL_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    TEXT_HEADERS,
    apply_mask,
    decode_close_payload,
    encode_close_payload,
    encode_frame,
    is_valid_close_code,
    truncate_reason,
)
from ._wshandshake import (
    WEBSOCKET_GUID,
    ClientHandshake,
    HandshakeAccept,
    HandshakeRequest,
    HeadersLike,
    accept_client_handshake,
    compute_accept,
    generate_key,
    validate_client_handshake,
    verify_accept,
)
from .errors import (
    WebSocketClosedError,
    WebSocketError,
    WebSocketHandshakeError,
    WebSocketOutputError,
)

#: Tornado's default ``max_message_size``: 10 MiB.
DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_NO_FRAME = -1
# Unmasking 0-125 bytes: key * _KEY_REPEAT[n] repeats it over n bytes (& _LOW[n]: exactly).
_KEY_REPEAT = tuple(sum(1 << (32 * i) for i in range((n + 3) >> 2)) for n in range(126))
_LOW = tuple((1 << (8 * n)) - 1 for n in range(126))
# Bound once: looking the class method up on every call costs about as much as the call.
_from_bytes = int.from_bytes
_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED


class WebSocketCodec:
    """One WebSocket connection's framing state: bytes in, events out, events to bytes.

    :arg role: :attr:`Role.SERVER` requires masked frames from the peer and sends
        unmasked ones; :attr:`Role.CLIENT` the reverse.
    :arg deflate: the permessage-deflate parameters agreed in the handshake, or
        ``None`` for no compression (then any RSV1 bit is a protocol error).
    :arg max_message_size: the largest message accepted, in bytes after
        decompression; larger ones fail with 1009 as soon as a frame header (or the
        decompressor's output) shows it, before they are buffered. ``None`` disables
        the limit.
    :arg deliver_fragments: produce one event per data frame (``final`` marks the
        last) instead of one per message; text fragments are decoded incrementally.
    :arg auto_pong: answer each Ping with a Pong in :meth:`data_to_send`.

    Bytes the codec sends on its own (pongs, the Close reply, the Close that fails a
    connection) accumulate in :meth:`data_to_send`; everything else is returned by the
    ``send_*`` method that produced it.
    """

    __slots__ = (
        "_auto_pong",
        "_buf",
        "_decoder",
        "_deflater",
        "_deliver_fragments",
        "_eof",
        "_fin",
        "_inflater",
        "_mask",
        "_mask_outgoing",
        "_max_size",
        "_msg_compressed",
        "_msg_opcode",
        "_msg_size",
        "_msg_wire",
        "_offset",
        "_opcode",
        "_out",
        "_parts",
        "_plain_send",
        "_pos",
        "_remaining",
        "_send_decoder",
        "_send_opcode",
        "_server",
        "_small_base",
        "_small_header",
        "_small_limit",
        "_state",
        "close_code",
        "close_reason",
        "deflate",
        "role",
    )

    def __init__(
        self,
        role: Role,
        *,
        deflate: DeflateParams | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        deliver_fragments: bool = False,
        auto_pong: bool = True,
    ) -> None:
        self.role = role
        self.deflate = deflate
        #: The code and reason of the peer's Close frame, once one arrived.
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._server = role is Role.SERVER
        self._mask_outgoing = not self._server
        self._max_size = max_message_size
        self._deliver_fragments = deliver_fragments
        self._auto_pong = auto_pong
        self._state = _OPEN
        self._out = bytearray()
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._eof = False
        # The frame being read; _opcode is _NO_FRAME between frames.
        self._opcode = _NO_FRAME
        self._fin = False
        self._mask: bytes | None = None
        self._remaining = 0
        self._offset = 0
        # The message being read; _msg_opcode is 0 between messages.
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        self._msg_wire = 0
        # Decoded pieces of the message (str for text, bytes for binary).
        self._parts: list[Any] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        # The message being sent in fragments; 0 when none.
        self._send_opcode = 0
        self._send_decoder: codecs.IncrementalDecoder | None = None
        self._deflater: MessageDeflater | None = None
        self._inflater: MessageInflater | None = None
        # What _small_message accepts: the header size, the mask bit's value in the
        # second byte and the largest length (125, or less under max_message_size).
        # Whether send_message may frame without masking or compressing.
        self._plain_send = self._server and deflate is None
        self._small_header = 6 if self._server else 2
        self._small_base = 0x80 if self._server else 0
        self._small_limit = (
            MAX_CONTROL_PAYLOAD
            if max_message_size is None
            else min(MAX_CONTROL_PAYLOAD, max_message_size)
        )
        if deflate is not None:
            self._deflater, self._inflater = message_compressors(deflate, server=self._server)

    # --- state --------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where the connection is in the closing handshake."""
        return self._state

    @property
    def max_message_size(self) -> int | None:
        """The largest message accepted, in bytes; ``None`` for no limit."""
        return self._max_size

    def data_to_send(self) -> bytes:
        """Return and clear the bytes the codec queued on its own.

        Call it after handling events: it holds automatic pongs, the Close frame that
        answers the peer's, and the Close frame that fails a connection.
        """
        if not self._out:
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    # --- receiving ----------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the transport; ``b""`` means the peer closed it.

        Bytes arriving after the connection closed are discarded (section 5.5.1: no
        frame may follow a Close).
        """
        if self._state is _CLOSED or self._eof:
            return
        if not data:
            self._eof = True
            return
        buf = self._buf
        if self._pos >= len(buf):
            self._buf = data if isinstance(data, bytes) else bytes(data)
            self._pos = 0
        else:
            if self._pos or not isinstance(buf, bytearray):
                buf = bytearray(memoryview(buf)[self._pos :])
                self._pos = 0
            buf += data
            self._buf = buf

    def events(self) -> Iterator[Event]:
        """Iterate over the events the buffered bytes complete (see :meth:`next_event`)."""
        while (event := self.next_event()) is not None:
            yield event

    def next_event(self) -> Event | None:
        """Return the next complete event, or ``None`` when more bytes are needed.

        Raises :class:`~typhoon.errors.WebSocketError` when the peer broke the protocol;
        its ``close_code`` is the code already queued in :meth:`data_to_send`.
        """
        item = self.next_item()
        if isinstance(item, str):
            return TextMessage(item)
        if isinstance(item, bytes):
            return BinaryMessage(item)
        return item

    def next_item(self) -> str | bytes | Event | None:
        """:meth:`next_event` without the message wrapper: a complete message comes back
        as its data, ``str`` for text and ``bytes`` for binary.

        Control frames come back as events, as do fragments when the codec delivers
        them. A connection's read loop uses it to skip one object per message.
        """
        try:
            if self._opcode == _NO_FRAME and not self._msg_opcode:
                buf = self._buf
                pos = self._pos
                size = len(buf)
                if pos >= size:
                    if not self._eof:
                        return None
                elif size - pos >= self._small_header:
                    message = self._small_message(buf, pos, size)
                    if message is not None:
                        return message
            return self._next_event()
        except WebSocketError as exc:
            self._fail(exc.close_code, str(exc))
            raise

    def receive_single(self, data: bytes) -> str | bytes | None:
        """Take ``data`` as one whole message, when it is exactly one.

        When nothing is buffered or in progress and ``data`` is exactly one whole,
        uncompressed frame of at most 125 bytes, its message is returned (``str`` for
        text, ``bytes`` for binary). Otherwise nothing is consumed and the result is
        ``None``: feed ``data`` to :meth:`receive_data` and read with :meth:`next_item`.
        Read loops try it first: one small message per read is the usual case.

        Raises :class:`~typhoon.errors.WebSocketError` (1007) for a text message that
        is not UTF-8, with the Close frame queued as :meth:`next_event` does.
        """
        if (
            self._pos < len(self._buf)
            or self._opcode != _NO_FRAME
            or self._msg_opcode
            or self._state is _CLOSED
            or self._eof
        ):
            return None
        size = len(data)
        if size < self._small_header or data[1] - self._small_base + self._small_header != size:
            return None
        try:
            return self._small_message(data, 0, size)
        except WebSocketError as exc:
            self._fail(exc.close_code, str(exc))
            raise

    def _small_message(self, buf: bytes | bytearray, pos: int, size: int) -> str | bytes | None:
        """Read a buffered single-frame message of at most 125 bytes, or return ``None``.

        First byte 0x81 or 0x82: FIN, no RSV bit, text or binary (section 5.2); second:
        the mask bit this role requires (section 5.1), a 7-bit length within
        ``max_message_size``. Anything else goes through :meth:`_read_header`.
        """
        first = buf[pos]
        length = buf[pos + 1] - self._small_base
        if (first != 0x81 and first != 0x82) or not 0 <= length <= self._small_limit:
            return None
        start = pos + self._small_header
        end = start + length
        if end > size:
            return None
        if self._server:
            # Section 5.3 for a short payload, in integer arithmetic: the frame read as
            # one little-endian integer (2 header bytes, the 4-byte key, the payload);
            # one multiplication repeats the key over the payload's length.
            frame = _from_bytes(buf if end == size and not pos else buf[pos:end], "little")
            unmasked = (frame >> 48) ^ ((frame >> 16) & 0xFFFFFFFF) * _KEY_REPEAT[length]
            if length & 3:
                unmasked &= _LOW[length]
            payload = unmasked.to_bytes(length, "little")
        else:
            payload = bytes(buf[start:end])
        if end == size:
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end
        if first == 0x82:
            return payload
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebSocketError("text message is not valid UTF-8", close_code=1007) from exc

    def _fail(self, code: int, reason: str) -> None:
        if self._state is _OPEN:
            payload = code.to_bytes(2, "big") + truncate_reason(reason)
            self._out += encode_frame(OP_CLOSE, payload, mask=self._mask_outgoing)
        self._state = _CLOSED
        self._release()

    def _release(self) -> None:
        self._buf = b""
        self._pos = 0
        self._parts = []
        self._decoder = None
        self._inflater = None
        self._deflater = None

    def _end_of_input(self) -> Event | None:
        if not self._eof or self._state is _CLOSED:
            return None
        # Section 7.1.5: a transport closed without a Close frame reports 1006.
        self._state = _CLOSED
        self._release()
        return Close(int(CloseCode.ABNORMAL_CLOSURE), "")

    def _next_event(self) -> str | bytes | Event | None:
        event: str | bytes | Event | None
        while self._state is not _CLOSED:
            if self._opcode == _NO_FRAME and not self._read_header():
                return self._end_of_input()
            if self._opcode >= OP_CLOSE:
                if len(self._buf) - self._pos < self._remaining:
                    return self._end_of_input()
                event = self._control_frame()
            else:
                if self._remaining and self._pos >= len(self._buf):
                    return self._end_of_input()
                event = self._data_frame()
            if event is not None:
                return event
        return None

    def _read_header(self) -> bool:
        """Parse a frame header if one is buffered; validate it as early as possible."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            return False
        first = buf[pos]
        second = buf[pos + 1]
        fin = first & 0x80
        opcode = first & 0x0F
        rsv1 = first & 0x40
        # Section 5.2: RSV bits must be 0 unless an extension defines them; RFC 7692
        # defines RSV1 on the first frame of a data message only (section 6).
        if first & 0x30:
            raise WebSocketError("RSV2 or RSV3 bit set", close_code=1002)
        length = second & 0x7F
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                raise WebSocketError(f"reserved opcode {opcode:#x}", close_code=1002)
            # Section 5.5: control frames are never fragmented and carry <= 125 bytes.
            if not fin:
                raise WebSocketError("fragmented control frame", close_code=1002)
            if length > MAX_CONTROL_PAYLOAD:
                raise WebSocketError("control frame payload over 125 bytes", close_code=1002)
            if rsv1:
                raise WebSocketError("RSV1 set on a control frame", close_code=1002)
        elif opcode == OP_CONTINUATION:
            # Section 5.4: a continuation must follow a non-final data frame.
            if not self._msg_opcode:
                raise WebSocketError("continuation frame without a message", close_code=1002)
            if rsv1:
                raise WebSocketError("RSV1 set on a continuation frame", close_code=1002)
        elif opcode <= OP_BINARY:
            if self._msg_opcode:
                raise WebSocketError("new data frame inside a fragmented message", close_code=1002)
            if rsv1 and self._inflater is None:
                raise WebSocketError("RSV1 set without a negotiated extension", close_code=1002)
        else:
            raise WebSocketError(f"reserved opcode {opcode:#x}", close_code=1002)
        # Section 5.1: clients mask every frame, servers never do.
        masked = second & 0x80
        if self._server and not masked:
            raise WebSocketError("unmasked frame from the client", close_code=1002)
        if masked and not self._server:
            raise WebSocketError("masked frame from the server", close_code=1002)
        size = 2
        if length == 126:
            if avail < 4:
                return False
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            size = 4
            # Section 5.2: "the minimal number of bytes MUST be used".
            if length < 126:
                raise WebSocketError("non-minimal 16-bit payload length", close_code=1002)
        elif length == 127:
            if avail < 10:
                return False
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            size = 10
            if length >> 63:
                raise WebSocketError("payload length with the high bit set", close_code=1002)
            if length < 65536:
                raise WebSocketError("non-minimal 64-bit payload length", close_code=1002)
        compressed = bool(rsv1) if opcode else self._msg_compressed
        if opcode < OP_CLOSE and not compressed and self._max_size is not None:
            # Section 10.4: refuse an oversized message from its header, before any of
            # its payload is buffered (compressed sizes are checked as they inflate).
            before = self._msg_size if opcode == OP_CONTINUATION else 0
            if before + length > self._max_size:
                raise WebSocketError(
                    f"message over max_message_size ({self._max_size} bytes)",
                    close_code=1009,
                )
        if masked:
            if avail < size + 4:
                return False
            self._mask = bytes(buf[pos + size : pos + size + 4])
            size += 4
        else:
            self._mask = None
        if opcode < OP_CLOSE:
            if opcode != OP_CONTINUATION:
                self._msg_opcode = opcode
                self._msg_compressed = compressed
                self._msg_size = 0
                self._msg_wire = 0
            if compressed:
                self._msg_wire += length
            else:
                self._msg_size += length
        self._pos = pos + size
        self._opcode = opcode
        self._fin = bool(fin)
        self._remaining = length
        self._offset = 0
        return True

    def _take(self, count: int) -> bytes:
        """Consume ``count`` buffered payload bytes of the current frame, unmasked."""
        pos = self._pos
        end = pos + count
        buf = self._buf
        if self._mask is not None:
            chunk = apply_mask(memoryview(buf)[pos:end], self._mask, self._offset)
        elif pos == 0 and end == len(buf) and isinstance(buf, bytes):
            chunk = buf
        else:
            chunk = bytes(memoryview(buf)[pos:end])
        self._pos = end
        self._offset += count
        self._remaining -= count
        if end >= len(buf):
            self._buf = b""
            self._pos = 0
        return chunk

    def _control_frame(self) -> Event | None:
        payload = self._take(self._remaining)
        opcode = self._opcode
        self._opcode = _NO_FRAME
        if opcode == OP_PING:
            if self._auto_pong and self._state is _OPEN:
                self._out += encode_frame(OP_PONG, payload, mask=self._mask_outgoing)
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        code, reason = decode_close_payload(payload)
        self.close_code = code
        self.close_reason = reason
        if self._state is _OPEN:
            # Section 5.5.1: answer with a Close, echoing the status code.
            echo = b"" if code == CloseCode.NO_STATUS_RECEIVED else code.to_bytes(2, "big")
            self._out += encode_frame(OP_CLOSE, echo, mask=self._mask_outgoing)
        self._state = _CLOSED
        self._release()
        return Close(code, reason)

    def _data_frame(self) -> str | bytes | Event | None:
        remaining = self._remaining
        available = len(self._buf) - self._pos
        text = self._msg_opcode == OP_TEXT
        if (
            self._fin
            and available >= remaining
            and self._offset == 0
            and not self._parts
            and self._decoder is None
            and (self._msg_opcode == self._opcode)
        ):
            # Fast path: a whole single-frame message is buffered.
            return self._single_frame_message(self._take(remaining), text)
        if remaining:
            chunk = self._take(min(available, remaining))
            self._append(self._inflate(chunk) if self._msg_compressed else chunk, text)
            if self._remaining:
                return None
        self._opcode = _NO_FRAME
        fin = self._fin
        if fin:
            if self._msg_compressed and self._msg_wire:
                self._append(self._finish_inflate(), text)
            if text:
                self._finish_text()
        if not (fin or self._deliver_fragments):
            return None
        parts = self._parts
        self._parts = []
        if fin:
            self._msg_opcode = 0
            self._decoder = None
        if text:
            return TextMessage("".join(parts), fin) if self._deliver_fragments else "".join(parts)
        return BinaryMessage(b"".join(parts), fin) if self._deliver_fragments else b"".join(parts)

    def _single_frame_message(self, payload: bytes, text: bool) -> str | bytes:
        self._opcode = _NO_FRAME
        self._msg_opcode = 0
        if self._msg_compressed and payload:
            payload = self._inflate(payload) + self._finish_inflate()
        if not text:
            return payload
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebSocketError("text message is not valid UTF-8", close_code=1007) from exc

    def _budget(self) -> int | None:
        return None if self._max_size is None else self._max_size - self._msg_size

    def _inflate(self, chunk: bytes) -> bytes:
        assert self._inflater is not None
        out = self._inflater.decompress(chunk, self._budget())
        self._msg_size += len(out)
        return out

    def _finish_inflate(self) -> bytes:
        assert self._inflater is not None
        out = self._inflater.finish(self._budget())
        self._msg_size += len(out)
        return out

    def _append(self, data: bytes, text: bool) -> None:
        if not text:
            self._parts.append(data)
            return
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = _Utf8Decoder("strict")
        try:
            decoded = decoder.decode(data, False)
        except UnicodeDecodeError as exc:
            raise WebSocketError("text message is not valid UTF-8", close_code=1007) from exc
        pending = decoder.getstate()[0]
        # Fail fast (section 8.1): Python's decoder waits for a third byte before
        # rejecting a UTF-16 surrogate (ED A0..ED BF), but no continuation can fix it.
        if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
            raise WebSocketError("text message is not valid UTF-8", close_code=1007)
        if decoded:
            self._parts.append(decoded)

    def _finish_text(self) -> None:
        if self._decoder is None:
            return
        try:
            self._decoder.decode(b"", True)
        except UnicodeDecodeError as exc:
            raise WebSocketError("text message ends inside a character", close_code=1007) from exc

    # --- sending ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not _OPEN:
            raise WebSocketClosedError(f"cannot send: the connection is {self._state.value}")

    def send_message(
        self, data: str | bytes, binary: bool | None = None, *, final: bool = True
    ) -> bytes:
        """Encode a message, or one fragment of it, and return the bytes to write.

        ``str`` data is sent as text, ``bytes`` as binary, unless ``binary`` says
        otherwise (bytes sent as text must be UTF-8). ``final=False`` starts or
        continues a fragmented message; the next calls continue it until one passes
        ``final=True``. Control frames may be sent between fragments. With
        permessage-deflate the message is compressed.

        Raises :class:`~typhoon.errors.WebSocketClosedError` once a Close was sent or
        received, :class:`~typhoon.errors.WebSocketOutputError` for text that is not
        UTF-8 or a fragment whose type differs from the message's.
        """
        if final and self._plain_send and not self._send_opcode and self._state is _OPEN:
            # The common case: a whole message from a server without compression.
            if type(data) is str and not binary:
                payload = data.encode("utf-8")
                if len(payload) < 126:
                    return TEXT_HEADERS[len(payload)] + payload
                return encode_frame(OP_TEXT, payload)
            if type(data) is bytes and binary:
                if len(data) < 126:
                    return BINARY_HEADERS[len(data)] + data
                return encode_frame(OP_BINARY, data)
        self._check_open()
        is_text = not binary if isinstance(data, str) else binary is False
        opcode = OP_TEXT if is_text else OP_BINARY
        if self._send_opcode:
            if opcode != self._send_opcode:
                raise WebSocketOutputError("a fragment must have its message's type")
            frame_opcode = OP_CONTINUATION
        else:
            frame_opcode = opcode
        if isinstance(data, str):
            payload = data.encode("utf-8")
        else:
            payload = bytes(data)
            if is_text:
                self._check_outgoing_text(payload, final)
        rsv1 = False
        deflater = self._deflater
        if deflater is not None:
            payload = deflater.compress(payload, final)
            rsv1 = frame_opcode != OP_CONTINUATION
        self._send_opcode = 0 if final else opcode
        return encode_frame(frame_opcode, payload, fin=final, rsv1=rsv1, mask=self._mask_outgoing)

    def _check_outgoing_text(self, payload: bytes, final: bool) -> None:
        if final and self._send_decoder is None:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WebSocketOutputError("text message is not valid UTF-8") from exc
            return
        decoder = self._send_decoder
        if decoder is None:
            decoder = self._send_decoder = _Utf8Decoder("strict")
        try:
            decoder.decode(payload, final)
        except UnicodeDecodeError as exc:
            raise WebSocketOutputError("text message is not valid UTF-8") from exc
        if final:
            self._send_decoder = None

    def _control_payload(self, payload: str | bytes) -> bytes:
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise WebSocketOutputError("control frame payload over 125 bytes")
        return data

    def send_ping(self, payload: str | bytes = b"") -> bytes:
        """Encode a Ping (at most 125 bytes of payload) and return the bytes to write."""
        self._check_open()
        return encode_frame(OP_PING, self._control_payload(payload), mask=self._mask_outgoing)

    def send_pong(self, payload: str | bytes = b"") -> bytes:
        """Encode an unsolicited or manual Pong and return the bytes to write."""
        self._check_open()
        return encode_frame(OP_PONG, self._control_payload(payload), mask=self._mask_outgoing)

    def send_close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
        """Start the closing handshake; return the Close frame to write.

        ``code=None`` sends a Close without a status. Codes that may not appear on the
        wire and reasons over 123 UTF-8 bytes raise
        :class:`~typhoon.errors.WebSocketOutputError`. Afterwards the state is
        :attr:`ConnectionState.CLOSING` until the peer's Close arrives.
        """
        self._check_open()
        frame = encode_frame(OP_CLOSE, encode_close_payload(code, reason), mask=self._mask_outgoing)
        self._state = ConnectionState.CLOSING
        self._deflater = None
        return frame
