"""The IOLoop: Tornado's event-loop interface as a facade over an asyncio loop.

Layer 1 (event loop). Imports ``concurrent``, ``errors``, ``log`` and the standard library.

There is exactly one :class:`IOLoop` per asyncio loop. ``IOLoop.current()`` finds (or
creates) the one for the running loop, so code written against Tornado's interface and
plain asyncio code share the same loop, and typhoon runs unchanged on uvloop
(:func:`install_uvloop`). Every callback goes through one wrapper that logs its
exception on the ``typhoon.application`` logger and adopts any awaitable it returns as
a task the IOLoop owns: nothing fails silently and nothing is left orphaned.

:class:`PeriodicCallback` runs a callback on a fixed schedule measured from the start
of each run; runs that would fall in the past (a slow callback, a busy loop) are
skipped rather than bunched up.
"""

from __future__ import annotations

__all__ = [
    "IOLoop",
    "PeriodicCallback",
    "TimeoutError",
    "install_uvloop",
]

import asyncio
import concurrent.futures
import datetime
import functools
import importlib
import math
import os
import random
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, TypeVar

from typhoon.concurrent import (
    convert_yielded,
    future_add_done_callback,
    is_future,
)
from typhoon.errors import BadYieldError, MissingDependencyError, TyphoonTimeoutError
from typhoon.log import app_log

_T = TypeVar("_T")

#: Raised by :meth:`IOLoop.run_sync` when its timeout passes (Tornado's name).
TimeoutError = TyphoonTimeoutError


class _Selectable(Protocol):
    """An object that can be watched by :meth:`IOLoop.add_handler`: it has ``fileno()``."""

    def fileno(self) -> int: ...


_FileLike = int | _Selectable


def _discard_result(future: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> None:
    """Done-callback for fire-and-forget work: re-raise its error so it gets logged."""
    future.result()


class IOLoop:
    """An I/O event loop with Tornado's interface, backed by an asyncio loop.

    Most code never constructs one: ``IOLoop.current()`` returns the IOLoop of the
    running asyncio loop. ``IOLoop()`` creates a new asyncio loop that this object owns
    (closed by :meth:`close`); ``IOLoop(asyncio_loop=loop)`` wraps an existing one.
    With ``make_current=True`` (the default) the new IOLoop becomes the thread's
    current loop, so ``IOLoop.current()`` returns it before it starts running.

    Args:
        make_current: make this the current IOLoop of the thread.
        asyncio_loop: the asyncio loop to wrap; a new one is created when omitted.

    Raises:
        RuntimeError: ``asyncio_loop`` already has an IOLoop, or is closed.
    """

    #: Event mask bit: the file descriptor is readable.
    READ = 0x001
    #: Event mask bit: the file descriptor is writable.
    WRITE = 0x004
    #: Event mask bits: an error or hang-up on the file descriptor.
    ERROR = 0x018

    # One IOLoop per asyncio loop, across threads. Entries for loops that were closed
    # without IOLoop.close (asyncio.run closes its loop itself) are pruned on every
    # registration, so the table only holds live loops.
    _ioloop_for_asyncio: ClassVar[dict[asyncio.AbstractEventLoop, IOLoop]] = {}

    def __init__(
        self,
        *,
        make_current: bool = True,
        asyncio_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        owned = asyncio_loop is None
        loop = asyncio.new_event_loop() if asyncio_loop is None else asyncio_loop
        if loop.is_closed():
            raise RuntimeError("cannot wrap a closed asyncio loop in an IOLoop")
        self._prune_closed()
        if loop in IOLoop._ioloop_for_asyncio:
            if owned:
                loop.close()
            raise RuntimeError(f"IOLoop already exists for {loop!r}")
        #: The asyncio loop behind this IOLoop.
        self.asyncio_loop: asyncio.AbstractEventLoop = loop
        self._closing = False
        self._handlers: dict[int, tuple[_FileLike, Callable[..., object]]] = {}
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        # Tasks started from callbacks (spawn_callback, coroutine callbacks, periodic
        # coroutines): the IOLoop owns them and cancels the stragglers on close.
        self._tasks: set[asyncio.Future[Any]] = set()
        IOLoop._ioloop_for_asyncio[loop] = self
        if make_current:
            self._make_current()

    @classmethod
    def _prune_closed(cls) -> None:
        for loop in [loop for loop in cls._ioloop_for_asyncio if loop.is_closed()]:
            del cls._ioloop_for_asyncio[loop]

    # --- finding the current loop -------------------------------------------------------

    @staticmethod
    def current(instance: bool = True) -> IOLoop | None:
        """Return the IOLoop of the running asyncio loop, or of the thread's current loop.

        Inside a coroutine or callback this is the IOLoop of the running loop, created
        on first use. Outside a running loop it is the IOLoop made current with
        ``make_current`` (or the wrapper of the loop set with
        ``asyncio.set_event_loop``). When there is none, ``instance=True`` creates a
        new IOLoop and makes it current, while ``instance=False`` returns ``None``.
        """
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = _thread_event_loop()
        if loop is not None:
            existing = IOLoop._ioloop_for_asyncio.get(loop)
            if existing is not None:
                return existing
            if instance:
                return IOLoop(asyncio_loop=loop, make_current=False)
            return None
        if instance:
            return IOLoop(make_current=True)
        return None

    @staticmethod
    def instance() -> IOLoop:
        """Return ``IOLoop.current()`` (the old global-singleton name, kept for ports)."""
        current = IOLoop.current()
        assert current is not None
        return current

    def make_current(self) -> None:
        """Make this IOLoop the current one of the thread (deprecated in Tornado 6.2).

        Prefer running code inside the loop (``asyncio.run``), where ``current()``
        finds the running loop by itself.
        """
        warnings.warn(
            "IOLoop.make_current is deprecated; start the loop and use IOLoop.current()",
            DeprecationWarning,
            stacklevel=2,
        )
        self._make_current()

    def _make_current(self) -> None:
        asyncio.set_event_loop(self.asyncio_loop)

    @staticmethod
    def clear_current() -> None:
        """Forget the thread's current IOLoop (deprecated in Tornado 6.2)."""
        warnings.warn(
            "IOLoop.clear_current is deprecated; let the running loop define the current one",
            DeprecationWarning,
            stacklevel=2,
        )
        asyncio.set_event_loop(None)

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop until :meth:`stop` is called.

        The loop is the thread's current loop while it runs; the previous one is
        restored afterwards.
        """
        previous = _thread_event_loop()
        self._make_current()
        try:
            self.asyncio_loop.run_forever()
        finally:
            asyncio.set_event_loop(previous)

    def stop(self) -> None:
        """Stop the loop after the current iteration; :meth:`start` then returns.

        Safe to call from a callback on this loop; from another thread use
        ``add_callback(io_loop.stop)``.
        """
        self.asyncio_loop.stop()

    def run_sync(self, func: Callable[[], Any], timeout: float | None = None) -> Any:
        """Run ``func`` on this loop until its result is ready, and return the result.

        ``func`` may return an awaitable (typically it is an ``async def`` function)
        or a plain value. Exceptions from it propagate to the caller.

        Args:
            func: a callable with no arguments.
            timeout: seconds to wait before giving up; the awaitable is cancelled.

        Raises:
            TimeoutError: the timeout passed first (``typhoon.util.TimeoutError``).
        """

        async def run() -> Any:
            result = func()
            if result is None:
                return None
            try:
                future = convert_yielded(result)
            except BadYieldError:
                return result  # a plain value is the result itself
            if timeout is None:
                return await future
            timed_out = False

            def expire() -> None:
                nonlocal timed_out
                timed_out = True
                future.cancel()

            handle = self.asyncio_loop.call_later(timeout, expire)
            try:
                return await future
            except asyncio.CancelledError:
                if timed_out:
                    raise TyphoonTimeoutError(
                        f"Operation timed out after {timeout} seconds"
                    ) from None
                raise
            finally:
                handle.cancel()

        if self.asyncio_loop.is_running():
            raise RuntimeError("run_sync cannot be called while the IOLoop is running")
        previous = _thread_event_loop()
        self._make_current()
        try:
            return self.asyncio_loop.run_until_complete(run())
        finally:
            asyncio.set_event_loop(previous)

    def close(self, all_fds: bool = False) -> None:
        """Close the loop and release everything it holds.

        Removes every fd handler (closing the fds or objects too when ``all_fds``),
        cancels the tasks this IOLoop started, and closes the asyncio loop. The loop
        must not be running.

        Raises:
            RuntimeError: the loop is running.
        """
        if self.asyncio_loop.is_running():
            raise RuntimeError("cannot close a running IOLoop")
        if self._closing:
            return
        self._closing = True
        for fd, (fileobj, _handler) in list(self._handlers.items()):
            self.remove_handler(fd)
            if all_fds:
                self.close_fd(fileobj)
        loop = self.asyncio_loop
        if not loop.is_closed():
            pending = [task for task in self._tasks if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        IOLoop._ioloop_for_asyncio.pop(loop, None)

    # --- callbacks and timeouts ---------------------------------------------------------

    def time(self) -> float:
        """Return the loop's monotonic clock in seconds (the base of every deadline)."""
        return self.asyncio_loop.time()

    def add_callback(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run ``callback(*args, **kwargs)`` on the next loop iteration.

        This is the one thread-safe IOLoop method: call it from any thread to hand
        work to the loop. If the callback returns an awaitable it runs as a task owned
        by this IOLoop. Exceptions are logged on ``typhoon.application``. Calls made
        after the loop closed are dropped, since nothing could run them.
        """
        call = functools.partial(callback, *args, **kwargs)
        try:
            on_loop = asyncio.get_running_loop() is self.asyncio_loop
        except RuntimeError:
            on_loop = False
        try:
            if on_loop:
                self.asyncio_loop.call_soon(self._run_callback, call)
            else:
                self.asyncio_loop.call_soon_threadsafe(self._run_callback, call)
        except RuntimeError:
            # The asyncio loop is closed.
            return

    def add_callback_from_signal(
        self, callback: Callable[..., object], *args: Any, **kwargs: Any
    ) -> None:
        """Like :meth:`add_callback`, safe to call from a signal handler.

        Deprecated in Tornado 6.4: ``loop.add_signal_handler`` is the better tool.
        """
        warnings.warn(
            "IOLoop.add_callback_from_signal is deprecated; use loop.add_signal_handler",
            DeprecationWarning,
            stacklevel=2,
        )
        try:
            self.asyncio_loop.call_soon_threadsafe(
                self._run_callback, functools.partial(callback, *args, **kwargs)
            )
        except RuntimeError:
            return

    def spawn_callback(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Start ``callback`` on the next iteration, detached from the caller.

        Equivalent to :meth:`add_callback`; the name says the result is not awaited.
        """
        self.add_callback(callback, *args, **kwargs)

    def call_at(
        self, when: float, callback: Callable[..., object], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Run ``callback`` at ``when``, a deadline on the :meth:`time` clock.

        Returns a handle for :meth:`remove_timeout`. Not thread-safe.
        """
        return self.asyncio_loop.call_at(
            when, self._run_callback, functools.partial(callback, *args, **kwargs)
        )

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Run ``callback`` after ``delay`` seconds; returns a handle for :meth:`remove_timeout`."""
        return self.call_at(self.time() + delay, callback, *args, **kwargs)

    def add_timeout(
        self,
        deadline: float | datetime.timedelta,
        callback: Callable[..., object],
        *args: Any,
        **kwargs: Any,
    ) -> asyncio.TimerHandle:
        """Run ``callback`` at ``deadline``: a :meth:`time` value, or a timedelta from now.

        Raises:
            TypeError: ``deadline`` is neither a number nor a timedelta.
        """
        if isinstance(deadline, datetime.timedelta):
            return self.call_at(self.time() + deadline.total_seconds(), callback, *args, **kwargs)
        if isinstance(deadline, int | float) and not isinstance(deadline, bool):
            return self.call_at(deadline, callback, *args, **kwargs)
        raise TypeError(f"Unsupported deadline {deadline!r}")

    def remove_timeout(self, timeout: asyncio.Handle) -> None:
        """Cancel a pending timeout made by :meth:`call_at`, :meth:`call_later` or
        :meth:`add_timeout`; a timeout that already ran is ignored."""
        timeout.cancel()

    def add_future(
        self,
        future: asyncio.Future[_T] | concurrent.futures.Future[_T],
        callback: Callable[[Any], object],
    ) -> None:
        """Run ``callback(future)`` on this loop once ``future`` finishes.

        ``future`` may be an executor future finishing in another thread. The
        callback's exceptions are logged like any other callback's.
        """
        if isinstance(future, asyncio.Future):
            future_add_done_callback(
                future, lambda f: self._run_callback(functools.partial(callback, f))
            )
        elif is_future(future):
            future.add_done_callback(lambda f: self.add_callback(callback, f))
        else:
            raise TypeError(f"add_future expects a future, got {future!r}")

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[..., _T],
        *args: Any,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` on ``executor`` (the default one when ``None``); await the result."""
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Use ``executor`` for ``run_in_executor(None, ...)`` calls."""
        self.asyncio_loop.set_default_executor(executor)

    def _run_callback(self, callback: Callable[[], object]) -> None:
        """Run one callback: log its exception, adopt the awaitable it returns."""
        try:
            result = callback()
            if result is not None:
                try:
                    future = convert_yielded(result)
                except BadYieldError:
                    # A plain return value: nothing to wait for.
                    return
                self._adopt(future)
        except asyncio.CancelledError:
            # A cancelled callback is not an error.
            return
        except Exception:
            app_log.error("Exception in callback %r", callback, exc_info=True)

    def _adopt(self, future: asyncio.Future[Any]) -> None:
        """Own ``future`` until it finishes; log its failure when it does."""
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)
        self.add_future(future, _discard_result)

    # --- file descriptors ---------------------------------------------------------------

    def split_fd(self, fd: _FileLike) -> tuple[int, _FileLike]:
        """Return ``(fileno, fd)`` for an int fd or an object with ``fileno()``."""
        if isinstance(fd, int):
            return fd, fd
        return fd.fileno(), fd

    def close_fd(self, fd: _FileLike) -> None:
        """Close an int fd or an object with ``close()``, ignoring errors from closing."""
        try:
            if isinstance(fd, int):
                os.close(fd)
            else:
                close = getattr(fd, "close", None)
                if close is not None:
                    close()
        except OSError:
            # Already closed or never valid: closing is best effort by design.
            return

    def add_handler(
        self, fd: _FileLike, handler: Callable[[Any, int], object], events: int
    ) -> None:
        """Call ``handler(fd, events)`` whenever ``fd`` is ready for ``events``.

        ``fd`` is an int or an object with ``fileno()``; the handler receives the same
        value. ``events`` combines :attr:`READ`, :attr:`WRITE` and :attr:`ERROR`
        (errors arrive as readiness on asyncio). Needs a loop with readers and
        writers (selector loops, uvloop); Windows' proactor loop has none.

        Raises:
            ValueError: ``fd`` already has a handler.
            NotImplementedError: the asyncio loop cannot watch file descriptors.
        """
        fileno, fileobj = self.split_fd(fd)
        if fileno in self._handlers:
            raise ValueError(f"fd {fileno} added twice")
        self._handlers[fileno] = (fileobj, handler)
        try:
            self._watch(fileno, events)
        except BaseException:
            self._unwatch(fileno, self.READ | self.WRITE)
            del self._handlers[fileno]
            raise

    def update_handler(self, fd: _FileLike, events: int) -> None:
        """Change the events a handled fd is watched for.

        Raises:
            KeyError: ``fd`` has no handler.
        """
        fileno, _ = self.split_fd(fd)
        if fileno not in self._handlers:
            raise KeyError(f"fd {fileno} has no handler")
        self._unwatch(fileno, ~events)
        self._watch(fileno, events)

    def remove_handler(self, fd: _FileLike) -> None:
        """Stop watching ``fd``; unknown fds are ignored."""
        fileno, _ = self.split_fd(fd)
        if self._handlers.pop(fileno, None) is None:
            return
        self._unwatch(fileno, self.READ | self.WRITE)

    def _watch(self, fileno: int, events: int) -> None:
        if events & self.READ and fileno not in self._readers:
            self.asyncio_loop.add_reader(fileno, self._handle_events, fileno, self.READ)
            self._readers.add(fileno)
        if events & self.WRITE and fileno not in self._writers:
            self.asyncio_loop.add_writer(fileno, self._handle_events, fileno, self.WRITE)
            self._writers.add(fileno)

    def _unwatch(self, fileno: int, events: int) -> None:
        if events & self.READ and fileno in self._readers:
            self._readers.discard(fileno)
            self.asyncio_loop.remove_reader(fileno)
        if events & self.WRITE and fileno in self._writers:
            self._writers.discard(fileno)
            self.asyncio_loop.remove_writer(fileno)

    def _handle_events(self, fileno: int, events: int) -> None:
        entry = self._handlers.get(fileno)
        if entry is None:
            return
        fileobj, handler = entry
        self._run_callback(functools.partial(handler, fileobj, events))


def _thread_event_loop() -> asyncio.AbstractEventLoop | None:
    """Return the thread's current asyncio loop without creating one, or None.

    The asyncio policy holds the per-thread "current loop"; a closed loop counts as
    none.
    """
    policy = asyncio.get_event_loop_policy()
    # The standard policies (and uvloop's) keep the loop in a thread-local; reading it
    # avoids ``get_event_loop``, which would create (and leak) a loop when none is set.
    loop = getattr(getattr(policy, "_local", None), "_loop", _NO_LOOP)
    if loop is _NO_LOOP:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                loop = policy.get_event_loop()
            except RuntimeError:
                return None
    if not isinstance(loop, asyncio.AbstractEventLoop) or loop.is_closed():
        return None
    return loop


_NO_LOOP = object()


class PeriodicCallback:
    """Run ``callback`` every ``callback_time`` once :meth:`start` is called.

    ``callback_time`` is in milliseconds, or a timedelta. The period is measured from
    the start of one run to the start of the next; when a run overlaps later slots
    (the callback or the loop was slow), those slots are skipped and the schedule
    resumes on its original grid. A coroutine callback is awaited before the next
    run is scheduled. ``jitter`` (0 to 1) spreads each period randomly by up to
    ``jitter`` of its length, to keep many periodic tasks from firing together.
    Exceptions are logged on ``typhoon.application`` and do not stop the schedule.

    Raises:
        ValueError: ``callback_time`` is not positive.
    """

    def __init__(
        self,
        callback: Callable[[], Awaitable[object] | object],
        callback_time: float | datetime.timedelta,
        jitter: float = 0,
    ) -> None:
        self.callback = callback
        if isinstance(callback_time, datetime.timedelta):
            self.callback_time: float = callback_time / datetime.timedelta(milliseconds=1)
        else:
            self.callback_time = float(callback_time)
        if not self.callback_time > 0:
            raise ValueError("PeriodicCallback needs a positive callback_time")
        self.jitter = jitter
        self._running = False
        self._timeout: asyncio.TimerHandle | None = None
        self._next_timeout = 0.0
        self.io_loop: IOLoop | None = None

    def start(self) -> None:
        """Start running; the first call comes one period from now."""
        io_loop = IOLoop.current()
        assert io_loop is not None
        self.io_loop = io_loop
        self._running = True
        self._next_timeout = io_loop.time()
        self._schedule_next()

    def stop(self) -> None:
        """Stop running; a coroutine run already in progress finishes on its own."""
        self._running = False
        if self._timeout is not None and self.io_loop is not None:
            self.io_loop.remove_timeout(self._timeout)
            self._timeout = None

    def is_running(self) -> bool:
        """Return True between :meth:`start` and :meth:`stop`."""
        return self._running

    def _run(self) -> None:
        if not self._running:
            return
        try:
            result = self.callback()
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)
            self._schedule_next()
            return
        if result is None:
            self._schedule_next()
            return
        try:
            future = convert_yielded(result)
        except BadYieldError:
            self._schedule_next()
            return
        assert self.io_loop is not None
        self.io_loop._adopt(future)
        future.add_done_callback(lambda _: self._schedule_next())

    def _schedule_next(self) -> None:
        if not self._running:
            return
        assert self.io_loop is not None
        self._update_next(self.io_loop.time())
        self._timeout = self.io_loop.asyncio_loop.call_at(self._next_timeout, self._run)

    def _update_next(self, current_time: float) -> None:
        period = self.callback_time / 1000.0
        if self.jitter:
            period *= 1 + self.jitter * (random.random() - 0.5)
        if self._next_timeout <= current_time:
            # Skip every slot that is already in the past, keeping the original grid.
            missed = math.floor((current_time - self._next_timeout) / period)
            self._next_timeout += (missed + 1) * period
        else:
            # The loop fired early (clock adjustments): still move to the next slot.
            self._next_timeout += period


def install_uvloop() -> None:
    """Make new asyncio loops uvloop loops, for ``asyncio.run`` and ``IOLoop()`` alike.

    uvloop is optional (``pip install typhoon[uvloop]``); typhoon runs on the standard
    loop without it. Call this before the loop is created.

    Raises:
        MissingDependencyError: uvloop is not installed.
    """
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        raise MissingDependencyError(
            "uvloop is not installed; install it with 'pip install typhoon[uvloop]'"
        ) from exc
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
