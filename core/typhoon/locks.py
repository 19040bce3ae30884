"""Coroutine synchronisation primitives: Condition, Event, Semaphore, BoundedSemaphore, Lock.

Layer 1 (event loop). Imports ``concurrent``, ``ioloop``, ``_waiters`` and ``errors``.

Like the ``threading`` classes of the same names, but for coroutines on one loop
(they are not thread-safe). Every wait takes ``timeout``: a deadline on
:meth:`IOLoop.time <typhoon.ioloop.IOLoop.time>` or a :class:`datetime.timedelta` from
now. A deadline that has already passed is decided at once, without waiting for the
loop: a wait that cannot succeed immediately fails immediately.

Waiters are served first come, first served. A waiter whose task is cancelled leaves
the queue; a semaphore slot handed to a task that is cancelled before it resumes is
passed on to the next waiter instead of being lost.
"""

from __future__ import annotations

__all__ = [
    "BoundedSemaphore",
    "Condition",
    "Event",
    "Lock",
    "Semaphore",
]

import abc
import asyncio
import collections
import datetime
from collections.abc import Awaitable
from types import TracebackType
from typing import Any

from typhoon._waiters import Waiter, arm_deadline, deadline_of
from typhoon.concurrent import future_set_result_unless_cancelled
from typhoon.errors import TyphoonTimeoutError
from typhoon.ioloop import IOLoop

_Timeout = float | datetime.timedelta

# Waiters that gave up (timed out or cancelled) stay in a deque until someone walks
# past them; after this many, the deque is swept so it cannot grow without bound.
_SWEEP_AFTER = 100


def _current_loop() -> IOLoop:
    io_loop = IOLoop.current()
    assert io_loop is not None
    return io_loop


class _WaiterQueue:
    """A FIFO of waiter futures that drops the ones that gave up."""

    __slots__ = ("_abandoned", "_waiters")

    def __init__(self) -> None:
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._abandoned = 0

    def __len__(self) -> int:
        return len(self._waiters)

    def append(self, waiter: asyncio.Future[Any]) -> None:
        self._waiters.append(waiter)
        waiter.add_done_callback(self._on_done)

    def _on_done(self, _waiter: asyncio.Future[Any]) -> None:
        # Served waiters count too (they are already out of the deque): sweeping a
        # little too often costs less than tracking which ones were served.
        self._abandoned += 1
        if self._abandoned > _SWEEP_AFTER:
            self._abandoned = 0
            self._waiters = collections.deque(w for w in self._waiters if not w.done())

    def pop_live(self) -> asyncio.Future[Any] | None:
        """Remove and return the oldest waiter still waiting, or None."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def live_count(self) -> int:
        return sum(1 for w in self._waiters if not w.done())


class Condition:
    """Let coroutines wait until another one notifies them.

    Unlike :class:`threading.Condition` there is no lock to hold: coroutines only
    switch at ``await``, so checking a predicate and calling :meth:`wait` is atomic.
    """

    def __init__(self) -> None:
        self._waiters = _WaiterQueue()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} waiters[{self._waiters.live_count()}]>"

    def wait(self, timeout: _Timeout | None = None) -> asyncio.Future[bool]:
        """Wait for :meth:`notify`; resolve to True when notified, False at the timeout."""
        io_loop = _current_loop()
        waiter: asyncio.Future[bool] = io_loop.asyncio_loop.create_future()
        if timeout is not None:
            deadline = deadline_of(io_loop, timeout)
            if deadline <= io_loop.time():
                waiter.set_result(False)
                return waiter
            arm_deadline(
                io_loop,
                waiter,
                deadline,
                lambda: future_set_result_unless_cancelled(waiter, False),
            )
        self._waiters.append(waiter)
        return waiter

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters, oldest first."""
        woken: list[asyncio.Future[Any]] = []
        while len(woken) < n:
            waiter = self._waiters.pop_live()
            if waiter is None:
                break
            woken.append(waiter)
        for waiter in woken:
            waiter.set_result(True)

    def notify_all(self) -> None:
        """Wake every waiter."""
        self.notify(len(self._waiters))


class Event:
    """A flag coroutines can wait on: :meth:`wait` blocks until :meth:`set` is called.

    The flag starts false; :meth:`clear` makes later waits block again.
    """

    def __init__(self) -> None:
        self._value = False
        self._waiters: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'set' if self.is_set() else 'clear'}>"

    def is_set(self) -> bool:
        """Return True if the flag is set."""
        return self._value

    def set(self) -> None:
        """Set the flag and wake every waiter; waits started afterwards return at once."""
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            future_set_result_unless_cancelled(waiter, None)

    def clear(self) -> None:
        """Reset the flag: later :meth:`wait` calls block until :meth:`set`."""
        self._value = False

    def wait(self, timeout: _Timeout | None = None) -> asyncio.Future[None]:
        """Wait until the flag is set.

        Raises:
            TimeoutError: the timeout passed first (``typhoon.util.TimeoutError``).
        """
        io_loop = _current_loop()
        waiter: asyncio.Future[None] = io_loop.asyncio_loop.create_future()
        if self._value:
            waiter.set_result(None)
            return waiter
        if timeout is not None:
            deadline = deadline_of(io_loop, timeout)
            if deadline <= io_loop.time():
                waiter.set_exception(TyphoonTimeoutError("Timeout"))
                return waiter

            def expire() -> None:
                if not waiter.done():
                    waiter.set_exception(TyphoonTimeoutError("Timeout"))

            arm_deadline(io_loop, waiter, deadline, expire)
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)
        return waiter


class _ReleasingContextManager:
    """What a semaphore acquire resolves to: ``with (yield sem.acquire()):`` releases on exit."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Semaphore) -> None:
        self._obj = obj

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._obj.release()


class _AsyncWithOnly(abc.ABC):
    """``async with`` acquires and releases; a plain ``with`` is a mistake and says so."""

    @abc.abstractmethod
    def acquire(self, timeout: _Timeout | None = None) -> Awaitable[Any]:
        """Wait for the primitive (subclasses define what that means)."""

    @abc.abstractmethod
    def release(self) -> None:
        """Give the primitive back."""

    def __enter__(self) -> None:
        raise RuntimeError(f"Use 'async with' instead of 'with' for {type(self).__name__}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise RuntimeError("Use 'async with' instead of 'with'")

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Semaphore(_AsyncWithOnly):
    """A counter that limits how many coroutines hold a resource at once.

    :meth:`acquire` takes one unit, waiting while the counter is zero; :meth:`release`
    gives it back. Use ``async with sem:`` to pair them.

    Raises:
        ValueError: ``value`` is negative.
    """

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value
        self._waiters = _WaiterQueue()

    def __repr__(self) -> str:
        state = "locked" if self._value == 0 else f"unlocked,value:{self._value}"
        waiters = self._waiters.live_count()
        extra = f",waiters:{waiters}" if waiters else ""
        return f"<{type(self).__name__} [{state}{extra}]>"

    def release(self) -> None:
        """Give one unit back, handing it straight to the oldest waiter if any."""
        waiter = self._waiters.pop_live()
        if waiter is None:
            self._value += 1
        else:
            waiter.set_result(_ReleasingContextManager(self))

    def acquire(self, timeout: _Timeout | None = None) -> asyncio.Future[_ReleasingContextManager]:
        """Take one unit, waiting while none is free.

        Resolves to an object whose ``with`` block releases the unit (for legacy
        ``with (yield sem.acquire()):`` code).

        Raises:
            TimeoutError: the timeout passed first (``typhoon.util.TimeoutError``).
        """
        io_loop = _current_loop()
        waiter: Waiter[_ReleasingContextManager] = Waiter(
            loop=io_loop.asyncio_loop, on_lost=lambda _: self.release()
        )
        if self._value > 0:
            self._value -= 1
            waiter.set_result(_ReleasingContextManager(self))
            return waiter
        if timeout is not None:
            deadline = deadline_of(io_loop, timeout)
            if deadline <= io_loop.time():
                waiter.set_exception(TyphoonTimeoutError("Timeout"))
                return waiter

            def expire() -> None:
                if not waiter.done():
                    waiter.set_exception(TyphoonTimeoutError("Timeout"))

            arm_deadline(io_loop, waiter, deadline, expire)
        self._waiters.append(waiter)
        return waiter


class BoundedSemaphore(Semaphore):
    """A :class:`Semaphore` that refuses to be released more often than acquired.

    Raises:
        ValueError: ``value`` is negative.
    """

    def __init__(self, value: int = 1) -> None:
        super().__init__(value=value)
        self._initial_value = value

    def release(self) -> None:
        """Give one unit back.

        Raises:
            ValueError: every unit is already free (a release without an acquire).
        """
        if self._value >= self._initial_value:
            raise ValueError("Semaphore released too many times")
        super().release()


class Lock(_AsyncWithOnly):
    """A mutual-exclusion lock for coroutines; ``async with lock:`` holds it for a block.

    Waiters get the lock in the order they asked for it.
    """

    def __init__(self) -> None:
        self._block = BoundedSemaphore(value=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} _block={self._block}>"

    def acquire(self, timeout: _Timeout | None = None) -> asyncio.Future[_ReleasingContextManager]:
        """Take the lock, waiting while another coroutine holds it.

        Raises:
            TimeoutError: the timeout passed first (``typhoon.util.TimeoutError``).
        """
        return self._block.acquire(timeout)

    def release(self) -> None:
        """Release the lock; the oldest waiter gets it next.

        Raises:
            RuntimeError: the lock is not held.
        """
        try:
            self._block.release()
        except ValueError:
            raise RuntimeError("release unlocked lock") from None
