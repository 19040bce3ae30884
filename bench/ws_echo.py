"""WebSocket echo benchmark: typhoon against Tornado, aiohttp and uvicorn.

Each server runs in its own process pinned to one core (``taskset -c <server core>``)
and answers every message with the same message. The load generator runs in this
process, pinned to another core: the ``websockets`` library's sans-IO client protocol
over plain non-blocking sockets and epoll (the handshake, masking and frame parsing
are the library's; the socket loop is ours, so no event loop sits in the way).

Echo: ``--conns`` connections (1 and 100 by default) each send a 32-byte text message
and wait for its echo, for ``--duration`` seconds per round. Reported: messages per
second, and server CPU time (utime + stime from /proc/<pid>/stat) per echoed message,
split into user and system time.

``--impls floor`` adds a bare ``asyncio.Protocol`` with hand-written framing and no
checks: the least an echo costs on this event loop.

Idle: ``--idle`` connections complete the handshake and then stay silent; reported:
the server's RSS growth per connection (VmRSS after, minus before, divided by the
count).

Rounds are interleaved (every implementation once per round, in a rotating order)
and the summary gives medians.

Instructions (``--instructions N``): each server runs under valgrind (cachegrind
without the cache model) and echoes N messages on one connection, one at a time; the
count of a run that echoed none (same handshake, same close) is subtracted and the
rest divided by N. User-space work only, and independent of how busy the machine is.

Usage (from the repository root)::

    .venv/bin/python bench/ws_echo.py --rounds 3 --duration 3
    .venv/bin/python bench/ws_echo.py --instructions 2000 --impls typhoon,aiohttp
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from _process import PinnedProcess, raise_fd_limit, server_environment, typhoon_variant
from websockets.frames import Opcode

IMPLS = ("typhoon", "tornado", "aiohttp", "uvicorn")
MESSAGE = "m" * 32


# --- servers (run in the child process) -------------------------------------------------


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def _typhoon(sock: socket.socket) -> Any:
    from typhoon.httpserver import HTTPServer
    from typhoon.web import Application
    from typhoon.websocket import WebSocketHandler

    class Echo(WebSocketHandler):
        def open(self) -> None:
            self.set_nodelay(True)

        def on_message(self, message: str | bytes) -> None:
            self.write_message(message)

    server = HTTPServer(Application([("/", Echo)]))
    server.add_sockets([sock])
    return server.stop


async def _tornado(sock: socket.socket) -> Any:
    from tornado.httpserver import HTTPServer
    from tornado.web import Application
    from tornado.websocket import WebSocketHandler

    class Echo(WebSocketHandler):
        def open(self) -> None:
            self.set_nodelay(True)

        def on_message(self, message: str | bytes) -> None:
            self.write_message(message)

    server = HTTPServer(Application([("/", Echo)]))
    server.add_sockets([sock])
    return server.stop


async def _aiohttp(sock: socket.socket) -> Any:
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    return None


async def _uvicorn(sock: socket.socket) -> Any:
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return
            if event.get("text") is not None:
                await send({"type": "websocket.send", "text": event["text"]})
            else:
                await send({"type": "websocket.send", "bytes": event["bytes"]})

    # The same asyncio loop as the others (uvicorn would pick uvloop when installed).
    config = uvicorn.Config(
        app, loop="none", lifespan="off", log_level="warning", access_log=False, ws="auto"
    )
    server = uvicorn.Server(config)
    asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    return None


async def _floor(sock: socket.socket) -> Any:
    """A bare asyncio protocol: the least a WebSocket echo costs on this loop.

    The handshake is answered from the key alone and frames are read without any
    checks (a 7-bit length, masked, one frame per read is assumed): a reference point,
    not a server.
    """
    import base64
    import hashlib

    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    from_bytes = int.from_bytes

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]
            self.head = b""
            self.open = False
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            if self.open:
                length = data[1] & 0x7F
                frame = from_bytes(data, "little")
                key = (frame >> 16) & 0xFFFFFFFF
                payload = (frame >> 48) ^ (key * _REPEAT[length]) & ((1 << (8 * length)) - 1)
                self.transport.write(bytes((data[0], length)) + payload.to_bytes(length, "little"))
                return
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            for line in self.head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    accept = base64.b64encode(hashlib.sha1(value.strip() + guid).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.open = True

    await asyncio.get_running_loop().create_server(Echo, sock=sock)
    return None


_REPEAT = tuple(sum(1 << (32 * i) for i in range((n + 3) >> 2)) for n in range(126))

SERVERS = {
    "typhoon": _typhoon,
    "tornado": _tornado,
    "aiohttp": _aiohttp,
    "uvicorn": _uvicorn,
    "floor": _floor,
}


def _serve(impl: str) -> None:
    """Run one benchmark server until SIGTERM; print its port once listening."""

    async def main() -> None:
        sock = _listening_socket()
        await SERVERS[impl](sock)
        print(sock.getsockname()[1], flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    raise_fd_limit()
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if not profile_dir:
        asyncio.run(main())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, main())
    profiler.dump_stats(os.path.join(profile_dir, f"{impl}-ws.prof"))


# --- driver -----------------------------------------------------------------------------


class Server(PinnedProcess):
    """A benchmark server process pinned to one core."""

    def __init__(self, impl: str, core: int, wrapper: tuple[str, ...] = ()) -> None:
        super().__init__(
            [sys.executable, os.path.abspath(__file__), "--serve", impl],
            core,
            wrapper,
            stderr=subprocess.PIPE if wrapper else None,
            # Under valgrind: the same string hashes in every run, so counts repeat.
            env={**server_environment(), "PYTHONHASHSEED": "0"}
            if wrapper
            else server_environment(),
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())


class Client:
    """One WebSocket client connection: the websockets sans-IO protocol on a socket."""

    __slots__ = ("protocol", "sock")

    def __init__(self, port: int) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Compression off: every server then echoes the same uncompressed frames.
        self.protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"), max_size=None)
        self.protocol.send_request(self.protocol.connect())
        self.flush()

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def finish_handshake(self) -> None:
        from websockets.protocol import State

        self.sock.settimeout(30)
        while self.protocol.state is State.CONNECTING:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed during the handshake")
            self.protocol.receive_data(data)
            self.protocol.events_received()
        if self.protocol.state is not State.OPEN:
            raise ConnectionError(f"handshake failed: {self.protocol.handshake_exc}")
        self.sock.setblocking(False)

    def send(self) -> None:
        self.protocol.send_text(MESSAGE.encode())
        for data in self.protocol.data_to_send():
            self.sock.send(data)

    def receive(self) -> int:
        """Read what arrived; return how many messages it completed."""
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed a connection")
        protocol = self.protocol
        protocol.receive_data(data)
        count = 0
        for event in protocol.events_received():
            if getattr(event, "opcode", None) is Opcode.TEXT:
                count += 1
        # Pongs for the server's keep-alive pings, if any.
        for out in protocol.data_to_send():
            if out:
                self.sock.send(out)
        return count


def _open_clients(port: int, count: int, batch: int = 200) -> list[Client]:
    clients: list[Client] = []
    while len(clients) < count:
        opened = [Client(port) for _ in range(min(batch, count - len(clients)))]
        for client in opened:
            client.finish_handshake()
        clients.extend(opened)
    return clients


@dataclass(frozen=True)
class EchoResult:
    """One echo round: messages per second and server CPU per echoed message."""

    rate: float
    user_us: float
    system_us: float
    busy: float
    client_busy: float

    @property
    def cpu_us(self) -> float:
        return self.user_us + self.system_us


def _echo_load(server: Server, conns: int, duration: float) -> EchoResult:
    clients = _open_clients(server.port, conns)
    by_fd = {client.sock.fileno(): client for client in clients}
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    # Warm up: one message each way per connection.
    for client in clients:
        client.send()
    waiting = len(clients)
    while waiting:
        for fd, _event in poller.poll(5.0):
            waiting -= by_fd[fd].receive()
    time.sleep(0.1)
    user_before, system_before = server.cpu_times()
    client_before = time.process_time()
    started = time.perf_counter()
    stop_at = started + duration
    count = 0
    for client in clients:
        client.send()
    outstanding = len(clients)
    stopping = False
    measured = 0
    elapsed = duration
    while outstanding:
        events = poller.poll(5.0)
        if not events:
            raise TimeoutError("no echo for 5 seconds")
        for fd, _event in events:
            client = by_fd[fd]
            done = client.receive()
            if not done:
                continue
            count += done
            if stopping:
                outstanding -= done
            else:
                client.send()
        if not stopping and time.perf_counter() >= stop_at:
            stopping = True
            measured = count
            elapsed = time.perf_counter() - started
    wall = time.perf_counter() - started
    user_after, system_after = server.cpu_times()
    client_cpu = time.process_time() - client_before
    poller.close()
    for client in clients:
        client.sock.close()
    return EchoResult(
        rate=measured / elapsed,
        user_us=(user_after - user_before) / count * 1e6,
        system_us=(system_after - system_before) / count * 1e6,
        busy=(user_after + system_after - user_before - system_before) / wall,
        client_busy=client_cpu / wall,
    )


def _idle_load(server: Server, count: int) -> float:
    """Open ``count`` idle connections; return the server's RSS growth per connection."""
    time.sleep(0.3)
    before = server.memory_kib()
    clients = _open_clients(server.port, count)
    time.sleep(1.0)
    after = server.memory_kib()
    for client in clients:
        client.sock.close()
    return (after - before) * 1024 / count


# --- instructions -----------------------------------------------------------------------

_VALGRIND = (
    "valgrind",
    "--tool=cachegrind",
    "--cache-sim=no",
    "--cachegrind-out-file=/dev/null",
)


def _count_instructions(impl: str, messages: int, core: int) -> int:
    """User-space instructions of a server that echoed ``messages`` messages, then exited."""
    server = Server(impl, core, _VALGRIND)
    try:
        client = Client(server.port)
        client.finish_handshake()
        client.sock.setblocking(True)
        client.sock.settimeout(60)
        # One message at a time: each costs a full pass of the event loop, as at one
        # connection under load.
        for _ in range(messages):
            client.send()
            while not client.receive():
                pass
        client.sock.close()
        time.sleep(0.5)
        server.proc.terminate()
        _out, err = server.proc.communicate(timeout=600)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
    match = re.search(r"I\s+refs:\s+([\d,]+)", err)
    if match is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{err[-2000:]}")
    return int(match.group(1).replace(",", ""))


def instructions(impls: list[str], messages: int, core: int) -> None:
    """Print user-space instructions per echoed message (N messages minus none)."""
    print(
        f"user-space instructions per echoed message (valgrind, {messages} messages;"
        f" typhoon {typhoon_variant()})"
    )
    for impl in impls:
        busy = _count_instructions(impl, messages, core)
        idle = _count_instructions(impl, 0, core)
        print(f"  {impl:8} {(busy - idle) / messages:10,.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--conns", default="1,100", help="comma-separated connection counts")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections (0: skip)")
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="count user-space instructions per message over N messages with valgrind instead",
    )
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve)
        return
    raise_fd_limit()
    os.sched_setaffinity(0, {args.client_core})
    gc.disable()
    impls = args.impls.split(",")
    if args.instructions:
        instructions(impls, args.instructions, args.server_core)
        return
    conn_counts = [int(n) for n in args.conns.split(",") if n]
    echo: dict[tuple[str, int], list[EchoResult]] = {}
    idle: dict[str, list[float]] = {impl: [] for impl in impls}
    for round_no in range(args.rounds):
        order = impls[round_no % len(impls) :] + impls[: round_no % len(impls)]
        for impl in order:
            for conns in conn_counts:
                server = Server(impl, args.server_core)
                try:
                    result = _echo_load(server, conns, args.duration)
                finally:
                    server.close()
                echo.setdefault((impl, conns), []).append(result)
                print(
                    f"round {round_no} {impl:8} {conns:4} conns {result.rate:8.0f} msg/s "
                    f"{result.cpu_us:6.1f} us/msg (user {result.user_us:5.1f}, system "
                    f"{result.system_us:5.1f}), server busy {result.busy:.0%}, "
                    f"client busy {result.client_busy:.0%}",
                    flush=True,
                )
                gc.collect()
    if args.idle:
        for impl in impls:
            server = Server(impl, args.server_core)
            try:
                per_conn = _idle_load(server, args.idle)
            finally:
                server.close()
            idle[impl].append(per_conn)
            print(f"idle {impl:8} {args.idle} conns: {per_conn / 1024:.2f} KiB per connection")
            gc.collect()
    print()
    _report(echo, idle, impls, conn_counts, args.rounds)


def _report(
    echo: dict[tuple[str, int], list[EchoResult]],
    idle: dict[str, list[float]],
    impls: list[str],
    conn_counts: list[int],
    rounds: int,
) -> None:
    if rounds:
        print(
            f"echo of {len(MESSAGE)}-byte messages, medians of {rounds} rounds"
            f" (typhoon {typhoon_variant()})"
        )
    for conns in conn_counts if rounds else []:
        for impl in impls:
            results = echo[(impl, conns)]
            rate = statistics.median(r.rate for r in results)
            cpu = statistics.median(r.cpu_us for r in results)
            user = statistics.median(r.user_us for r in results)
            system = statistics.median(r.system_us for r in results)
            print(
                f"  {conns:4} conns {impl:8} {rate:8.0f} msg/s  {cpu:6.1f} us/msg "
                f"(user {user:5.1f}, system {system:5.1f})"
            )
    for impl in impls:
        if idle[impl]:
            print(f"  idle {impl:8} {statistics.median(idle[impl]) / 1024:6.2f} KiB/connection")


if __name__ == "__main__":
    main()
