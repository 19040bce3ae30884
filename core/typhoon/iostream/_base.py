"""The base stream: the read and write sides joined to asyncio transports.

Layer 2 (streams), private to :mod:`typhoon.iostream`. Imports ``iostream._reading``,
``iostream._writing`` and the standard library.

Strategy. A socket transport is asked to read at most 64 KiB at a time (asyncio's own
default is 256 KiB): a ``bytes`` object of that size comes from the heap, where a larger
one costs fresh pages (mmap, page faults, munmap) on every read, and a 64 KiB partial
read then gets a received chunk as it is. The transport hands each chunk straight to the
read side (``_reading``); writes go straight to the transport (``_writing``). This
module connects the two sides to a transport: the asyncio protocol, the
connection-made, end-of-input and connection-lost events, and what a stream reports
about itself.
"""

from __future__ import annotations

__all__ = ["BaseIOStream", "IOStreamStatistics"]

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from typhoon.iostream._reading import ReadingMixin
from typhoon.iostream._writing import WritingMixin

#: The most bytes one socket read takes, set on transports that let it be tuned.
_RECV_SIZE = 64 * 1024


@dataclass(frozen=True)
class IOStreamStatistics:
    """A snapshot of a stream's counters, from :meth:`BaseIOStream.statistics`."""

    #: Bytes received from the transport since the stream opened.
    bytes_read: int
    #: Bytes handed to the transport since the stream opened.
    bytes_written: int
    #: Received bytes not yet consumed by a read.
    read_buffer_size: int
    #: Bytes accepted by ``write`` but not yet sent.
    write_buffer_size: int
    #: Whether the transport is paused because unread data piled up.
    reading_paused: bool
    #: Whether the transport asked us to stop writing (its buffer is above high water).
    writing_paused: bool


class _StreamProtocol(asyncio.Protocol):
    """The asyncio protocol that forwards a transport's events to its stream."""

    def __init__(self, stream: BaseIOStream, reads: bool, writes: bool) -> None:
        self._stream = stream
        self._reads = reads
        self._writes = writes
        # The hot path: transports call the stream's handler with no forwarding frame.
        self.data_received = stream._on_data  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._stream._connection_made(transport, self._reads, self._writes)

    def data_received(self, data: bytes) -> None:
        self._stream._on_data(data)

    def eof_received(self) -> bool:
        self._stream._on_eof()
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stream._on_lost(exc)

    def pause_writing(self) -> None:
        self._stream._write_paused = True

    def resume_writing(self) -> None:
        self._stream._on_resume_writing()


class BaseIOStream(ReadingMixin, WritingMixin):
    """A buffered, non-blocking byte stream: the reading and writing interface.

    Only one read may be pending at a time; starting another raises
    :class:`~typhoon.errors.StreamBusyError`. Every read returns a future. When the
    stream closes, a pending read fails with :class:`~typhoon.errors.StreamClosedError`
    (whose ``real_error`` is the cause) unless the data already received satisfies it;
    bytes still buffered remain readable after the close.

    Subclasses connect a transport: they pass :meth:`connection_protocol` to an asyncio
    transport factory (or call its ``connection_made`` themselves), and may run an
    opening coroutine through ``_begin``.

    Args:
        max_buffer_size: the most bytes a single read may need to hold (default 100 MiB).
            A read that cannot be satisfied within it closes the stream with
            :class:`~typhoon.errors.StreamBufferFullError` as the error.
        read_chunk_size: how many unread bytes may wait, with no read pending, before the
            transport is paused (default 1 MiB, never above ``max_buffer_size``).
        max_write_buffer_size: the most unsent bytes ``write`` accepts before raising
            :class:`~typhoon.errors.StreamBufferFullError` (default: unlimited).
    """

    def connection_protocol(self, *, reads: bool = True, writes: bool = True) -> asyncio.Protocol:
        """Return a new asyncio protocol that feeds this stream.

        For stream implementations: hand it to a transport factory. ``reads`` and
        ``writes`` say which directions that transport carries (a pipe stream has one
        transport per direction).
        """
        return _StreamProtocol(self, reads, writes)

    def _connection_made(self, transport: asyncio.BaseTransport, reads: bool, writes: bool) -> None:
        if self._handoff:
            # This transport is being handed to a TLS stream (start_tls): hold it still.
            # (Casts, not isinstance: uvloop's transports do not subclass asyncio's.)
            handed = cast(asyncio.Transport, transport)
            handed.pause_reading()
            self._transport = self._read_transport = handed
            return
        self._open_transports += 1
        if self._closed:
            # Closed while this transport was coming up: data written before the close
            # still goes out, unless the close was an abort.
            # The close itself waits a loop turn: uvloop loses track of a pipe's file
            # object when its transport is closed inside connection_made.
            loop = self._get_loop()
            if writes and not self._close_abort:
                transport = cast(asyncio.WriteTransport, transport)
                pending = self._pending_writes
                self._pending_writes = None
                if pending is not None:
                    for chunk in pending.drain():
                        transport.write(chunk)
                loop.call_soon(transport.close)
            elif writes:
                loop.call_soon(cast(asyncio.WriteTransport, transport).abort)
            else:
                loop.call_soon(transport.close)
            return
        if reads:
            self._read_transport = cast(asyncio.ReadTransport, transport)
            # asyncio's selector transports read ``max_size`` bytes per call; other
            # transports (uvloop, TLS, pipes) have their own buffers and no such knob.
            max_size = getattr(transport, "max_size", None)
            if type(max_size) is int and max_size > _RECV_SIZE:
                transport.max_size = _RECV_SIZE  # type: ignore[attr-defined]
        if writes:
            self._transport = transport = cast(asyncio.WriteTransport, transport)
            pending = self._pending_writes
            if pending is not None:
                self._pending_writes = None
                for chunk in pending.drain():
                    transport.write(chunk)
                    self._bytes_written += len(chunk)
            if not self._write_paused:
                self._release_write_waiters()
        self._transport_ready(transport)

    def _transport_ready(self, transport: asyncio.BaseTransport) -> None:
        """Hook for subclasses: a transport was connected (apply socket options)."""

    def _on_eof(self) -> None:
        # Tornado streams do not half-close: the end of input closes the stream. The
        # transport still flushes what was written before it closes.
        self.close()

    def _on_lost(self, exc: BaseException | None) -> None:
        self._open_transports -= 1
        if self._open_transports <= 0:
            gone = self._transports_gone
            if gone is not None and not gone.done():
                gone.set_result(None)
        if self._closed:
            return
        if exc is not None and self.error is None:
            self.error = exc
        self._close_transports(abort=exc is not None)
        self._signal_closed()

    # --- options and introspection ---------------------------------------------------

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) or on; no effect on non-TCP streams."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return transport information (``"peername"``, ``"sockname"``, ``"peercert"``, ...).

        See :meth:`asyncio.BaseTransport.get_extra_info`; ``default`` before a transport
        is connected or when the transport does not know ``name``.
        """
        transport = self._transport or self._read_transport
        if transport is None:
            return default
        return transport.get_extra_info(name, default)

    def statistics(self) -> IOStreamStatistics:
        """Return a snapshot of this stream's counters and buffer sizes."""
        transport = self._transport
        pending = self._pending_writes.size if self._pending_writes is not None else 0
        if transport is not None and not self._closed:
            pending += transport.get_write_buffer_size()
        return IOStreamStatistics(
            bytes_read=self._bytes_read,
            bytes_written=self._bytes_written,
            read_buffer_size=self._read_buffer.size,
            write_buffer_size=pending,
            reading_paused=self._read_paused,
            writing_paused=self._write_paused,
        )
