"""WebSocketHandler behind the real HTTP server, driven by typhoon's own client.

Lifecycle (open, on_message, on_close), message order with async callbacks, closing
codes, back-pressure, subprotocols, origin checks, compression, pings and keep-alive,
size limits, and the handshake refusals.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

import pytest
import trustme
from _websocket_net import (
    WAIT,
    Log,
    RawClient,
    Recorder,
    accept_for,
    make_app,
    masked_text,
    serve,
)
from _wshelpers import raw_frame
from typhoon.errors import (
    HTTPClientError,
    HTTPError,
    HTTPTimeoutError,
    WebSocketClosedError,
    WebSocketHandshakeError,
)
from typhoon.httpclient import HTTPRequest, _RequestProxy
from typhoon.netutil import OverrideResolver, Resolver
from typhoon.web import RequestHandler
from typhoon.websocket import (
    WebSocketClientConnection,
    WebSocketHandler,
    WebSocketProtocol,
    WebSocketProtocol13,
    websocket_connect,
)


class Echo(Recorder):
    def on_message(self, message: str | bytes) -> Any:
        super().on_message(message)
        return self.write_message(message, binary=isinstance(message, bytes))


async def connect(port: int, path: str = "/echo", **kwargs: Any) -> WebSocketClientConnection:
    return await asyncio.wait_for(websocket_connect(f"ws://127.0.0.1:{port}{path}", **kwargs), WAIT)


async def read(conn: WebSocketClientConnection) -> str | bytes | None:
    return await asyncio.wait_for(conn.read_message(), WAIT)


async def closed(log: Log) -> tuple[int | None, str | None]:
    return await asyncio.wait_for(asyncio.shield(log.closed), WAIT)


# --- lifecycle ----------------------------------------------------------------------------


async def test_echo_text_binary_and_json() -> None:
    log = Log()
    app = make_app([(r"/echo/(\w+)", Echo, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/echo/room1?x=1")
        assert isinstance(conn.protocol, WebSocketProtocol)
        assert conn.selected_subprotocol is None
        await conn.write_message("héllo")
        assert await read(conn) == "héllo"
        await conn.write_message(b"\x00\xffbinary", binary=True)
        assert await read(conn) == b"\x00\xffbinary"
        await conn.write_message({"a": [1, 2]})
        assert await read(conn) == '{"a": [1, 2]}'
        large = "x" * 200_000
        await conn.write_message(large)
        assert await read(conn) == large
        conn.close()
        assert await closed(log) == (None, None)
        assert await read(conn) is None
        # Closed for good: every later read says so at once.
        assert await read(conn) is None
    assert log.events[0] == ("open", ("room1",), {})


async def test_async_open_holds_messages_until_it_returns() -> None:
    log = Log()
    gate: asyncio.Event = asyncio.Event()

    class SlowOpen(Recorder):
        async def open(self, *args: Any, **kwargs: Any) -> None:
            await gate.wait()
            self.log.events.append(("opened",))

        def on_message(self, message: str | bytes) -> None:
            super().on_message(message)
            self.write_message(message)

    app = make_app([("/slow", SlowOpen, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/slow")
        for i in range(3):
            conn.write_message(f"m{i}")
        await asyncio.sleep(0.05)
        assert log.messages() == []
        gate.set()
        assert [await read(conn) for _ in range(3)] == ["m0", "m1", "m2"]
        assert log.events[0] == ("opened",)
        conn.close()
        await closed(log)


async def test_async_on_message_keeps_messages_in_order() -> None:
    log = Log()

    class Slow(Recorder):
        async def on_message(self, message: str | bytes) -> None:
            assert isinstance(message, str)
            # Earlier messages sleep longer: order must come from the connection, not luck.
            await asyncio.sleep(0.002 * (10 - int(message)))
            self.log.events.append(("message", message))
            await self.write_message(message)

    app = make_app([("/slow", Slow, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/slow")
        for i in range(10):
            conn.write_message(str(i))
        replies = [await read(conn) for _ in range(10)]
        assert replies == [str(i) for i in range(10)]
        assert log.messages() == [str(i) for i in range(10)]
        conn.close()
        await closed(log)


async def test_on_close_reports_the_clients_code_and_reason() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port)
        conn.close(4001, "going home")
        assert await closed(log) == (4001, "going home")
        assert await read(conn) is None
        # The server echoed the code (RFC 6455 section 5.5.1).
        assert conn.close_code == 4001


async def test_server_close_reaches_the_client() -> None:
    log = Log()

    class Closer(Recorder):
        def on_message(self, message: str | bytes) -> None:
            self.close(1001, "shutting down")
            with pytest.raises(WebSocketClosedError):
                self.write_message("too late")

    app = make_app([("/close", Closer, {"log": log})], log)
    async with serve(app) as port:
        messages: list[str | bytes | None] = []
        conn = await connect(port, "/close", on_message_callback=messages.append)
        conn.write_message("close please")
        assert await closed(log) == (1001, None)
        for _ in range(100):
            if messages:
                break
            await asyncio.sleep(0.01)
        assert messages == [None]
        assert conn.close_code == 1001
        assert conn.close_reason == "shutting down"
        with pytest.raises(WebSocketClosedError):
            await conn.write_message("after close")


async def test_abrupt_disconnect_runs_on_close_without_a_code() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        status, _ = await raw.handshake("/echo")
        assert status == 101
        raw.writer.transport.abort()
        assert await closed(log) == (None, None)


async def test_callback_connection_gets_every_message_then_none() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        got: list[str | bytes | None] = []
        done = asyncio.get_running_loop().create_future()

        def on_message(message: str | bytes | None) -> None:
            got.append(message)
            if message is None:
                done.set_result(None)

        conn = await connect(port, on_message_callback=on_message)
        for i in range(5):
            conn.write_message(f"n{i}")
        await asyncio.sleep(0.05)
        conn.close()
        await asyncio.wait_for(done, WAIT)
        assert got == [f"n{i}" for i in range(5)] + [None]


async def test_application_errors_close_with_1011() -> None:
    log = Log()

    class Broken(Recorder):
        def on_message(self, message: str | bytes) -> None:
            raise ValueError("boom")

    app = make_app([("/broken", Broken, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        await raw.handshake("/broken")
        raw.send(masked_text("trigger"))
        frame = await raw.read_data_frame()
        assert frame.opcode == 0x8
        assert frame.close_code == 1011
        raw.send_close(1011)
        await raw.expect_eof()
        await closed(log)
        await raw.aclose()


async def test_exception_in_async_open_closes_with_1011(caplog: Any) -> None:
    log = Log()

    class BadOpen(Recorder):
        async def open(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("cannot open")

    app = make_app([("/bad", BadOpen, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        await raw.handshake("/bad")
        frame = await raw.read_data_frame()
        assert frame.close_code == 1011
        raw.send_close(1011)
        await raw.expect_eof()
        await raw.aclose()
        await closed(log)


async def test_http_methods_are_refused_after_the_upgrade() -> None:
    log = Log()
    errors: list[str] = []

    class Misuse(Recorder):
        def open(self, *args: Any, **kwargs: Any) -> None:
            for call in (
                lambda: self.write("x"),
                lambda: self.finish(),
                lambda: self.set_header("X", "1"),
                lambda: self.set_status(200),
                lambda: self.redirect("/"),
                lambda: self.flush(),
                lambda: self.set_cookie("a", "b"),
                lambda: self.add_header("X", "2"),
                lambda: self.clear_header("Server"),
                lambda: self.request.connection.write(b"raw"),  # type: ignore[union-attr]
            ):
                try:
                    call()
                except RuntimeError as exc:
                    errors.append(str(exc))

    app = make_app([("/misuse", Misuse, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/misuse")
        conn.close()
        await closed(log)
    assert len(errors) == 10


# --- writing ----------------------------------------------------------------------------


async def test_write_message_future_applies_back_pressure() -> None:
    log = Log()
    progress: list[int] = []
    finished = asyncio.Event()

    class Flood(Recorder):
        async def open(self, *args: Any, **kwargs: Any) -> None:
            asyncio.get_running_loop().create_task(self.flood())

        async def flood(self) -> None:
            chunk = b"z" * 65536
            try:
                for i in range(400):
                    await self.write_message(chunk, binary=True)
                    progress.append(i)
            except WebSocketClosedError:
                pass
            finished.set()

    app = make_app([("/flood", Flood, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        raw.writer.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 65536
        )
        await raw.handshake("/flood")
        await asyncio.sleep(0.3)
        # The client reads nothing: the writer must be held back far before 400 x 64 KiB.
        stalled = len(progress)
        assert stalled < 200
        await asyncio.sleep(0.1)
        assert len(progress) == stalled
        # Reading lets it continue.
        for _ in range(20):
            frame = await raw.read_frame()
            assert frame.opcode == 0x2
        await asyncio.sleep(0.1)
        assert len(progress) > stalled
        raw.writer.transport.abort()
        await asyncio.wait_for(finished.wait(), WAIT)
        await closed(log)


async def test_write_after_close_raises() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port)
        conn.close()
        await closed(log)
        assert await read(conn) is None
        handler = log.handlers[0]
        with pytest.raises(WebSocketClosedError):
            handler.write_message("x")
        with pytest.raises(WebSocketClosedError):
            handler.ping()
        with pytest.raises(WebSocketClosedError):
            conn.write_message("x")
        with pytest.raises(WebSocketClosedError):
            conn.ping()


# --- negotiation ----------------------------------------------------------------------------


async def test_subprotocol_selection() -> None:
    log = Log()
    offered: list[list[str]] = []

    class Chat(Echo):
        def select_subprotocol(self, subprotocols: list[str]) -> str | None:
            offered.append(subprotocols)
            return "v2.chat" if "v2.chat" in subprotocols else None

    app = make_app([("/chat", Chat, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/chat", subprotocols=["v1.chat", "v2.chat"])
        assert conn.selected_subprotocol == "v2.chat"
        assert conn.headers["Sec-WebSocket-Protocol"] == "v2.chat"
        assert log.handlers[0].selected_subprotocol == "v2.chat"
        conn.close()
        await closed(log)
        plain = await connect(port, "/chat")
        assert plain.selected_subprotocol is None
        plain.close()
        assert await read(plain) is None
    assert offered == [["v1.chat", "v2.chat"], []]


async def test_compression_is_negotiated_when_the_handler_asks() -> None:
    log = Log()

    class Deflating(Echo):
        def get_compression_options(self) -> dict[str, Any]:
            return {"compression_level": 6, "mem_level": 5}

    app = make_app([("/echo", Echo, {"log": log}), ("/deflate", Deflating, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/deflate", compression_options={})
        assert "permessage-deflate" in conn.headers["Sec-WebSocket-Extensions"]
        text = "compress me " * 5000
        await conn.write_message(text)
        assert await read(conn) == text
        await conn.write_message(b"\x01" * 100_000, binary=True)
        assert await read(conn) == b"\x01" * 100_000
        conn.close()
        assert await read(conn) is None
        # The default handler declines the offer.
        plain = await connect(port, "/echo", compression_options={})
        assert "Sec-WebSocket-Extensions" not in plain.headers
        await plain.write_message("still works")
        assert await read(plain) == "still works"
        plain.close()
        assert await read(plain) is None


async def test_compressed_message_over_the_limit_after_inflating_is_refused() -> None:
    log = Log()

    class Deflating(Recorder):
        def get_compression_options(self) -> dict[str, Any]:
            return {}

    app = make_app([("/deflate", Deflating, {"log": log})], log, websocket_max_message_size=10_000)
    async with serve(app) as port:
        conn = await connect(port, "/deflate", compression_options={})
        # 100 KB of zeros compresses to a few hundred bytes: the limit is on the result.
        await conn.write_message(b"\x00" * 100_000, binary=True)
        assert await read(conn) is None
        assert conn.close_code == 1009
        assert log.messages() == []


# --- origin -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://127.0.0.1", 101),
        ("https://evil.example", 403),
        ("http://127.0.0.1.evil.example", 403),
        ("null", 403),
        ("http://trusted.example", 101),
    ],
)
async def test_check_origin(origin: str, status: int) -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log, trusted_origins=["http://trusted.example"])
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        got, _ = await raw.handshake("/echo", f"Origin: {origin}\r\n")
        assert got == status
        if status == 403:
            assert b"Cross origin" in raw.body
            assert log.events == []
        else:
            raw.send_close(1000)
            frame = await raw.read_frame()
            assert frame.close_code == 1000
        await raw.aclose()


async def test_check_origin_can_be_overridden() -> None:
    log = Log()

    class Anyone(Echo):
        def check_origin(self, origin: str) -> bool:
            return True

    app = make_app([("/any", Anyone, {"log": log})], log)
    async with serve(app) as port:
        headers = {"Origin": "https://elsewhere.example"}
        request = HTTPRequest(f"ws://127.0.0.1:{port}/any", headers=headers)
        conn = await asyncio.wait_for(websocket_connect(request), WAIT)
        await conn.write_message("ok")
        assert await read(conn) == "ok"
        conn.close()
        await closed(log)


# --- pings and keep-alive --------------------------------------------------------------------


async def test_ping_and_pong_callbacks() -> None:
    log = Log()
    pongs: list[bytes] = []
    pings: list[bytes] = []

    class Pinger(Recorder):
        def on_message(self, message: str | bytes) -> None:
            self.ping(b"from-server")

        def on_ping(self, data: bytes) -> None:
            pings.append(data)

        def on_pong(self, data: bytes) -> None:
            pongs.append(data)
            self.write_message("got pong")

    app = make_app([("/ping", Pinger, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/ping")
        conn.ping("from-client")
        await conn.write_message("please ping me")
        assert await read(conn) == "got pong"
        assert pongs == [b"from-server"]
        assert pings == [b"from-client"]
        conn.close()
        await closed(log)


async def test_keepalive_pings_keep_a_live_client_connected() -> None:
    log = Log()
    pongs: list[bytes] = []

    class Keep(Echo):
        def on_pong(self, data: bytes) -> None:
            pongs.append(data)

    app = make_app(
        [("/echo", Keep, {"log": log})],
        log,
        websocket_ping_interval=0.2,
        websocket_ping_timeout=0.2,
    )
    async with serve(app) as port:
        conn = await connect(port)
        await asyncio.sleep(0.7)
        # Our client answered every ping, so the connection is alive.
        assert len(pongs) >= 2
        await conn.write_message("alive")
        assert await read(conn) == "alive"
        conn.close()
        assert await closed(log) == (None, None)


async def test_a_dead_peer_is_detected_and_on_close_runs() -> None:
    log = Log()
    app = make_app(
        [("/echo", Echo, {"log": log})],
        log,
        websocket_ping_interval=0.1,
        websocket_ping_timeout=0.1,
    )
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        await raw.handshake("/echo")
        loop = asyncio.get_running_loop()
        start = loop.time()
        # The client never answers: the first ping goes out at 0.1 s, its pong is
        # missed at 0.2 s, and the server gives up on the connection.
        ping = await raw.read_frame()
        assert ping.opcode == 0x9
        assert await closed(log) == (None, None)
        assert loop.time() - start < 2.0
        frame = await raw.read_data_frame()
        assert frame.opcode == 0x8
        assert frame.close_code == 1011
        await raw.expect_eof()
        await raw.aclose()


async def test_ping_timeout_is_capped_at_the_interval(caplog: Any) -> None:
    log = Log()
    app = make_app(
        [("/echo", Echo, {"log": log})],
        log,
        websocket_ping_interval=0.05,
        websocket_ping_timeout=10,
    )
    async with serve(app) as port:
        conn = await connect(port)
        with caplog.at_level(logging.WARNING, logger="typhoon.general"):
            raw = await RawClient.connect(port)
            await raw.handshake("/echo")
            assert await raw.read_frame()
            # Capped to 0.05 s: the unanswered ping closes the connection quickly.
            frame = await raw.read_data_frame()
            assert frame.close_code == 1011
            await raw.aclose()
        assert "cannot be longer than the websocket_ping_interval" in caplog.text
        conn.close()
        assert await read(conn) is None


async def test_client_keepalive_detects_a_silent_server() -> None:
    # A bare TCP server that completes the handshake and then ignores everything.
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_for(key).encode()
            + b"\r\n\r\n"
        )

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        conn = await asyncio.wait_for(
            websocket_connect(f"ws://127.0.0.1:{port}/", ping_interval=0.05, ping_timeout=0.05),
            WAIT,
        )
        assert await read(conn) is None
        assert conn.close_code is None
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


# --- limits and options ----------------------------------------------------------------------


async def test_max_message_size_setting() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log, websocket_max_message_size=100)
    async with serve(app) as port:
        conn = await connect(port)
        await conn.write_message("a" * 100)
        assert await read(conn) == "a" * 100
        await conn.write_message("a" * 101)
        assert await read(conn) is None
        assert conn.close_code == 1009
        await closed(log)


async def test_client_max_message_size() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, max_message_size=1000)
        await conn.write_message("b" * 1000)
        assert await read(conn) == "b" * 1000
        await conn.write_message("b" * 1001)
        # The client refuses the echo with 1009; the server reports that code.
        assert await read(conn) is None
        assert await closed(log) == (1009, "message over max_message_size (1000 bytes)")


async def test_set_nodelay() -> None:
    log = Log()
    flags: list[int] = []

    class NoDelay(Echo):
        def open(self, *args: Any, **kwargs: Any) -> None:
            self.set_nodelay(True)
            assert isinstance(self.ws_connection, WebSocketProtocol13)
            assert self.ws_connection.transport is not None
            sock = self.ws_connection.transport.get_extra_info("socket")
            assert sock is not None
            flags.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    app = make_app([("/nodelay", NoDelay, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/nodelay")
        conn.close()
        await closed(log)
    assert flags
    assert flags[0] != 0


# --- handshake refusals --------------------------------------------------------------------


def request_head(
    path: str = "/echo", *, version: str = "1.1", overrides: dict[str, str | None] | None = None
) -> bytes:
    fields: dict[str, str | None] = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    fields.update({name.replace("_", "-"): value for name, value in (overrides or {}).items()})
    lines = [f"GET {path} HTTP/{version}"]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"Sec_WebSocket_Key": "too-short"}, 400),
        ({"Sec_WebSocket_Key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 400),
        ({"Sec_WebSocket_Key": None}, 400),
        ({"Sec_WebSocket_Version": "8"}, 426),
        ({"Sec_WebSocket_Version": None}, 426),
        ({"Upgrade": None}, 400),
        ({"Upgrade": "h2c"}, 400),
        ({"Connection": "keep-alive"}, 400),
    ],
)
async def test_bad_handshakes_are_refused(overrides: dict[str, str | None], status: int) -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        got, headers = await raw.request(request_head(overrides=overrides))
        assert got == status
        if status == 426:
            assert headers["sec-websocket-version"] == "13"
        assert "sec-websocket-accept" not in headers
        assert log.events == []
        await raw.aclose()


async def test_http10_handshake_is_refused() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        status, headers = await raw.request(request_head(version="1.0"))
        assert status == 400
        assert "sec-websocket-accept" not in headers
        assert log.events == []
        await raw.aclose()


async def test_other_methods_get_405() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        status, headers = await raw.request(
            request_head()
            .replace(b"GET ", b"POST ", 1)
            .replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n")
        )
        assert status == 405
        assert "GET" in headers["allow"]
        await raw.aclose()


# --- client connection failures ---------------------------------------------------------------


class Plain(RequestHandler):
    def get(self) -> None:
        self.write("not a websocket")


async def test_client_reports_http_errors_and_non_websocket_answers() -> None:
    app = make_app([("/plain", Plain)])
    async with serve(app) as port:
        with pytest.raises(HTTPClientError) as info:
            await connect(port, "/missing")
        assert info.value.code == 404
        with pytest.raises(WebSocketHandshakeError):
            await connect(port, "/plain")


async def test_client_reports_a_refused_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        await connect(port)


async def test_websocket_connect_callback_and_request_headers() -> None:
    log = Log()
    seen: list[str | None] = []

    class Headers(Echo):
        def open(self, *args: Any, **kwargs: Any) -> None:
            seen.append(self.request.headers.get("X-Token"))

    app = make_app([("/h", Headers, {"log": log})], log)
    async with serve(app) as port:
        done: asyncio.Future[WebSocketClientConnection] = asyncio.get_running_loop().create_future()

        def callback(future: asyncio.Future[WebSocketClientConnection]) -> None:
            done.set_result(future.result())

        request = HTTPRequest(f"ws://127.0.0.1:{port}/h", headers={"X-Token": "t1"})
        websocket_connect(request, callback=callback)
        conn = await asyncio.wait_for(done, WAIT)
        conn.close()
        await closed(log)
    assert seen == ["t1"]


async def test_handler_subclass_defaults() -> None:
    class Bare(WebSocketHandler):
        pass

    log = Log()

    class Reporter(Recorder):
        def open(self, *args: Any, **kwargs: Any) -> None:
            self.write_message(repr((self.ping_interval, self.ping_timeout, self.max_message_size)))

    app = make_app([("/bare", Bare), ("/r", Reporter, {"log": log})], log)
    async with serve(app) as port:
        conn = await connect(port, "/r")
        assert await read(conn) == repr((None, None, 10 * 1024 * 1024))
        conn.close()
        await closed(log)
        bare = await connect(port, "/bare")
        # on_message is required: the server fails the connection with 1011.
        await bare.write_message("hello")
        assert await read(bare) is None
        assert bare.close_code == 1011


# --- TLS ------------------------------------------------------------------------------------


async def test_wss_with_a_verified_certificate(tmp_path: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app, ssl_options=server_context) as port:
        request = HTTPRequest(f"wss://localhost:{port}/echo", ca_certs=str(ca_file))
        conn = await asyncio.wait_for(websocket_connect(request), WAIT)
        assert conn.protocol is not None
        assert conn.protocol.transport is not None
        assert conn.protocol.transport.get_extra_info("ssl_object") is not None
        await conn.write_message("over tls")
        assert await read(conn) == "over tls"
        await conn.write_message(b"\x01" * 100_000, binary=True)
        assert await read(conn) == b"\x01" * 100_000
        conn.close(1000, "tls bye")
        assert await closed(log) == (1000, "tls bye")
        assert await read(conn) is None
        # Without the CA the certificate is refused.
        with pytest.raises(ssl.SSLError):
            await asyncio.wait_for(websocket_connect(f"wss://localhost:{port}/echo"), WAIT)
        # validate_cert=False accepts it.
        request = HTTPRequest(f"wss://localhost:{port}/echo", validate_cert=False)
        insecure = await asyncio.wait_for(websocket_connect(request), WAIT)
        insecure.close()
        assert await read(insecure) is None


async def test_wss_client_certificate_reaches_the_handler(tmp_path: Any) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client_file = tmp_path / "client.pem"
    ca.issue_cert("client@example.com").private_key_and_cert_chain_pem.write_to_path(
        str(client_file)
    )
    seen: list[Any] = []

    class WhoAreYou(Echo):
        def open(self, *args: Any, **kwargs: Any) -> None:
            seen.append(self.request.get_ssl_certificate())

    log = Log()
    app = make_app([("/who", WhoAreYou, {"log": log})], log)
    async with serve(app, ssl_options=server_context) as port:
        request = HTTPRequest(
            f"wss://localhost:{port}/who", ca_certs=str(ca_file), client_cert=str(client_file)
        )
        conn = await asyncio.wait_for(websocket_connect(request), WAIT)
        conn.close()
        await closed(log)
    [certificate] = seen
    assert certificate["subjectAltName"] == (("email", "client@example.com"),)


# --- client options -------------------------------------------------------------------------


async def test_client_resolver_is_used_for_the_host_name() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        resolver = OverrideResolver(Resolver(), {"chat.invalid": "127.0.0.1"})
        try:
            conn = await asyncio.wait_for(
                websocket_connect(f"ws://chat.invalid:{port}/echo", resolver=resolver), WAIT
            )
            await conn.write_message("resolved")
            assert await read(conn) == "resolved"
            conn.close()
            await closed(log)
        finally:
            resolver.close()
    # The Host header names the URL's host, not the address.
    assert log.handlers[0].request.host == f"chat.invalid:{port}"


async def test_client_request_timeout_bounds_the_handshake() -> None:
    # A server that accepts the connection and never answers the handshake.
    accepted: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        request = HTTPRequest(f"ws://127.0.0.1:{port}/", request_timeout=0.2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(HTTPTimeoutError):
            await asyncio.wait_for(websocket_connect(request), WAIT)
        assert loop.time() - start < 2
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_client_close_while_connecting_fails_the_connect_future() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        conn = WebSocketClientConnection(
            _RequestProxy(HTTPRequest(f"ws://127.0.0.1:{port}/"), HTTPRequest._DEFAULTS)
        )
        await asyncio.sleep(0.05)
        conn.close()
        with pytest.raises(WebSocketClosedError):
            await asyncio.wait_for(conn.connect_future, WAIT)
        assert await read(conn) is None
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_wss_protocol_failure_still_sends_the_close_frame(tmp_path: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app, ssl_options=server_context) as port:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
            ),
            WAIT,
        )
        raw = RawClient(reader, writer)
        status, _ = await raw.handshake("/echo")
        assert status == 101
        raw.send(masked_text("fine"))
        frame = await raw.read_frame()
        assert frame.payload == b"fine"
        # An unmasked frame: over TLS the server cannot half-close, it closes after
        # the Close frame (with TLS's own close_notify).
        raw.send(raw_frame(0x1, b"bad", mask=None))
        await raw.expect_close(1002)
        assert await closed(log) == (None, None)
        await raw.aclose()


async def test_subclass_can_await_the_handshake() -> None:
    log = Log()

    class Guarded(Echo):
        async def get(self, *args: Any, **kwargs: Any) -> None:
            # The Tornado idiom: check something, then run the handshake.
            if self.get_query_argument("token", "") != "secret":
                raise HTTPError(403)
            await super().get(*args, **kwargs)

    app = make_app([("/guarded", Guarded, {"log": log})], log)
    async with serve(app) as port:
        with pytest.raises(HTTPClientError) as info:
            await connect(port, "/guarded")
        assert info.value.code == 403
        conn = await connect(port, "/guarded?token=secret")
        await conn.write_message("let in")
        assert await read(conn) == "let in"
        conn.close()
        await closed(log)
