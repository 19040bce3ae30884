"""Serving from several processes: ``typhoon run --processes N`` and the functions under it.

Real processes on 127.0.0.1: workers share one port, a dead worker comes back (a limited
number of times), and SIGTERM to the parent drains every worker — requests in progress
finish, none fails. Also the other recipe: each worker binds its own socket with
``SO_REUSEPORT``.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _deploy import (
    DEADLINE,
    Server,
    child_pids,
    free_port,
    get,
    wait_until_refused,
    write_app,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="forked workers; /proc to list them"
)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[Server, int]]:
    """``typhoon run --processes 2`` serving the deployment test application."""
    write_app(tmp_path)
    port = free_port()
    server = Server.typhoon(
        tmp_path, "run", "deployapp:app", "--processes", "2", "--port", str(port),
        "--max-restarts", "3", "--xheaders",
    )  # fmt: skip
    try:
        server.wait_for("serving on", count=2)
        yield server, port
    finally:
        server.kill()


class Background:
    """A request made from a thread; ``result()`` waits for it (bounded)."""

    def __init__(self, port: int, path: str) -> None:
        self._outcome: tuple[int, str] | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(port, path), daemon=True)
        self._thread.start()

    def _run(self, port: int, path: str) -> None:
        try:
            self._outcome = get(port, path)
        except BaseException as exc:
            self._outcome = exc

    def result(self) -> tuple[int, str]:
        self._thread.join(DEADLINE)
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None, "the request did not finish in time"
        return outcome


def hold_on_each_worker(server: Server, port: int, path: str) -> list[Background]:
    """Start a held request on each of the two workers.

    The first request blocks its worker while the second is sent, so the second can
    only be accepted by the other worker.
    """
    first = Background(port, path)
    server.wait_for("hold ")
    second = Background(port, path)
    server.wait_for("hold ")
    return [first, second]


def test_workers_share_one_port(workers: tuple[Server, int]) -> None:
    server, port = workers
    children = child_pids(server.pid)
    assert len(children) == 2
    held = hold_on_each_worker(server, port, "/hold?block=1.0&wait=0")
    answered = {int(body.split()[1]) for status, body in (h.result() for h in held)}
    assert {h.result()[0] for h in held} == {200}
    assert answered == children
    # Plain requests are answered by the workers, never by the parent.
    for _ in range(6):
        status, body = get(port)
        assert status == 200
        assert int(body.split()[1]) in children
    # The workers' servers got --xheaders.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        headers = {"X-Real-Ip": "10.1.2.3", "X-Forwarded-Proto": "https"}
        connection.request("GET", "/client", headers=headers)
        assert connection.getresponse().read() == b"10.1.2.3 https"
    finally:
        connection.close()


def test_a_dead_worker_is_restarted(workers: tuple[Server, int]) -> None:
    server, port = workers
    victim, survivor = sorted(child_pids(server.pid))
    os.kill(victim, signal.SIGKILL)
    server.wait_for(f"(pid {victim}) killed by signal {signal.SIGKILL}, restarting")
    server.wait_for("serving on")
    children = child_pids(server.pid)
    assert survivor in children
    assert victim not in children
    assert len(children) == 2
    held = hold_on_each_worker(server, port, "/hold?block=1.0&wait=0")
    assert {int(h.result()[1].split()[1]) for h in held} == children


def test_restarts_are_bounded(workers: tuple[Server, int]) -> None:
    server, port = workers
    for attempt in range(4):  # --max-restarts 3: the fourth death ends the parent
        victim = min(child_pids(server.pid))
        os.kill(victim, signal.SIGKILL)
        if attempt < 3:
            server.wait_for(f"(pid {victim}) killed by signal")
            server.wait_for("serving on")
    assert server.wait() == 1
    rest = server.rest()  # the surviving worker noticed and stopped on its own
    assert "typhoon: error: workers keep dying: Too many child restarts, giving up" in rest
    assert rest.count("typhoon: stopping") >= 1
    wait_until_refused(port)


def test_sigterm_drains_every_worker(workers: tuple[Server, int]) -> None:
    server, port = workers
    children = child_pids(server.pid)
    held = hold_on_each_worker(server, port, "/hold?block=1.0&wait=1.5")
    server.signal(signal.SIGTERM)  # the parent only, as systemd or `kill PID` does
    server.wait_for("typhoon: stopping", count=2)
    # Stopping workers accept nothing new, but every request in progress completes.
    results = [h.result() for h in held]
    assert [status for status, _ in results] == [200, 200]
    assert {int(body.split()[1]) for _, body in results} == children
    assert server.wait() == 0
    rest = server.rest()
    assert not [line for line in rest if "Traceback" in line or "restarting" in line]
    wait_until_refused(port)


REUSE_PORT_SCRIPT = r"""
import asyncio
import os
import sys

from typhoon import netutil, process
from typhoon.httpserver import HTTPServer

from deployapp import app

port = int(sys.argv[1])
process.fork_processes(2, max_restarts=0)
# Each worker binds a socket of its own on the same port; the kernel spreads
# connections among them.
sockets = netutil.bind_sockets(port, address="127.0.0.1", reuse_port=True)


async def main():
    server = HTTPServer(app)
    server.add_sockets(sockets)
    sys.stderr.write(f"worker {process.task_id()} pid {os.getpid()} listening\n")
    sys.stderr.flush()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(15, stop.set)
    await stop.wait()
    await server.shutdown(10)


asyncio.run(main())
"""


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_workers_with_a_socket_each_through_reuse_port(tmp_path: Path) -> None:
    write_app(tmp_path)
    (tmp_path / "reuse.py").write_text(REUSE_PORT_SCRIPT, encoding="utf-8")
    port = free_port()
    server = Server(["reuse.py", str(port)], tmp_path)
    try:
        server.wait_for("listening", count=2)
        children = child_pids(server.pid)
        # Each new connection goes to one of the sockets by a hash of its addresses:
        # over 24 connections both workers answer (all on one: odds 2 in 2**24).
        answered = set()
        for _ in range(24):
            status, body = get(port)
            assert status == 200
            answered.add(int(body.split()[1]))
        assert answered == children
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
        wait_until_refused(port)
    finally:
        server.kill()
