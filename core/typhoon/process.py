"""Multi-process helpers: pre-forked workers and child processes with stream pipes.

Layer 3 (tcp): imports the standard library, :mod:`typhoon.iostream`,
:mod:`typhoon.ioloop`, :mod:`typhoon.log` and :mod:`typhoon.errors`.

* :func:`fork_processes` starts worker processes that share listening sockets and
  restarts the ones that die; :func:`task_id` tells a worker which one it is.
* :class:`Subprocess` runs a child process whose standard streams can be
  :class:`~typhoon.iostream.PipeIOStream` objects, and reports its exit
  asynchronously through a ``SIGCHLD`` handler on the event loop.
"""

from __future__ import annotations

__all__ = [
    "CalledProcessError",
    "Subprocess",
    "cpu_count",
    "fork_processes",
    "task_id",
]

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from typhoon.errors import CalledProcessError
from typhoon.ioloop import IOLoop
from typhoon.iostream import PipeIOStream
from typhoon.log import gen_log

#: The task id of this process when it was started by fork_processes, else None.
#: Process-wide by nature: it describes the process itself.
_task_id: int | None = None

#: Restarts allowed by fork_processes when max_restarts is not given.
_DEFAULT_MAX_RESTARTS = 100


def cpu_count() -> int:
    """Return the number of processors on this machine (1 when it cannot be found)."""
    try:
        return multiprocessing.cpu_count()
    except NotImplementedError:
        pass
    try:
        return os.sysconf("SC_NPROCESSORS_CONF")
    except (AttributeError, ValueError, OSError):
        pass
    gen_log.error("Could not detect number of processors; assuming 1")
    return 1


def fork_processes(num_processes: int | None, max_restarts: int | None = None) -> int:
    """Start worker processes and return, in each worker, its task id.

    ``num_processes`` children are forked (one per CPU when it is ``None`` or not
    positive). In a child this function returns the child's task id, an integer in
    ``range(num_processes)``, also available later from :func:`task_id`. The parent
    never returns: it waits for the children, restarts (with the same task id) any
    child that exits with a non-zero status or is killed by a signal, and calls
    ``sys.exit(0)`` once every child has exited normally.

    Unlike Tornado, a ``SIGTERM`` sent to the parent alone is passed on to every
    child and ends the restarting: the parent waits for the children to stop (a
    worker that handles ``SIGTERM`` can finish its requests first), then exits with
    status 0. Service managers and ``kill PID`` thus stop the whole group, never
    leaving orphaned workers behind.

    Workers share nothing but what existed before the fork, typically the sockets
    from :func:`~typhoon.netutil.bind_sockets`. Call it before any event loop runs:
    an event loop cannot be shared with a forked process.

    Args:
        num_processes: How many workers to run.
        max_restarts: How many restarts in total before giving up (100 by default).

    Raises:
        RuntimeError: In the parent, after more than ``max_restarts`` restarts; or
            when called on Windows or while an event loop runs in this thread.
    """
    if sys.platform == "win32":
        raise RuntimeError("fork_processes is not available on Windows")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("fork_processes must be called before an event loop is running")
    if max_restarts is None:
        max_restarts = _DEFAULT_MAX_RESTARTS
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()
    gen_log.info("Starting %d processes", num_processes)
    children: dict[int, int] = {}
    stopping = False

    def forward_sigterm(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue

    previous_handler = signal.signal(signal.SIGTERM, forward_sigterm)

    def start_child(index: int) -> int | None:
        # The random module reseeds itself in a forked child, so workers do not
        # share a random sequence.
        pid = os.fork()
        if pid == 0:
            global _task_id
            _task_id = index
            # The forwarding handler is the parent's business, not the worker's.
            signal.signal(signal.SIGTERM, previous_handler)
            return index
        children[pid] = index
        return None

    for index in range(num_processes):
        started = start_child(index)
        if started is not None:
            return started
    restarts = 0
    while children:
        pid, status = os.wait()
        if pid not in children:
            continue
        index = children.pop(pid)
        if stopping:
            gen_log.info("child %d (pid %d) stopped", index, pid)
            continue
        if os.WIFSIGNALED(status):
            gen_log.warning(
                "child %d (pid %d) killed by signal %d, restarting",
                index,
                pid,
                os.WTERMSIG(status),
            )
        elif os.WEXITSTATUS(status) != 0:
            gen_log.warning(
                "child %d (pid %d) exited with status %d, restarting",
                index,
                pid,
                os.WEXITSTATUS(status),
            )
        else:
            gen_log.info("child %d (pid %d) exited normally", index, pid)
            continue
        restarts += 1
        if restarts > max_restarts:
            signal.signal(signal.SIGTERM, previous_handler)
            raise RuntimeError("Too many child restarts, giving up")
        started = start_child(index)
        if started is not None:
            return started
    # Every child exited normally; the parent has nothing left to do. Exiting here
    # (rather than returning) keeps the parent from running worker code.
    sys.exit(0)


def task_id() -> int | None:
    """Return this worker's task id from :func:`fork_processes`, or ``None`` outside one."""
    return _task_id


class Subprocess:
    """A child process whose standard streams may be non-blocking pipe streams.

    Takes the same arguments as :class:`subprocess.Popen`. For each of ``stdin``,
    ``stdout`` and ``stderr`` given as :attr:`Subprocess.STREAM`, the matching
    attribute is a :class:`~typhoon.iostream.PipeIOStream`; otherwise it is
    whatever ``Popen`` made of the argument (a file object for ``subprocess.PIPE``,
    else ``None``). The ``Popen`` object is :attr:`proc` and its pid :attr:`pid`.

    Exit notification (:meth:`set_exit_callback`, :meth:`wait_for_exit`) relies on a
    ``SIGCHLD`` handler installed by :meth:`initialize` on the event loop of the
    main thread; it is installed on first use. Do not also wait for the child with
    ``proc.wait()``.
    """

    #: Pass as ``stdin``, ``stdout`` or ``stderr`` to get a PipeIOStream for that pipe.
    STREAM: ClassVar[object] = object()

    _initialized: ClassVar[bool] = False
    _signal_loop: ClassVar[asyncio.AbstractEventLoop | None] = None
    _waiting: ClassVar[dict[int, Subprocess]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.io_loop = _current_ioloop()
        # Pipe name -> (the child's end, our end).
        pipes: dict[str, tuple[int, int]] = {}
        try:
            if kwargs.get("stdin") is Subprocess.STREAM:
                child_end, ours = _pipe(our_end="write")
                pipes["stdin"] = (child_end, ours)
                kwargs["stdin"] = child_end
            for name in ("stdout", "stderr"):
                if kwargs.get(name) is Subprocess.STREAM:
                    child_end, ours = _pipe(our_end="read")
                    pipes[name] = (child_end, ours)
                    kwargs[name] = child_end
            self.proc = subprocess.Popen(*args, **kwargs)
        except BaseException:
            for child_end, ours in pipes.values():
                os.close(child_end)
                os.close(ours)
            raise
        for child_end, _ours in pipes.values():
            # The child holds its own copies now; keeping ours would hide EOF.
            os.close(child_end)
        self.pid: int = self.proc.pid
        # Typed as Tornado types them: PipeIOStream for STREAM; otherwise these hold
        # whatever Popen made of the argument.
        self.stdin: PipeIOStream | None = None
        self.stdout: PipeIOStream | None = None
        self.stderr: PipeIOStream | None = None
        for name in ("stdin", "stdout", "stderr"):
            if name in pipes:
                setattr(self, name, PipeIOStream(pipes[name][1]))
            else:
                setattr(self, name, getattr(self.proc, name))
        self.returncode: int | None = None
        self._exit_callback: Callable[[int], None] | None = None

    def set_exit_callback(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(returncode)`` on this object's IOLoop when the process exits.

        ``returncode`` follows :class:`subprocess.Popen`: the exit status, or minus
        the signal number when a signal killed the process. Installs the ``SIGCHLD``
        handler (see :meth:`initialize`) if it is not installed yet.
        """
        self._exit_callback = callback
        Subprocess.initialize()
        Subprocess._waiting[self.pid] = self
        # The child may have exited before the handler was in place.
        Subprocess._try_cleanup_process(self.pid)

    def wait_for_exit(self, raise_error: bool = True) -> asyncio.Future[int]:
        """Return a future that resolves to the return code once the process exits.

        Args:
            raise_error: Fail the future with :class:`CalledProcessError` when the
                return code is not zero, instead of resolving to it.

        Raises:
            CalledProcessError: Through the future, as described above.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_exit(returncode: int) -> None:
            if future.done():
                return
            if returncode != 0 and raise_error:
                future.set_exception(CalledProcessError(returncode, self.proc.args))
            else:
                future.set_result(returncode)

        self.set_exit_callback(on_exit)
        return future

    @classmethod
    def initialize(cls) -> None:
        """Install the ``SIGCHLD`` handler that reports child exits.

        The handler runs on the event loop current at the time of the call, which
        must be the main thread's (signal handlers live there); callbacks still run on
        each ``Subprocess``'s own loop. Called automatically by
        :meth:`set_exit_callback`; calling it again does nothing.
        """
        if cls._initialized:
            return
        loop = _current_ioloop().asyncio_loop
        loop.add_signal_handler(signal.SIGCHLD, cls._cleanup)
        cls._signal_loop = loop
        cls._initialized = True

    @classmethod
    def uninitialize(cls) -> None:
        """Remove the ``SIGCHLD`` handler installed by :meth:`initialize`."""
        if not cls._initialized:
            return
        loop = cls._signal_loop
        cls._initialized = False
        cls._signal_loop = None
        if loop is not None and not loop.is_closed():
            loop.remove_signal_handler(signal.SIGCHLD)

    @classmethod
    def _cleanup(cls) -> None:
        for pid in list(cls._waiting):
            cls._try_cleanup_process(pid)

    @classmethod
    def _try_cleanup_process(cls, pid: int) -> None:
        subproc = cls._waiting.get(pid)
        if subproc is None:
            return
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Someone else reaped it (for example proc.poll()); Popen knows the code,
            # and reports 0 when it does not, as Popen itself does.
            reaped, status = pid, None
        if reaped == 0:
            return
        del cls._waiting[pid]
        subproc.io_loop.add_callback(subproc._set_returncode, status)

    def _set_returncode(self, status: int | None) -> None:
        if status is None:
            returncode = self.proc.returncode if self.proc.returncode is not None else 0
        else:
            returncode = os.waitstatus_to_exitcode(status)
        self.returncode = returncode
        # Tell Popen the child is gone so it never waits on a reaped pid.
        self.proc.returncode = returncode
        callback, self._exit_callback = self._exit_callback, None
        if callback is not None:
            callback(returncode)


def _current_ioloop() -> IOLoop:
    """Return ``IOLoop.current()``, which never is ``None`` when ``instance`` is true."""
    io_loop = IOLoop.current()
    if io_loop is None:
        raise RuntimeError("no current IOLoop")
    return io_loop


def _pipe(our_end: str) -> tuple[int, int]:
    """Make a pipe; return (the child's end, our end)."""
    read_fd, write_fd = os.pipe()
    if our_end == "write":
        return read_fd, write_fd
    return write_fd, read_fd
