"""What the benchmark drivers share: a server process pinned to one core, measured from
``/proc``."""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")

ROOT = Path(__file__).resolve().parent.parent
#: Where the compiled copy of typhoon is built (see core/build_native.py).
COMPILED_TREE = ROOT / "build" / "compiled"


@functools.cache
def server_environment(pure: bool = False) -> dict[str, str]:
    """The environment of the server processes.

    typhoon runs as its wheel ships it: with the mypyc-compiled request-path modules,
    built here on first use (``core/build_native.py``). ``pure`` (or
    ``TYPHOON_PURE_PYTHON=1`` for every server) runs the pure-Python fallback instead.
    Peers ignore the difference.
    """
    env = dict(os.environ)
    if pure or env.get("TYPHOON_PURE_PYTHON") == "1":
        return env
    builder = ROOT / "core" / "build_native.py"
    subprocess.run([sys.executable, str(builder), str(COMPILED_TREE)], check=True)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(COMPILED_TREE), env.get("PYTHONPATH")]))
    return env


def typhoon_variant() -> str:
    """``"compiled"`` or ``"pure Python"``: which typhoon the servers run."""
    return "pure Python" if "PYTHONPATH" not in server_environment() else "compiled"


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class PinnedProcess:
    """A child process run on one core (``taskset``), its standard output a pipe.

    ``wrapper`` goes between ``taskset`` and the command (``valgrind ...``).
    """

    def __init__(
        self, argv: list[str], core: int, wrapper: tuple[str, ...] = (), **popen: Any
    ) -> None:
        popen.setdefault("env", server_environment())
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(core), *wrapper, *argv],
            stdout=subprocess.PIPE,
            text=True,
            **popen,
        )

    def cpu_times(self) -> tuple[float, float]:
        """The process's (user, system) CPU seconds so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # Fields 14 and 15 (utime, stime) are at index 11 and 12 after the command name.
        return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK

    def cpu_seconds(self) -> float:
        """The process's user + system CPU seconds so far."""
        return sum(self.cpu_times())

    def memory_kib(self, key: str = "VmRSS") -> int:
        """A memory figure of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def close(self, timeout: float = 20) -> None:
        """Stop the process: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
