"""permessage-deflate in the WebSocket codec: round trips for every negotiated
parameter, window limits, the 00 00 ff ff tail, and bounded decompression."""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest
from _wshelpers import FEEDS, expect_failure, feed, parse_frames, raw_frame
from typhoon.errors import WebSocketError
from typhoon.wsproto import (
    BinaryMessage,
    ClientHandshake,
    Close,
    DeflateOptions,
    DeflateParams,
    Role,
    TextMessage,
    WebSocketCodec,
    accept_client_handshake,
    validate_client_handshake,
)


def connect(
    client_options: DeflateOptions, server_options: DeflateOptions, **codec_kwargs: object
) -> tuple[WebSocketCodec, WebSocketCodec]:
    """Run the real handshake helpers on both sides and build the two codecs."""
    handshake = ClientHandshake(deflate=client_options)
    request = validate_client_handshake(
        "GET", "HTTP/1.1", [("Host", "localhost"), *handshake.request_headers()]
    )
    accept = accept_client_handshake(request, deflate=server_options)
    client_accept = handshake.validate_response(101, accept.headers)
    assert accept.deflate is not None
    assert client_accept.deflate is not None
    # Both sides agree on the RFC 7692 parameters; levels are each side's own.
    assert client_accept.deflate.server_max_window_bits == accept.deflate.server_max_window_bits
    assert client_accept.deflate.client_max_window_bits == accept.deflate.client_max_window_bits
    assert (
        client_accept.deflate.server_no_context_takeover
        == accept.deflate.server_no_context_takeover
    )
    assert (
        client_accept.deflate.client_no_context_takeover
        == accept.deflate.client_no_context_takeover
    )
    return (
        WebSocketCodec(Role.CLIENT, deflate=client_accept.deflate, **codec_kwargs),  # type: ignore[arg-type]
        WebSocketCodec(Role.SERVER, deflate=accept.deflate, **codec_kwargs),  # type: ignore[arg-type]
    )


PARAMETER_SETS = {
    "defaults": (DeflateOptions(), DeflateOptions()),
    "server_no_context_takeover": (
        DeflateOptions(server_no_context_takeover=True),
        DeflateOptions(),
    ),
    "client_no_context_takeover": (
        DeflateOptions(),
        DeflateOptions(client_no_context_takeover=True),
    ),
    "both_no_context_takeover": (
        DeflateOptions(client_no_context_takeover=True),
        DeflateOptions(server_no_context_takeover=True),
    ),
    "server_max_window_bits": (DeflateOptions(server_max_window_bits=9), DeflateOptions()),
    "client_max_window_bits": (DeflateOptions(), DeflateOptions(client_max_window_bits=10)),
    "window_bits_8": (
        DeflateOptions(server_max_window_bits=8),
        DeflateOptions(client_max_window_bits=8),
    ),
    "levels": (
        DeflateOptions(compression_level=1, mem_level=1),
        DeflateOptions(compression_level=9, mem_level=9),
    ),
    "stored": (DeflateOptions(compression_level=0), DeflateOptions(compression_level=0)),
}


def messages() -> list[str | bytes]:
    block = os.urandom(700)
    return [
        "hello " * 50,
        "hello " * 50,  # repeated: context takeover can refer back to it
        "",
        b"",
        block * 3,  # back-references 700 bytes away
        os.urandom(3000),  # incompressible
        "ünïcödé ☃ " * 300,
        bytes(100_000),
    ]


@pytest.mark.parametrize("name", list(PARAMETER_SETS))
def test_round_trip_with_each_negotiated_parameter(name: str) -> None:
    client_options, server_options = PARAMETER_SETS[name]
    client, server = connect(client_options, server_options)
    for message in messages():
        expected = TextMessage(message) if isinstance(message, str) else BinaryMessage(message)
        frame = client.send_message(message)
        assert frame[0] & 0x40  # RSV1: compressed
        assert feed(server, frame) == [expected]
        frame = server.send_message(message)
        assert frame[0] & 0x40
        assert feed(client, frame) == [expected]


@pytest.mark.parametrize("mode", FEEDS)
def test_fragmented_compressed_messages_fed_every_way(mode: str) -> None:
    client, server = connect(DeflateOptions(), DeflateOptions())
    wire = client.send_message("abc" * 100, final=False)
    wire += client.send_ping(b"between")
    wire += client.send_message("def" * 100, final=False)
    wire += client.send_message("", final=True)
    wire += client.send_message(b"\x00\x01" * 500)
    frames = parse_frames(wire)
    # RSV1 only on the first frame of the message (RFC 7692 section 6.1).
    assert [first & 0x40 for first, _, _ in frames] == [0x40, 0, 0, 0, 0x40]
    events = feed(server, wire, mode)
    assert [type(e).__name__ for e in events] == ["Ping", "TextMessage", "BinaryMessage"]
    assert events[1] == TextMessage("abc" * 100 + "def" * 100)
    assert events[2] == BinaryMessage(b"\x00\x01" * 500)


def test_fragments_are_delivered_decompressed() -> None:
    client, server = connect(DeflateOptions(), DeflateOptions(), deliver_fragments=True)
    wire = client.send_message("first half ", final=False) + client.send_message("second half")
    assert feed(server, wire) == [
        TextMessage("first half ", final=False),
        TextMessage("second half", final=True),
    ]


def test_the_tail_is_stripped_and_an_empty_message_is_one_zero_byte() -> None:
    client, server = connect(DeflateOptions(), DeflateOptions())
    for message in ("some text", "some text", ""):
        payload = parse_frames(server.send_message(message))[0][2]
        assert not payload.endswith(b"\x00\x00\xff\xff")
        assert payload
    assert parse_frames(client.send_message(b""))[0][2] == b"\x00"


def payload_sizes(options: DeflateOptions) -> list[int]:
    _, server = connect(options, DeflateOptions())
    text = "the same sentence, sent again and again. " * 10
    return [len(parse_frames(server.send_message(text))[0][2]) for _ in range(3)]


def test_context_takeover_shrinks_repeats_and_no_context_takeover_does_not() -> None:
    with_takeover = payload_sizes(DeflateOptions())
    assert with_takeover[1] < with_takeover[0] // 2
    without = payload_sizes(DeflateOptions(server_no_context_takeover=True))
    assert without[0] == without[1] == without[2]


def strict_inflate(inflater: zlib._Decompress, payload: bytes) -> bytes:
    """Inflate in 64-byte output steps, so every back-reference longer than that has to
    come from the inflater's window, whose size is the negotiated one."""
    out = []
    data = payload + b"\x00\x00\xff\xff"
    while True:
        chunk = inflater.decompress(data, 64)
        data = inflater.unconsumed_tail
        out.append(chunk)
        if not data and not chunk:
            return b"".join(out)


def test_strict_inflate_detects_a_window_violation() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    block = os.urandom(600)
    payload = compressor.compress(block * 2) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(zlib.error, match="too far back"):
        strict_inflate(zlib.decompressobj(-9), payload[:-4])


def test_compression_level_and_memory_level_reach_zlib() -> None:
    text = " ".join(str(i * 7919 % 1000) for i in range(3000))
    sizes = {}
    for level, mem_level in ((0, 8), (1, 1), (9, 9)):
        _, server = connect(
            DeflateOptions(), DeflateOptions(compression_level=level, mem_level=mem_level)
        )
        sizes[level] = len(parse_frames(server.send_message(text))[0][2])
    # Level 0 stores (slightly larger than the input); 9 with more memory beats 1 with less.
    assert sizes[0] > len(text) > sizes[1] > sizes[9]


@pytest.mark.parametrize("bits", [8, 9, 10, 12, 15])
def test_sent_data_respects_the_peer_window(bits: int) -> None:
    # An inflater with exactly the negotiated window must decode everything: a
    # back-reference further than 2**bits fails with "invalid distance too far back".
    client, server = connect(DeflateOptions(server_max_window_bits=bits), DeflateOptions())
    inflater = zlib.decompressobj(-bits)
    block = os.urandom(600)
    # Repeats 600 bytes apart inside a message, and 5600 bytes apart across messages.
    for message in (block * 4, os.urandom(5000), block * 2):
        frame = server.send_message(message)
        payload = parse_frames(frame)[0][2]
        assert strict_inflate(inflater, payload) == message
        assert feed(client, frame) == [BinaryMessage(message)]


def compress_raw(data: bytes, flush: int = zlib.Z_SYNC_FLUSH) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(flush)
    return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out


def deflate_server(**kwargs: object) -> WebSocketCodec:
    return WebSocketCodec(Role.SERVER, deflate=DeflateParams(), **kwargs)  # type: ignore[arg-type]


def test_bfinal_terminated_message_then_a_fresh_stream() -> None:
    server = deflate_server()
    final_block = compress_raw(b"closed stream", zlib.Z_FINISH)
    wire = raw_frame(0x1, final_block, rsv=4) + raw_frame(0x1, compress_raw(b"next"), rsv=4)
    assert feed(server, wire) == [TextMessage("closed stream"), TextMessage("next")]


def test_uncompressed_message_on_a_deflate_connection() -> None:
    server = deflate_server()
    assert feed(server, raw_frame(0x1, b"plain")) == [TextMessage("plain")]


def test_corrupted_compressed_data_is_1007() -> None:
    expect_failure(deflate_server(), raw_frame(0x2, b"\xff\xff\xff\xff", rsv=4), 1007)


def test_compressed_invalid_utf8_is_1007() -> None:
    expect_failure(deflate_server(), raw_frame(0x1, compress_raw(b"ok \xff"), rsv=4), 1007)


@pytest.mark.parametrize("fragmented", [False, True])
def test_decompression_bomb_is_1009_with_bounded_memory(fragmented: bool) -> None:
    bomb = compress_raw(bytes(32 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    if fragmented:
        half = len(bomb) // 2
        wire = raw_frame(0x2, bomb[:half], rsv=4, fin=False) + raw_frame(0x0, bomb[half:])
    else:
        wire = raw_frame(0x2, bomb, rsv=4)
    server = deflate_server(max_message_size=1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(WebSocketError) as info:
            for start in range(0, len(wire), 4096):
                server.receive_data(wire[start : start + 4096])
                list(server.events())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.close_code == 1009
    # The limit is 1 MiB; never anything near the 32 MiB the bomb expands to.
    assert peak < 4 * 1024 * 1024


def test_compressed_message_at_exactly_the_limit_passes() -> None:
    data = os.urandom(1000) * 4
    server = deflate_server(max_message_size=len(data))
    wire = raw_frame(0x2, compress_raw(data), rsv=4)
    assert feed(server, wire, "uneven") == [BinaryMessage(data)]
    server = deflate_server(max_message_size=len(data) - 1)
    expect_failure(server, wire, 1009)


def test_close_on_a_compressed_connection() -> None:
    client, server = connect(DeflateOptions(), DeflateOptions())
    assert feed(server, client.send_close(1000, "bye")) == [Close(1000, "bye")]
    assert feed(client, server.data_to_send()) == [Close(1000, "")]
