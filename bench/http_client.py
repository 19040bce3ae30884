"""HTTP client benchmark: CPU per fetch of a small response, typhoon against Tornado.

One local server (a bare ``asyncio.Protocol`` answering every request with a fixed
13-byte response, so its cost is the same for every client) runs in its own process
pinned to one core (``taskset -c <server core>``). Each client runs in a fresh process
pinned to the other core and fetches ``http://127.0.0.1:<port>/`` for ``--duration``
seconds after a warm-up; it reports how many fetches it completed and its own CPU time
(``os.times()``: user + system) over the timed window.

Clients:

* **typhoon**: ``typhoon.httpclient.AsyncHTTPClient`` (``SimpleAsyncHTTPClient``), which
  keeps the connection alive between fetches;
* **tornado**: ``tornado.httpclient.AsyncHTTPClient`` (Tornado's simple client), which
  opens a connection per fetch (it has no keep-alive);
* **aiohttp**: ``aiohttp.ClientSession`` (pooled keep-alive), for reference.

Two loads: ``sequential`` (one fetch at a time) and ``concurrent`` (``--concurrency``
fetches in flight, the client's default ``max_clients`` of 10). Rounds are interleaved
(every client once per round, in a rotating order) and the summary gives medians and the
ratio of Tornado's CPU per fetch to typhoon's.

Usage (from the repository root, with the ``bench`` dependency group installed)::

    .venv/bin/python bench/http_client.py --rounds 5 --duration 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

CLIENTS = ("typhoon", "tornado", "aiohttp")
LOADS = ("sequential", "concurrent")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!"
CLOSE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\n\r\nHello, world!"
)
WARMUP_FETCHES = 300


# --- the server (child process) ---------------------------------------------------------


class _Responder(asyncio.Protocol):
    """Answers each request head with the fixed response; honours Connection: close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            buffer = buffer[end + 4 :]
            if b"\r\nconnection: close" in head:
                self.transport.write(CLOSE_RESPONSE)
                self.transport.close()
                return
            self.transport.write(RESPONSE)
        self.buffer = buffer


def _serve() -> None:
    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        sock.setblocking(False)
        server = await asyncio.get_running_loop().create_server(_Responder, sock=sock)
        print(sock.getsockname()[1], flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


# --- the clients (child processes) ------------------------------------------------------


def _make_fetch(impl: str) -> tuple[Any, Any]:
    """Return (fetch coroutine function, close coroutine function) for one client."""
    if impl == "typhoon":
        from typhoon.httpclient import AsyncHTTPClient as TyphoonClient

        typhoon_client = TyphoonClient(force_instance=True)

        async def close_typhoon() -> None:
            await typhoon_client.aclose()

        return typhoon_client.fetch, close_typhoon
    if impl == "tornado":
        from tornado.httpclient import AsyncHTTPClient as TornadoClient

        tornado_client = TornadoClient(force_instance=True)

        async def close_tornado() -> None:
            tornado_client.close()

        return tornado_client.fetch, close_tornado
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=10))

    async def fetch_aiohttp(url: str) -> bytes:
        async with session.get(url) as response:
            return await response.read()

    return fetch_aiohttp, session.close


def _client(
    impl: str, port: int, load: str, concurrency: int, duration: float, limit: int = 0
) -> None:
    """Fetch for ``duration`` seconds (or exactly ``limit`` times when it is set)."""

    async def main() -> dict[str, float]:
        fetch, close = _make_fetch(impl)
        url = f"http://127.0.0.1:{port}/"
        workers = concurrency if load == "concurrent" else 1
        for _ in range(WARMUP_FETCHES // workers):
            await asyncio.gather(*(fetch(url) for _ in range(workers)))
        count = 0
        started_count = 0
        deadline = time.monotonic() + duration

        async def worker() -> None:
            nonlocal count, started_count
            while (started_count < limit) if limit else (time.monotonic() < deadline):
                started_count += 1
                await fetch(url)
                count += 1

        before = os.times()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - started
        after = os.times()
        await close()
        return {
            "fetches": count,
            "elapsed": elapsed,
            "user": after.user - before.user,
            "system": after.system - before.system,
        }

    print(json.dumps(asyncio.run(main())), flush=True)


# --- driver -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One client run: fetches per second and CPU microseconds per fetch."""

    rate: float
    user_us: float
    system_us: float

    @property
    def cpu_us(self) -> float:
        return self.user_us + self.system_us


def _run_client(
    impl: str, port: int, load: str, concurrency: int, duration: float, core: int
) -> Result:
    output = subprocess.run(
        [
            "taskset",
            "-c",
            str(core),
            sys.executable,
            os.path.abspath(__file__),
            "--client",
            impl,
            str(port),
            load,
            str(concurrency),
            str(duration),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration * 10 + 120,
    )
    data = json.loads(output.stdout.strip().splitlines()[-1])
    fetches = data["fetches"]
    return Result(
        rate=fetches / data["elapsed"],
        user_us=data["user"] / fetches * 1e6,
        system_us=data["system"] / fetches * 1e6,
    )


def _instructions(
    impl: str, port: int, load: str, concurrency: int, fetches: int, core: int
) -> float:
    """User-space instructions per fetch, counted by valgrind (cachegrind, no cache model).

    Two runs, with ``fetches`` and with none, so start-up and warm-up cancel out.
    """
    counts = []
    for limit in (fetches, -1):
        completed = subprocess.run(
            [
                "taskset",
                "-c",
                str(core),
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                "--cachegrind-out-file=/dev/null",
                sys.executable,
                os.path.abspath(__file__),
                "--client",
                impl,
                str(port),
                load,
                str(concurrency),
                "0" if limit > 0 else "-1",
                "--limit",
                str(max(limit, 0)),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
        )
        match = re.search(r"I\s+refs:\s+([\d,]+)", completed.stderr)
        assert match is not None, completed.stderr
        counts.append(int(match.group(1).replace(",", "")))
    return (counts[0] - counts[1]) / fetches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--loads", default=",".join(LOADS))
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="also count user-space instructions per fetch over N fetches with valgrind",
    )
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve()
        return
    if args.client:
        impl, port, load, concurrency, duration = args.client
        _client(impl, int(port), load, int(concurrency), float(duration), args.limit)
        return

    clients = [c for c in args.clients.split(",") if c]
    loads = [load for load in args.loads.split(",") if load]
    server = subprocess.Popen(
        [
            "taskset",
            "-c",
            str(args.server_core),
            sys.executable,
            os.path.abspath(__file__),
            "--serve",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        results: dict[tuple[str, str], list[Result]] = {}
        for round_index in range(args.rounds):
            for load in loads:
                shift = round_index % len(clients)
                for impl in clients[shift:] + clients[:shift]:
                    result = _run_client(
                        impl, port, load, args.concurrency, args.duration, args.client_core
                    )
                    results.setdefault((impl, load), []).append(result)
                    print(
                        f"round {round_index + 1} {load:10s} {impl:8s} "
                        f"{result.rate:9.0f} fetches/s  {result.cpu_us:7.1f} µs CPU/fetch "
                        f"(user {result.user_us:.1f}, system {result.system_us:.1f})",
                        flush=True,
                    )
        instructions: dict[tuple[str, str], float] = {}
        if args.instructions:
            for load in loads:
                for impl in clients:
                    instructions[(impl, load)] = _instructions(
                        impl, port, load, args.concurrency, args.instructions, args.client_core
                    )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)

    print()
    print(f"medians of {args.rounds} rounds, {args.duration:g} s each")
    print(
        f"{'load':10s} {'client':8s} {'fetches/s':>10s} {'CPU µs':>8s} {'user':>7s} {'system':>7s}"
    )
    for load in loads:
        for impl in clients:
            runs = results[(impl, load)]
            print(
                f"{load:10s} {impl:8s} "
                f"{statistics.median(r.rate for r in runs):10.0f} "
                f"{statistics.median(r.cpu_us for r in runs):8.1f} "
                f"{statistics.median(r.user_us for r in runs):7.1f} "
                f"{statistics.median(r.system_us for r in runs):7.1f}"
            )
    if instructions:
        print()
        print(f"user-space instructions per fetch (valgrind, {args.instructions} fetches)")
        for load in loads:
            for impl in clients:
                print(f"{load:10s} {impl:8s} {instructions[(impl, load)]:12,.0f}")
    if "typhoon" in clients and "tornado" in clients:
        print()
        for load in loads:
            typhoon_cpu = statistics.median(r.cpu_us for r in results[("typhoon", load)])
            tornado_cpu = statistics.median(r.cpu_us for r in results[("tornado", load)])
            line = f"{load}: Tornado / typhoon, CPU per fetch {tornado_cpu / typhoon_cpu:.2f}x"
            if instructions:
                ratio = instructions[("tornado", load)] / instructions[("typhoon", load)]
                line += f", instructions per fetch {ratio:.2f}x"
            print(line + " (target >= 3x)")


if __name__ == "__main__":
    main()
