"""Tests for typhoon._buffers: chunked receive and send buffers."""

from __future__ import annotations

import random
import time

import pytest
from typhoon._buffers import ReadBuffer, WriteBuffer


def make(*chunks: bytes) -> ReadBuffer:
    buf = ReadBuffer()
    for chunk in chunks:
        buf.append(chunk)
    return buf


def test_append_and_take_within_first_chunk() -> None:
    buf = make(b"hello world")
    assert buf.take(5) == b"hello"
    assert buf.size == 6
    assert buf.take(6) == b" world"
    assert buf.size == 0
    assert not buf


def test_take_whole_chunk_returns_same_object() -> None:
    chunk = b"x" * 100
    buf = make(chunk, b"tail")
    assert buf.take(100) is chunk
    assert buf.take_all() == b"tail"


def test_take_across_chunks_keeps_remainder() -> None:
    buf = make(b"abc", b"def", b"ghi")
    assert buf.take(1) == b"a"
    assert buf.take(6) == b"bcdefg"
    assert buf.size == 2
    assert buf.take(2) == b"hi"


def test_take_more_than_held_is_an_error() -> None:
    buf = make(b"ab", b"cd")
    with pytest.raises(ValueError, match="cannot take"):
        buf.take(5)


def test_empty_append_is_ignored() -> None:
    buf = make(b"", b"a", b"")
    assert buf.chunk_count == 1
    assert buf.size == 1


@pytest.mark.parametrize("delimiter", [b"\n", b"\r\n", b"\r\n\r\n", b"abcdefgh"])
def test_find_matches_bytes_find_for_every_split(delimiter: bytes) -> None:
    data = b"xx" + delimiter[:-1] + b"y" + delimiter + b"zz" + delimiter
    expected = data.find(delimiter)
    for size in range(1, len(data) + 1):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        buf = make(*chunks)
        assert buf.find(delimiter) == expected, size
        # Same answer after a prefix was consumed.
        buf.take(1)
        assert buf.find(delimiter) == data.find(delimiter, 1) - 1, size


def test_find_with_start_skips_earlier_matches() -> None:
    data = b"a\nb\nc\n"
    for size in (1, 2, 3, 6):
        buf = make(*[data[i : i + size] for i in range(0, len(data), size)])
        assert buf.find(b"\n", 0) == 1
        assert buf.find(b"\n", 2) == 3
        assert buf.find(b"\n", 4) == 5
        assert buf.find(b"\n", 6) == -1


def test_find_random_against_bytes_find() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        data = bytes(rng.choice(b"ab\r\n") for _ in range(rng.randint(0, 40)))
        delimiter = rng.choice([b"\r\n", b"\r\n\r\n", b"ab", b"\n", b"aba"])
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 6))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        buf = make(*pieces)
        start = rng.randint(0, len(data))
        assert buf.find(delimiter, start) == data.find(delimiter, start), (pieces, delimiter, start)


def test_take_into_partial_and_whole() -> None:
    buf = make(b"abc", b"defg")
    target = bytearray(5)
    assert buf.take_into(memoryview(target)) == 5
    assert target == b"abcde"
    big = bytearray(10)
    assert buf.take_into(memoryview(big)) == 2
    assert big[:2] == b"fg"
    assert buf.size == 0


def test_coalesce_joins_once() -> None:
    buf = make(b"ab", b"cd", b"ef")
    buf.take(1)
    joined = buf.coalesce()
    assert joined == b"bcdef"
    assert buf.chunk_count == 1
    assert buf.coalesce() is joined
    assert buf.take_all() == b"bcdef"


def test_large_read_assembled_from_small_chunks_is_linear() -> None:
    # 100 MB arriving in 64 KB chunks, searched for a delimiter that is not there and
    # then taken in one piece: every step must be proportional to the new data only.
    chunk = b"z" * 65536
    count = 1600
    buf = ReadBuffer()
    scan_from = 0
    started = time.perf_counter()
    for _ in range(count):
        buf.append(chunk)
        assert buf.find(b"\r\n\r\n", scan_from) == -1
        scan_from = buf.size - 3
    data = buf.take(count * len(chunk))
    elapsed = time.perf_counter() - started
    assert len(data) == count * len(chunk)
    assert buf.size == 0
    # Generous bound: a quadratic implementation needs minutes here.
    assert elapsed < 20


def test_write_buffer_peek_advance_drain() -> None:
    wbuf = WriteBuffer()
    scratch = bytearray(b"mutable")
    wbuf.append(b"hello ")
    wbuf.append(scratch)
    scratch[:] = b"changed"
    assert wbuf.size == 13
    assert bytes(wbuf.peek(3)) == b"hel"
    wbuf.advance(3)
    assert bytes(wbuf.peek()) == b"lo "
    wbuf.advance(4)
    assert bytes(wbuf.peek()) == b"utable"
    assert wbuf.drain() == [b"utable"]
    assert wbuf.size == 0
    assert bytes(wbuf.peek()) == b""


def test_write_buffer_advance_past_end_is_an_error() -> None:
    wbuf = WriteBuffer()
    wbuf.append(b"ab")
    with pytest.raises(ValueError, match="cannot advance"):
        wbuf.advance(3)
