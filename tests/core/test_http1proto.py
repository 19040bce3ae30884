"""Tests for typhoon.http1proto: the sans-IO HTTP/1.1 protocol, both roles.

Every parsing test feeds its input whole, one byte at a time, and in 7-byte pieces
(the ``split`` fixture), and the results must agree; pipelined tests also check that
trailing bytes are neither lost nor parsed ahead of their turn.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from http import HTTPStatus

import h11
import pytest
from typhoon.errors import HTTPInputError, HTTPOutputError
from typhoon.http1proto import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    HTTP1ClientProtocol,
    HTTP1ServerProtocol,
    InformationalResponse,
    Request,
    Response,
    State,
)
from typhoon.httputil import HTTPHeaders, RequestStartLine, ResponseStartLine

SPLITS = ("whole", "bytes", "sevens")


@pytest.fixture(params=SPLITS)
def split(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pieces(data: bytes, split: str) -> Iterator[bytes]:
    if split == "whole":
        if data:
            yield data
    elif split == "bytes":
        for i in range(len(data)):
            yield data[i : i + 1]
    else:
        for i in range(0, len(data), 7):
            yield data[i : i + 7]


def summarize(events: list[object]) -> list[object]:
    """Merge consecutive Data events so differently split inputs compare equal."""
    out: list[object] = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def serve(
    data: bytes,
    split: str = "whole",
    *,
    eof: bool = False,
    respond: bool = True,
    proto: HTTP1ServerProtocol | None = None,
) -> tuple[list[object], HTTP1ServerProtocol]:
    """Feed ``data`` to a server protocol, answering each request with 200 "ok".

    Returns the merged events (a raised HTTPInputError is appended as the last one).
    """
    proto = proto or HTTP1ServerProtocol()
    events: list[object] = []
    chunks = list(pieces(data, split))
    if eof:
        chunks.append(b"")
    index = 0
    try:
        while True:
            event = proto.next_event()
            if event is NEED_DATA:
                if index == len(chunks):
                    break
                proto.receive_data(chunks[index])
                index += 1
                continue
            if event is PAUSED:
                if respond and proto.their_state is State.DONE and proto.our_state is State.IDLE:
                    proto.send_response(200, [("Content-Type", "text/plain")], body=b"ok", end=True)
                    continue
                if index < len(chunks):
                    proto.receive_data(chunks[index])
                    index += 1
                    continue
                break
            events.append(event)
            if isinstance(event, ConnectionClosed):
                break
    except HTTPInputError as exc:
        events.append(exc)
    return summarize(events), proto


def error_of(data: bytes, split: str = "whole", **kwargs: object) -> HTTPInputError:
    events, _ = serve(data, split, eof=True, **kwargs)  # type: ignore[arg-type]
    assert events, "no event and no error"
    last = events[-1]
    assert isinstance(last, HTTPInputError), f"expected an error, got {events!r}"
    return last


def requests_of(events: list[object]) -> list[Request]:
    return [e for e in events if isinstance(e, Request)]


GET = b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"


# --- server: the basics -------------------------------------------------------------------


def test_simple_get(split: str) -> None:
    events, proto = serve(GET, split)
    assert len(events) == 2
    request, end = events
    assert isinstance(request, Request)
    assert (request.method, request.target, request.version) == ("GET", "/a?b=1", "HTTP/1.1")
    assert request.headers["host"] == "example.com"
    assert request.headers["User-Agent"] == "t"
    assert list(request.headers) == ["Host", "User-Agent"]
    assert request.keep_alive
    assert not request.expect_continue
    assert not request.upgrade
    assert request.start_line == RequestStartLine("GET", "/a?b=1", "HTTP/1.1")
    assert end == EndOfMessage()
    assert proto.their_state is State.IDLE
    assert proto.our_state is State.IDLE
    assert proto.keep_alive


def test_response_bytes_and_cycle() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    assert isinstance(proto.next_event(), Request)
    assert isinstance(proto.next_event(), EndOfMessage)
    assert proto.next_event() is PAUSED
    headers = HTTPHeaders()
    headers["Content-Type"] = "text/plain"
    out = proto.send_response(200, headers, body=b"hello", end=True)
    assert out == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    assert list(headers) == ["Content-Type"]  # never modified
    assert proto.their_state is State.IDLE
    assert proto.next_event() is NEED_DATA


@pytest.mark.parametrize(
    "declared",
    ["5", "05", "0000000000000000005", "000000000000000000000000000005"],
)
def test_a_declared_length_is_read_as_its_number_whatever_its_zeros(declared: str) -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    proto.next_event()
    proto.next_event()
    headers = HTTPHeaders({"Content-Length": declared})
    out = proto.send_response(200, headers, body=b"hello", end=True)
    assert out.endswith(b"\r\n\r\nhello")
    assert proto.their_state is State.IDLE


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ("6", "less than Content-Length"),
        ("4", "more data than Content-Length"),
        ("99999999999999999999999", "less than Content-Length"),
    ],
)
def test_a_body_that_disagrees_with_its_declared_length_is_refused(
    declared: str, problem: str
) -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    proto.next_event()
    proto.next_event()
    with pytest.raises(HTTPOutputError, match=problem):
        proto.send_response(200, HTTPHeaders({"Content-Length": declared}), body=b"hello", end=True)


def test_idle_connection_holds_no_request_bytes() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    proto.next_event()
    proto.next_event()
    proto.send_response(200, end=True)
    assert proto._buf == b""
    proto.receive_data(GET[:10])
    proto.receive_data(GET[10:])
    proto.next_event()
    proto.next_event()
    proto.send_response(200)
    proto.send_end()
    assert proto._buf == b""
    assert proto.trailing_data == (b"", False)


def test_pipelined_requests_in_order_and_none_lost(split: str) -> None:
    data = (
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
        b"GET /4 HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    events, _ = serve(data, split)
    assert [r.target for r in requests_of(events)] == ["/1", "/2", "/3", "/4"]
    assert [e.data for e in events if isinstance(e, Data)] == [b"hello", b"abc"]
    assert sum(isinstance(e, EndOfMessage) for e in events) == 4


def test_pipelined_requests_wait_for_the_response() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET + GET + GET)
    assert isinstance(proto.next_event(), Request)
    assert isinstance(proto.next_event(), EndOfMessage)
    for _ in range(3):
        assert proto.next_event() is PAUSED
    streamed = proto.send_response(200, [("X", "1")])
    assert b"Transfer-Encoding: chunked" in streamed
    assert proto.next_event() is PAUSED
    assert proto.send_data(b"abc") == b"3\r\nabc\r\n"
    assert proto.send_end() == b"0\r\n\r\n"
    assert isinstance(proto.next_event(), Request)
    remaining, eof = proto.trailing_data
    assert remaining == GET
    assert not eof


def test_empty_lines_before_a_request_are_ignored(split: str) -> None:
    events, _ = serve(b"\r\n\r\n" + GET, split)
    assert [r.target for r in requests_of(events)] == ["/a?b=1"]


def test_header_values_are_trimmed_and_repeats_kept(split: str) -> None:
    data = (
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A:  one \t\r\nx-a: two\r\nX-Empty:\r\n"
        b"Accept: a\r\nACCEPT: b\r\n\r\n"
    )
    events, _ = serve(data, split)
    headers = requests_of(events)[0].headers
    assert headers.get_list("X-A") == ["one", "two"]
    assert headers["x-a"] == "one,two"
    assert headers["X-Empty"] == ""
    assert headers.get_list("accept") == ["a", "b"]


def test_obs_text_in_values_is_latin1(split: str) -> None:
    events, _ = serve(b"GET / HTTP/1.1\r\nHost: h\r\nX-T: caf\xe9\r\n\r\n", split)
    assert requests_of(events)[0].headers["X-T"] == "caf\xe9"


def test_content_length_body(split: str) -> None:
    data = b"PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
    events, _ = serve(data, split)
    assert events[1:] == [Data(b"hello world"), EndOfMessage()]


def test_data_events_never_exceed_chunk_size() -> None:
    body = b"x" * 1000
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + body
    proto = HTTP1ServerProtocol(chunk_size=64)
    proto.receive_data(data)
    sizes = []
    while True:
        event = proto.next_event()
        if isinstance(event, Data):
            sizes.append(len(event.data))
        if isinstance(event, EndOfMessage):
            break
    assert max(sizes) <= 64
    assert sum(sizes) == 1000
    chunked = HTTP1ServerProtocol(chunk_size=64)
    chunked.receive_data(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"
        + body
        + b"\r\n0\r\n\r\n"
    )
    sizes = []
    while not isinstance(event := chunked.next_event(), EndOfMessage):
        if isinstance(event, Data):
            sizes.append(len(event.data))
    assert max(sizes) <= 64
    assert sum(sizes) == 1000


def test_chunked_body_with_extensions_and_trailers(split: str) -> None:
    data = (
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value;flag\r\nhello\r\n"
        b'6;q="quoted"\r\n world\r\n'
        b"0;last\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n"
    )
    events, _ = serve(data, split)
    assert events[1] == Data(b"hello world")
    end = events[2]
    assert isinstance(end, EndOfMessage)
    assert end.trailers is not None
    assert dict(end.trailers) == {"X-Checksum": "abc", "X-More": "1"}


def _mixed_stream() -> bytes:
    big = bytes(range(256)) * 24  # 6 KiB, above the line-feeding threshold
    return (
        b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(big)
        + big
        + b"\r\n0\r\nX-T: 1\r\n\r\n"
        + b"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(big)
        + big
        + b"\r\n0\r\n\r\n"
        + b"PUT /c HTTP/1.1\r\nHost: h\r\nContent-Length: 6144\r\n\r\n"
        + big
        + b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n"
    )


def _serve_pieces(chunks: list[bytes]) -> list[object]:
    proto = HTTP1ServerProtocol()
    events: list[object] = []
    for chunk in chunks:
        proto.receive_data(chunk)
        while True:
            event = proto.next_event()
            if event is NEED_DATA:
                break
            if event is PAUSED:
                proto.send_response(200, end=True)
                continue
            events.append(event)
    return summarize(events)


def test_pipelined_chunked_bodies_under_any_split() -> None:
    stream = _mixed_stream()
    expected = _serve_pieces([stream])
    assert [r.target for r in requests_of(expected)] == ["/a", "/b", "/c", "/d"]
    assert len(expected) == 11
    # Every two-piece cut around the ends of the chunked bodies, where a CRLFCRLF
    # can straddle two reads.
    for end in (stream.index(b"POST /b"), stream.index(b"PUT /c")):
        for cut in range(end - 12, end + 3):
            assert _serve_pieces([stream[:cut], stream[cut:]]) == expected, cut
    # And random splits (seeded, bounded).
    rng = random.Random(1234)
    for _ in range(60):
        cuts = sorted(rng.sample(range(1, len(stream)), 25))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert _serve_pieces(chunks) == expected


def test_chunk_data_is_delivered_without_waiting_for_the_next_chunk() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    proto.next_event()
    proto.receive_data(b"5\r\nhello\r\n")
    assert proto.next_event() == Data(b"hello")
    proto.receive_data(b"6\r\n")
    assert proto.next_event() is NEED_DATA
    proto.receive_data(b" world\r\n")
    assert proto.next_event() == Data(b" world")
    proto.receive_data(b"0\r\n\r\n")
    assert proto.next_event() == EndOfMessage()


def test_chunked_body_whose_data_contains_crlfcrlf(split: str) -> None:
    payload = b"a\r\n\r\nb\r\n\r\n0\r\n\r\n"
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(payload)
        + payload
        + b"\r\n0\r\n\r\n"
        + GET
    )
    events, _ = serve(data, split)
    assert [e.data for e in events if isinstance(e, Data)] == [payload]
    assert [r.target for r in requests_of(events)] == ["/", "/a?b=1"]


def test_transfer_encoding_is_case_insensitive(split: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n\r\n1\r\nx\r\n0\r\n\r\n"
    events, _ = serve(data, split)
    assert events[1] == Data(b"x")


def test_connection_close_request(split: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" + GET
    proto = HTTP1ServerProtocol()
    events, proto = serve(data, split, respond=False, proto=proto)
    request = requests_of(events)[0]
    assert not request.keep_alive
    assert not proto.keep_alive
    out = proto.send_response(200, body=b"x", end=True)
    assert out.endswith(b"Connection: close\r\n\r\nx")
    assert proto.our_state is State.MUST_CLOSE
    assert proto.next_event() is PAUSED  # the pipelined request is never parsed


def test_connection_tokens_are_a_list(split: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n"
    events, _ = serve(data, split)
    assert not requests_of(events)[0].keep_alive


def test_http10_closes_by_default(split: str) -> None:
    events, proto = serve(b"GET / HTTP/1.0\r\n\r\n", split, respond=False)
    request = requests_of(events)[0]
    assert request.version == "HTTP/1.0"
    assert not request.keep_alive
    out = proto.send_response(200, body=b"hi", end=True)
    assert b"Connection: close\r\n" in out
    assert b"Content-Length: 2\r\n" in out
    assert not proto.keep_alive


def test_http10_keep_alive(split: str) -> None:
    data = b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n"
    proto = HTTP1ServerProtocol()
    events, proto = serve(data, split, respond=False, proto=proto)
    assert requests_of(events)[0].keep_alive
    out = proto.send_response(200, body=b"hi", end=True)
    assert b"Connection: keep-alive\r\n" in out
    assert b"Content-Length: 2\r\n" in out
    request = proto.next_event()
    assert isinstance(request, Request)
    assert request.target == "/2"


def test_http10_streamed_response_is_close_delimited() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    proto.next_event()
    proto.next_event()
    head = proto.send_response(200, [("Content-Type", "text/plain")])
    assert b"Transfer-Encoding" not in head
    assert b"Connection: close\r\n" in head
    assert proto.send_data(b"abc") == b"abc"
    assert proto.send_end() == b""
    assert proto.our_state is State.MUST_CLOSE
    assert not proto.keep_alive


def test_no_keep_alive_option() -> None:
    events, proto = serve(GET + GET, proto=HTTP1ServerProtocol(no_keep_alive=True), respond=False)
    assert requests_of(events)[0].keep_alive  # what the client asked for
    out = proto.send_response(204, end=True)
    assert b"Connection: close" in out
    assert proto.our_state is State.MUST_CLOSE


# --- server: Host, request target, version, method ----------------------------------------


@pytest.mark.parametrize(
    ("target", "method"),
    [
        (b"http://example.com:8080/x?y", b"GET"),
        (b"*", b"OPTIONS"),
        (b"example.com:443", b"CONNECT"),
        (b"/%7Euser/a%20b", b"GET"),
    ],
)
def test_request_target_forms(target: bytes, method: bytes, split: str) -> None:
    data = method + b" " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n"
    events, _ = serve(data, split, respond=False)
    request = requests_of(events)[0]
    assert request.target == target.decode()
    assert request.method == method.decode()


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # no Host in HTTP/1.1
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
    ],
)
def test_host_rules(data: bytes, split: str) -> None:
    assert error_of(data, split).status_code == 400


@pytest.mark.parametrize(
    "host", [b"", b"example.com", b"a.b:80", b"[::1]:8080", b"127.0.0.1", b"xn--bcher-kva.example"]
)
def test_valid_hosts(host: bytes) -> None:
    events, _ = serve(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert requests_of(events)[0].headers["Host"] == host.decode()


def test_http10_without_host_is_fine() -> None:
    events, _ = serve(b"GET / HTTP/1.0\r\n\r\n")
    assert requests_of(events)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),  # HTTP/0.9
        (b"GET / http/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        (b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"M\xe9THOD / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"BR@W / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\r\n\r\n", 400),
    ],
)
def test_bad_request_lines(data: bytes, status: int, split: str) -> None:
    assert error_of(data, split).status_code == status


@pytest.mark.parametrize("method", [b"BREW", b"get", b"X-CUSTOM", b"M" * 64])
def test_any_token_is_a_method(method: bytes, split: str) -> None:
    # RFC 9110, section 9.1: the application decides what an unknown method gets.
    data = (
        method
        + b" /pot?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ntea"
        + method
        + b" /again HTTP/1.1\r\nHost: h\r\n\r\n"
        + b"GET /known HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    events, _ = serve(data, split)
    requests = requests_of(events)
    assert [(r.method, r.target) for r in requests] == [
        (method.decode(), "/pot?x=1"),
        (method.decode(), "/again"),
        ("GET", "/known"),
    ]
    assert Data(b"tea") in events
    assert not [e for e in events if isinstance(e, HTTPInputError)]


def test_unknown_method_keeps_the_head_checks(split: str) -> None:
    # The stand-in parse still refuses what the head itself gets wrong.
    assert error_of(b"BREW / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", split).status_code == 400
    assert error_of(b"BREW / HTTP/1.1\r\n\r\n", split).status_code == 400  # no Host
    assert (
        error_of(
            b"BREW / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            split,
        ).status_code
        == 400
    )


def test_overlong_unknown_method_is_refused(split: str) -> None:
    assert error_of(b"M" * 65 + b" / HTTP/1.1\r\nHost: h\r\n\r\n", split).status_code in (400, 501)


def test_garbage_is_refused_before_the_head_ends() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(b"NOT HTTP AT ALL\r\nstill going")
    with pytest.raises(HTTPInputError) as info:
        proto.next_event()
    assert info.value.status_code in (400, 501)
    with pytest.raises(HTTPInputError):
        proto.next_event()  # raised again
    assert proto.their_state is State.ERROR


# --- server: request smuggling defences (FEATURES.md section 5, class 1) ------------------

SMUGGLING = {
    "te_identity": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\nabc",
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    "duplicate_cl_same": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "duplicate_cl_differ": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "duplicate_cl_case": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
    "cl_list": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
    "cl_plus": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc",
    "cl_minus": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\nabc",
    "cl_hex": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc",
    "cl_underscore": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1_0\r\n\r\nabc",
    "cl_inner_space": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 0\r\n\r\nabc",
    "cl_empty": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\nabc",
    "cl_overflow": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "cl_unicode_digit": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xb2\r\n\r\nab",
    "te_chunked_twice": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "te_two_lines": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_chunked_not_last": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te_trailing_comma": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n",
    "te_in_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_vertical_tab": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
    "te_space_before_colon": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te_obs_fold": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "bare_lf_head": b"GET / HTTP/1.1\nHost: h\n\n",
    "bare_lf_field": b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",
    "bare_cr_field": b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
    "bare_cr_value": b"GET / HTTP/1.1\r\nHost: h\r\nX: y\rz\r\n\r\n",
    "cr_lf_lf": b"GET / HTTP/1.1\r\nHost: h\r\n\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
    "nul_in_name": b"GET / HTTP/1.1\r\nHost: h\r\nX\x00: a\r\n\r\n",
    "ctl_in_value": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n",
    "del_in_value": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "tab_before_colon": b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n",
    "space_in_name": b"GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n",
    "empty_name": b"GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n",
    "no_colon": b"GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    "obs_fold_tab": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
    "leading_space_first_field": b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
    "chunk_size_plus": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
    "chunk_size_0x": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
    "chunk_size_space": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
    "chunk_size_underscore": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\nabc\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n",
    "chunk_missing_crlf": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
    "chunk_bare_lf": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
    "chunk_bare_cr": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n",
    "trailer_obs_fold": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
    "trailer_nul": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\x00\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_attempts_are_refused(name: str, split: str) -> None:
    error = error_of(SMUGGLING[name], split)
    assert error.status_code == 400, error


@pytest.mark.parametrize(
    "te",
    [
        b"gzip",
        b"gzip, chunked",
        b"deflate, chunked",
        b"compress, chunked",
        b"chunkedx",
    ],
)
def test_unknown_transfer_codings_are_not_implemented(te: bytes, split: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + te + b"\r\n\r\n0\r\n\r\n"
    assert error_of(data, split).status_code == 501


def test_smuggled_request_after_refusal_is_never_parsed() -> None:
    smuggled = b"GET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n" + smuggled
    )
    events, proto = serve(data)
    assert not requests_of(events)
    with pytest.raises(HTTPInputError):
        proto.next_event()


def test_error_response_after_a_protocol_error() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(SMUGGLING["cl_and_te"])
    with pytest.raises(HTTPInputError) as info:
        proto.next_event()
    out = proto.send_response(info.value.status_code, body=b"bad", end=True)
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close\r\n" in out
    assert out.endswith(b"Content-Length: 3\r\nConnection: close\r\n\r\nbad")
    assert proto.our_state is State.MUST_CLOSE
    assert not proto.keep_alive


# --- server: limits ------------------------------------------------------------------------


def test_request_line_too_long(split: str) -> None:
    data = b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    proto = HTTP1ServerProtocol(max_header_size=1024, max_start_line_size=100)
    assert error_of(data, split, proto=proto).status_code == 414
    # A line that never ends is refused once it passes the limit.
    proto = HTTP1ServerProtocol(max_header_size=1024, max_start_line_size=100)
    proto.receive_data(b"GET /" + b"a" * 150)
    with pytest.raises(HTTPInputError) as info:
        proto.next_event()
    assert info.value.status_code == 414


def test_request_line_over_the_header_limit_is_414() -> None:
    proto = HTTP1ServerProtocol(max_header_size=100)
    proto.receive_data(b"GET /" + b"a" * 200)
    with pytest.raises(HTTPInputError) as info:
        proto.next_event()
    assert info.value.status_code == 414


def test_header_block_too_large(split: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 300 + b"\r\n\r\n"
    assert error_of(data, split, proto=HTTP1ServerProtocol(max_header_size=256)).status_code == 431
    proto = HTTP1ServerProtocol(max_header_size=256)
    proto.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 60)
    with pytest.raises(HTTPInputError) as info:
        proto.next_event()
    assert info.value.status_code == 431


def test_header_block_at_the_limit_is_accepted(split: str) -> None:
    base = b"GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n"
    data = base.replace(b"X: ", b"X: " + b"v" * (256 - len(base)))
    assert len(data) == 256
    events, _ = serve(data, split, proto=HTTP1ServerProtocol(max_header_size=256))
    assert requests_of(events)
    too_big = data.replace(b"X: ", b"X: v")
    assert (
        error_of(too_big, split, proto=HTTP1ServerProtocol(max_header_size=256)).status_code == 431
    )


def test_declared_body_too_large_is_refused_before_reading() -> None:
    proto = HTTP1ServerProtocol(max_body_size=10)
    proto.receive_data(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
    )
    request = proto.next_event()
    assert isinstance(request, Request)
    assert request.expect_continue
    assert proto.client_waiting_for_continue
    with pytest.raises(HTTPInputError) as info:
        proto.next_event()
    assert info.value.status_code == 413
    out = proto.send_response(413, end=True)
    assert out.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in out


def test_set_max_body_size_after_the_head() -> None:
    proto = HTTP1ServerProtocol(max_body_size=4)
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabcdef" + GET)
    assert isinstance(proto.next_event(), Request)
    proto.set_max_body_size(6)
    assert proto.next_event() == Data(b"abcdef")
    assert proto.next_event() == EndOfMessage()
    proto.send_response(200, end=True)
    # The next request is back to the default limit.
    assert isinstance(proto.next_event(), Request)
    assert proto.next_event() == EndOfMessage()
    proto.send_response(200, end=True)
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabcdef")
    assert isinstance(proto.next_event(), Request)
    with pytest.raises(HTTPInputError):
        proto.next_event()


def test_chunked_body_cut_as_soon_as_it_passes_the_limit() -> None:
    proto = HTTP1ServerProtocol(max_body_size=10)
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert isinstance(proto.next_event(), Request)
    proto.receive_data(b"8\r\n12345678\r\n")
    assert proto.next_event() == Data(b"12345678")
    assert proto.next_event() is NEED_DATA
    proto.receive_data(b"8\r\n12345678\r\n")
    with pytest.raises(HTTPInputError) as info:
        proto.next_event()
    assert info.value.status_code == 413


def test_chunked_body_limit_bytewise() -> None:
    body = b"".join(b"1\r\nx\r\n" for _ in range(20)) + b"0\r\n\r\n"
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    error = error_of(data, "bytes", proto=HTTP1ServerProtocol(max_body_size=10))
    assert error.status_code == 413


def test_chunk_extension_flood_is_bounded() -> None:
    proto = HTTP1ServerProtocol(max_header_size=1024)
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    proto.next_event()
    proto.receive_data(b"1;" + b"e" * 5000)
    with pytest.raises(HTTPInputError) as info:
        for _ in range(10):
            proto.next_event()
            proto.receive_data(b"e" * 5000)
    assert info.value.status_code == 431


def test_trailer_section_too_large() -> None:
    trailers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(40))
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        + trailers
        + b"\r\n"
    )
    error = error_of(data, "sevens", proto=HTTP1ServerProtocol(max_header_size=1024))
    assert error.status_code == 431


def test_eof_between_requests_is_a_clean_close(split: str) -> None:
    events, proto = serve(GET, split, eof=True)
    assert isinstance(events[-1], ConnectionClosed)
    assert proto.their_state is State.CLOSED


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: h\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ],
)
def test_eof_inside_a_request_is_an_error(data: bytes, split: str) -> None:
    assert error_of(data, split).status_code == 400


def test_eof_after_empty_lines_only() -> None:
    events, _ = serve(b"\r\n\r\n", eof=True)
    assert events == [ConnectionClosed()]


def test_receive_after_eof_is_a_caller_bug() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(b"")
    with pytest.raises(HTTPOutputError):
        proto.receive_data(b"x")


# --- server: 100-continue, HEAD, 204, 304, early responses --------------------------------


def test_expect_continue(split: str) -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(
        b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n"
    )
    request = proto.next_event()
    assert isinstance(request, Request)
    assert request.expect_continue
    assert proto.next_event() is NEED_DATA
    assert proto.client_waiting_for_continue
    assert proto.send_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not proto.client_waiting_for_continue
    for piece in pieces(b"abc", split):
        proto.receive_data(piece)
    events, _ = serve(b"", proto=proto)
    assert events == [Data(b"abc"), EndOfMessage()]


def test_expect_continue_flag_clears_when_the_body_arrives_anyway() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(
        b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    )
    proto.next_event()
    assert proto.client_waiting_for_continue
    proto.receive_data(b"ab")
    assert proto.next_event() == Data(b"ab")
    assert not proto.client_waiting_for_continue


def test_expect_is_ignored_for_http10() -> None:
    events, _ = serve(b"PUT / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx")
    assert not requests_of(events)[0].expect_continue


def test_head_response_has_no_body() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n" + GET)
    proto.next_event()
    proto.next_event()
    out = proto.send_response(200, [("Content-Length", "1234")], end=True)
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    assert isinstance(proto.next_event(), Request)  # kept alive
    proto2 = HTTP1ServerProtocol()
    proto2.receive_data(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
    proto2.next_event()
    proto2.next_event()
    head = proto2.send_response(200)
    assert b"Transfer-Encoding" not in head
    assert b"Content-Length" not in head
    with pytest.raises(HTTPOutputError):
        proto2.send_data(b"x")
    assert proto2.send_end() == b""


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_statuses(status: int) -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    proto.next_event()
    proto.next_event()
    out = proto.send_response(status, end=True)
    assert b"Content-Length" not in out
    assert b"Transfer-Encoding" not in out
    proto.receive_data(GET)
    proto.next_event()
    proto.next_event()
    with pytest.raises(HTTPOutputError):
        proto.send_response(status, body=b"x", end=True)


def test_204_with_content_length_is_refused() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    proto.next_event()
    with pytest.raises(HTTPOutputError):
        proto.send_response(204, [("Content-Length", "0")], end=True)


def test_response_before_the_body_is_read_closes() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
    assert isinstance(proto.next_event(), Request)
    out = proto.send_response(401, end=True)
    assert b"Connection: close" in out
    assert proto.our_state is State.MUST_CLOSE
    assert not proto.keep_alive


# --- server: upgrades and CONNECT ----------------------------------------------------------


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_upgrade_switches_protocols(split: str) -> None:
    frames = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    proto = HTTP1ServerProtocol()
    events, proto = serve(UPGRADE + frames, split, respond=False, proto=proto)
    request = requests_of(events)[0]
    assert request.upgrade
    assert request.headers["Upgrade"] == "websocket"
    out = proto.send_response(101, [("Upgrade", "websocket"), ("Connection", "Upgrade")])
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert proto.our_state is State.SWITCHED_PROTOCOL
    assert proto.their_state is State.SWITCHED_PROTOCOL
    assert proto.next_event() is PAUSED
    assert proto.trailing_data == (frames, False)


def test_declined_upgrade_continues_as_http(split: str) -> None:
    data = (
        b"POST /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n" + GET
    )
    events, _ = serve(data, split)
    assert requests_of(events)[0].upgrade
    assert [e.data for e in events if isinstance(e, Data)] == [b"body"]
    assert [r.target for r in requests_of(events)] == ["/up", "/a?b=1"]
    data = (
        b"POST /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 4\r\n\r\nbody" + GET
    )
    events, _ = serve(data, split)
    assert [e.data for e in events if isinstance(e, Data)] == [b"body"]
    assert [r.target for r in requests_of(events)] == ["/up", "/a?b=1"]


def test_101_without_an_upgrade_request_is_refused() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    proto.next_event()
    proto.next_event()
    with pytest.raises(HTTPOutputError):
        proto.send_response(101)


def test_connect_tunnel() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01"
    )
    request = proto.next_event()
    assert isinstance(request, Request)
    assert request.upgrade
    assert request.method == "CONNECT"
    assert proto.next_event() == EndOfMessage()
    out = proto.send_response(200)
    assert out == b"HTTP/1.1 200 OK\r\n\r\n"
    assert proto.our_state is State.SWITCHED_PROTOCOL
    assert proto.trailing_data == (b"\x16\x03\x01", False)


def test_connect_refused_keeps_http() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + GET)
    proto.next_event()
    proto.next_event()
    proto.send_response(405, end=True)
    assert isinstance(proto.next_event(), Request)


# --- server: sending -----------------------------------------------------------------------


def _ready() -> HTTP1ServerProtocol:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET)
    proto.next_event()
    proto.next_event()
    return proto


def test_chunked_response_with_trailers() -> None:
    proto = _ready()
    head = proto.send_response(200, [("Trailer", "X-Sum")], body=b"hello")
    assert head.endswith(b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    assert proto.send_data(b"") == b""
    trailers = HTTPHeaders()
    trailers["X-Sum"] = "42"
    assert proto.send_end(trailers) == b"0\r\nX-Sum: 42\r\n\r\n"
    assert proto.our_state is State.IDLE


def test_declared_content_length_is_enforced() -> None:
    proto = _ready()
    proto.send_response(200, [("Content-Length", "5")], body=b"abc")
    with pytest.raises(HTTPOutputError):
        proto.send_end()  # 2 bytes short
    proto = _ready()
    proto.send_response(200, [("Content-Length", "2")])
    with pytest.raises(HTTPOutputError):
        proto.send_data(b"abc")
    proto = _ready()
    with pytest.raises(HTTPOutputError):
        proto.send_response(200, [("Content-Length", "2")], body=b"abc", end=True)
    proto = _ready()
    head = proto.send_response(200, [("Content-Length", "3")], body=b"abc", end=True)
    assert head.endswith(b"Content-Length: 3\r\n\r\nabc")


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", "-1")],
        [("Content-Length", "1"), ("content-length", "1")],
        [("Transfer-Encoding", "gzip")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "1")],
    ],
)
def test_invalid_framing_headers_on_output(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(HTTPOutputError):
        _ready().send_response(200, headers, body=b"x", end=True)


@pytest.mark.parametrize("reason", ["OK\r\nSet-Cookie: a=b", "OK\nX", "OK\rX", "OK\x00", "OK\x7f"])
def test_reason_phrase_injection_is_refused(reason: str) -> None:
    with pytest.raises(HTTPOutputError):
        _ready().send_response(200, reason=reason, end=True)


def test_custom_reason_phrase() -> None:
    assert (
        _ready()
        .send_response(299, reason="Fine\tThanks", end=True)
        .startswith(b"HTTP/1.1 299 Fine\tThanks\r\n")
    )
    assert _ready().send_response(599, end=True).startswith(b"HTTP/1.1 599 Unknown\r\n")


@pytest.mark.parametrize("status", [0, 99, 1000, -200])
def test_invalid_status_codes(status: int) -> None:
    with pytest.raises(HTTPOutputError):
        _ready().send_response(status, end=True)


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb", "a\x00b"])
def test_header_injection_is_refused(value: str) -> None:
    with pytest.raises(HTTPOutputError):
        _ready().send_response(200, [("X-Test", value)], end=True)
    headers = HTTPHeaders()
    with pytest.raises(HTTPOutputError):
        headers["X-Test"] = value
    with pytest.raises(HTTPOutputError):
        headers.add("X-Test", value)


@pytest.mark.parametrize("name", ["X Test", "X:Test", "X\r\nY", ""])
def test_invalid_header_names_are_refused(name: str) -> None:
    with pytest.raises(HTTPOutputError):
        _ready().send_response(200, [(name, "v")], end=True)


def test_non_latin1_header_values_are_refused() -> None:
    with pytest.raises(HTTPOutputError):
        _ready().send_response(200, [("X-Name", "\u20ac")], end=True)


def test_sending_out_of_order() -> None:
    proto = HTTP1ServerProtocol()
    with pytest.raises(HTTPOutputError):
        proto.send_response(200, end=True)  # no request yet
    with pytest.raises(HTTPOutputError):
        proto.send_data(b"x")
    with pytest.raises(HTTPOutputError):
        proto.send_end()
    proto = _ready()
    proto.send_response(200)
    with pytest.raises(HTTPOutputError):
        proto.send_response(200)
    with pytest.raises(HTTPOutputError):
        _ready().send_response(100, body=b"x")
    proto = _ready()
    proto.send_response(200, [("Content-Length", "1")], body=b"x")
    with pytest.raises(HTTPOutputError):
        proto.send_end(HTTPHeaders({"X": "1"}))


def test_informational_responses_before_the_final_one() -> None:
    proto = _ready()
    assert proto.send_response(103, [("Link", "</s.css>; rel=preload")]) == (
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    )
    assert proto.our_state is State.IDLE
    assert proto.send_response(200, end=True).startswith(b"HTTP/1.1 200 OK")


# --- pathological inputs: bounded time (FEATURES.md section 5, class 3) -------------------


def test_header_value_trickled_byte_by_byte_is_linear() -> None:
    value = b"v" * 60_000
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + value + b"\r\n\r\n"
    proto = HTTP1ServerProtocol(max_header_size=64 * 1024)
    start = time.process_time()
    events, _ = serve(data, "bytes", proto=proto)
    elapsed = time.process_time() - start
    assert requests_of(events)[0].headers["X-Big"] == value.decode()
    assert elapsed < 5.0


def test_many_header_lines_are_linear() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 10_000 + b"\r\n"
    start = time.process_time()
    events, _ = serve(data, proto=HTTP1ServerProtocol(max_header_size=1 << 20))
    assert len(requests_of(events)[0].headers.get_list("X")) == 10_000
    assert time.process_time() - start < 2.0


def test_trailers_trickled_byte_by_byte_are_linear() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: "
        + b"t" * 30_000
        + b"\r\n\r\n"
    )
    start = time.process_time()
    events, _ = serve(data, "bytes")
    end = events[1]
    assert isinstance(end, EndOfMessage)
    assert end.trailers is not None
    assert len(end.trailers["X-T"]) == 30_000
    assert time.process_time() - start < 5.0


def test_many_tiny_chunks() -> None:
    body = b"1\r\nx\r\n" * 20_000 + b"0\r\n\r\n"
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    start = time.process_time()
    events, _ = serve(data)
    assert events[1] == Data(b"x" * 20_000)
    assert time.process_time() - start < 2.0


def test_pipelined_flood_is_parsed_one_request_at_a_time() -> None:
    proto = HTTP1ServerProtocol()
    proto.receive_data(GET * 5000)
    assert isinstance(proto.next_event(), Request)
    assert proto.next_event() == EndOfMessage()
    assert proto.next_event() is PAUSED
    count = 1
    start = time.process_time()
    while True:
        proto.send_response(200, end=True)
        event = proto.next_event()
        if event is NEED_DATA:
            break
        assert isinstance(event, Request)
        assert proto.next_event() == EndOfMessage()
        count += 1
    assert count == 5000
    assert time.process_time() - start < 5.0


# --- client --------------------------------------------------------------------------------


def fetch(
    response: bytes,
    split: str = "whole",
    *,
    method: str = "GET",
    eof: bool = False,
    proto: HTTP1ClientProtocol | None = None,
) -> tuple[list[object], HTTP1ClientProtocol]:
    proto = proto or HTTP1ClientProtocol()
    proto.send_request(method, "/", [("Host", "h")], end=True)
    chunks = list(pieces(response, split))
    if eof:
        chunks.append(b"")
    events: list[object] = []
    index = 0
    try:
        while True:
            event = proto.next_event()
            if event is NEED_DATA:
                if index == len(chunks):
                    break
                proto.receive_data(chunks[index])
                index += 1
                continue
            if event is PAUSED:
                break
            events.append(event)
            if isinstance(event, ConnectionClosed):
                break
    except HTTPInputError as exc:
        events.append(exc)
    return summarize(events), proto


@pytest.mark.parametrize(("method", "body"), [("GET", b"abc"), ("HEAD", b"")])
def test_response_to_a_request_sent_by_other_means(method: str, body: bytes, split: str) -> None:
    proto = HTTP1ClientProtocol()
    proto.expect_response(method)
    assert proto.our_state is State.DONE
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" + body
    events = []
    for piece in pieces(response, split):
        proto.receive_data(piece)
        while (event := proto.next_event()) not in (NEED_DATA, PAUSED):
            events.append(event)
            if isinstance(event, EndOfMessage):
                break
    assert isinstance(events[0], Response)
    assert events[0].status_code == 200
    assert b"".join(e.data for e in events if isinstance(e, Data)) == body
    assert isinstance(events[-1], EndOfMessage)
    assert proto.our_state is State.IDLE
    assert proto.their_state is State.IDLE
    proto.send_request("GET", "/", [("Host", "h")], end=True)
    with pytest.raises(HTTPOutputError):
        proto.expect_response()


def test_request_serialisation() -> None:
    proto = HTTP1ClientProtocol()
    assert proto.send_request("GET", "/x?y", [("Host", "h")], end=True) == (
        b"GET /x?y HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    proto = HTTP1ClientProtocol()
    assert proto.send_request("POST", "/", [("Host", "h")], end=True) == (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    )
    proto = HTTP1ClientProtocol()
    assert proto.send_request("PUT", "/", [("Host", "h")], body=b"abc", end=True) == (
        b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    )
    proto = HTTP1ClientProtocol()
    head = proto.send_request("POST", "/", [("Host", "h"), ("Expect", "100-continue")])
    assert head.endswith(b"Transfer-Encoding: chunked\r\n\r\n")
    assert proto.send_data(b"ab") == b"2\r\nab\r\n"
    assert proto.send_end() == b"0\r\n\r\n"
    assert proto.our_state is State.DONE


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GET", "/", []),
        ("GET", "/", [("Host", "a"), ("Host", "b")]),
        ("G T", "/", [("Host", "a")]),
        ("GET", "/a b", [("Host", "a")]),
        ("GET", "/a\r\nX: y", [("Host", "a")]),
        ("GET", "", [("Host", "a")]),
        ("GET", "/", [("Host", "a\r\nX: y")]),
    ],
)
def test_invalid_requests_are_refused(
    method: str, target: str, headers: list[tuple[str, str]]
) -> None:
    with pytest.raises(HTTPOutputError):
        HTTP1ClientProtocol().send_request(method, target, headers, end=True)


def test_response_with_length(split: str) -> None:
    events, proto = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello", split)
    response = events[0]
    assert isinstance(response, Response)
    assert (response.status_code, response.reason, response.version) == (200, "OK", "HTTP/1.1")
    assert response.start_line == ResponseStartLine("HTTP/1.1", 200, "OK")
    assert response.keep_alive
    assert response.headers["X"] == "y"
    assert events[1:] == [Data(b"hello"), EndOfMessage()]
    assert proto.our_state is State.IDLE
    assert proto.their_state is State.IDLE


def test_response_chunked_with_trailers(split: str) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"
    events, _ = fetch(data, split)
    assert events[1] == Data(b"hello")
    end = events[2]
    assert isinstance(end, EndOfMessage)
    assert end.trailers is not None
    assert end.trailers["X-T"] == "1"


def test_response_until_close(split: str) -> None:
    events, proto = fetch(b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nall of it", split, eof=True)
    assert isinstance(events[0], Response)
    assert not events[0].keep_alive
    assert events[1:] == [Data(b"all of it"), EndOfMessage(), ConnectionClosed()]
    assert not proto.keep_alive


def test_response_to_head_has_no_body(split: str) -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    events, proto = fetch(data, split, method="HEAD")
    assert events[1:] == [EndOfMessage()]
    assert proto.their_state is State.IDLE
    # The connection is reusable: the next response parses normally.
    proto.send_request("GET", "/", [("Host", "h")], end=True)
    proto.receive_data(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert isinstance(proto.next_event(), Response)
    assert proto.next_event() == EndOfMessage()


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_responses_without_content(status: bytes, split: str) -> None:
    events, _ = fetch(b"HTTP/1.1 " + status + b"\r\nContent-Length: 10\r\n\r\n", split)
    assert events[1:] == [EndOfMessage()]


def test_informational_then_final(split: str) -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    events, _ = fetch(data, split)
    assert [type(e) for e in events] == [
        InformationalResponse,
        InformationalResponse,
        Response,
        Data,
        EndOfMessage,
    ]
    assert isinstance(events[1], InformationalResponse)
    assert events[1].headers["Link"] == "</a>"


def test_client_upgrade() -> None:
    proto = HTTP1ClientProtocol()
    proto.send_request(
        "GET", "/ws", [("Host", "h"), ("Connection", "Upgrade"), ("Upgrade", "websocket")], end=True
    )
    proto.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00")
    response = proto.next_event()
    assert isinstance(response, Response)
    assert response.status_code == 101
    assert proto.their_state is State.SWITCHED_PROTOCOL
    assert proto.trailing_data == (b"\x81\x00", False)


def test_unexpected_101_is_an_error() -> None:
    events, _ = fetch(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    assert isinstance(events[-1], HTTPInputError)


def test_client_connect_tunnel() -> None:
    proto = HTTP1ClientProtocol()
    proto.send_request("CONNECT", "example.com:443", [("Host", "example.com:443")], end=True)
    proto.receive_data(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03")
    assert isinstance(proto.next_event(), Response)
    assert proto.our_state is State.SWITCHED_PROTOCOL
    assert proto.trailing_data == (b"\x16\x03", False)


def test_client_keep_alive_rules() -> None:
    _events, proto = fetch(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert not proto.keep_alive
    assert proto.our_state is State.MUST_CLOSE
    _events, proto = fetch(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert not proto.keep_alive
    _events, proto = fetch(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    )
    assert proto.keep_alive
    assert proto.our_state is State.IDLE
    proto = HTTP1ClientProtocol()
    proto.send_request("GET", "/", [("Host", "h"), ("Connection", "close")], end=True)
    proto.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    proto.next_event()
    proto.next_event()
    assert not proto.keep_alive
    assert proto.their_state is State.MUST_CLOSE


def test_server_closed_before_responding() -> None:
    events, proto = fetch(b"", eof=True)
    assert events == [ConnectionClosed()]
    assert not proto.keep_alive
    events, _ = fetch(b"HTTP/1.1 200 OK\r\n", eof=True)
    assert isinstance(events[-1], HTTPInputError)
    events, _ = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", eof=True)
    assert isinstance(events[-1], HTTPInputError)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x01K\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+1\r\nx\r\n0\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
)
def test_malformed_responses(data: bytes, split: str) -> None:
    events, _ = fetch(data, split, eof=True)
    assert isinstance(events[-1], HTTPInputError), events


def test_unknown_coding_in_response_reads_until_close() -> None:
    events, proto = fetch(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", eof=True)
    assert events[1:] == [Data(b"zz"), EndOfMessage(), ConnectionClosed()]
    assert not proto.keep_alive


def test_early_response_while_sending() -> None:
    proto = HTTP1ClientProtocol()
    proto.send_request("POST", "/", [("Host", "h"), ("Content-Length", "100")], body=b"abc")
    proto.receive_data(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
    response = proto.next_event()
    assert isinstance(response, Response)
    assert response.status_code == 413
    assert proto.next_event() == EndOfMessage()
    assert proto.their_state is State.DONE
    assert not proto.keep_alive or proto.our_state is State.SEND_BODY


def test_client_keep_alive_chunked_responses_under_any_split() -> None:
    big = bytes(range(256)) * 24
    first = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(big)
        + big
        + b"\r\n0\r\nX-T: 1\r\n\r\n"
    )
    second = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"

    def run(chunks: list[bytes]) -> list[object]:
        proto = HTTP1ClientProtocol()
        proto.send_request("GET", "/1", [("Host", "h")], end=True)
        events: list[object] = []
        sent_second = False
        for chunk in chunks:
            proto.receive_data(chunk)
            while True:
                event = proto.next_event()
                if event is NEED_DATA:
                    break
                if event is PAUSED:
                    if sent_second:
                        break
                    proto.send_request("GET", "/2", [("Host", "h")], end=True)
                    sent_second = True
                    continue
                events.append(event)
        return summarize(events)

    stream = first + second
    expected = run([stream])
    assert [type(e) for e in expected] == [
        Response,
        Data,
        EndOfMessage,
        Response,
        Data,
        EndOfMessage,
    ]
    for cut in range(len(first) - 12, len(first) + 3):
        assert run([stream[:cut], stream[cut:]]) == expected, cut
    rng = random.Random(99)
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, len(stream)), 15))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert run(chunks) == expected


def test_client_body_limit() -> None:
    events, _ = fetch(
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"x" * 20,
        proto=HTTP1ClientProtocol(max_body_size=10),
    )
    assert isinstance(events[-1], HTTPInputError)
    assert events[-1].status_code == 413
    events, _ = fetch(
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 20,
        eof=True,
        proto=HTTP1ClientProtocol(max_body_size=10),
    )
    assert isinstance(events[-1], HTTPInputError)


def test_client_idle_states() -> None:
    proto = HTTP1ClientProtocol()
    assert proto.next_event() is PAUSED  # nothing asked yet
    proto.receive_data(b"")
    assert proto.next_event() == ConnectionClosed()


# --- differential check against h11 --------------------------------------------------------

CORPUS = [
    GET,
    b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 7\r\n\r\na=1&b=2",
    b"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n",
    b"GET /x HTTP/1.0\r\nUser-Agent: old\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
    b"GET http://h/abs?q HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n",
]


@pytest.mark.parametrize("data", CORPUS)
def test_agrees_with_h11(data: bytes, split: str) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    expected: list[tuple[object, ...]] = []
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            expected.append(
                (
                    event.method.decode(),
                    event.target.decode(),
                    "HTTP/" + event.http_version.decode(),
                    [(n.decode().lower(), v.decode()) for n, v in event.headers],
                )
            )
        elif isinstance(event, h11.Data):
            if expected and len(expected[-1]) == 1:
                expected[-1] = (expected[-1][0] + bytes(event.data),)  # type: ignore[operator]
            else:
                expected.append((bytes(event.data),))
        elif isinstance(event, h11.EndOfMessage) or event is h11.NEED_DATA:
            break
    events, _ = serve(data, split, respond=False)
    got: list[tuple[object, ...]] = []
    for event in events:
        if isinstance(event, Request):
            got.append(
                (
                    event.method,
                    event.target,
                    event.version,
                    [(n.lower(), v) for n, v in event.headers.get_all()],
                )
            )
        elif isinstance(event, Data):
            got.append((event.data,))
    if got and expected:
        # HTTPHeaders groups repeated names; h11 keeps line order. Compare as multisets.
        assert got[0][:3] == expected[0][:3]
        assert sorted(got[0][3]) == sorted(expected[0][3])  # type: ignore[arg-type]
    assert got[1:] == expected[1:]


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_objects_are_accepted_wherever_bytes_are(kind: type) -> None:
    server = HTTP1ServerProtocol()
    server.receive_data(kind(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"))
    events = [server.next_event() for _ in range(3)]
    assert events[1:] == [Data(b"hello"), EndOfMessage()]
    head = server.send_response(200, [("Content-Length", "11")], body=kind(b"hello"))
    assert head.endswith(b"\r\n\r\nhello")
    assert server.send_data(kind(b" world")) == b" world"
    assert server.send_end() == b""

    client = HTTP1ClientProtocol()
    request = client.send_request("POST", "/", [("Host", "h")], body=kind(b"abc"))
    assert request.endswith(b"\r\n\r\n3\r\nabc\r\n")
    assert client.send_data(kind(b"de")) == b"2\r\nde\r\n"


def test_status_codes_may_be_http_status_members_but_not_bools() -> None:
    server = HTTP1ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    server.next_event()
    head = server.send_response(HTTPStatus.CREATED, [("Content-Length", "0")], end=True)
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    server.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    server.next_event()
    server.next_event()
    with pytest.raises(HTTPOutputError, match="invalid status code"):
        server.send_response(True, [("Content-Length", "0")], end=True)
