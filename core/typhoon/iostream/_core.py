"""The state every stream part shares, and a stream's life: opening and closing.

Layer 2 (streams), private to :mod:`typhoon.iostream`. Imports ``_buffers``, ``errors``,
``ioloop`` and the standard library.

:class:`StreamCore` holds the fields the read side (``_reading``), the write side
(``_writing``) and the transport side (``_base``) all use: the limits, the event loop,
the transports, the pending read. It runs the opening coroutine that connects the
transports and carries out the close: it shuts the transports (flushing or aborting),
fails a pending read, pending write futures and a pending connect, and calls the close
callback.
"""

from __future__ import annotations

__all__ = ["StreamCore"]

import asyncio
import re
import sys
from collections import deque
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from typhoon._buffers import ReadBuffer, WriteBuffer
from typhoon.errors import StreamBufferFullError, StreamClosedError
from typhoon.ioloop import IOLoop

#: Default ``max_buffer_size``: 100 MiB, as in Tornado.
_DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024
#: Default read pause mark (``read_chunk_size``): unread bytes held with no read pending.
_DEFAULT_READ_CHUNK_SIZE = 1024 * 1024

# Kinds of pending read.
_BYTES = 1
_PARTIAL = 2
_UNTIL = 3
_REGEX = 4
_INTO = 5
_CLOSE = 6

_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
_CloseArg = None | bool | BaseException | _ExcInfo


class StreamCore:
    """The shared fields of a stream, its opening task and its close sequence.

    Not a stream on its own: :class:`~typhoon.iostream.BaseIOStream` combines it with
    the read and write sides and the transport events. The constructor arguments are
    those documented on :class:`~typhoon.iostream.BaseIOStream`.
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

    def _bind_loop(self) -> None:
        """Bind a stream that must open at once to its loop, running or not.

        Outside a running loop (setup code, a plain test method) the stream binds to
        the thread's current :class:`~typhoon.ioloop.IOLoop`: it opens, and writes
        issued meanwhile are sent, once that loop runs.

        Raises:
            RuntimeError: no loop is running and no IOLoop is current.
        """
        if self._loop is not None:
            return
        io_loop = IOLoop.current(instance=False)
        if io_loop is None:
            raise RuntimeError(
                f"{type(self).__name__} of an open connection needs an event loop: "
                "create it on a running loop, or with an IOLoop current"
            )
        self._io_loop = io_loop
        self._loop = io_loop.asyncio_loop

    # --- opening -------------------------------------------------------------------

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

    def _clear_read(self) -> None:
        """Forget the pending read (its future, kind and parameters)."""
        self._read_future = None
        self._read_kind = 0
        self._read_view = None
        self._read_regex = None


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
