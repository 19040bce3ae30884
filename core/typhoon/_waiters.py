"""The waiter future used by locks and queues: it gives back what a cancelled waiter won.

Layer 1 (event loop), internal. Imports ``ioloop`` and the standard library.

Strategy: a lock or queue hands a slot (a semaphore count, a queue item) to a waiter
by setting the waiter's result. If the task awaiting that waiter is cancelled after
the result was set but before the task resumed, the task never receives the slot and
it would be lost. :class:`Waiter` notices exactly that case when the cancellation
passes through its ``__await__`` and calls ``on_lost(result)`` so the owner can hand
the slot to someone else.

Also here: turning a ``timeout`` argument (a deadline on ``IOLoop.time()`` or a
timedelta from now, as Tornado takes it) into a deadline and arming it.
"""

from __future__ import annotations

__all__ = ["Waiter", "arm_deadline", "deadline_of"]

import asyncio
import datetime
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from typhoon.ioloop import IOLoop

_T = TypeVar("_T")


class Waiter(asyncio.Future[_T]):
    """An asyncio future that returns its result to ``on_lost`` if its awaiter is cancelled."""

    def __init__(self, *, loop: asyncio.AbstractEventLoop, on_lost: Callable[[_T], object]) -> None:
        super().__init__(loop=loop)
        self._on_lost = on_lost

    def __await__(self) -> Generator[Any, None, _T]:
        try:
            return (yield from super().__await__())
        except asyncio.CancelledError:
            if self.done() and not self.cancelled():
                self._on_lost(self.result())
            raise

    __iter__ = __await__


def deadline_of(io_loop: IOLoop, timeout: float | datetime.timedelta) -> float:
    """Return the absolute deadline on ``io_loop.time()`` for a ``timeout`` argument.

    Raises:
        TypeError: ``timeout`` is neither a number nor a timedelta.
    """
    if isinstance(timeout, datetime.timedelta):
        return io_loop.time() + timeout.total_seconds()
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        return float(timeout)
    raise TypeError(f"Unsupported timeout {timeout!r}")


def arm_deadline(
    io_loop: IOLoop, future: asyncio.Future[Any], deadline: float, expire: Callable[[], object]
) -> None:
    """Call ``expire()`` at ``deadline`` unless ``future`` finishes first."""
    handle = io_loop.call_at(deadline, expire)
    future.add_done_callback(lambda _: handle.cancel())
