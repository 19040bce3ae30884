"""``GET /item/<id>``: one primary-key query per request, typhoon against Tornado.

Servers (each its own process, pinned with ``taskset -c <server core>``):

* ``typhoon``: a ``RequestHandler`` awaiting ``self.db.get(...)`` from the database plugin
  (``AsyncPool``, 8 worker threads with one pymysql connection each);
* ``tornado-blocking``: the same handler on Tornado calling pymysql directly on the event
  loop (what a torndb application did);
* ``tornado-executor``: Tornado calling pymysql through ``IOLoop.run_in_executor`` on a
  pool of 8 threads, one connection per thread.

A private MariaDB (``typhoon_database.server.PrivateMariaDB``) holds 10,000 rows. The load is
``wrk -t1 -c64 --latency`` on the client core, interleaved rounds; the summary gives the
median requests/s, p99 latency and server CPU per request, and typhoon's ratios.

Run: ``.venv/bin/python bench/db_item.py --rounds 3 --duration 5``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROWS = 10_000
IMPLS = ["typhoon", "tornado-blocking", "tornado-executor"]


def _db() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(os.environ["BENCH_DB"])
    return config


def _serve_typhoon(port: int) -> None:
    import asyncio

    import typhoon_database.plugin
    from typhoon.web import Application, HTTPError, RequestHandler

    class Item(RequestHandler):
        async def get(self, item_id: str) -> None:
            row = await self.db.get("SELECT id, name FROM items WHERE id = %s", int(item_id))
            if row is None:
                raise HTTPError(404)
            self.write(row)

    config = _db()
    app = Application(
        [(r"/item/(\d+)", Item)],
        plugins=[typhoon_database.plugin],
        load_entrypoints=False,
        mysql_host=f"{config['host']}:{config['port']}",
        mysql_database=config["database"],
        mysql_user=config["user"],
        mysql_password=config["password"],
        mysql_pool_size=8,
    )

    async def main() -> None:
        app.listen(port, "127.0.0.1")
        await app.startup()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_tornado(port: int, blocking: bool) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import pymysql
    import pymysql.cursors
    from tornado.ioloop import IOLoop
    from tornado.web import Application, HTTPError, RequestHandler

    config = _db()

    def connect() -> Any:
        return pymysql.connect(
            host=config["host"],
            port=config["port"],
            user=config["user"],
            password=config["password"],
            database=config["database"],
            autocommit=True,
            cursorclass=pymysql.cursors.DictCursor,
        )

    shared = connect()
    local = threading.local()

    def query(item_id: int, connection: Any = None) -> Any:
        if connection is None:
            if not hasattr(local, "connection"):
                local.connection = connect()
            connection = local.connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, name FROM items WHERE id = %s", (item_id,))
            return cursor.fetchone()

    executor = ThreadPoolExecutor(8)

    class Item(RequestHandler):
        async def get(self, item_id: str) -> None:
            if blocking:
                row = query(int(item_id), shared)
            else:
                row = await IOLoop.current().run_in_executor(executor, query, int(item_id))
            if row is None:
                raise HTTPError(404)
            self.write(row)

    async def main() -> None:
        Application([(r"/item/(\d+)", Item)]).listen(port, "127.0.0.1")
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    """A benchmark server process pinned to one core."""

    def __init__(self, impl: str, core: int, db: dict[str, Any]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(core),
                sys.executable,
                os.path.abspath(__file__),
                "--serve",
                impl,
                str(self.port),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "BENCH_DB": json.dumps(db)},
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"{impl} server did not start")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


_LUA = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/item/" .. ((counter * 7919) % %d + 1))
end
"""


def _wrk(
    port: int, duration: float, conns: int, core: int, script: str
) -> tuple[int, float, float]:
    """Requests, requests/s and p99 latency in ms."""
    out = subprocess.run(
        [
            "taskset",
            "-c",
            str(core),
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{duration:g}s",
            "--latency",
            "-s",
            script,
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    requests = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if not (requests and rate and p99):
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors during the run:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return int(requests.group(1)), float(rate.group(1)), float(p99.group(1)) * scale


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", nargs=2, metavar=("IMPL", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    if args.serve:
        impl, port = args.serve[0], int(args.serve[1])
        if impl == "typhoon":
            _serve_typhoon(port)
        else:
            _serve_tornado(port, blocking=impl == "tornado-blocking")
        return

    import tempfile

    from typhoon_database import Connection
    from typhoon_database.server import PrivateMariaDB

    with PrivateMariaDB() as server, tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_LUA.replace("%d", str(ROWS)))
        script.flush()
        with Connection(
            server.address, server.database, user=server.user, password=server.password
        ) as db:
            db.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))")
            db.executemany(
                "INSERT INTO items VALUES (%s, %s)", [(i, f"item {i}") for i in range(1, ROWS + 1)]
            )
        config = {
            "host": server.host,
            "port": server.port,
            "database": server.database,
            "user": server.user,
            "password": server.password,
        }
        results: dict[str, list[tuple[float, float, float]]] = {impl: [] for impl in IMPLS}
        for round_no in range(args.rounds):
            shift = round_no % len(IMPLS)
            for impl in IMPLS[shift:] + IMPLS[:shift]:
                proc = Server(impl, args.server_core, config)
                try:
                    _wrk(proc.port, 1, args.conns, args.client_core, script.name)
                    before = proc.cpu_seconds()
                    count, rate, p99 = _wrk(
                        proc.port, args.duration, args.conns, args.client_core, script.name
                    )
                    cpu = (proc.cpu_seconds() - before) / count * 1e6
                finally:
                    proc.close()
                results[impl].append((rate, p99, cpu))
                print(
                    f"round {round_no} {impl:17} {rate:8.0f} req/s  p99 {p99:8.2f} ms  {cpu:7.1f} µs CPU/req",
                    flush=True,
                )
    print(f"\nmedians of {args.rounds} rounds, {args.conns} connections")
    medians = {
        impl: [statistics.median(r[i] for r in runs) for i in range(3)]
        for impl, runs in results.items()
    }
    for impl, (rate, p99, cpu) in medians.items():
        print(f"{impl:17} {rate:8.0f} req/s  p99 {p99:8.2f} ms  {cpu:7.1f} µs CPU/req")
    best = max((m for impl, m in medians.items() if impl != "typhoon"), key=lambda m: m[0])
    ours = medians["typhoon"]
    print(
        f"typhoon / best Tornado variant: throughput {ours[0] / best[0]:.2f}x, p99 {best[1] / ours[1]:.2f}x lower"
    )


if __name__ == "__main__":
    main()
