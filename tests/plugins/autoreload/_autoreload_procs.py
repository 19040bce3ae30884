"""Helpers of the autoreload tests: programs under autoreload in real processes.

Every wait is bounded (``DEADLINE`` seconds, polled every ``POLL``), every process is
killed at the end of its test, and all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

#: The longest a restart or a first start may take (a busy machine starts slowly).
DEADLINE = 45.0
#: Seconds between two looks at a condition.
POLL = 0.1

T = TypeVar("T")


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], T], timeout: float = DEADLINE, describe: Callable[[], str] = str
) -> T:
    """Poll ``condition`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {describe()}")
        time.sleep(POLL)


def write(path: Path, text: str) -> None:
    """Replace ``path``'s content (with a fresh modification time, as an editor would)."""
    path.write_text(text, encoding="utf-8")


class Program:
    """A program under autoreload, started as a subprocess; output goes to a file."""

    def __init__(self, argv: list[str], cwd: Path, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.cwd = cwd
        self.log_path = cwd / "output.log"
        self._log = self.log_path.open("wb")
        full_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TYPHOON_", "WATCHFILES_"))
        }
        full_env.update(env)
        full_env["PORT"] = str(port)
        full_env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        """The process id (kept across restarts: the program re-executes itself)."""
        return self.process.pid

    def output(self) -> str:
        """Everything the program printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str = "/") -> str | None:
        """The body of ``GET path``, or ``None`` when the server does not answer."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return None

    def wait_for_body(self, path: str, expected: str, timeout: float = DEADLINE) -> None:
        """Wait until ``GET path`` answers ``expected``."""
        seen: list[str | None] = []

        def answered() -> bool:
            self.check_alive()
            body = self.get(path)
            seen.append(body)
            return body == expected

        wait_until(
            answered,
            timeout,
            lambda: (
                f"GET {path} never answered {expected!r} (last: {seen[-3:]!r})\n" + self.output()
            ),
        )

    def wait_for_output(self, text: str, count: int = 1, timeout: float = DEADLINE) -> None:
        """Wait until ``text`` appears ``count`` times in the output."""

        def printed() -> bool:
            self.check_alive()
            return self.output().count(text) >= count

        wait_until(
            printed,
            timeout,
            lambda: f"{text!r} not printed {count} time(s):\n{self.output()}",
        )

    def check_alive(self) -> None:
        """Fail if the program has exited."""
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"program exited with status {code}:\n{self.output()}")

    def fd_count(self) -> int:
        """How many descriptors the process holds open."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def settled_fd_count(self) -> int:
        """The descriptor count of the serving program once it is idle.

        The server must answer first; then the count must stay the same over five
        looks with no request in flight (a connection being closed would count).
        """
        history: list[int] = []

        def stable() -> bool:
            if not history and self.get("/") is None:
                return False
            time.sleep(0.05 if history else 0.3)
            history.append(self.fd_count())
            if len(history) >= 2 and history[-1] != history[-2]:
                history[:] = history[-1:]
            return len(history) >= 5

        wait_until(stable, 20.0, lambda: f"descriptor count kept changing: {history}")
        return history[-1]

    def interrupt(self) -> int:
        """Press Ctrl+C; return the exit status.

        The signal is sent again if the program is still there after a few seconds:
        one that arrives while the program re-executes itself is lost with the old
        image (a file outside the test, such as the library's own, may have changed).
        """
        for _attempt in range(5):
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(5)
            except subprocess.TimeoutExpired:
                continue
        raise AssertionError(f"the program ignored Ctrl+C:\n{self.output()}")

    def stop(self) -> None:
        """Terminate the program (kill it if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def python() -> str:
    """The interpreter running the tests (with typhoon and the plugin installed)."""
    return sys.executable
