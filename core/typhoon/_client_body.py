"""What an HTTP client does with a response body: sinks that collect, stream or drop it,
and the decoder of its content coding.

Layer 4 (private to ``typhoon._client_connection``): imports ``typhoon.http1proto``,
``typhoon.errors``, ``typhoon.log`` and the standard library.

* :class:`Sink` receives one response (head, body pieces, end); its ``pending``
  awaitable is the flow control of a coroutine ``streaming_callback``.
* :class:`BodySink` decodes ``gzip``/``deflate``, bounds the decoded size, and collects
  the body or hands it to the streaming callback.
* :class:`DrainSink` reads and drops a body the client consumes itself (a redirect, an
  authentication challenge), up to a bound.
"""

from __future__ import annotations

__all__ = ["BodySink", "DrainSink", "Sink"]

import asyncio
import inspect
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final

from typhoon.errors import HTTPInputError, HTTPStreamClosedError
from typhoon.http1proto import Response
from typhoon.log import app_log

#: Largest piece of decompressed output.
_READ_SIZE: Final = 65536
#: Body bytes of a redirect or challenge response read to keep the connection; beyond
#: this the connection is dropped instead of drained.
_DRAIN_LIMIT: Final = 65536


class Sink:
    """Receives one response: its head, the pieces of its body, then its end.

    After :meth:`head`, :meth:`data` or :meth:`finish`, a non-``None`` :attr:`pending`
    means the sink is waiting for something (a streaming callback's awaitable): the
    connection awaits :meth:`wait` before reading on, which is the flow control a
    coroutine ``streaming_callback`` relies on.
    """

    pending: Awaitable[Any] | None = None

    async def wait(self) -> None:
        """Finish what :attr:`pending` stands for (nothing to do by default)."""

    def abandon(self) -> None:
        """The exchange failed: drop what is pending without running it."""

    def head(self, response: Response) -> None:
        """The response head arrived (before any of the body)."""

    def data(self, chunk: bytes) -> bool:
        """A piece of the body; return ``False`` to stop reading (the connection is lost)."""
        return True

    def finish(self) -> None:
        """The body is complete."""


class DrainSink(Sink):
    """Reads and drops the body of a response the client consumes itself."""

    def __init__(self) -> None:
        self._size = 0

    def data(self, chunk: bytes) -> bool:
        self._size += len(chunk)
        return self._size <= _DRAIN_LIMIT


class BodySink(Sink):
    """The final response's body: decoded, bounded, collected or streamed.

    Args:
        max_body_size: Largest body accepted, counted after decompression.
        decompress: Decode ``gzip`` and ``deflate`` content codings.
        streaming_callback: Receives each piece instead of collecting the body.
        header_callback: Receives the status line, each header line and ``"\\r\\n"``.
    """

    def __init__(
        self,
        max_body_size: int,
        decompress: bool,
        streaming_callback: Callable[[bytes], Any] | None,
        header_callback: Callable[[str], Any] | None,
    ) -> None:
        self.chunks: list[bytes] = []
        self._size = 0
        self._max_body_size = max_body_size
        self._decompress = decompress
        self._decoder: _Decoder | None = None
        self._streaming_callback = streaming_callback
        self._header_callback = header_callback
        #: Decoded pieces still to deliver once :attr:`pending` is done.
        self._pieces: Iterator[bytes] | None = None

    def head(self, response: Response) -> None:
        headers = response.headers
        if self._decompress:
            coding = headers.get("Content-Encoding")
            if coding is not None:
                name = coding.strip().lower()
                if name in _CODINGS:
                    self._decoder = _Decoder(name != "deflate")
                    headers.add("X-Consumed-Content-Encoding", coding)
                    del headers["Content-Encoding"]
        callback = self._header_callback
        if callback is not None:
            try:
                callback(f"{response.version} {response.status_code} {response.reason}\r\n")
                for name, value in headers.get_all():
                    callback(f"{name}: {value}\r\n")
                callback("\r\n")
            except Exception as exc:
                raise _callback_failed("header_callback", exc) from exc

    def data(self, chunk: bytes) -> bool:
        decoder = self._decoder
        if decoder is None:
            self._deliver(chunk)
        else:
            self._pieces = decoder.feed(chunk)
            self._deliver_pieces()
        return True

    def finish(self) -> None:
        decoder = self._decoder
        if decoder is not None:
            self._pieces = decoder.finish()
            self._deliver_pieces()

    def _deliver_pieces(self) -> None:
        pieces = self._pieces
        assert pieces is not None
        for piece in pieces:
            self._deliver(piece)
            if self.pending is not None:
                # The rest waits until the callback's awaitable is done.
                return
        self._pieces = None

    async def wait(self) -> None:
        task = asyncio.current_task()
        while (pending := self.pending) is not None:
            self.pending = None
            try:
                await pending
            except asyncio.CancelledError as exc:
                if task is not None and task.cancelling():
                    # The fetch itself is being cancelled (or timed out).
                    raise
                # Cancelled inside the callback: a failure of the callback.
                raise _callback_failed("streaming_callback", exc) from exc
            except Exception as exc:
                raise _callback_failed("streaming_callback", exc) from exc
            if self._pieces is not None:
                self._deliver_pieces()

    def abandon(self) -> None:
        pending = self.pending
        self.pending = None
        self._pieces = None
        if inspect.iscoroutine(pending):
            # Never started: closing it keeps it from being reported as never awaited.
            pending.close()
        elif isinstance(pending, asyncio.Future):
            pending.cancel()

    def _deliver(self, chunk: bytes) -> None:
        size = self._size = self._size + len(chunk)
        if size > self._max_body_size:
            # Counted after decoding, so a small compressed body cannot expand past
            # the limit (Tornado CVE-2026-49855).
            raise HTTPInputError(
                f"response body larger than max_body_size ({self._max_body_size} bytes)",
                status_code=413,
            )
        callback = self._streaming_callback
        if callback is None:
            self.chunks.append(chunk)
            return
        try:
            result = callback(chunk)
        except Exception as exc:
            raise _callback_failed("streaming_callback", exc) from exc
        if result is not None and inspect.isawaitable(result):
            # Awaited before the next piece is delivered (flow control).
            self.pending = result


def _callback_failed(name: str, exc: BaseException) -> HTTPStreamClosedError:
    """Log the failure of a user callback; the fetch then fails with a 599."""
    app_log.error("Uncaught exception in %s", name, exc_info=exc)
    return HTTPStreamClosedError(f"{name} raised {type(exc).__name__}")


_CODINGS: Final = frozenset({"gzip", "x-gzip", "deflate"})
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


def _zlib_wrapped(data: bytes) -> bool:
    # RFC 1950, section 2.2: CM = 8 (deflate), and CMF*256 + FLG is a multiple of 31.
    return (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0


class _Decoder:
    """Decodes gzip (RFC 1952, members in sequence) or deflate (RFC 1950, or raw RFC
    1951 as some servers send it), producing at most ``_READ_SIZE`` bytes per piece.

    The body must be exactly the compressed data: a stream cut short, or anything
    after its end other than a further gzip member, is an error rather than a
    silently shortened body.
    """

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._z: Any = None
        #: Bytes held until there are enough to recognise the start of a stream.
        self._head = b""
        #: Whether any body byte arrived (an empty body decodes to nothing).
        self._fed = False
        #: Whether the last stream ended (between gzip members, or done for deflate).
        self._ended = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next part of the body."""
        if data:
            self._fed = True
        try:
            yield from self._run(data)
        except zlib.error as exc:
            raise HTTPInputError(f"invalid compressed response body: {exc}") from exc

    def _start(self, data: bytes) -> bytes | None:
        """Open the next stream at the start of ``data``; ``None`` until 2 bytes are in."""
        data = self._head + data
        if len(data) < 2:
            self._head = data
            return None
        self._head = b""
        if self._gzip:
            if self._ended and data[:2] != b"\x1f\x8b":
                raise HTTPInputError("invalid compressed response body: data after the end")
            self._z = zlib.decompressobj(_GZIP_WBITS)
        else:
            self._z = zlib.decompressobj(zlib.MAX_WBITS if _zlib_wrapped(data) else -zlib.MAX_WBITS)
        self._ended = False
        return data

    def _run(self, data: bytes) -> Iterator[bytes]:
        while data or self._head:
            z = self._z
            if z is None:
                if self._ended and not self._gzip:
                    raise HTTPInputError("invalid compressed response body: data after the end")
                started = self._start(data)
                if started is None:
                    return
                data = started
                z = self._z
            # Bounded output per piece: a small input that expands enormously comes
            # out a piece at a time, and the size limit stops it early.
            out = z.decompress(data, _READ_SIZE)
            if out:
                yield out
            if z.eof:
                # The stream ended; what follows can only be another gzip member
                # (RFC 1952, section 2.2).
                data = z.unused_data
                self._z = None
                self._ended = True
                continue
            data = z.unconsumed_tail
            if not data and len(out) < _READ_SIZE:
                return

    def finish(self) -> Iterator[bytes]:
        """The last decoded pieces; raises if the compressed data is incomplete."""
        z = self._z
        if z is not None:
            try:
                out = z.flush()
            except zlib.error as exc:
                raise HTTPInputError(f"invalid compressed response body: {exc}") from exc
            if out:
                yield out
            if not z.eof:
                raise HTTPInputError("invalid compressed response body: truncated")
        elif self._head or (self._fed and not self._ended):
            raise HTTPInputError("invalid compressed response body: truncated")
