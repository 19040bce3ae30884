"""Replacing the running program with a fresh copy of itself, and guarding against forks.

The new program is started with the same interpreter, the same interpreter options and
the same arguments (``sys.orig_argv``: ``-m module`` and ``-X``/``-W`` flags included),
in the same environment and working directory the program started in. On POSIX the
process image is replaced (``execv``): the process id, the controlling terminal and the
parent stay, and every descriptor opened with close-on-exec (Python's default for
sockets, pipes and files) is closed by the kernel. Where ``execv`` is missing or fails
(Windows), a new process is spawned and this one exits.
"""

from __future__ import annotations

__all__ = [
    "forked_by_fork_processes",
    "in_worker_process",
    "replace_process",
    "restart_argv",
    "worker_refusal",
]

import os
import signal
import subprocess
import sys
import types
from typing import NoReturn

from typhoon import process
from typhoon.log import gen_log

#: The working directory when the program started, restored before the restart so
#: that relative script paths and ``sys.path`` entries mean the same thing again.
INITIAL_CWD = os.getcwd()


def restart_argv() -> list[str]:
    """The command line that starts this program again, interpreter first."""
    original = list(getattr(sys, "orig_argv", None) or [])
    if original:
        return [sys.executable, *original[1:]]
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name:
        return [sys.executable, "-m", name.removesuffix(".__main__"), *sys.argv[1:]]
    return [sys.executable, *sys.argv]


def replace_process(argv: list[str] | None = None) -> NoReturn:
    """Start the program again in place of this one; never returns."""
    if argv is None:
        argv = restart_argv()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            continue
    if hasattr(signal, "setitimer"):
        # An interval timer survives exec and would signal the new program.
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
    try:
        os.chdir(INITIAL_CWD)
    except OSError:
        gen_log.warning("cannot return to %s before restarting", INITIAL_CWD)
    if sys.platform != "win32" and hasattr(os, "execv"):
        try:
            os.execv(argv[0], argv)
        except OSError as exc:
            gen_log.warning("cannot exec %s (%s); starting a new process instead", argv[0], exc)
    subprocess.Popen(argv, close_fds=True)
    os._exit(0)


def in_worker_process() -> bool:
    """Whether this process is a worker started by ``typhoon.process.fork_processes``."""
    return process.task_id() is not None


def worker_refusal(what: str) -> str:
    """The message that explains why ``what`` cannot run in a worker process."""
    return (
        f"{what} cannot be used with multiple processes: this is worker "
        f"{process.task_id()} started by fork_processes (typhoon run --processes), and "
        "restarting one worker would not restart the others or their parent. Run a "
        "single process while developing, or turn off the autoreload and debug settings."
    )


def forked_by_fork_processes() -> bool:
    """Whether the fork happening now was started by ``typhoon.process.fork_processes``.

    Called from an ``os.register_at_fork`` callback; looks for that function's frames.
    """
    target = os.path.normcase(os.path.abspath(process.__file__ or ""))
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name in ("fork_processes", "start_child") and (
            os.path.normcase(os.path.abspath(code.co_filename)) == target
        ):
            return True
        frame = frame.f_back
    return False
