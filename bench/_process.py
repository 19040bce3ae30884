"""What the benchmark drivers share: a server process pinned to one core, measured from
``/proc``."""

from __future__ import annotations

import os
import resource
import subprocess
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


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
