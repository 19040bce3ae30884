"""The read side of a stream: the read buffer, the pending read and the read methods.

Layer 2 (streams), private to :mod:`typhoon.iostream`. Imports ``iostream._core``,
``errors``, ``log`` and the standard library.

Received chunks go into a :class:`~typhoon._buffers.ReadBuffer` (no copies until a read
takes its bytes). At most one read is pending at a time; each incoming chunk is checked
against it, and the common cases (a partial read, a ``read_until`` whose delimiter ends
the chunk) are answered with the chunk itself without buffering. A read that the buffer
already satisfies completes at once. When unread data piles up with no read asking for
it, the transport is paused (``read_chunk_size`` bytes is the mark), so a slow consumer
pushes back on the peer instead of growing memory.
"""

from __future__ import annotations

__all__ = ["ReadingMixin"]

import asyncio
import errno
import re
from typing import Any

from typhoon.errors import (
    StreamBufferFullError,
    StreamBusyError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from typhoon.iostream._core import (
    _BYTES,
    _CLOSE,
    _INTO,
    _PARTIAL,
    _REGEX,
    _UNTIL,
    StreamCore,
)
from typhoon.log import gen_log


class ReadingMixin(StreamCore):
    """The reading interface of :class:`~typhoon.iostream.BaseIOStream`.

    ``_on_data`` is what the transport calls with every received chunk.
    """

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
