"""The WebSocket codec: raw frames for every RFC 6455 rule, fed whole, byte by byte and
with trailing data; masking; round trips."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable

import pytest
from _wshelpers import (
    FEEDS,
    client,
    expect_failure,
    feed,
    parse_frames,
    raw_frame,
    server,
    server_frame,
)
from typhoon.errors import (
    WebSocketClosedError,
    WebSocketError,
    WebSocketOutputError,
)
from typhoon.wsproto import (
    BinaryMessage,
    Close,
    ConnectionState,
    DeflateParams,
    Ping,
    Pong,
    TextMessage,
    WebSocketCodec,
    apply_mask,
    is_valid_close_code,
)

# --- valid traffic, every feeding mode ---------------------------------------------------


@pytest.mark.parametrize("mode", FEEDS)
def test_messages_of_every_length_class(mode: str) -> None:
    binary = os.urandom(70000)
    data = (
        raw_frame(0x1, "héllo wörld".encode())
        + raw_frame(0x2, b"")
        + raw_frame(0x2, b"x" * 125)
        + raw_frame(0x2, b"y" * 126)
        + raw_frame(0x2, b"z" * 65535)
        + raw_frame(0x2, binary)
    )
    events = feed(server(), data, mode)
    assert events == [
        TextMessage("héllo wörld"),
        BinaryMessage(b""),
        BinaryMessage(b"x" * 125),
        BinaryMessage(b"y" * 126),
        BinaryMessage(b"z" * 65535),
        BinaryMessage(binary),
    ]


@pytest.mark.parametrize("mode", FEEDS)
def test_fragmented_message_with_interleaved_control_frames(mode: str) -> None:
    text = "naïve façade ☃ 𝄞"
    encoded = text.encode()
    # Split inside multi-byte characters: UTF-8 is validated across fragments.
    data = (
        raw_frame(0x1, encoded[:3], fin=False)
        + raw_frame(0x9, b"ping!")
        + raw_frame(0x0, encoded[3:14], fin=False)
        + raw_frame(0xA, b"pong!")
        + raw_frame(0x0, b"", fin=False)
        + raw_frame(0x0, encoded[14:])
    )
    codec = server()
    events = feed(codec, data, mode)
    assert events == [Ping(b"ping!"), Pong(b"pong!"), TextMessage(text)]
    assert parse_frames(codec.data_to_send()) == [(0x8A, 0xA, b"ping!")]


@pytest.mark.parametrize("mode", FEEDS)
def test_trailing_partial_frame_waits_for_the_rest(mode: str) -> None:
    first = raw_frame(0x1, b"one")
    second = raw_frame(0x2, b"two" * 50)
    codec = server()
    cut = len(second) // 2
    assert feed(codec, first + second[:cut], mode) == [TextMessage("one")]
    assert feed(codec, second[cut:], mode) == [BinaryMessage(b"two" * 50)]
    # Only the header of the next frame: still nothing.
    assert feed(codec, raw_frame(0x1, b"three")[:2], mode) == []


def test_client_reads_unmasked_frames() -> None:
    codec = client()
    data = server_frame(0x1, b"hi") + server_frame(0x2, b"\x00\x01", fin=False)
    data += server_frame(0x0, b"\x02")
    assert feed(codec, data, "bytewise") == [TextMessage("hi"), BinaryMessage(b"\x00\x01\x02")]


def test_deliver_fragments() -> None:
    codec = server(deliver_fragments=True)
    snowman = "☃".encode()
    data = (
        raw_frame(0x1, b"ab" + snowman[:1], fin=False)
        + raw_frame(0x0, snowman[1:], fin=False)
        + raw_frame(0x0, b"c")
        + raw_frame(0x2, b"\x01", fin=False)
        + raw_frame(0x0, b"\x02")
        + raw_frame(0x2, b"whole")
    )
    assert feed(codec, data) == [
        TextMessage("ab", final=False),
        TextMessage("☃", final=False),
        TextMessage("c", final=True),
        BinaryMessage(b"\x01", final=False),
        BinaryMessage(b"\x02", final=True),
        BinaryMessage(b"whole", final=True),
    ]


def test_ping_is_answered_automatically_with_a_masked_pong_by_a_client() -> None:
    codec = client()
    assert feed(codec, server_frame(0x9, b"abc")) == [Ping(b"abc")]
    out = codec.data_to_send()
    assert out[1] & 0x80  # masked
    assert parse_frames(out) == [(0x8A, 0xA, b"abc")]
    assert codec.data_to_send() == b""


def test_auto_pong_can_be_disabled() -> None:
    codec = server(auto_pong=False)
    assert feed(codec, raw_frame(0x9, b"x")) == [Ping(b"x")]
    assert codec.data_to_send() == b""


# --- RFC 6455 violations, one raw-frame test each ---------------------------------------


@pytest.mark.parametrize("mode", FEEDS)
def test_unmasked_client_frame_is_refused_by_the_server(mode: str) -> None:
    expect_failure(server(), raw_frame(0x1, b"hi", mask=None), 1002, mode)


@pytest.mark.parametrize("mode", FEEDS)
def test_masked_server_frame_is_refused_by_the_client(mode: str) -> None:
    codec = client()
    expect_failure(codec, raw_frame(0x1, b"hi"), 1002, mode)


@pytest.mark.parametrize("mode", FEEDS)
def test_invalid_utf8_text_is_1007(mode: str) -> None:
    expect_failure(server(), raw_frame(0x1, b"ok \xff"), 1007, mode)


@pytest.mark.parametrize(
    "bad",
    [
        b"\xc0\xaf",  # overlong
        b"\xed\xa0\x80",  # UTF-16 surrogate
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
        b"\xe2\x82",  # truncated at the end of the message
        b"\x80",  # lone continuation byte
    ],
)
def test_invalid_utf8_sequences(bad: bytes) -> None:
    expect_failure(server(), raw_frame(0x1, b"a" + bad), 1007)
    expect_failure(server(), raw_frame(0x1, b"a", fin=False) + raw_frame(0x0, bad), 1007)


@pytest.mark.parametrize("bad", [b"\xf4\x90", b"\xed\xa0", b"\xce\xba\xff", b"\xe0\x80"])
def test_invalid_utf8_fails_fast_before_the_message_ends(bad: bytes) -> None:
    # Section 8.1 / Autobahn 6.4: the error is reported as soon as the bytes that make
    # the text invalid arrive, not when the final fragment does.
    codec = server()
    data = raw_frame(0x1, "κόσμε".encode(), fin=False) + raw_frame(0x0, bad, fin=False)
    expect_failure(codec, data, 1007)
    # Also within a single frame whose end has not arrived yet.
    frame = raw_frame(0x1, b"abc" + bad + b"x" * 200)
    expect_failure(server(), frame[: 8 + 3 + len(bad)], 1007, "bytewise")


def test_invalid_utf8_close_reason_is_1007() -> None:
    expect_failure(server(), raw_frame(0x8, b"\x03\xe8" + b"\xff\xfe"), 1007)


@pytest.mark.parametrize("mode", FEEDS)
def test_fragmented_control_frames_are_1002(mode: str) -> None:
    for opcode in (0x8, 0x9, 0xA):
        expect_failure(server(), raw_frame(opcode, b"", fin=False), 1002, mode)


def test_oversized_control_frames_are_1002() -> None:
    for opcode in (0x8, 0x9, 0xA):
        payload = b"\x03\xe8" + b"r" * 124 if opcode == 0x8 else b"p" * 126
        frame = raw_frame(opcode, payload)
        # Refused from the first two bytes, before the payload is buffered.
        expect_failure(server(), frame[:2], 1002)


@pytest.mark.parametrize("rsv", [4, 2, 1, 6, 7])
def test_rsv_bits_without_extension_are_1002(rsv: int) -> None:
    expect_failure(server(), raw_frame(0x1, b"x", rsv=rsv), 1002)


@pytest.mark.parametrize("rsv", [2, 1])
def test_rsv2_rsv3_are_1002_even_with_deflate(rsv: int) -> None:
    expect_failure(server(deflate=DeflateParams()), raw_frame(0x1, b"x", rsv=rsv), 1002)


def test_rsv1_on_continuation_or_control_frames_is_1002() -> None:
    compressed = zlib.compressobj(wbits=-15)
    payload = compressed.compress(b"hello") + compressed.flush(zlib.Z_SYNC_FLUSH)
    data = raw_frame(0x1, payload[:3], rsv=4, fin=False) + raw_frame(0x0, payload[3:], rsv=4)
    expect_failure(server(deflate=DeflateParams()), data, 1002)
    expect_failure(server(deflate=DeflateParams()), raw_frame(0x9, b"", rsv=4), 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_1002(opcode: int) -> None:
    expect_failure(server(), raw_frame(opcode, b"x"), 1002)


def test_continuation_without_a_message_is_1002() -> None:
    expect_failure(server(), raw_frame(0x0, b"x"), 1002)
    # Also right after a complete message.
    expect_failure(server(), raw_frame(0x1, b"a") + raw_frame(0x0, b"b"), 1002)


@pytest.mark.parametrize("opcode", [0x1, 0x2])
def test_new_data_frame_inside_a_fragmented_message_is_1002(opcode: int) -> None:
    expect_failure(server(), raw_frame(0x1, b"a", fin=False) + raw_frame(opcode, b"b"), 1002)


@pytest.mark.parametrize(
    "length",
    [
        b"\x7e\x00\x05",  # 5 in the 16-bit form
        b"\x7f" + struct.pack("!Q", 300),  # 300 in the 64-bit form
        b"\x7f" + struct.pack("!Q", 1 << 63),  # most significant bit set
    ],
)
def test_bad_length_encodings_are_1002(length: bytes) -> None:
    expect_failure(server(max_message_size=None), raw_frame(0x2, b"", length=length), 1002)


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_message_over_max_size_is_1009_from_the_header(mode: str) -> None:
    header_only = raw_frame(0x2, b"\x00" * 1001)[:8]
    expect_failure(server(max_message_size=1000), header_only, 1009, mode)
    assert feed(server(max_message_size=1000), raw_frame(0x2, b"\x00" * 1000)) == [
        BinaryMessage(b"\x00" * 1000)
    ]


def test_fragmented_message_over_max_size_is_1009_at_the_crossing_fragment() -> None:
    codec = server(max_message_size=100)
    data = raw_frame(0x1, b"a" * 60, fin=False) + raw_frame(0x0, b"b" * 41)[:4]
    expect_failure(codec, data, 1009)


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_valid_close_codes_are_echoed(code: int) -> None:
    codec = server()
    events = feed(codec, raw_frame(0x8, code.to_bytes(2, "big") + b"bye"), "bytewise")
    assert events == [Close(code, "bye")]
    assert (codec.close_code, codec.close_reason) == (code, "bye")
    assert parse_frames(codec.data_to_send()) == [(0x88, 0x8, code.to_bytes(2, "big"))]
    assert codec.state is ConnectionState.CLOSED


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes_are_1002(code: int) -> None:
    assert not is_valid_close_code(code)
    expect_failure(server(), raw_frame(0x8, code.to_bytes(2, "big")), 1002)


def test_one_byte_close_payload_is_1002() -> None:
    expect_failure(server(), raw_frame(0x8, b"\x03"), 1002)


def test_empty_close_reports_1005_and_is_echoed_empty() -> None:
    codec = server()
    assert feed(codec, raw_frame(0x8)) == [Close(1005, "")]
    assert parse_frames(codec.data_to_send()) == [(0x88, 0x8, b"")]


def test_after_a_close_no_data_is_accepted_either_way() -> None:
    codec = server()
    data = raw_frame(0x8, b"\x03\xe8") + raw_frame(0x1, b"after") + b"\xff\xff garbage"
    assert feed(codec, data) == [Close(1000, "")]
    assert feed(codec, raw_frame(0x1, b"more")) == []
    assert codec.data_to_send() != b""
    for send in (
        lambda: codec.send_message("x"),
        lambda: codec.send_ping(),
        lambda: codec.send_pong(),
        lambda: codec.send_close(),
    ):
        with pytest.raises(WebSocketClosedError):
            send()


def test_closing_handshake_started_locally() -> None:
    codec = server()
    frame = codec.send_close(1001, "going")
    assert parse_frames(frame) == [(0x88, 0x8, b"\x03\xe9going")]
    assert codec.state is ConnectionState.CLOSING
    with pytest.raises(WebSocketClosedError):
        codec.send_message("too late")
    # Messages still arrive while we wait; a ping is not answered any more.
    assert feed(codec, raw_frame(0x1, b"late") + raw_frame(0x9, b"p")) == [
        TextMessage("late"),
        Ping(b"p"),
    ]
    assert feed(codec, raw_frame(0x8, b"\x03\xe9")) == [Close(1001, "")]
    assert codec.state is ConnectionState.CLOSED
    assert codec.data_to_send() == b""


def test_failure_after_a_local_close_sends_no_second_close() -> None:
    codec = server()
    codec.send_close()
    with pytest.raises(WebSocketError):
        feed(codec, raw_frame(0x1, b"x", mask=None))
    assert codec.data_to_send() == b""


@pytest.mark.parametrize("partial", [b"", raw_frame(0x2, b"abcdef")[:5]])
def test_end_of_input_without_close_reports_1006(partial: bytes) -> None:
    codec = server()
    codec.receive_data(raw_frame(0x1, b"ok") + partial)
    codec.receive_data(b"")
    assert list(codec.events()) == [TextMessage("ok"), Close(1006, "")]
    assert codec.state is ConnectionState.CLOSED
    assert codec.close_code is None
    assert codec.data_to_send() == b""


# --- sending ----------------------------------------------------------------------------


def test_close_reason_over_123_bytes_is_refused_on_send() -> None:
    codec = server()
    with pytest.raises(WebSocketOutputError):
        codec.send_close(1000, "é" * 62)  # 124 bytes
    assert codec.state is ConnectionState.OPEN
    assert parse_frames(codec.send_close(1000, "r" * 123))[0][2] == b"\x03\xe8" + b"r" * 123


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 2000, 5000])
def test_reserved_close_codes_are_refused_on_send(code: int) -> None:
    with pytest.raises(WebSocketOutputError):
        server().send_close(code)


def test_close_without_code() -> None:
    assert parse_frames(server().send_close(None)) == [(0x88, 0x8, b"")]
    with pytest.raises(WebSocketOutputError):
        server().send_close(None, "reason without code")


def test_control_payload_over_125_bytes_is_refused_on_send() -> None:
    codec = server()
    with pytest.raises(WebSocketOutputError):
        codec.send_ping(b"x" * 126)
    with pytest.raises(WebSocketOutputError):
        codec.send_pong("é" * 63)
    assert parse_frames(codec.send_ping("p" * 125)) == [(0x89, 0x9, b"p" * 125)]


def test_send_message_types() -> None:
    codec = server()
    assert parse_frames(codec.send_message("é")) == [(0x81, 0x1, "é".encode())]
    assert parse_frames(codec.send_message(b"\x00")) == [(0x82, 0x2, b"\x00")]
    assert parse_frames(codec.send_message("s", binary=True)) == [(0x82, 0x2, b"s")]
    assert parse_frames(codec.send_message(b"t", binary=False)) == [(0x81, 0x1, b"t")]
    with pytest.raises(WebSocketOutputError):
        codec.send_message(b"\xff", binary=False)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_sent_lengths_use_the_minimal_encoding(size: int, header: bytes) -> None:
    frame = server().send_message(b"\x00" * size)
    assert frame[: len(header)] == header
    assert len(frame) == len(header) + size


def test_fragmented_send() -> None:
    sender = client()
    data = sender.send_message("ab", final=False)
    data += sender.send_ping(b"mid")
    with pytest.raises(WebSocketOutputError):
        sender.send_message(b"binary in a text message", final=False)
    data += sender.send_message("cd", final=False)
    data += sender.send_message("ef")
    firsts = [first for first, _, _ in parse_frames(data)]
    assert firsts == [0x01, 0x89, 0x00, 0x80]
    assert feed(server(), data) == [Ping(b"mid"), TextMessage("abcdef")]


def test_fragmented_text_bytes_may_split_characters() -> None:
    sender = client()
    snowman = "☃".encode()
    data = sender.send_message(snowman[:1], binary=False, final=False)
    data += sender.send_message(snowman[1:], binary=False)
    assert feed(server(), data) == [TextMessage("☃")]
    with pytest.raises(WebSocketOutputError):
        sender.send_message(b"\xe2\x98", binary=False)


def test_client_frames_are_masked_with_fresh_keys() -> None:
    sender = client()
    first = sender.send_message(b"same payload")
    second = sender.send_message(b"same payload")
    assert first[1] & 0x80
    assert second[1] & 0x80
    assert first[2:6] != second[2:6]
    assert first[6:] != b"same payload"


@pytest.mark.parametrize("mode", FEEDS)
def test_round_trip_both_directions(mode: str) -> None:
    a, b = client(), server()
    big = os.urandom(200_000)
    wire = a.send_message("text ☃") + a.send_message(big) + a.send_ping(b"?")
    assert feed(b, wire, "whole" if mode == "bytewise" else mode) == [
        TextMessage("text ☃"),
        BinaryMessage(big),
        Ping(b"?"),
    ]
    back = b.data_to_send() + b.send_message("reply") + b.send_close(1000, "done")
    assert feed(a, back, mode) == [Pong(b"?"), TextMessage("reply"), Close(1000, "done")]
    assert feed(b, a.data_to_send(), mode) == [Close(1000, "")]
    assert a.state is b.state is ConnectionState.CLOSED


# --- masking ----------------------------------------------------------------------------


def naive_mask(data: bytes, key: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 1000, 16383, 16384, 16385, 50001])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 6])
def test_apply_mask_matches_the_definition(size: int, offset: int) -> None:
    data = os.urandom(size)
    key = os.urandom(4)
    masked = apply_mask(data, key, offset)
    assert masked == naive_mask(data, key, offset)
    assert apply_mask(masked, key, offset) == data
    assert apply_mask(bytearray(data), key, offset) == masked
    assert apply_mask(memoryview(data), key, offset) == masked


def test_apply_mask_pieces_equal_the_whole() -> None:
    data = os.urandom(40000)
    key = os.urandom(4)
    pieces = b"".join(
        apply_mask(data[start : start + 7001], key, start) for start in range(0, 40000, 7001)
    )
    assert pieces == apply_mask(data, key)


# --- reading bytes that arrive in odd shapes ---------------------------------------------


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_receive_data_accepts_any_buffer(kind: Callable[[bytes], object]) -> None:
    codec = server()
    data = raw_frame(0x1, b"abc") + raw_frame(0x2, b"def")
    codec.receive_data(kind(data[:5]))  # type: ignore[arg-type]
    codec.receive_data(kind(data[5:]))  # type: ignore[arg-type]
    assert list(codec.events()) == [TextMessage("abc"), BinaryMessage(b"def")]


# --- the small-message paths (receive_single, next_item, send_message) --------------------


@pytest.mark.parametrize("size", range(126))
def test_small_frames_of_every_length_unmask_exactly(size: int) -> None:
    payload = os.urandom(size)
    key = os.urandom(4)
    frame = raw_frame(0x2, payload, mask=key)
    codec = server()
    assert codec.receive_single(frame) == payload
    codec.receive_data(frame + frame)
    assert codec.next_item() == payload
    assert codec.next_item() == payload
    assert codec.next_item() is None
    text = ("é" * size)[: size // 2]
    assert server().receive_single(raw_frame(0x1, text.encode(), mask=key)) == text


def test_next_item_returns_message_data_and_control_events() -> None:
    codec = server()
    codec.receive_data(
        raw_frame(0x1, b"one")
        + raw_frame(0x9, b"p")
        + raw_frame(0x2, b"x" * 200)
        + raw_frame(0x1, b"fr", fin=False)
        + raw_frame(0x0, b"ag")
        + raw_frame(0x8, struct.pack("!H", 1000))
    )
    assert [codec.next_item() for _ in range(6)] == [
        "one",
        Ping(b"p"),
        b"x" * 200,
        "frag",
        Close(1000, ""),
        None,
    ]


def test_next_item_gives_fragments_as_events_when_asked() -> None:
    codec = server(deliver_fragments=True)
    codec.receive_data(raw_frame(0x2, b"ab", fin=False) + raw_frame(0x0, b"cd"))
    assert codec.next_item() == BinaryMessage(b"ab", final=False)
    assert codec.next_item() == BinaryMessage(b"cd", final=True)


@pytest.mark.parametrize(
    "data",
    [
        raw_frame(0x1, b"two") + raw_frame(0x1, b"frames"),
        raw_frame(0x1, b"partial")[:-1],
        raw_frame(0x2, b"x" * 126),
        raw_frame(0x1, b"not final", fin=False),
        raw_frame(0x9, b"ping"),
        raw_frame(0x1, b"rsv2", rsv=2),
        raw_frame(0x1, b"\xff", length=b"\x7e\x00\x01"),
        b"\x81",
        b"",
    ],
)
def test_receive_single_leaves_anything_else_to_the_general_path(data: bytes) -> None:
    def outcome(codec: WebSocketCodec) -> object:
        try:
            return feed(codec, data)
        except WebSocketError as exc:
            return exc.close_code

    codec = server()
    assert codec.receive_single(data) is None
    assert codec.data_to_send() == b""
    # Nothing was consumed: the same bytes give what they give a fresh codec.
    assert outcome(codec) == outcome(server())


def test_receive_single_refuses_an_unmasked_client_frame_to_the_general_path() -> None:
    codec = server()
    data = server_frame(0x1, b"unmasked")
    assert codec.receive_single(data) is None
    expect_failure(codec, data, 1002)


def test_receive_single_waits_behind_buffered_bytes_and_open_messages() -> None:
    codec = server()
    frame = raw_frame(0x1, b"abc")
    codec.receive_data(frame[:3])
    assert codec.receive_single(frame) is None
    codec.receive_data(frame[3:])
    assert list(codec.events()) == [TextMessage("abc")]
    codec.receive_data(raw_frame(0x1, b"ab", fin=False))
    assert list(codec.events()) == []
    assert codec.receive_single(raw_frame(0x1, b"new")) is None
    expect_failure(codec, raw_frame(0x1, b"new"), 1002)


def test_receive_single_invalid_utf8_is_1007_with_the_close_queued() -> None:
    codec = server()
    with pytest.raises(WebSocketError) as info:
        codec.receive_single(raw_frame(0x1, b"\xc3\x28"))
    assert info.value.close_code == 1007
    assert codec.state is ConnectionState.CLOSED
    [(first, _opcode, payload)] = parse_frames(codec.data_to_send())
    assert first == 0x88
    assert payload[:2] == struct.pack("!H", 1007)


def test_receive_single_respects_a_small_max_message_size() -> None:
    codec = server(max_message_size=10)
    assert codec.receive_single(raw_frame(0x2, b"x" * 10)) == b"x" * 10
    data = raw_frame(0x2, b"x" * 11)
    assert codec.receive_single(data) is None
    expect_failure(codec, data, 1009)


def test_receive_single_after_close_and_on_the_client_side() -> None:
    codec = server()
    codec.receive_data(raw_frame(0x8, struct.pack("!H", 1000)))
    assert list(codec.events()) == [Close(1000, "")]
    assert codec.receive_single(raw_frame(0x1, b"late")) is None
    assert client().receive_single(server_frame(0x1, b"hi")) == "hi"
    assert client().receive_single(raw_frame(0x1, b"masked")) is None


@pytest.mark.parametrize("size", [0, 1, 4, 125, 126, 70000])
def test_server_send_fast_path_matches_the_general_encoding(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    text = "a" * size
    codec = server()
    assert parse_frames(codec.send_message(payload, binary=True)) == [(0x82, 0x2, payload)]
    assert parse_frames(codec.send_message(text)) == [(0x81, 0x1, text.encode())]
    codec.send_close()
    with pytest.raises(WebSocketClosedError):
        codec.send_message(text)
