"""Raw WebSocket frames and feeding helpers shared by the wsproto tests."""

from __future__ import annotations

import struct

import pytest
from typhoon.errors import WebSocketError
from typhoon.wsproto import ConnectionState, Event, Role, WebSocketCodec

MASK = b"\x37\xfa\x21\x3d"


def raw_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
    length: bytes | None = None,
) -> bytes:
    """Build a frame by hand, independently of the codec, so tests can break any rule.

    ``rsv`` is the three RSV bits as a number (4 = RSV1, 2 = RSV2, 1 = RSV3);
    ``length`` overrides the encoded payload length field (the 7 bits and extension).
    """
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length is not None:
        header = bytes([first, mask_bit | length[0]]) + length[1:]
    elif n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return header + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def server_frame(opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """An unmasked frame, as a server sends it."""
    return raw_frame(opcode, payload, mask=None, **kwargs)  # type: ignore[arg-type]


def chunked(data: bytes, mode: str) -> list[bytes]:
    if mode == "whole":
        return [data]
    if mode == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    # "uneven": chunk sizes cycling through small primes, crossing every boundary.
    sizes = (1, 2, 3, 5, 7, 11, 13)
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        chunks.append(data[pos : pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    return chunks


FEEDS = ["whole", "bytewise", "uneven"]


def feed(codec: WebSocketCodec, data: bytes, mode: str = "whole") -> list[Event]:
    events: list[Event] = []
    for chunk in chunked(data, mode):
        codec.receive_data(chunk)
        events.extend(codec.events())
    return events


def server(**kwargs: object) -> WebSocketCodec:
    return WebSocketCodec(Role.SERVER, **kwargs)  # type: ignore[arg-type]


def client(**kwargs: object) -> WebSocketCodec:
    return WebSocketCodec(Role.CLIENT, **kwargs)  # type: ignore[arg-type]


def parse_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """Decode frames written by a codec: (first byte, opcode, unmasked payload)."""
    frames = []
    pos = 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        n = second & 0x7F
        pos += 2
        if n == 126:
            n = struct.unpack("!H", data[pos : pos + 2])[0]
            pos += 2
        elif n == 127:
            n = struct.unpack("!Q", data[pos : pos + 8])[0]
            pos += 8
        key = None
        if second & 0x80:
            key = data[pos : pos + 4]
            pos += 4
        payload = data[pos : pos + n]
        if key is not None:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        frames.append((first, first & 0x0F, payload))
        pos += n
    return frames


def expect_failure(
    codec: WebSocketCodec, data: bytes, code: int, mode: str = "whole"
) -> WebSocketError:
    """Feed ``data``; it must fail with ``code`` and queue a Close frame carrying it."""
    with pytest.raises(WebSocketError) as info:
        feed(codec, data, mode)
    assert info.value.close_code == code
    assert codec.state is ConnectionState.CLOSED
    frames = parse_frames(codec.data_to_send())
    assert len(frames) == 1
    _first, opcode, payload = frames[0]
    assert opcode == 0x8
    assert int.from_bytes(payload[:2], "big") == code
    # A failed connection produces nothing more, whatever arrives.
    codec.receive_data(raw_frame(0x1, b"late"))
    assert list(codec.events()) == []
    return info.value
