"""HTTP server benchmarks: hello-world servers under wrk, and idle keep-alive memory.

Servers (each its own process, pinned with ``taskset -c <server core>``):

* ``typhoon``: ``typhoon.httpserver.HTTPServer`` with a minimal request callback;
* ``typhoon-web``: ``typhoon.web.Application`` with two ``RequestHandler`` classes
  (skipped with a note when ``typhoon.web`` cannot be imported);
* ``tornado``: ``tornado.httpserver.HTTPServer`` with the same minimal callback;
* ``tornado-web``: ``tornado.web.Application`` with the same handlers;
* ``aiohttp``: an ``aiohttp.web`` application;
* ``uvicorn``: Starlette under uvicorn (httptools parser, asyncio loop);
* ``floor``: a bare ``asyncio.Protocol`` feeding ``httptools``, answering with
  prebuilt bytes: the least any Python server on this loop can cost;
* ``typhoon-pure``, ``typhoon-web-pure`` (only when named in ``--impls``): the typhoon
  servers on the pure-Python modules. The others run typhoon as its wheel ships it, with
  the request path compiled (``core/build_native.py`` builds a copy in ``build/compiled``);
  ``TYPHOON_PURE_PYTHON=1`` makes every typhoon server pure Python.

Every server runs on the default asyncio selector loop (no uvloop), answers ``GET /``
with ``Hello, world!`` as text/plain and ``GET /json`` with a small JSON object.

Throughput: ``taskset -c <client core> wrk -t1 -c64 -d<duration>s`` per path, rounds
interleaved (every server once per round, the order rotating), medians reported.
Per run: requests/s from wrk, and server CPU per request = (utime + stime delta from
/proc/<pid>/stat over the run) / requests completed, split into user and system parts.

Memory (``--memory``): 10,000 keep-alive connections each make one request and then
stay idle; reported is the server's RSS growth per connection (VmRSS after minus
before), and the time a fresh client then needs for a request (connect, send, full
response). The soft ``ulimit -n`` is raised to the hard limit in both processes.

Usage (from the repository root, with the ``bench`` dependency group installed)::

    .venv/bin/python bench/http_server.py --rounds 3 --duration 5
    .venv/bin/python bench/http_server.py --memory --impls typhoon,tornado,floor
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
from typing import Any

from _process import PinnedProcess, raise_fd_limit, server_environment, typhoon_variant

ALL_IMPLS = ("typhoon", "typhoon-web", "tornado", "tornado-web", "aiohttp", "uvicorn", "floor")
PATHS = ("/", "/json")
HELLO = b"Hello, world!"


def _json_body() -> bytes:
    return json.dumps({"message": "Hello, world!"}).encode()


# --- servers (run in the child process) -------------------------------------------------


def _serve_plain(port: int, httpserver: Any, httputil: Any) -> None:
    """An ``HTTPServer`` with a minimal request callback; the same code for both stacks."""
    ok = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")

    def handle(request: Any) -> None:
        headers = httputil.HTTPHeaders()
        if request.path == "/json":
            body = _json_body()
            headers["Content-Type"] = "application/json"
        else:
            body = HELLO
            headers["Content-Type"] = "text/plain"
        headers["Content-Length"] = str(len(body))
        connection = request.connection
        assert connection is not None
        connection.write_headers(ok, headers, body)
        connection.finish()

    async def main() -> None:
        server = httpserver.HTTPServer(handle)
        server.listen(port, "127.0.0.1")
        _ready()
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_typhoon(port: int) -> None:
    from typhoon import httpserver, httputil

    _serve_plain(port, httpserver, httputil)


def _serve_tornado(port: int) -> None:
    from tornado import httpserver, httputil

    _serve_plain(port, httpserver, httputil)


def _web_handlers(web: Any) -> list[tuple[str, Any]]:
    class Hello(web.RequestHandler):  # type: ignore[misc, name-defined]
        def get(self) -> None:
            self.set_header("Content-Type", "text/plain")
            self.write(HELLO)

    class Json(web.RequestHandler):  # type: ignore[misc, name-defined]
        def get(self) -> None:
            self.write({"message": "Hello, world!"})

    return [("/", Hello), ("/json", Json)]


def _serve_typhoon_web(port: int) -> None:
    from typhoon import web

    async def main() -> None:
        app = web.Application(_web_handlers(web), load_entrypoints=False)
        app.listen(port, "127.0.0.1")
        await app.startup()
        _ready()
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_tornado_web(port: int) -> None:
    from tornado import web

    async def main() -> None:
        app = web.Application(_web_handlers(web))
        app.listen(port, "127.0.0.1")
        _ready()
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_aiohttp(port: int) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=HELLO, content_type="text/plain")

    async def json_view(request: web.Request) -> web.Response:
        return web.json_response({"message": "Hello, world!"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", hello)
        app.router.add_get("/json", json_view)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=3600)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        _ready()
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_uvicorn(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    async def json_view(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Hello, world!"})

    app = Starlette(routes=[Route("/", hello), Route("/json", json_view)])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=3600,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        _ready()
        await task

    asyncio.run(main())


def _serve_floor(port: int) -> None:
    import httptools

    def response(body: bytes, content_type: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
            content_type,
            len(body),
            body,
        )

    answers = {
        b"/": response(HELLO, b"text/plain"),
        b"/json": response(_json_body(), b"application/json"),
    }

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]
            self.parser = httptools.HttpRequestParser(self)
            self.url = b""

        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_message_complete(self) -> None:
            self.transport.write(answers.get(self.url, answers[b"/"]))
            if not self.parser.should_keep_alive():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Protocol, "127.0.0.1", port, backlog=4096)
        _ready()
        await asyncio.Event().wait()

    asyncio.run(main())


SERVERS = {
    "typhoon": _serve_typhoon,
    "typhoon-web": _serve_typhoon_web,
    "tornado": _serve_tornado,
    "tornado-web": _serve_tornado_web,
    "aiohttp": _serve_aiohttp,
    "uvicorn": _serve_uvicorn,
    "floor": _serve_floor,
    # The same typhoon servers on the pure-Python modules (no compiled request path).
    "typhoon-pure": _serve_typhoon,
    "typhoon-web-pure": _serve_typhoon_web,
}


def _ready() -> None:
    # Exit cleanly on SIGTERM, so that valgrind (--instructions) reports its counts.
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
    print("ready", flush=True)


# --- driver -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server(PinnedProcess):
    """A benchmark server process pinned to one core."""

    def __init__(self, impl: str, core: int) -> None:
        self.impl = impl
        self.port = _free_port()
        argv = [sys.executable, os.path.abspath(__file__), "--serve", impl, str(self.port)]
        super().__init__(argv, core, env=server_environment(pure=impl.endswith("-pure")))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"{impl} server did not start")


def _get(port: int, path: str = "/") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


_REQUESTS_RE = re.compile(r"(\d+) requests in")
_RATE_RE = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99_RE = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(
    port: int, path: str, duration: float, conns: int, core: int
) -> tuple[int, float, float, str]:
    """Run wrk; return (requests, requests/s, 99th percentile latency in ms, errors)."""
    out = subprocess.run(
        [
            "taskset",
            "-c",
            str(core),
            "wrk",
            "--latency",
            "-t1",
            f"-c{conns}",
            f"-d{duration:g}s",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    requests_match = _REQUESTS_RE.search(out)
    rate_match = _RATE_RE.search(out)
    p99_match = _P99_RE.search(out)
    if requests_match is None or rate_match is None or p99_match is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    p99 = float(p99_match.group(1)) * _UNIT_MS[p99_match.group(2)]
    errors = ""
    for line in out.splitlines():
        if "Non-2xx" in line or "Socket errors" in line:
            errors += line.strip() + " "
    return int(requests_match.group(1)), float(rate_match.group(1)), p99, errors


def throughput(args: argparse.Namespace, impls: list[str]) -> None:
    """Interleaved wrk rounds; prints per-run lines, medians and ratios."""
    paths = args.paths.split(",")
    results: dict[tuple[str, str], list[tuple[float, float, float, float, float]]] = {}
    for round_no in range(args.rounds):
        shift = round_no % len(impls)
        for impl in impls[shift:] + impls[:shift]:
            server = Server(impl, args.server_core)
            try:
                for path in paths:
                    body = _get(server.port, path)
                    if b" 200 " not in body.split(b"\r\n", 1)[0]:
                        raise RuntimeError(f"{impl} {path}: {body[:80]!r}")
                    # A short warm-up run (caches, first-request set-up).
                    _wrk(server.port, path, 1, args.conns, args.client_core)
                    user0, sys0 = server.cpu_times()
                    count, rate, p99, errors = _wrk(
                        server.port, path, args.duration, args.conns, args.client_core
                    )
                    user1, sys1 = server.cpu_times()
                    user = (user1 - user0) / count * 1e6
                    system = (sys1 - sys0) / count * 1e6
                    results.setdefault((impl, path), []).append(
                        (rate, user + system, user, system, p99)
                    )
                    print(
                        f"round {round_no} {impl:12} {path:6} {rate:9.0f} req/s "
                        f"{user + system:7.1f} µs CPU/req (user {user:6.1f}, sys {system:6.1f}) "
                        f"p99 {p99:6.2f} ms {errors}",
                        flush=True,
                    )
            finally:
                server.close()
    print()
    for path in paths:
        print(f"GET {path}: medians of {args.rounds} rounds (typhoon {typhoon_variant()})")
        medians = {
            impl: tuple(
                statistics.median(run[i] for run in results[(impl, path)]) for i in range(5)
            )
            for impl in impls
        }
        base = args.base if args.base in impls else "typhoon" if "typhoon" in impls else impls[0]
        floor = medians.get("floor")
        for impl in impls:
            rate, cpu, user, system, p99 = medians[impl]
            line = (
                f"  {impl:12} {rate:9.0f} req/s {cpu:7.1f} µs CPU/req "
                f"(user {user:6.1f}, sys {system:6.1f}) p99 {p99:6.2f} ms"
            )
            if impl != base:
                line += (
                    f" | {base} uses {cpu / medians[base][1]:.2f}x less CPU/req"
                    if cpu >= medians[base][1]
                    else f" | {base} uses {medians[base][1] / cpu:.2f}x more CPU/req"
                )
                line += f", {medians[base][0] / rate:.2f}x the req/s"
            if floor is not None and impl != "floor":
                line += f" | {cpu / floor[1]:.2f}x the floor's CPU/req"
            print(line)
        for own in [base] + [impl for impl in impls if impl.startswith("typhoon") and impl != base]:
            _print_paired(results, impls, own, path)
        print()


def _print_paired(
    results: dict[tuple[str, str], list[tuple[float, float, float, float, float]]],
    impls: list[str],
    base: str,
    path: str,
) -> None:
    """Per-round CPU ratios against ``base``: the median, and the spread over rounds.

    Each round runs every server once, close together in time, so a ratio taken within
    a round is less exposed to the machine's load drifting between rounds than a
    ratio of medians.
    """
    print(f"  paired by round: CPU/req as a multiple of {base}'s (median, lowest-highest):")
    for impl in impls:
        if impl == base:
            continue
        ratios = [
            other[1] / own[1]
            for own, other in zip(results[(base, path)], results[(impl, path)], strict=True)
        ]
        print(
            f"    {impl:12} {statistics.median(ratios):5.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )


# --- instructions -----------------------------------------------------------------------


def _count_instructions(impl: str, requests: int, core: int) -> int:
    """User-space instructions of a server that answered ``requests`` GETs, then exited."""
    port = _free_port()
    proc = subprocess.Popen(
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
            "--serve",
            impl,
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_environment(pure=impl.endswith("-pure")),
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"{impl} server did not start under valgrind")
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        # One keep-alive connection, one request at a time: each request costs a full
        # pass of the event loop, as under load with few requests per wake-up.
        for _ in range(requests):
            sock.sendall(request)
            data = b""
            while HELLO not in data:
                data += sock.recv(4096)
    proc.terminate()
    _out, err = proc.communicate(timeout=600)
    match = re.search(r"I\s+refs:\s+([\d,]+)", err)
    if match is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{err[-2000:]}")
    return int(match.group(1).replace(",", ""))


def instructions(args: argparse.Namespace, impls: list[str]) -> None:
    """User-space instructions per request, counted by valgrind (N requests minus none)."""
    print(
        f"user-space instructions per GET / (valgrind, {args.instructions} requests;"
        f" typhoon {typhoon_variant()})"
    )
    counts = {}
    for impl in impls:
        busy = _count_instructions(impl, args.instructions, args.server_core)
        idle = _count_instructions(impl, 0, args.server_core)
        counts[impl] = (busy - idle) / args.instructions
        print(f"  {impl:12} {counts[impl]:12,.0f}", flush=True)
    if "typhoon" in counts:
        for impl, value in counts.items():
            if impl != "typhoon":
                print(f"  typhoon runs {counts['typhoon'] / value:.2f}x the instructions of {impl}")


# --- idle connections -------------------------------------------------------------------


def _open_idle(port: int, count: int, batch: int) -> list[socket.socket]:
    """Open ``count`` connections; each makes one keep-alive request and stays open."""
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    sockets: list[socket.socket] = []
    while len(sockets) < count:
        group = []
        for _ in range(min(batch, count - len(sockets))):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(request)
            group.append(sock)
        for sock in group:
            data = b""
            while b"Hello, world!" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise RuntimeError("server closed an idle connection early")
                data += chunk
        sockets.extend(group)
    return sockets


def memory(args: argparse.Namespace, impls: list[str]) -> None:
    """RSS growth per idle keep-alive connection, and a fresh client's latency."""
    limit = raise_fd_limit()
    count = args.idle_conns
    if limit < count + 100:
        raise SystemExit(f"ulimit -n hard limit {limit} is too low for {count} connections")
    print(
        f"{count} idle keep-alive connections per server (fd limit {limit}; typhoon {typhoon_variant()})"
    )
    rows = {}
    for impl in impls:
        server = Server(impl, args.server_core)
        try:
            # Warm up with the same kind of connection, so lazily built state is in place.
            warm = _open_idle(server.port, 200, 100)
            for sock in warm:
                sock.close()
            time.sleep(0.5)
            before = server.memory_kib()
            sockets = _open_idle(server.port, count, 100)
            time.sleep(1.0)
            after = server.memory_kib()
            latencies = []
            for _ in range(5):
                started = time.perf_counter()
                response = _get(server.port)
                latencies.append((time.perf_counter() - started) * 1000)
                assert b"Hello, world!" in response
            latency = statistics.median(latencies)
            for sock in sockets:
                sock.close()
        finally:
            server.close()
        per_conn = (after - before) * 1024 / count / 1024
        rows[impl] = per_conn
        print(
            f"  {impl:12} RSS {before / 1024:6.1f} -> {after / 1024:6.1f} MiB: "
            f"{per_conn:5.2f} KiB per connection; a new client is served in {latency:5.1f} ms "
            "(median of 5)",
            flush=True,
        )
    if "typhoon" in rows:
        for impl, value in rows.items():
            if impl != "typhoon":
                print(f"  typhoon needs {rows['typhoon'] / value:.2f}x the memory of {impl}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--impls", default=",".join(ALL_IMPLS))
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument(
        "--base", default="typhoon", help="the implementation the others are compared with"
    )
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--memory", action="store_true", help="measure idle connections instead")
    parser.add_argument("--idle-conns", type=int, default=10_000)
    parser.add_argument(
        "--instructions",
        type=int,
        metavar="N",
        default=0,
        help="count user-space instructions per request over N requests with valgrind instead",
    )
    args = parser.parse_args()
    if args.serve:
        impl, port = args.serve
        raise_fd_limit()
        SERVERS[impl](int(port))
        return
    os.sched_setaffinity(0, {args.client_core})
    impls = []
    for impl in args.impls.split(","):
        if impl == "typhoon-web":
            try:
                import typhoon.web  # noqa: F401
            except ImportError as exc:
                print(f"skipping typhoon-web: {exc}")
                continue
        impls.append(impl)
    if args.instructions:
        instructions(args, impls)
    elif args.memory:
        memory(args, impls)
    else:
        throughput(args, impls)


if __name__ == "__main__":
    main()
