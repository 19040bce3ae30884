"""Producer/consumer queues for coroutines: Queue (FIFO), PriorityQueue, LifoQueue.

Layer 1 (event loop). Imports ``concurrent``, ``locks``, ``ioloop``, ``_waiters`` and ``errors``.

``put`` waits while a bounded queue is full, ``get`` waits while it is empty, both
with an optional ``timeout`` (a deadline on ``IOLoop.time()`` or a timedelta from
now); ``task_done`` and ``join`` let a producer wait until every item was processed.
Not thread-safe: use them from coroutines on one loop.

An item handed to a ``get`` whose task is cancelled before it resumes is not lost: it
goes to the next waiting consumer, or back to the front of the queue.
"""

from __future__ import annotations

__all__ = [
    "LifoQueue",
    "PriorityQueue",
    "Queue",
    "QueueEmpty",
    "QueueFull",
]

import asyncio
import collections
import datetime
import heapq
from typing import Any, Generic, TypeVar

from typhoon._waiters import Waiter, arm_deadline, deadline_of
from typhoon.concurrent import future_set_result_unless_cancelled
from typhoon.errors import QueueEmpty, QueueFull, TyphoonTimeoutError
from typhoon.ioloop import IOLoop
from typhoon.locks import Event

_T = TypeVar("_T")

_Timeout = float | datetime.timedelta


def _current_loop() -> IOLoop:
    io_loop = IOLoop.current()
    assert io_loop is not None
    return io_loop


def _fail_at(io_loop: IOLoop, future: asyncio.Future[Any], timeout: _Timeout | None) -> bool:
    """Arm ``timeout`` on a waiting ``future``; True if the deadline already passed.

    A passed deadline fails the future at once (the caller must not queue it).
    """
    if timeout is None:
        return False
    deadline = deadline_of(io_loop, timeout)
    if deadline <= io_loop.time():
        future.set_exception(TyphoonTimeoutError("Timeout"))
        return True

    def expire() -> None:
        if not future.done():
            future.set_exception(TyphoonTimeoutError("Timeout"))

    arm_deadline(io_loop, future, deadline, expire)
    return False


class Queue(Generic[_T]):
    """A FIFO queue for coroutines, bounded when ``maxsize`` > 0.

    ``async for item in queue`` gets items forever (it never ends by itself)::

        async def consumer(q):
            async for item in q:
                try:
                    await handle(item)
                finally:
                    q.task_done()

    Subclasses change the order by overriding ``_init``, ``_get``, ``_put`` and
    ``_unget`` (put an item back at the front).

    Raises:
        TypeError: ``maxsize`` is None.
        ValueError: ``maxsize`` is negative.
    """

    _queue: Any

    def __init__(self, maxsize: int = 0) -> None:
        if maxsize is None:
            raise TypeError("maxsize can't be None")
        if maxsize < 0:
            raise ValueError("maxsize can't be negative")
        self._maxsize = maxsize
        self._init()
        self._getters: collections.deque[asyncio.Future[_T]] = collections.deque()
        self._putters: collections.deque[tuple[_T, asyncio.Future[None]]] = collections.deque()
        self._unfinished_tasks = 0
        self._finished = Event()
        self._finished.set()

    @property
    def maxsize(self) -> int:
        """Number of items allowed in the queue; 0 means unbounded."""
        return self._maxsize

    def qsize(self) -> int:
        """Number of items in the queue."""
        return len(self._queue)

    def empty(self) -> bool:
        """Return True if the queue holds no items."""
        return not self._queue

    def full(self) -> bool:
        """Return True if the queue holds ``maxsize`` items (never, when unbounded)."""
        if self._maxsize == 0:
            return False
        return self.qsize() >= self._maxsize

    def put(self, item: _T, timeout: _Timeout | None = None) -> asyncio.Future[None]:
        """Put an item, waiting while the queue is full.

        Raises:
            TimeoutError: the timeout passed first (``typhoon.util.TimeoutError``);
                the item was not added.
        """
        io_loop = _current_loop()
        future: asyncio.Future[None] = io_loop.asyncio_loop.create_future()
        try:
            self.put_nowait(item)
        except QueueFull:
            if not _fail_at(io_loop, future, timeout):
                self._putters.append((item, future))
        else:
            future.set_result(None)
        return future

    def put_nowait(self, item: _T) -> None:
        """Put an item without waiting.

        Raises:
            QueueFull: the queue is full.
        """
        self._consume_expired()
        if self._getters:
            # A waiting consumer means the queue is empty: hand the item straight over.
            getter = self._getters.popleft()
            self._put_internal(item)
            getter.set_result(self._get())
        elif self.full():
            raise QueueFull
        else:
            self._put_internal(item)

    def get(self, timeout: _Timeout | None = None) -> asyncio.Future[_T]:
        """Remove and return an item, waiting while the queue is empty.

        Raises:
            TimeoutError: the timeout passed first (``typhoon.util.TimeoutError``).
        """
        io_loop = _current_loop()
        future: Waiter[_T] = Waiter(loop=io_loop.asyncio_loop, on_lost=self._give_back)
        try:
            future.set_result(self.get_nowait())
        except QueueEmpty:
            if not _fail_at(io_loop, future, timeout):
                self._getters.append(future)
        return future

    def get_nowait(self) -> _T:
        """Remove and return an item without waiting.

        Raises:
            QueueEmpty: the queue is empty.
        """
        self._consume_expired()
        if self._putters:
            # A waiting producer means the queue is full: admit its item, take ours.
            item, putter = self._putters.popleft()
            self._put_internal(item)
            future_set_result_unless_cancelled(putter, None)
            return self._get()
        if self.qsize():
            return self._get()
        raise QueueEmpty

    def task_done(self) -> None:
        """Mark one item taken with ``get`` as processed; :meth:`join` waits for all.

        Raises:
            ValueError: called more times than there were items.
        """
        if self._unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished_tasks -= 1
        if self._unfinished_tasks == 0:
            self._finished.set()

    def join(self, timeout: _Timeout | None = None) -> asyncio.Future[None]:
        """Wait until every item put so far was marked with :meth:`task_done`.

        Raises:
            TimeoutError: the timeout passed first (``typhoon.util.TimeoutError``).
        """
        return self._finished.wait(timeout)

    def __aiter__(self) -> _QueueIterator[_T]:
        return _QueueIterator(self)

    # --- storage, overridden by subclasses ------------------------------------------------

    def _init(self) -> None:
        self._queue = collections.deque()

    def _get(self) -> _T:
        item: _T = self._queue.popleft()
        return item

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _unget(self, item: _T) -> None:
        self._queue.appendleft(item)

    # --- internals ------------------------------------------------------------------------

    def _put_internal(self, item: _T) -> None:
        self._unfinished_tasks += 1
        self._finished.clear()
        self._put(item)

    def _give_back(self, item: _T) -> None:
        """Re-deliver an item whose consumer was cancelled before it could resume."""
        self._consume_expired()
        if self._getters:
            self._getters.popleft().set_result(item)
        else:
            # It was at the front when taken; it may briefly exceed maxsize.
            self._unget(item)

    def _consume_expired(self) -> None:
        # Waiters that timed out or were cancelled are skipped here, at the front.
        while self._putters and self._putters[0][1].done():
            self._putters.popleft()
        while self._getters and self._getters[0].done():
            self._getters.popleft()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x} {self._format()}>"

    def __str__(self) -> str:
        return f"<{type(self).__name__} {self._format()}>"

    def _format(self) -> str:
        parts = [f"maxsize={self.maxsize!r}"]
        if getattr(self, "_queue", None):
            parts.append(f"queue={self._queue!r}")
        if self._getters:
            parts.append(f"getters[{len(self._getters)}]")
        if self._putters:
            parts.append(f"putters[{len(self._putters)}]")
        if self._unfinished_tasks:
            parts.append(f"tasks={self._unfinished_tasks}")
        return " ".join(parts)


class _QueueIterator(Generic[_T]):
    """``async for`` over a queue: each step is a ``get``."""

    __slots__ = ("_queue",)

    def __init__(self, queue: Queue[_T]) -> None:
        self._queue = queue

    def __aiter__(self) -> _QueueIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        return await self._queue.get()


class PriorityQueue(Queue[_T]):
    """A queue that returns the lowest item first (items are often ``(priority, data)``)."""

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        heapq.heappush(self._queue, item)

    def _get(self) -> _T:
        item: _T = heapq.heappop(self._queue)
        return item

    def _unget(self, item: _T) -> None:
        heapq.heappush(self._queue, item)


class LifoQueue(Queue[_T]):
    """A queue that returns the most recently added item first (a stack)."""

    def _init(self) -> None:
        self._queue = []

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:
        item: _T = self._queue.pop()
        return item

    def _unget(self, item: _T) -> None:
        self._queue.append(item)
