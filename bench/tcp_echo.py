"""TCP benchmarks: line echo and bulk transfer, typhoon against Tornado and bare asyncio.

Each server runs in its own process pinned to one core (``taskset -c <server core>``);
the load generator runs in this process pinned to another core. Rounds are
interleaved (every implementation once per round, in a rotating order) and the
report gives medians and ratios.

Echo: ``--conns`` connections each send a line and wait for it to come back, for
``--duration`` seconds per round. Reported: round trips per second, and server CPU
time (utime + stime from /proc/<pid>/stat) per round trip.

Bulk: one connection sends ``--bulk-mib`` MiB; the server reads it with
``read_bytes(65536, partial=True)`` (or ``data_received`` for asyncio) and answers
``ok``. Reported: throughput, and the server's peak RSS (VmHWM) against its RSS
before the transfer.

Usage (from the repository root)::

    .venv/bin/python bench/tcp_echo.py --rounds 3 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import signal
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _process import PinnedProcess

ECHO_IMPLS = ("typhoon", "tornado", "asyncio")
LINE = b"x" * 63 + b"\n"
#: read_bytes size of the bulk sink (BENCH_READ_SIZE overrides; Tornado's chunk size).
CHUNK = int(os.environ.get("BENCH_READ_SIZE", "65536"))


# --- servers (run in the child process) -------------------------------------------------


def _stream_server_classes(impl: str) -> tuple[Any, type[BaseException]]:
    """Return (TCPServer, StreamClosedError) of typhoon or Tornado: the same program runs on both."""
    if impl == "typhoon":
        import typhoon.iostream
        import typhoon.tcpserver

        return typhoon.tcpserver.TCPServer, typhoon.iostream.StreamClosedError
    import tornado.iostream
    import tornado.tcpserver

    return tornado.tcpserver.TCPServer, tornado.iostream.StreamClosedError


def _serve(impl: str, kind: str, expected: int) -> None:
    """Run one benchmark server until killed; print its port once listening."""

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        sock.setblocking(False)
        server: Any
        if impl == "asyncio":
            loop = asyncio.get_running_loop()
            factory: Callable[[], asyncio.Protocol]
            factory = _EchoProtocol if kind == "echo" else lambda: _SinkProtocol(expected)
            server = await loop.create_server(factory, sock=sock)
        else:
            tcp_server, closed_error = _stream_server_classes(impl)

            class Server(tcp_server):  # type: ignore[misc, valid-type]
                async def handle_stream(self, stream: Any, address: Any) -> None:
                    try:
                        if kind == "echo":
                            while True:
                                line = await stream.read_until(b"\n")
                                await stream.write(line)
                        else:
                            total = 0
                            while total < expected:
                                chunk = await stream.read_bytes(CHUNK, partial=True)
                                total += len(chunk)
                            await stream.write(b"ok\n")
                    except closed_error:
                        pass

            server = Server()
            server.add_sockets([sock])
        print(sock.getsockname()[1], flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        if impl == "asyncio":
            server.close()
        else:
            server.stop()

    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if not profile_dir:
        asyncio.run(main())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, main())
    profiler.dump_stats(os.path.join(profile_dir, f"{impl}-{kind}.prof"))


class _EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n")
            if end < 0:
                return
            line = bytes(self.buffer[: end + 1])
            del self.buffer[: end + 1]
            self.transport.write(line)


class _SinkProtocol(asyncio.Protocol):
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.total = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.total += len(data)
        if self.total >= self.expected:
            self.transport.write(b"ok\n")


# --- driver -----------------------------------------------------------------------------


class Server(PinnedProcess):
    """A benchmark server process pinned to one core."""

    def __init__(self, impl: str, kind: str, core: int, expected: int = 0) -> None:
        argv = [sys.executable, os.path.abspath(__file__), "--serve", impl, kind, str(expected)]
        super().__init__(argv, core)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())


@dataclass(frozen=True)
class EchoResult:
    """One echo round: round trips per second and server CPU per round trip."""

    rps: float
    user_us: float
    system_us: float
    busy: float

    @property
    def cpu_us(self) -> float:
        return self.user_us + self.system_us


@dataclass(frozen=True)
class BulkResult:
    """One bulk round: throughput, server CPU, and server memory before and at peak."""

    mib_s: float
    cpu_s: float
    rss_before_kib: int
    peak_kib: int


def _echo_load(port: int, conns: int, duration: float, server: Server) -> EchoResult:
    """Drive ``conns`` request/response connections with a bare epoll loop.

    Plain sockets and epoll keep the client's own cost per round trip well below any
    server's, so the server (on its own core) is the side that saturates.
    """
    sockets: dict[int, socket.socket] = {}
    for _ in range(conns):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sockets[sock.fileno()] = sock
    poller = select.epoll()
    for fd in sockets:
        poller.register(fd, select.EPOLLIN)
    pending = dict.fromkeys(sockets, 0)
    size = len(LINE)
    time.sleep(0.2)
    user_before, system_before = server.cpu_times()
    cpu_before = user_before + system_before
    client_before = time.process_time()
    started = time.perf_counter()
    stop_at = started + duration
    count = 0
    for sock in sockets.values():
        sock.send(LINE)
    outstanding = len(sockets)
    stopping = False
    while outstanding:
        for fd, _event in poller.poll(1.0):
            data = sockets[fd].recv(65536)
            if not data:
                raise ConnectionError("server closed a connection")
            got = pending[fd] + len(data)
            if got < size:
                pending[fd] = got
                continue
            pending[fd] = got - size
            count += 1
            if stopping:
                outstanding -= 1
            else:
                sockets[fd].send(LINE)
        if not stopping and time.perf_counter() >= stop_at:
            stopping = True
            measured = count
            elapsed = time.perf_counter() - started
    user_after, system_after = server.cpu_times()
    wall = time.perf_counter() - started
    cpu = user_after + system_after - cpu_before
    client_cpu = time.process_time() - client_before
    if os.environ.get("BENCH_VERBOSE"):
        print(f"    client busy {client_cpu / wall:.0%}", file=sys.stderr)
    poller.close()
    for sock in sockets.values():
        sock.close()
    return EchoResult(
        rps=measured / elapsed,
        user_us=(user_after - user_before) / count * 1e6,
        system_us=(system_after - system_before) / count * 1e6,
        busy=cpu / wall,
    )


def _bulk_load(port: int, total: int) -> float:
    block = memoryview(bytes(1 << 20))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.perf_counter()
        sent = 0
        while sent < total:
            sock.sendall(block[: min(len(block), total - sent)])
            sent += min(len(block), total - sent)
        reply = sock.recv(16)
        elapsed = time.perf_counter() - started
    assert reply == b"ok\n", reply
    return total / elapsed / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--bulk-mib", type=int, default=1024)
    parser.add_argument("--impls", default=",".join(ECHO_IMPLS))
    parser.add_argument("--skip", choices=["echo", "bulk"], action="append", default=[])
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    if args.serve:
        impl, kind, expected = args.serve
        _serve(impl, kind, int(expected))
        return
    os.sched_setaffinity(0, {args.client_core})
    impls = args.impls.split(",")
    echo: dict[str, list[EchoResult]] = {impl: [] for impl in impls}
    bulk: dict[str, list[BulkResult]] = {impl: [] for impl in impls}
    total = args.bulk_mib << 20
    for round_no in range(args.rounds):
        order = impls[round_no % len(impls) :] + impls[: round_no % len(impls)]
        for impl in order:
            if "echo" not in args.skip:
                server = Server(impl, "echo", args.server_core)
                try:
                    result = _echo_load(server.port, args.conns, args.duration, server)
                finally:
                    server.close()
                echo[impl].append(result)
                print(
                    f"round {round_no} echo {impl:8} {result.rps:8.0f} rt/s "
                    f"{result.cpu_us:6.1f} us/rt (user {result.user_us:5.1f}, "
                    f"system {result.system_us:5.1f}), server busy {result.busy:.0%}",
                    flush=True,
                )
            if "bulk" not in args.skip:
                server = Server(impl, "bulk", args.server_core, total)
                try:
                    rss_before = server.memory_kib("VmRSS")
                    cpu_before = server.cpu_seconds()
                    mib_s = _bulk_load(server.port, total)
                    cpu_s = server.cpu_seconds() - cpu_before
                    peak = server.memory_kib("VmHWM")
                finally:
                    server.close()
                bulk[impl].append(BulkResult(mib_s, cpu_s, rss_before, peak))
                print(
                    f"round {round_no} bulk {impl:8} {mib_s:8.0f} MiB/s, server CPU "
                    f"{cpu_s:.2f} s, RSS before {rss_before} KiB, peak {peak} KiB",
                    flush=True,
                )
    print()
    if "echo" not in args.skip:
        _report_echo(echo)
    if "bulk" not in args.skip:
        _report_bulk(bulk, args.bulk_mib)


def _report_echo(echo: dict[str, list[EchoResult]]) -> None:
    med = {
        impl: EchoResult(
            rps=statistics.median(r.rps for r in results),
            user_us=statistics.median(r.user_us for r in results),
            system_us=statistics.median(r.system_us for r in results),
            busy=statistics.median(r.busy for r in results),
        )
        for impl, results in echo.items()
    }
    cpu = {impl: statistics.median(r.cpu_us for r in results) for impl, results in echo.items()}
    print(f"echo, medians of {len(next(iter(echo.values())))} rounds")
    for impl, m in med.items():
        print(
            f"  {impl:8} {m.rps:8.0f} rt/s  {cpu[impl]:6.1f} us/rt "
            f"(user {m.user_us:5.1f}, system {m.system_us:5.1f})  server busy {m.busy:.0%}"
        )
    if "typhoon" in med:
        for other in med:
            if other != "typhoon":
                print(
                    f"  typhoon vs {other}: {med['typhoon'].rps / med[other].rps:.2f}x rt/s, "
                    f"{cpu[other] / cpu['typhoon']:.2f}x less CPU per round trip, "
                    f"{med[other].user_us / med['typhoon'].user_us:.2f}x less user CPU"
                )


def _report_bulk(bulk: dict[str, list[BulkResult]], mib: int) -> None:
    print(f"bulk {mib} MiB, medians of {len(next(iter(bulk.values())))} rounds")
    med = {
        impl: (
            statistics.median(r.mib_s for r in results),
            statistics.median(r.cpu_s for r in results),
        )
        for impl, results in bulk.items()
    }
    for impl, results in bulk.items():
        peak = max(r.peak_kib for r in results)
        growth = max(r.peak_kib - r.rss_before_kib for r in results)
        print(
            f"  {impl:8} {med[impl][0]:8.0f} MiB/s  server CPU {med[impl][1]:.2f} s  "
            f"peak RSS {peak} KiB (at most +{growth} KiB over the idle server)"
        )
    if "typhoon" in med:
        for other in med:
            if other != "typhoon":
                print(
                    f"  typhoon vs {other}: {med['typhoon'][0] / med[other][0]:.2f}x throughput, "
                    f"{med[other][1] / med['typhoon'][1]:.2f}x less CPU"
                )


if __name__ == "__main__":
    main()
