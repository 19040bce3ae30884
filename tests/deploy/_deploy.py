"""Helpers for the deployment tests: typhoon servers in real processes, read and stopped.

Every wait here is bounded by :data:`DEADLINE`; every process started is killed (its
whole process group) by :meth:`Server.kill` even when a test fails half-way.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

#: Upper bound, in seconds, on any single wait of these tests.
DEADLINE = 20.0

#: The application served by the deployment tests. ``/`` answers with the worker's
#: pid; ``/hold`` announces itself on stderr, blocks its worker for a moment (so the
#: next connection must go to another worker), then waits without blocking before it
#: answers (so it is still in progress when a test stops the server); ``/client``
#: answers with the client's address and scheme as the server sees them.
APP = r"""
import asyncio
import os
import sys
import time

from typhoon.web import Application, RequestHandler
from typhoon.websocket import WebSocketHandler


class PidHandler(RequestHandler):
    def get(self):
        self.write(f"pid {os.getpid()}")


class HoldHandler(RequestHandler):
    async def get(self):
        block = float(self.get_argument("block", "0.3"))
        wait = float(self.get_argument("wait", "1.0"))
        sys.stderr.write(f"hold {os.getpid()}\n")
        sys.stderr.flush()
        time.sleep(block)
        await asyncio.sleep(wait)
        self.write(f"held {os.getpid()}")


class ClientHandler(RequestHandler):
    def get(self):
        self.write(f"{self.request.remote_ip} {self.request.protocol}")


class EchoSocket(WebSocketHandler):
    def on_message(self, message):
        self.write_message(f"{os.getpid()} {self.request.remote_ip} {message}")


app = Application(
    [
        (r"/", PidHandler),
        (r"/hold", HoldHandler),
        (r"/client", ClientHandler),
        (r"/ws", EchoSocket),
    ],
    plugins=[],
    load_entrypoints=False,
)
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_app(directory: Path) -> None:
    """Write the test application as ``deployapp.py`` in ``directory``."""
    (directory / "deployapp.py").write_text(APP, encoding="utf-8")


class Server:
    """``typhoon run`` (or another Python script) in its own process group.

    A thread copies the process's stderr lines into a queue, so tests can wait for a
    line without blocking forever and read everything that was said afterwards.
    """

    def __init__(self, arguments: list[str], cwd: Path) -> None:
        env = {**os.environ, "TYPHOON_PLUGINS": "", "PYTHONWARNINGS": "error"}
        self.process = subprocess.Popen(
            [sys.executable, *arguments],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def typhoon(cls, cwd: Path, *arguments: str) -> Server:
        """Start ``python -m typhoon <arguments>`` in ``cwd``."""
        return cls(["-m", "typhoon", *arguments], cwd)

    @property
    def pid(self) -> int:
        """The process id of the top process (the parent of any workers)."""
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, count: int = 1) -> list[str]:
        """Wait until ``count`` new stderr lines contain ``text``; return those lines."""
        found: list[str] = []
        deadline = time.monotonic() + DEADLINE
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {text!r} in time; stderr so far: {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"stderr ended before {text!r}: {self.lines}")
            self.lines.append(line)
            if text in line:
                found.append(line)
        return found

    def rest(self) -> list[str]:
        """Every stderr line until the stream ends (all processes of the group exited)."""
        self._reader.join(DEADLINE)
        assert not self._reader.is_alive(), "stderr is still open"
        while True:
            line = self._queue.get_nowait()
            if line is None:
                assert self.process.stderr is not None
                self.process.stderr.close()
                return self.lines
            self.lines.append(line)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the top process only (as ``kill PID`` or systemd does)."""
        self.process.send_signal(signum)

    def wait(self) -> int:
        """Wait (bounded) for the top process to exit; return its exit status."""
        return self.process.wait(DEADLINE)

    def kill(self) -> None:
        """Kill the whole process group, whatever state it is in."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(DEADLINE)
        self._reader.join(DEADLINE)
        if self.process.stderr is not None and not self._reader.is_alive():
            self.process.stderr.close()  # closing twice is harmless


def get(port: int, path: str = "/", host: str = "127.0.0.1") -> tuple[int, str]:
    """One request on a fresh connection: (status, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=DEADLINE)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_until_refused(port: int) -> None:
    """Wait (bounded) until nothing accepts connections on ``port`` any more."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                pass
        except ConnectionRefusedError:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still accepts connections")


def child_pids(parent: int) -> set[int]:
    """The pids of the live children of ``parent`` (Linux /proc)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    return {int(pid) for pid in children.read_text().split()}
