"""In-memory stream pairs: two connected streams with no socket underneath.

Layer 6 (testing). Imports ``iostream``, ``_buffers`` and the standard library.

Each end of a pair is a :class:`MemoryStream`, a real
:class:`~typhoon.iostream.BaseIOStream` fed by an in-memory asyncio transport, so code
that drives a stream (an HTTP/1 connection, a WebSocket) can be tested without the
network, deterministically, and with control over how bytes are split.

Strategy. Each transport owns a queue of bytes written by its end. Delivery to the
other end runs on the event loop (never inside ``write``), in pieces of ``chunk_size``
bytes, and stops while the receiving end has paused reading, so the queue is the
"wire": it grows when the reader does not read, and the writer is told to pause once
it passes ``write_high_water``, exactly like a socket transport whose peer is slow.
"""

from __future__ import annotations

__all__ = ["MemoryStream", "memory_stream_pair"]

import asyncio
import itertools
from typing import Any

from typhoon._buffers import WriteBuffer
from typhoon.iostream import BaseIOStream

#: Bytes handed to the receiving protocol per loop iteration, at most.
_DELIVERY_BUDGET = 256 * 1024

_pair_ids = itertools.count(1)


class _MemoryTransport(asyncio.Transport):
    """One end of an in-memory connection (see the module docstring)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        chunk_size: int | None,
        write_high_water: int,
        extra: dict[str, Any],
    ) -> None:
        super().__init__(extra)
        self._loop = loop
        self._protocol: asyncio.Protocol | None = None
        self.peer: _MemoryTransport | None = None
        self._queue = WriteBuffer()
        self._chunk_size = chunk_size
        self._high = write_high_water
        self._low = write_high_water // 4
        self._reading_paused = False
        self._writing_paused = False
        self._delivery_scheduled = False
        self._closing = False
        self._closed = False

    # BaseTransport

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._schedule_delivery(force=True)

    # ReadTransport

    def is_reading(self) -> bool:
        return not self._reading_paused and not self._closing

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self.peer is not None:
                self.peer._schedule_delivery()

    # WriteTransport

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        self._high = high
        self._low = low

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        return self._queue.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            raise RuntimeError("write() on a closed memory transport")
        self._queue.append(data)
        self._schedule_delivery()
        if not self._writing_paused and self._queue.size > self._high:
            self._writing_paused = True
            assert self._protocol is not None
            self._protocol.pause_writing()

    def can_write_eof(self) -> bool:
        return False

    def abort(self) -> None:
        if self._closed:
            return
        self._closing = True
        self._queue.clear()
        self._finish(reset_peer=True)

    # delivery

    def _schedule_delivery(self, force: bool = False) -> None:
        if self._delivery_scheduled or self._closed:
            return
        if force or (self._queue and self.peer is not None and not self.peer._reading_paused):
            self._delivery_scheduled = True
            self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._delivery_scheduled = False
        if self._closed:
            return
        peer = self.peer
        queue = self._queue
        budget = _DELIVERY_BUDGET
        if peer is None or peer._closed:
            queue.clear()
        else:
            receiver = peer._protocol
            assert receiver is not None
            while queue and budget > 0 and not peer._reading_paused and not peer._closed:
                piece = queue.peek(self._chunk_size).tobytes()
                queue.advance(len(piece))
                budget -= len(piece)
                receiver.data_received(piece)
            if queue and budget <= 0:
                self._schedule_delivery()
        if self._writing_paused and queue.size <= self._low:
            self._writing_paused = False
            assert self._protocol is not None
            self._protocol.resume_writing()
        if self._closing and not queue:
            self._finish(reset_peer=False)

    def _finish(self, reset_peer: bool) -> None:
        """Close this end; the other end sees end-of-input (or a reset)."""
        self._closed = True
        protocol = self._protocol
        peer = self.peer
        if peer is not None and not peer._closed:
            if reset_peer:
                self._loop.call_soon(peer._reset)
            else:
                self._loop.call_soon(peer._eof)
        if protocol is not None:
            self._loop.call_soon(protocol.connection_lost, None)

    def _eof(self) -> None:
        if self._closed or self._protocol is None:
            return
        if not self._protocol.eof_received():
            self.close()
        if self._closing:
            # The other end is gone: what this end still queues can never arrive, and
            # a delivery pass drops it and finishes the close.
            self._schedule_delivery(force=True)

    def _reset(self) -> None:
        if self._closed:
            return
        self._closing = self._closed = True
        self._queue.clear()
        if self._protocol is not None:
            self._protocol.connection_lost(ConnectionResetError("memory peer aborted"))


class MemoryStream(BaseIOStream):
    """One end of an in-memory connection made by :func:`memory_stream_pair`.

    A complete :class:`~typhoon.iostream.BaseIOStream`: reads, writes with flow control,
    read back-pressure, close callbacks. Closing one end normally gives the other end
    end-of-input (its reads see the data sent before the close, then the close);
    ``close(exc_info=...)`` aborts, and the other end's ``error`` becomes a
    :class:`ConnectionResetError`.
    """

    def __init__(self, transport: _MemoryTransport, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._transport_end = transport
        protocol = self.connection_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    def __repr__(self) -> str:
        name = self._transport_end.get_extra_info("sockname")
        return f"<MemoryStream {name} closed={self.closed()}>"


def memory_stream_pair(
    *,
    chunk_size: int | None = None,
    write_high_water: int = 64 * 1024,
    max_buffer_size: int | None = None,
    read_chunk_size: int | None = None,
    max_write_buffer_size: int | None = None,
) -> tuple[MemoryStream, MemoryStream]:
    """Return two connected in-memory streams; what one writes, the other reads.

    Must be called with an event loop running.

    Args:
        chunk_size: deliver written bytes in pieces of at most this size (``1`` feeds a
            reader one byte at a time); ``None`` keeps each write whole.
        write_high_water: unsent bytes at which a writer is paused (its ``write`` futures
            wait until the reader catches up).
        max_buffer_size, read_chunk_size, max_write_buffer_size: passed to both streams.
    """
    loop = asyncio.get_running_loop()
    pair_id = next(_pair_ids)
    ends = []
    for side in ("a", "b"):
        ends.append(
            _MemoryTransport(
                loop,
                chunk_size=chunk_size,
                write_high_water=write_high_water,
                extra={
                    "sockname": f"memory-{pair_id}{side}",
                    "peername": f"memory-{pair_id}{'b' if side == 'a' else 'a'}",
                },
            )
        )
    ends[0].peer = ends[1]
    ends[1].peer = ends[0]
    kwargs: dict[str, Any] = {
        "max_buffer_size": max_buffer_size,
        "read_chunk_size": read_chunk_size,
        "max_write_buffer_size": max_write_buffer_size,
    }
    return MemoryStream(ends[0], **kwargs), MemoryStream(ends[1], **kwargs)
