"""How the server connection hands responses to its transport.

Output waits for the end of the event loop's turn, so a turn's responses leave together
(the turn's last callback sends at once); past 64 KiB of waiting output a connection
sends at once, so flow control still works.
The first tests drive connections in process through recording transports (the order of
dispatch and writes is the point); the last ones use real loopback sockets.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from _httphelpers import WAIT, RawClient, get, respond, serve
from typhoon.httpserver import HTTPServer
from typhoon.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine


class RecordingTransport(asyncio.Transport):
    """A transport that records writes in a shared log; pauses its protocol past a limit."""

    def __init__(self, name: str, log: list[tuple[str, str]], pause_at: int | None = None):
        super().__init__()
        self.name = name
        self.log = log
        self.pause_at = pause_at
        self.writes: list[bytes] = []
        self.protocol: Any = None
        self.closing = False
        self.reading = True

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.log.append(("write", self.name))
        if self.pause_at is not None and self.buffered() >= self.pause_at:
            self.protocol.pause_writing()

    def buffered(self) -> int:
        return sum(map(len, self.writes))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return 0


def connect(server: HTTPServer, transport: RecordingTransport) -> Any:
    """A server-side connection of ``server`` on ``transport``, as the listener makes it."""
    from typhoon._h1wire import WireServerConnection

    wire = WireServerConnection(
        server._wire_settings(), ("127.0.0.1", 40000), socket.AF_INET, "http", frozenset()
    )
    transport.protocol = wire
    wire.connection_made(transport)
    return wire


def feed(wire: Any, data: bytes) -> None:
    wire.data_received(data)


async def test_a_turns_responses_are_written_after_all_its_callbacks_ran() -> None:
    log: list[tuple[str, str]] = []

    def app(request: HTTPServerRequest) -> None:
        log.append(("dispatch", request.path))
        respond(request, request.path.encode())

    server = HTTPServer(app)
    transports = [RecordingTransport(name, log) for name in ("/a", "/b", "/c")]
    wires = [connect(server, transport) for transport in transports]
    # One turn of the loop: three connections each deliver a request, then some other
    # callback of the same turn runs.
    loop = asyncio.get_running_loop()
    for wire, transport in zip(wires, transports, strict=True):
        loop.call_soon(feed, wire, get(transport.name))
    loop.call_soon(log.append, ("other callback", ""))
    await asyncio.sleep(0.05)
    assert log == [
        ("dispatch", "/a"),
        ("dispatch", "/b"),
        ("dispatch", "/c"),
        ("other callback", ""),
        ("write", "/a"),
        ("write", "/b"),
        ("write", "/c"),
    ]
    for transport in transports:
        [response] = transport.writes
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert response.endswith(b"\r\n\r\n" + transport.name.encode())


async def test_the_last_callback_of_a_turn_sends_at_once() -> None:
    log: list[tuple[str, str]] = []
    server = HTTPServer(lambda request: respond(request, b"alone"))
    transport = RecordingTransport("c", log)
    wire = connect(server, transport)

    def deliver() -> None:
        feed(wire, get())
        log.append(("pass over", ""))

    # The only callback of its turn (the test itself waits on a timer).
    asyncio.get_running_loop().call_soon(deliver)
    await asyncio.sleep(0.05)
    assert log == [("write", "c"), ("pass over", "")]
    assert transport.writes[0].endswith(b"\r\n\r\nalone")


async def test_pipelined_responses_and_parts_of_one_response_leave_in_one_write() -> None:
    def app(request: HTTPServerRequest) -> None:
        assert request.connection is not None
        headers = HTTPHeaders({"Transfer-Encoding": "chunked"})
        request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
        request.connection.write(b"one ")
        request.connection.write(request.path.encode())
        request.connection.finish()

    transport = RecordingTransport("c", [])
    wire = connect(HTTPServer(app), transport)
    feed(wire, get("/x") + get("/y"))
    await asyncio.sleep(0.05)
    [data] = transport.writes
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b"4\r\none \r\n2\r\n/x\r\n") < data.index(b"4\r\none \r\n2\r\n/y\r\n")
    assert data.endswith(b"0\r\n\r\n")


async def test_a_large_response_goes_out_in_pieces_as_it_is_written() -> None:
    piece = bytes(range(256)) * 32  # 8 KiB
    count = 128  # 1 MiB in all

    def app(request: HTTPServerRequest) -> None:
        assert request.connection is not None
        headers = HTTPHeaders({"Content-Length": str(len(piece) * count)})
        request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
        for _ in range(count):
            request.connection.write(piece)
        request.connection.finish()

    transport = RecordingTransport("c", [])
    wire = connect(HTTPServer(app), transport)
    feed(wire, get())
    # Sent while the application was still writing, in pieces of about 64 KiB.
    assert len(transport.writes) >= count * len(piece) // (64 * 1024)
    assert max(map(len, transport.writes)) <= 64 * 1024 + len(piece) + 512
    await asyncio.sleep(0)
    data = b"".join(transport.writes)
    _, _, body = data.partition(b"\r\n\r\n")
    assert body == piece * count


async def test_a_writer_that_never_yields_still_meets_flow_control() -> None:
    piece = b"x" * 4096
    accepted = 0
    stalled = asyncio.Event()

    async def produce(request: HTTPServerRequest) -> None:
        nonlocal accepted
        assert request.connection is not None
        headers = HTTPHeaders({"Transfer-Encoding": "chunked"})
        await request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
        for _ in range(4096):  # 16 MiB if nothing stopped it
            future = request.connection.write(piece)
            if not future.done():
                stalled.set()
            await future
            accepted += len(piece)

    tasks: list[asyncio.Task[None]] = []

    def app(request: HTTPServerRequest) -> None:
        tasks.append(asyncio.ensure_future(produce(request)))

    # The client reads nothing: the transport pauses us past 256 KiB and never resumes.
    transport = RecordingTransport("c", [], pause_at=256 * 1024)
    wire = connect(HTTPServer(app), transport)
    feed(wire, get())
    await asyncio.wait_for(stalled.wait(), WAIT)
    await asyncio.sleep(0.05)
    assert accepted < 512 * 1024
    assert transport.buffered() < 512 * 1024
    assert not tasks[0].done()
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    wire.connection_lost(None)


async def test_what_was_written_before_a_cut_still_reaches_the_client() -> None:
    def app(request: HTTPServerRequest) -> None:
        assert request.connection is not None
        headers = HTTPHeaders({"Content-Length": "100"})
        request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
        request.connection.write(b"partial")
        request.connection.close()  # type: ignore[attr-defined]  # the response is cut

    async with serve(app) as (_, port):
        client = await RawClient.connect(port)
        try:
            await client.send(get())
            raw = await client.read_to_end()
        finally:
            await client.close()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"\r\n\r\npartial")


async def test_many_keep_alive_clients_at_once_each_get_their_own_responses() -> None:
    def app(request: HTTPServerRequest) -> None:
        respond(request, request.path.encode())

    async def client_session(port: int, number: int) -> list[bytes]:
        client = await RawClient.connect(port)
        try:
            bodies = []
            for round_ in range(10):
                # Two pipelined requests per round.
                await client.send(get(f"/{number}/{round_}/a") + get(f"/{number}/{round_}/b"))
                for _ in range(2):
                    response = await client.read_response()
                    assert response.status == 200
                    bodies.append(response.body)
            return bodies
        finally:
            await client.close()

    async with serve(app) as (_, port):
        results = await asyncio.wait_for(
            asyncio.gather(*(client_session(port, number) for number in range(40))), WAIT * 4
        )
    for number, bodies in enumerate(results):
        assert bodies == [
            f"/{number}/{round_}/{part}".encode() for round_ in range(10) for part in "ab"
        ]
