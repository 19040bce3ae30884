"""Putting an upgraded connection on an asyncio transport of its own.

Layer 5 (private to :mod:`typhoon.websocket`). Imports :mod:`typhoon.iostream`,
:mod:`typhoon.errors` and the standard library.

After the opening handshake the HTTP layer hands over an
:class:`~typhoon.iostream.IOStream` (``detach()``). A WebSocket connection is a
long-lived stream of small frames, best served by an asyncio protocol that parses
bytes in ``data_received`` and writes answers in the same call, without a future and
a loop turn per read. :func:`release_socket` and :func:`connect_protocol` move a plain
TCP connection off its stream onto a new transport: the socket is duplicated, bytes
the stream had already read are kept, the stream is closed (which closes only its own
descriptor) and the duplicate is given to ``loop.connect_accepted_socket``. A TLS
connection cannot change hands (its state lives in the stream's transport), so
:class:`StreamTransport` presents the stream itself as a transport.
"""

from __future__ import annotations

__all__ = ["StreamTransport", "connect_protocol", "release_socket"]

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from typhoon.errors import StreamClosedError
from typhoon.iostream import IOStream

_READ_SIZE = 65536


def release_socket(stream: IOStream) -> tuple[socket.socket, bytes] | None:
    """Take a plain TCP stream's connection: a duplicate socket and the unread bytes.

    The stream is closed (the connection stays open through the duplicate). Returns
    ``None``, leaving the stream untouched, for TLS, for streams that still have data to
    send, and when the socket cannot be duplicated.
    """
    sock = stream.socket
    if sock is None or stream.closed() or stream.writing():
        return None
    if stream.get_extra_info("ssl_object") is not None:
        return None
    try:
        twin = sock.dup()
    except OSError:
        return None
    leftover = b""
    buffered = stream.statistics().read_buffer_size
    if buffered:
        future = stream.read_bytes(buffered)
        leftover = future.result()
    stream.close()
    return twin, leftover


async def connect_protocol(
    twin: socket.socket, factory: Callable[[], asyncio.Protocol]
) -> asyncio.Transport:
    """Give the socket from :func:`release_socket` to a protocol; return its transport."""
    loop = asyncio.get_running_loop()
    try:
        transport, _protocol = await loop.connect_accepted_socket(factory, sock=twin)
    except BaseException:
        twin.close()
        raise
    return transport


class StreamTransport(asyncio.Transport):
    """An :class:`~typhoon.iostream.IOStream` seen through the asyncio transport interface.

    Reads are issued one at a time and delivered to ``protocol.data_received``;
    ``pause_reading`` stops issuing them. A write whose future is pending pauses the
    protocol's writing until the stream drains. When the stream closes the protocol's
    ``connection_lost`` runs. Half-closing is not available (``can_write_eof`` is
    false).
    """

    def __init__(self, stream: IOStream, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self._stream = stream
        self._protocol = protocol
        self._read_paused = False
        self._reading = False
        self._pending_writes = 0
        self._lost = False
        stream.set_close_callback(self._on_close)
        protocol.connection_made(self)
        self._read()

    # --- reading --------------------------------------------------------------------

    def _read(self) -> None:
        if self._read_paused or self._reading or self._lost:
            return
        try:
            future = self._stream.read_bytes(_READ_SIZE, partial=True)
        except StreamClosedError:
            return
        self._reading = True
        future.add_done_callback(self._on_read)

    def _on_read(self, future: asyncio.Future[bytes]) -> None:
        self._reading = False
        if future.cancelled() or future.exception() is not None or self._lost:
            return
        self._protocol.data_received(future.result())
        self._read()

    def pause_reading(self) -> None:
        """Stop delivering data until :meth:`resume_reading`."""
        self._read_paused = True

    def resume_reading(self) -> None:
        """Deliver data again."""
        if self._read_paused:
            self._read_paused = False
            self._read()

    def is_reading(self) -> bool:
        """Whether data is being delivered."""
        return not (self._read_paused or self._lost)

    # --- writing --------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``; a full buffer pauses the protocol's writing."""
        try:
            future = self._stream.write(data)
        except StreamClosedError:
            return
        if future.done():
            if not future.cancelled():
                future.exception()
            return
        self._pending_writes += 1
        if self._pending_writes == 1:
            self._protocol.pause_writing()
        future.add_done_callback(self._on_drained)

    def _on_drained(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled():
            future.exception()
        self._pending_writes -= 1
        if self._pending_writes == 0 and not self._lost:
            self._protocol.resume_writing()

    def can_write_eof(self) -> bool:
        """False: a TLS stream cannot be half-closed."""
        return False

    def write_eof(self) -> None:
        """Not available (see :meth:`can_write_eof`)."""
        raise NotImplementedError("this transport cannot be half-closed")

    def get_write_buffer_size(self) -> int:
        """Bytes written but not yet sent."""
        return self._stream.statistics().write_buffer_size

    # --- closing --------------------------------------------------------------------

    def is_closing(self) -> bool:
        """Whether the stream is closed or closing."""
        return self._stream.closed()

    def close(self) -> None:
        """Close after sending what was written."""
        self._stream.close()

    def abort(self) -> None:
        """Close at once, dropping unsent data."""
        self._stream.close(exc_info=ConnectionAbortedError("connection aborted"))

    def _on_close(self) -> None:
        if self._lost:
            return
        self._lost = True
        error = self._stream.error
        self._protocol.connection_lost(error if isinstance(error, Exception) else None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Transport information from the stream (``socket``, ``peername``, ...)."""
        return self._stream.get_extra_info(name, default)
