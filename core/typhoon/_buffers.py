"""Sans-IO byte buffers for the stream layer: a receive buffer and a send buffer.

Layer 0: imports only the standard library; no loop, no sockets.

Strategy. Bytes arrive from a transport as a sequence of immutable ``bytes`` chunks.
:class:`ReadBuffer` keeps those chunks as they are, in a deque, plus an offset into the
first one, so appending is O(1) and nothing is ever copied just to make room. Taking
``n`` bytes off the front copies exactly the bytes returned (once, with ``b"".join``)
and hands a chunk back untouched when it is consumed whole, so a 100 MB read assembled
from 64 KB chunks costs one pass over the data, not one pass per chunk.

Delimiter search works chunk by chunk with ``bytes.find``. A delimiter split across
chunk boundaries is caught by also searching a small window: the last
``len(delimiter) - 1`` bytes seen so far followed by the first ``len(delimiter) - 1``
bytes of the next chunk. Callers pass a ``start`` position so a repeated search (a
``read_until`` waiting for more data) scans only what arrived since the last attempt;
the chunk holding ``start`` is located by walking from the right end, where new data is.

:class:`WriteBuffer` is the mirror image for outgoing data: a deque of chunks that a
writer fills and a sender drains in pieces of any size through :meth:`WriteBuffer.peek`
and :meth:`WriteBuffer.advance`.
"""

from __future__ import annotations

__all__ = ["ReadBuffer", "WriteBuffer"]

from collections import deque


class ReadBuffer:
    """Received bytes waiting to be consumed, stored as a deque of chunks.

    ``size`` is the number of unread bytes. Positions taken and returned by
    :meth:`find` count from the first unread byte.
    """

    __slots__ = ("_chunks", "_offset", "size")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0
        #: Number of unread bytes held.
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __repr__(self) -> str:
        return f"<ReadBuffer size={self.size} chunks={len(self._chunks)}>"

    @property
    def chunk_count(self) -> int:
        """How many chunks back the unread bytes (exposed for tests and statistics)."""
        return len(self._chunks)

    def append(self, data: bytes) -> None:
        """Add received bytes at the end. ``data`` is kept, not copied: pass ``bytes``."""
        if data:
            self._chunks.append(data)
            self.size += len(data)

    def clear(self) -> None:
        """Drop every unread byte."""
        self._chunks.clear()
        self._offset = 0
        self.size = 0

    def take(self, n: int) -> bytes:
        """Remove and return the first ``n`` unread bytes (``n`` must not exceed ``size``).

        A chunk consumed whole from its start is returned without copying.
        """
        if n <= 0:
            return b""
        chunks = self._chunks
        first = chunks[0]
        off = self._offset
        avail = len(first) - off
        if n < avail:
            self._offset = off + n
            self.size -= n
            return first[off : off + n]
        if n == avail:
            chunks.popleft()
            self._offset = 0
            self.size -= n
            return first[off:] if off else first
        if n > self.size:
            raise ValueError(f"cannot take {n} bytes from a buffer holding {self.size}")
        return self._take_many(n)

    def _take_many(self, n: int) -> bytes:
        """Take ``n`` bytes that span more than the first chunk, joining them once."""
        chunks = self._chunks
        first = chunks.popleft()
        off = self._offset
        parts: list[bytes | memoryview] = [memoryview(first)[off:] if off else first]
        remaining = n - (len(first) - off)
        while remaining:
            chunk = chunks[0]
            if len(chunk) <= remaining:
                chunks.popleft()
                parts.append(chunk)
                remaining -= len(chunk)
            else:
                parts.append(memoryview(chunk)[:remaining])
                self._offset = remaining
                break
        else:
            self._offset = 0
        self.size -= n
        return b"".join(parts)

    def take_all(self) -> bytes:
        """Remove and return every unread byte."""
        return self.take(self.size)

    def take_into(self, view: memoryview) -> int:
        """Move up to ``len(view)`` unread bytes into ``view``; return how many moved."""
        want = min(len(view), self.size)
        filled = 0
        chunks = self._chunks
        while filled < want:
            chunk = chunks[0]
            off = self._offset
            k = min(len(chunk) - off, want - filled)
            view[filled : filled + k] = memoryview(chunk)[off : off + k]
            filled += k
            if off + k == len(chunk):
                chunks.popleft()
                self._offset = 0
            else:
                self._offset = off + k
        self.size -= filled
        return filled

    def coalesce(self) -> bytes:
        """Join the unread bytes into one chunk (kept as the buffer) and return it.

        Used where a search needs contiguous memory (regular expressions). The join
        happens only when there is more than one chunk or a consumed prefix.
        """
        chunks = self._chunks
        if not chunks:
            return b""
        if len(chunks) == 1 and not self._offset:
            return chunks[0]
        joined = self.take(self.size)
        chunks.append(joined)
        self.size = len(joined)
        return joined

    def find(self, sub: bytes, start: int = 0) -> int:
        """Return the position of the first ``sub`` at or after ``start``, or -1.

        Positions count from the first unread byte; matches spanning chunk boundaries are
        found. ``sub`` must not be empty.
        """
        chunks = self._chunks
        if not chunks:
            return -1
        off = self._offset
        if len(chunks) == 1:
            i = chunks[0].find(sub, off + start)
            return i - off if i >= 0 else -1
        if start < 0:
            start = 0
        # Locate the chunk holding ``start`` by walking from the newest chunk backwards;
        # ``base`` is the position of that chunk's byte 0 (negative ``off`` for the first).
        idx = len(chunks) - 1
        base = self.size - len(chunks[idx])
        while idx > 0 and base > start:
            idx -= 1
            base -= len(chunks[idx])
        n = len(sub)
        tail = n - 1
        carry = b""
        count = len(chunks)
        while idx < count:
            chunk = chunks[idx]
            local = start - base
            lowest = off if idx == 0 else 0
            if local < lowest:
                local = lowest
            if carry:
                # Matches beginning in earlier chunks and ending in this one.
                window = carry + chunk[:tail]
                j = window.find(sub)
                if j >= 0:
                    return base - len(carry) + j
            i = chunk.find(sub, local)
            if i >= 0:
                return base + i
            if tail:
                # Keep the last n-1 searched bytes (never bytes before ``start``).
                if len(chunk) - local >= tail:
                    carry = chunk[-tail:]
                else:
                    carry = (carry + chunk[local:])[-tail:]
            base += len(chunk)
            idx += 1
        return -1


class WriteBuffer:
    """Outgoing bytes waiting to be sent, stored as a deque of chunks.

    ``bytes`` are kept as they are; mutable buffers (``bytearray``, writable
    ``memoryview``) are copied on :meth:`append` so the caller may reuse them at once.
    """

    __slots__ = ("_chunks", "_offset", "size")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0
        #: Number of bytes not yet sent.
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __repr__(self) -> str:
        return f"<WriteBuffer size={self.size} chunks={len(self._chunks)}>"

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for sending."""
        if not data:
            return
        chunk = data if type(data) is bytes else bytes(data)
        self._chunks.append(chunk)
        self.size += len(chunk)

    def peek(self, size: int | None = None) -> memoryview:
        """Return up to ``size`` of the next unsent bytes (from one chunk) without removing them."""
        if not self._chunks:
            return memoryview(b"")
        chunk = self._chunks[0]
        off = self._offset
        end = len(chunk) if size is None else min(len(chunk), off + size)
        return memoryview(chunk)[off:end]

    def advance(self, n: int) -> None:
        """Mark the first ``n`` unsent bytes as sent."""
        if n > self.size:
            raise ValueError(f"cannot advance {n} bytes in a buffer holding {self.size}")
        self.size -= n
        chunks = self._chunks
        off = self._offset + n
        while chunks and off >= len(chunks[0]):
            off -= len(chunks.popleft())
        self._offset = off

    def drain(self) -> list[bytes]:
        """Remove and return every unsent byte as a list of chunks, in order."""
        chunks = list(self._chunks)
        if chunks and self._offset:
            chunks[0] = chunks[0][self._offset :]
        self._chunks.clear()
        self._offset = 0
        self.size = 0
        return chunks

    def clear(self) -> None:
        """Drop every unsent byte."""
        self._chunks.clear()
        self._offset = 0
        self.size = 0
