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
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

ECHO_IMPLS = ("typhoon", "tornado", "asyncio")
LINE = b"x" * 63 + b"\n"
CHUNK = 65536
CLK_TCK = os.sysconf("SC_CLK_TCK")


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


class Server:
    """A benchmark server process pinned to one core."""

    def __init__(self, impl: str, kind: str, core: int, expected: int = 0) -> None:
        self.proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(core),
                sys.executable,
                os.path.abspath(__file__),
                "--serve",
                impl,
                kind,
                str(expected),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # Fields 14 and 15 (utime, stime) are at index 11 and 12 after the command name.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_kib(self, key: str) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _echo_load(port: int, conns: int, duration: float, server: Server) -> tuple[float, float]:
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
    cpu_before = server.cpu_seconds()
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
    cpu = server.cpu_seconds() - cpu_before
    client_cpu = time.process_time() - client_before
    if os.environ.get("BENCH_VERBOSE"):
        print(
            f"    server busy {cpu / elapsed:.0%}, client busy {client_cpu / elapsed:.0%}",
            file=sys.stderr,
        )
    poller.close()
    for sock in sockets.values():
        sock.close()
    return measured / elapsed, cpu / count * 1e6


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
    echo: dict[str, list[tuple[float, float]]] = {impl: [] for impl in impls}
    bulk: dict[str, list[tuple[float, int, int]]] = {impl: [] for impl in impls}
    total = args.bulk_mib << 20
    for round_no in range(args.rounds):
        order = impls[round_no % len(impls) :] + impls[: round_no % len(impls)]
        for impl in order:
            if "echo" not in args.skip:
                server = Server(impl, "echo", args.server_core)
                try:
                    rps, cpu_us = _echo_load(server.port, args.conns, args.duration, server)
                finally:
                    server.close()
                echo[impl].append((rps, cpu_us))
                print(f"round {round_no} echo {impl:8} {rps:10.0f} rt/s {cpu_us:7.2f} us/rt")
            if "bulk" not in args.skip:
                server = Server(impl, "bulk", args.server_core, total)
                try:
                    rss_before = server.memory_kib("VmRSS")
                    mib_s = _bulk_load(server.port, total)
                    peak = server.memory_kib("VmHWM")
                finally:
                    server.close()
                bulk[impl].append((mib_s, rss_before, peak))
                print(
                    f"round {round_no} bulk {impl:8} {mib_s:8.0f} MiB/s "
                    f"rss before {rss_before} KiB peak {peak} KiB"
                )
    print()
    base = "asyncio"
    if "echo" not in args.skip:
        print("echo (medians)")
        med = {
            impl: (
                statistics.median(r for r, _ in echo[impl]),
                statistics.median(c for _, c in echo[impl]),
            )
            for impl in impls
        }
        for impl in impls:
            rps, cpu = med[impl]
            line = f"  {impl:8} {rps:10.0f} rt/s {cpu:7.2f} us/rt"
            for other in impls:
                if other != impl:
                    line += (
                        f" | vs {other}: {rps / med[other][0]:.2f}x rt/s, "
                        f"{med[other][1] / cpu:.2f}x cpu-efficiency"
                    )
            print(line)
    if "bulk" not in args.skip:
        print(f"bulk {args.bulk_mib} MiB (medians)")
        for impl in impls:
            mib_s = statistics.median(m for m, _, _ in bulk[impl])
            peak = max(p for _, _, p in bulk[impl])
            before = max(b for _, b, _ in bulk[impl])
            line = f"  {impl:8} {mib_s:8.0f} MiB/s peak RSS {peak} KiB (+{peak - before} KiB)"
            if base in bulk and impl != base:
                line += f" | {mib_s / statistics.median(m for m, _, _ in bulk[base]):.2f}x {base}"
            print(line)


if __name__ == "__main__":
    main()
