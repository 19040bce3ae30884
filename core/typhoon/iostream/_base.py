"""The core of every stream: buffered reads, flow-controlled writes, closing.

Layer 2 (streams), private to :mod:`typhoon.iostream`. Imports ``_buffers``, ``errors``,
``ioloop``, ``log`` and the standard library.

Strategy. A socket transport is asked to read at most 64 KiB at a time (asyncio's own
default is 256 KiB): a ``bytes`` object of that size comes from the heap, where a larger
one costs fresh pages (mmap, page faults, munmap) on every read, and a 64 KiB partial
read then gets a received chunk as it is. Received chunks go into a
:class:`~typhoon._buffers.ReadBuffer` (no copies until a read takes its bytes). At most one read is pending at a time; each incoming
chunk is checked against it, and the common cases (a partial read, a ``read_until``
whose delimiter ends the chunk) are answered with the chunk itself without buffering.
A read that the buffer already satisfies completes at once. When unread data piles up
with no read asking for it, the transport is paused (``read_chunk_size`` bytes is the
mark), so a slow consumer pushes back on the peer instead of growing memory. Writes go
straight to the transport; their future is already resolved while the transport's
buffer is below its high-water mark and otherwise resolves on ``resume_writing``.
"""

from __future__ import annotations

__all__ = ["BaseIOStream", "IOStreamStatistics"]

import asyncio
import errno
import re
import sys
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

from typhoon._buffers import ReadBuffer, WriteBuffer
from typhoon.errors import (
    StreamBufferFullError,
    StreamBusyError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from typhoon.ioloop import IOLoop
from typhoon.log import gen_log

#: Default ``max_buffer_size``: 100 MiB, as in Tornado.
_DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024
#: Default read pause mark (``read_chunk_size``): unread bytes held with no read pending.
_DEFAULT_READ_CHUNK_SIZE = 1024 * 1024
#: The most bytes one socket read takes, set on transports that let it be tuned.
_RECV_SIZE = 64 * 1024

# Kinds of pending read.
_BYTES = 1
_PARTIAL = 2
_UNTIL = 3
_REGEX = 4
_INTO = 5
_CLOSE = 6

_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
_CloseArg = None | bool | BaseException | _ExcInfo


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


class BaseIOStream:
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

    #: Set on a stream whose transport moves to another stream (``start_tls``): it must
    #: neither open its socket nor report the close. A class default, so a subclass can
    #: set it on the instance before ``__init__`` runs.
    _handoff: bool = False

    def __init__(
        self,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_write_buffer_size: int | None = None,
    ) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self._loop = loop
        self._io_loop: IOLoop | None = None
        self._max_buffer_size = max_buffer_size or _DEFAULT_MAX_BUFFER_SIZE
        self._read_chunk_size = read_chunk_size or _DEFAULT_READ_CHUNK_SIZE
        # Unread bytes at which _buffer_high runs: the lower of the two limits.
        self._read_mark = min(self._read_chunk_size, self._max_buffer_size)
        self.max_write_buffer_size: int | None = max_write_buffer_size
        #: The exception that closed the stream, if any (``None`` for a clean close).
        self.error: BaseException | None = None
        self._read_buffer = ReadBuffer()
        self._closed = False
        self._readable = True
        self._writable = True
        self._transport: asyncio.WriteTransport | None = None
        self._read_transport: asyncio.ReadTransport | None = None
        self._read_paused = False
        self._write_paused = False
        self._write_waiters: deque[asyncio.Future[None]] = deque()
        self._pending_writes: WriteBuffer | None = None
        self._write_done: asyncio.Future[None] | None = None
        self._close_callback: Callable[[], object] | None = None
        self._attach_task: asyncio.Task[None] | None = None
        self._connect_future: asyncio.Future[Any] | None = None
        self._bytes_read = 0
        self._bytes_written = 0
        self._open_transports = 0
        self._close_abort = False
        self._opener_started = False
        self._opener: Coroutine[Any, Any, None] | None = None
        self._transports_gone: asyncio.Future[None] | None = None
        # The pending read: its future, kind and parameters.
        self._read_future: asyncio.Future[Any] | None = None
        self._read_kind = 0
        self._read_target = 0
        self._read_delimiter = b""
        self._read_regex: re.Pattern[bytes] | None = None
        self._read_max_bytes: int | None = None
        self._read_view: memoryview | None = None
        self._read_partial = False
        self._scan_from = 0

    @property
    def max_buffer_size(self) -> int:
        """The most bytes a single read may need to hold."""
        return self._max_buffer_size

    @max_buffer_size.setter
    def max_buffer_size(self, value: int) -> None:
        self._max_buffer_size = value
        self._read_mark = min(self._read_chunk_size, value)

    @property
    def read_chunk_size(self) -> int:
        """Unread bytes that may wait, with no read pending, before reading pauses."""
        return self._read_mark

    @read_chunk_size.setter
    def read_chunk_size(self, value: int) -> None:
        self._read_chunk_size = value
        self._read_mark = min(value, self._max_buffer_size)

    # --- the transport side --------------------------------------------------------

    def connection_protocol(self, *, reads: bool = True, writes: bool = True) -> asyncio.Protocol:
        """Return a new asyncio protocol that feeds this stream.

        For stream implementations: hand it to a transport factory. ``reads`` and
        ``writes`` say which directions that transport carries (a pipe stream has one
        transport per direction).
        """
        return _StreamProtocol(self, reads, writes)

    @property
    def io_loop(self) -> IOLoop:
        """The :class:`~typhoon.ioloop.IOLoop` this stream runs on."""
        io_loop = self._io_loop
        if io_loop is None:
            self._get_loop()
            found = IOLoop.current()
            assert found is not None
            io_loop = self._io_loop = found
        return io_loop

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _begin(self, opener: Coroutine[Any, Any, None]) -> None:
        """Run ``opener`` (which connects transports) as a task owned by this stream."""
        self._opener = opener
        self._attach_task = self._get_loop().create_task(self._run_opener(opener))

    def _cancel_opening(self) -> bool:
        """Cancel the opening task; return whether it had started.

        An opener that never started is discarded unrun (its resources are then the
        caller's to release).
        """
        task = self._attach_task
        opener = self._opener
        self._attach_task = self._opener = None
        if task is not None:
            task.cancel()
        if opener is not None and not self._opener_started:
            opener.close()
            return False
        return True

    async def _run_opener(self, opener: Coroutine[Any, Any, None]) -> None:
        self._opener_started = True
        try:
            await opener
        except asyncio.CancelledError:
            # Closed while connecting: release what no transport took over.
            self._close_unopened()
            raise
        except Exception as exc:
            # Connection refused, TLS handshake failure, ...: the stream closes with it
            # as its error, and the connect or handshake future reports it.
            self._attach_task = self._opener = None
            if self._closed:
                self._close_unopened()
            else:
                self.close(exc_info=exc)
            return
        self._attach_task = self._opener = None
        if self._handoff or self._closed:
            return
        self._on_opened()

    def _on_opened(self) -> None:
        """Called once the opening coroutine succeeded (connected, handshake done)."""
        future = self._connect_future
        if future is not None:
            self._connect_future = None
            if not future.done():
                future.set_result(self)

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

    def _on_data(self, data: bytes) -> None:
        self._bytes_read += len(data)
        buf = self._read_buffer
        future = self._read_future
        if future is not None:
            if future.done():
                # The reader gave up (cancelled): the data stays for the next read.
                self._clear_read()
                future = None
            elif not buf.size:
                # Nothing buffered: answer from the chunk itself when it is exactly what
                # the read asks for (the usual partial read, line, or header block).
                kind = self._read_kind
                if kind == _UNTIL:
                    delimiter = self._read_delimiter
                    i = data.find(delimiter)
                    if i >= 0 and i + len(delimiter) == len(data):
                        limit = self._read_max_bytes
                        if limit is None or len(data) <= limit:
                            self._read_future = None
                            self._read_kind = 0
                            future.set_result(data)
                            return
                elif kind == _PARTIAL and len(data) <= self._read_target:
                    self._read_future = None
                    self._read_kind = 0
                    future.set_result(data)
                    return
        buf.append(data)
        if future is not None:
            self._satisfy()
        if buf.size >= self._read_mark:
            self._buffer_high()

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

    def _on_resume_writing(self) -> None:
        self._write_paused = False
        self._release_write_waiters()

    def _release_write_waiters(self) -> None:
        waiters = self._write_waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(None)

    def _buffer_high(self) -> None:
        """Unread data reached ``read_chunk_size``: pause, or fail a read that cannot fit."""
        if self._closed:
            return
        if self._read_future is not None:
            size = self._read_buffer.size
            limit = self._max_buffer_size
            if size > limit or (size == limit and self._read_kind != _CLOSE):
                self._buffer_full()
        elif not self._read_paused and self._read_transport is not None:
            self._read_paused = True
            self._read_transport.pause_reading()

    def _buffer_full(self) -> None:
        gen_log.error("Reached maximum read buffer size (%d bytes)", self.max_buffer_size)
        self.close(
            exc_info=StreamBufferFullError(
                f"Reached maximum read buffer size ({self.max_buffer_size} bytes)"
            )
        )

    # --- reads ---------------------------------------------------------------------

    def _done(self, result: Any) -> asyncio.Future[Any]:
        future = self._get_loop().create_future()
        future.set_result(result)
        return future

    def _check_busy(self) -> None:
        future = self._read_future
        if future is not None:
            if future.done():
                self._clear_read()
                return
            raise StreamBusyError("Already reading: a stream serves one read at a time")

    def _start_read(self, kind: int) -> asyncio.Future[Any]:
        """Register a read the buffer cannot satisfy yet and return its future."""
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        loop = self._loop
        future = (loop or self._get_loop()).create_future()
        self._read_future = future
        self._read_kind = kind
        if self._read_paused or not self._readable:
            self._unblock_read()
        return future

    def _unblock_read(self) -> None:
        """A read is starting while reading is paused or impossible: resume or fail."""
        if not self._readable:
            self.close(exc_info=OSError(errno.EBADF, "stream is not open for reading"))
        elif self._read_transport is not None:
            self._read_paused = False
            self._read_transport.resume_reading()

    def _finish_read(self, result: Any) -> None:
        future = self._read_future
        self._read_future = None
        self._read_kind = 0
        if future is not None and not future.done():
            future.set_result(result)

    def _clear_read(self) -> None:
        self._read_future = None
        self._read_kind = 0
        self._read_view = None
        self._read_regex = None

    def _unsatisfiable(self, message: str) -> None:
        """Close the stream because the pending read can never complete."""
        error = UnsatisfiableReadError(message)
        gen_log.info("Unsatisfiable read, closing connection: %s", message)
        if self._closed:
            future = self._read_future
            self._clear_read()
            if future is not None and not future.done():
                future.set_exception(StreamClosedError(real_error=error))
                future.exception()
            return
        self.close(exc_info=error)

    def _satisfy(self) -> None:
        """Complete the pending read if the buffer now holds what it needs."""
        kind = self._read_kind
        buf = self._read_buffer
        if kind == _UNTIL:
            delimiter = self._read_delimiter
            i = buf.find(delimiter, self._scan_from)
            limit = self._read_max_bytes
            if i >= 0:
                end = i + len(delimiter)
                if limit is not None and end > limit:
                    self._unsatisfiable(f"delimiter {delimiter!r} not found within {limit} bytes")
                else:
                    self._finish_read(buf.take(end))
            elif limit is not None and buf.size > limit:
                self._unsatisfiable(f"delimiter {delimiter!r} not found within {limit} bytes")
            else:
                self._scan_from = max(0, buf.size - len(delimiter) + 1)
        elif kind == _PARTIAL:
            if buf.size:
                self._finish_read(buf.take(min(buf.size, self._read_target)))
        elif kind == _BYTES:
            if buf.size >= self._read_target:
                self._finish_read(buf.take(self._read_target))
        elif kind == _INTO:
            view = self._read_view
            assert view is not None
            self._read_target += buf.take_into(view[self._read_target :])
            if self._read_target == len(view) or (self._read_partial and self._read_target):
                self._read_view = None
                self._finish_read(self._read_target)
        elif kind == _REGEX:
            self._satisfy_regex()

    def _satisfy_regex(self) -> None:
        regex = self._read_regex
        assert regex is not None
        buf = self._read_buffer
        limit = self._read_max_bytes
        match = regex.search(buf.coalesce())
        if match is not None:
            end = match.end()
            if limit is not None and end > limit:
                self._unsatisfiable(f"regex {regex.pattern!r} not matched within {limit} bytes")
            else:
                self._read_regex = None
                self._finish_read(buf.take(end))
        elif limit is not None and buf.size > limit:
            self._unsatisfiable(f"regex {regex.pattern!r} not matched within {limit} bytes")

    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> asyncio.Future[bytes]:
        """Read until ``delimiter`` has been read; the result includes the delimiter.

        Args:
            delimiter: the bytes that end the read (not empty).
            max_bytes: if the delimiter does not end within this many bytes, the stream is
                closed with :class:`~typhoon.errors.UnsatisfiableReadError` as its error
                and the read fails with :class:`~typhoon.errors.StreamClosedError`.

        Raises:
            StreamClosedError: the stream is closed and the buffer cannot satisfy the read.
            StreamBusyError: another read is pending.
        """
        if not delimiter:
            raise ValueError("read_until needs a non-empty delimiter")
        if self._read_future is not None:
            self._check_busy()
        buf = self._read_buffer
        if buf.size:
            i = buf.find(delimiter)
            if i >= 0:
                end = i + len(delimiter)
                if max_bytes is None or end <= max_bytes:
                    return self._done(buf.take(end))
        future = self._start_read(_UNTIL)
        self._read_delimiter = delimiter
        self._read_max_bytes = max_bytes
        self._scan_from = 0
        if buf.size:
            self._satisfy()
            if buf.size >= self.max_buffer_size and self._read_future is future:
                self._buffer_full()
        return future

    def read_until_regex(
        self, regex: bytes | re.Pattern[bytes], max_bytes: int | None = None
    ) -> asyncio.Future[bytes]:
        """Read until the regular expression ``regex`` matches; the result ends with the match.

        ``max_bytes`` works as for :meth:`read_until`.

        Raises:
            StreamClosedError: the stream is closed and the buffer cannot satisfy the read.
            StreamBusyError: another read is pending.
        """
        if self._read_future is not None:
            self._check_busy()
        pattern = regex if isinstance(regex, re.Pattern) else re.compile(regex)
        buf = self._read_buffer
        if buf.size:
            match = pattern.search(buf.coalesce())
            if match is not None and (max_bytes is None or match.end() <= max_bytes):
                return self._done(buf.take(match.end()))
        future = self._start_read(_REGEX)
        self._read_regex = pattern
        self._read_max_bytes = max_bytes
        if buf.size:
            self._satisfy_regex()
            if buf.size >= self.max_buffer_size and self._read_future is future:
                self._buffer_full()
        return future

    def read_bytes(self, num_bytes: int, partial: bool = False) -> asyncio.Future[bytes]:
        """Read ``num_bytes`` bytes.

        With ``partial=True`` the read completes as soon as any bytes are available and
        returns at most ``num_bytes`` of them.

        Raises:
            StreamClosedError: the stream is closed and the buffer cannot satisfy the read.
            StreamBusyError: another read is pending.
        """
        if num_bytes < 0:
            raise ValueError(f"num_bytes must not be negative, not {num_bytes}")
        if self._read_future is not None:
            self._check_busy()
        buf = self._read_buffer
        size = buf.size
        if size >= num_bytes:
            return self._done(buf.take(num_bytes))
        if partial and size:
            return self._done(buf.take(size))
        future = self._start_read(_PARTIAL if partial else _BYTES)
        self._read_target = num_bytes
        if size >= self.max_buffer_size and self._read_future is future:
            self._buffer_full()
        return future

    def read_into(self, buf: bytearray | memoryview, partial: bool = False) -> asyncio.Future[int]:
        """Read into the writable buffer ``buf``; the result is the number of bytes read.

        Without ``partial`` the read completes when ``buf`` is full; with it, as soon as
        any bytes have been copied. Bytes arriving for a pending ``read_into`` are copied
        straight into ``buf``.

        Raises:
            StreamClosedError: the stream is closed and the buffer cannot satisfy the read.
            StreamBusyError: another read is pending.
        """
        if self._read_future is not None:
            self._check_busy()
        view = memoryview(buf)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        rbuf = self._read_buffer
        if rbuf.size >= len(view) or (partial and rbuf.size):
            return self._done(rbuf.take_into(view))
        future = self._start_read(_INTO)
        self._read_view = view
        self._read_partial = partial
        self._read_target = rbuf.take_into(view)
        return future

    def read_until_close(self) -> asyncio.Future[bytes]:
        """Read everything until the stream closes; the result is all of it.

        On a stream that is already closed this returns whatever is still buffered.
        The data counts against ``max_buffer_size``.

        Raises:
            StreamBusyError: another read is pending.
        """
        if self._read_future is not None:
            self._check_busy()
        buf = self._read_buffer
        if self._closed:
            return self._done(buf.take_all())
        future = self._start_read(_CLOSE)
        if buf.size > self.max_buffer_size and self._read_future is future:
            self._buffer_full()
        return future

    def reading(self) -> bool:
        """Return whether a read is pending."""
        future = self._read_future
        return future is not None and not future.done()

    # --- writes --------------------------------------------------------------------

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

    # --- closing -------------------------------------------------------------------

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` (on the event loop) when the stream closes.

        If the stream is already closed, the callback is scheduled at once.
        """
        self._close_callback = callback
        if self._closed and callback is not None and not self._handoff:
            self._run_close_callback()

    def _run_close_callback(self) -> None:
        callback = self._close_callback
        if callback is None:
            return
        self._close_callback = None
        loop = self._get_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            # Through the IOLoop, as in Tornado: a coroutine callback runs as a task and
            # an exception is logged on typhoon.application.
            self.io_loop.add_callback(callback)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(callback)

    def close(self, exc_info: _CloseArg = False) -> None:
        """Close the stream.

        Data already written is still sent (the transport flushes it) unless the close
        carries an error, which aborts the connection. ``exc_info`` records that error in
        :attr:`error`: an exception, an ``(type, value, traceback)`` tuple, or True for
        the exception being handled.
        """
        if self._closed:
            return
        if exc_info:
            if isinstance(exc_info, tuple):
                exc = exc_info[1]
            elif isinstance(exc_info, BaseException):
                exc = exc_info
            else:
                exc = sys.exc_info()[1]
            if exc is not None:
                self.error = exc
        self._close_transports(abort=self.error is not None)
        self._signal_closed()

    def _close_transports(self, abort: bool) -> None:
        self._close_abort = abort
        transport = self._transport
        read_transport = self._read_transport
        if transport is not None:
            if abort:
                transport.abort()
            else:
                transport.close()
        if read_transport is not None and read_transport is not _as_base(transport):
            # A read-only transport has nothing to flush: closing it is immediate.
            read_transport.close()
        task = self._attach_task
        if task is not None:
            # Still opening. A connection being established is abandoned; an existing one
            # (accepted socket, pipe) finishes opening and _connection_made closes it,
            # after sending what was written.
            if self._abandon_opening() and not self._cancel_opening():
                self._close_unopened()
        elif transport is None and read_transport is None:
            self._close_unopened()

    def _abandon_opening(self) -> bool:
        """Whether a close during opening cancels it (True while connecting)."""
        return False

    def _close_unopened(self) -> None:
        """Hook for subclasses: release the socket or descriptor no transport owns yet."""

    def _signal_closed(self) -> None:
        self._closed = True
        self._read_paused = False
        future = self._read_future
        if future is not None:
            if (
                self._read_kind == _CLOSE
                and not future.done()
                and not isinstance(self.error, StreamBufferFullError)
            ):
                self._clear_read()
                future.set_result(self._read_buffer.take_all())
            else:
                self._clear_read()
                _fail(future, self.error)
        waiters = self._write_waiters
        while waiters:
            _fail(waiters.popleft(), self.error)
        connect = self._connect_future
        if connect is not None:
            self._connect_future = None
            _fail(connect, self.error)
        if self._close_callback is not None:
            self._run_close_callback()

    def closed(self) -> bool:
        """Return whether the stream is closed."""
        return self._closed

    async def aclose(self) -> None:
        """Close the stream and wait until its transports have let go of the connection.

        :meth:`close` returns at once while the transport still flushes written data
        (and, for TLS, exchanges close_notify); ``aclose`` returns once that is over and
        the socket or descriptor is closed.
        """
        self.close()
        task = self._attach_task
        if task is not None and not self._handoff:
            await asyncio.wait([task])
        if self._open_transports > 0 and not self._handoff:
            gone = self._transports_gone
            if gone is None:
                gone = self._transports_gone = self._get_loop().create_future()
            await gone
        else:
            # Let transports that closed just now run their final callbacks.
            await asyncio.sleep(0)

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


def _as_base(transport: asyncio.BaseTransport | None) -> asyncio.BaseTransport | None:
    """Widen a transport's static type (one object can be both read and write side)."""
    return transport


def _fail(future: asyncio.Future[Any], error: BaseException | None) -> None:
    """Fail ``future`` with StreamClosedError, marking the exception as retrieved.

    Nobody may be waiting (a write future dropped by its caller); reading the exception
    back keeps asyncio from reporting it as never retrieved.
    """
    if not future.done():
        future.set_exception(StreamClosedError(real_error=error))
        future.exception()


def _owned_bytes(data: bytearray | memoryview) -> bytes | memoryview:
    """Return ``data`` in a form the caller can no longer change under the transport."""
    view = memoryview(data)
    if view.readonly:
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    return view.tobytes()
