"""``python -m chatboard demo`` (what ``./scripts/demo`` runs): it starts MariaDB, the
development provider and the board, prints the URL, and Ctrl-C stops all of it."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from _chatboard_harness import EXAMPLE, free_port
from typhoon_database.server import MariaDBUnavailable, find_server_binary

#: Seconds the demo may take to start (MariaDB's first start dominates) and to stop.
START_WAIT = 90.0
STOP_WAIT = 45.0


def _children(pid: int) -> dict[int, str]:
    """Processes whose parent is ``pid``: their ids and command names."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after it.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            found[int(entry.name)] = comm
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_demo_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    try:
        find_server_binary()
    except MariaDBUnavailable as error:
        if os.environ.get("TYPHOON_REQUIRE_MARIADB"):
            raise
        pytest.skip(f"CHATBOARD DEMO TEST SKIPPED: {error}")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(EXAMPLE))
    demo = subprocess.Popen(
        [sys.executable, "-m", "chatboard", "demo", "--port", str(port), "--no-debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    assert demo.stdout is not None
    output = b""
    try:
        deadline = time.monotonic() + START_WAIT
        while b"Ctrl-C stops everything" not in output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the demo did not start: {output.decode(errors='replace')}"
            assert demo.poll() is None, f"the demo exited: {output.decode(errors='replace')}"
            ready, _, _ = select.select([demo.stdout], [], [], min(remaining, 1.0))
            if ready:
                output += os.read(demo.stdout.fileno(), 65536)
        url = re.search(rb"open\s+(http://127\.0\.0\.1:\d+/)", output)
        assert url, output
        assert url.group(1).decode() == f"http://127.0.0.1:{port}/"
        started = _children(demo.pid)
        # The board (a Python process) and MariaDB.
        assert len(started) == 2, started
        assert "mariadbd" in started.values(), started
        page = requests.get(url.group(1).decode(), timeout=10)
        assert page.status_code == 200
        assert "Message board" in page.text
        login = requests.get(f"http://127.0.0.1:{port}/login", timeout=10)
        issuer = re.search(rb"development sign-in provider: (http://127\.0\.0\.1:\d+)/", output)
        assert issuer
        discovery = requests.get(
            issuer.group(1).decode() + "/.well-known/openid-configuration", timeout=10
        )
        assert discovery.json()["issuer"] == issuer.group(1).decode()
        assert "/auth/login/dev" in login.text
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=STOP_WAIT)
        output += rest
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
    assert demo.returncode == 0, output.decode(errors="replace")
    assert b"stopped: board, sign-in provider and MariaDB" in output
    for pid, name in started.items():
        assert not _alive(pid), f"{name} ({pid}) outlived the demo"
