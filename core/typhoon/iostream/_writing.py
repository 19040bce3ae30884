"""The write side of a stream: writes with flow control.

Layer 2 (streams), private to :mod:`typhoon.iostream`. Imports ``iostream._core``,
``_buffers``, ``errors`` and the standard library.

Writes go straight to the transport; their future is already resolved while the
transport's buffer is below its high-water mark and otherwise resolves on
``resume_writing``. Data written before a transport is connected waits in a
:class:`~typhoon._buffers.WriteBuffer` and is sent when it connects.
"""

from __future__ import annotations

__all__ = ["WritingMixin"]

import asyncio
import errno

from typhoon._buffers import WriteBuffer
from typhoon.errors import StreamBufferFullError, StreamClosedError
from typhoon.iostream._core import StreamCore


class WritingMixin(StreamCore):
    """The writing interface of :class:`~typhoon.iostream.BaseIOStream`."""

    def write(self, data: bytes | bytearray | memoryview) -> asyncio.Future[None]:
        """Send ``data``; the future resolves once the data is handed to the transport.

        The future is already resolved while the transport's buffer is below its
        high-water mark; otherwise it resolves when the transport drains (flow control),
        so ``await stream.write(data)`` is how a producer keeps pace with the peer.
        ``bytearray`` and writable ``memoryview`` data may be reused once ``write``
        returns.

        Raises:
            StreamClosedError: the stream is closed.
            StreamBufferFullError: accepting ``data`` would exceed ``max_write_buffer_size``.
        """
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if not isinstance(data, bytes):
            data = _owned_bytes(data)
        transport = self._transport
        if transport is None:
            return self._write_before_open(data)
        if not data:
            return self._done_write()
        limit = self.max_write_buffer_size
        if limit is not None and transport.get_write_buffer_size() + len(data) > limit:
            raise StreamBufferFullError(f"Reached maximum write buffer size ({limit} bytes)")
        transport.write(data)
        self._bytes_written += len(data)
        if self._write_paused:
            future: asyncio.Future[None] = self._get_loop().create_future()
            self._write_waiters.append(future)
            return future
        done = self._write_done
        return done if done is not None else self._done_write()

    def _done_write(self) -> asyncio.Future[None]:
        future = self._write_done
        if future is None:
            future = self._write_done = self._get_loop().create_future()
            future.set_result(None)
        return future

    def _write_before_open(self, data: bytes | memoryview) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._get_loop().create_future()
        if not self._writable:
            self._write_waiters.append(future)
            self.close(exc_info=OSError(errno.EBADF, "stream is not open for writing"))
            return future
        pending = self._pending_writes
        if pending is None:
            pending = self._pending_writes = WriteBuffer()
        limit = self.max_write_buffer_size
        if limit is not None and pending.size + len(data) > limit:
            raise StreamBufferFullError(f"Reached maximum write buffer size ({limit} bytes)")
        pending.append(data)
        self._write_waiters.append(future)
        return future

    def writing(self) -> bool:
        """Return whether written data is still waiting to be sent."""
        if self._pending_writes:
            return True
        transport = self._transport
        return transport is not None and transport.get_write_buffer_size() > 0

    def _on_resume_writing(self) -> None:
        self._write_paused = False
        self._release_write_waiters()

    def _release_write_waiters(self) -> None:
        waiters = self._write_waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(None)


def _owned_bytes(data: bytearray | memoryview) -> bytes | memoryview:
    """Return ``data`` in a form the caller can no longer change under the transport."""
    view = memoryview(data)
    if view.readonly:
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    return view.tobytes()
