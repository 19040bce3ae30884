"""Tests for typhoon.queues: Queue, PriorityQueue, LifoQueue."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from typhoon import errors, queues
from typhoon.errors import TyphoonTimeoutError
from typhoon.queues import LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull


async def _get(q: Queue[str]) -> str:
    """Await a get inside a task of its own, so cancelling the task is what is tested."""
    return await q.get()


async def _spin(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_exceptions_come_from_the_tree() -> None:
    assert queues.QueueEmpty is errors.QueueEmpty
    assert queues.QueueFull is errors.QueueFull


def test_maxsize_validation() -> None:
    with pytest.raises(TypeError):
        Queue(maxsize=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        Queue(maxsize=-1)
    assert Queue().maxsize == 0
    assert Queue(3).maxsize == 3


async def test_fifo_nowait_and_sizes() -> None:
    q: Queue[int] = Queue(maxsize=2)
    assert q.empty()
    assert not q.full()
    q.put_nowait(1)
    q.put_nowait(2)
    assert q.full()
    assert q.qsize() == 2
    with pytest.raises(QueueFull):
        q.put_nowait(3)
    assert q.get_nowait() == 1
    assert q.get_nowait() == 2
    with pytest.raises(QueueEmpty):
        q.get_nowait()
    assert "maxsize=2" in repr(q)
    assert "maxsize=2" in str(q)


async def test_unbounded_queue_is_never_full() -> None:
    q: Queue[int] = Queue()
    for i in range(100):
        q.put_nowait(i)
    assert not q.full()
    assert [q.get_nowait() for _ in range(100)] == list(range(100))


async def test_get_waits_for_put() -> None:
    q: Queue[str] = Queue()
    getter = q.get()
    await _spin()
    assert not getter.done()
    assert "getters[1]" in repr(q)
    await q.put("x")
    assert await getter == "x"


async def test_put_waits_while_full() -> None:
    q: Queue[int] = Queue(maxsize=1)
    await q.put(1)
    putter = q.put(2)
    await _spin()
    assert not putter.done()
    assert "putters[1]" in repr(q)
    assert await q.get() == 1
    await putter
    assert q.get_nowait() == 2


async def test_get_timeout() -> None:
    q: Queue[int] = Queue()
    with pytest.raises(TyphoonTimeoutError):
        await q.get(timeout=datetime.timedelta(seconds=0.01))
    io_loop_time = asyncio.get_running_loop().time()
    with pytest.raises(TyphoonTimeoutError):
        await q.get(timeout=io_loop_time + 0.01)
    q.put_nowait(5)  # the expired getters must not swallow it
    assert q.get_nowait() == 5


async def test_put_timeout_does_not_add_item() -> None:
    q: Queue[int] = Queue(maxsize=1)
    q.put_nowait(1)
    with pytest.raises(TyphoonTimeoutError):
        await q.put(2, timeout=datetime.timedelta(seconds=0.01))
    assert q.get_nowait() == 1
    with pytest.raises(QueueEmpty):
        q.get_nowait()


async def test_timeout_zero_is_decided_at_once() -> None:
    q: Queue[int] = Queue(maxsize=1)
    failed_get = q.get(timeout=0)
    assert failed_get.done()
    with pytest.raises(TyphoonTimeoutError):
        failed_get.result()
    q.put(1, timeout=0).result()
    failed_put = q.put(2, timeout=0)
    assert failed_put.done()
    with pytest.raises(TyphoonTimeoutError):
        failed_put.result()
    assert q.get(timeout=0).result() == 1
    assert q.empty()


async def test_task_done_and_join() -> None:
    q: Queue[int] = Queue()
    await q.join()  # nothing put yet
    for i in range(3):
        q.put_nowait(i)
    joined = q.join()
    processed: list[int] = []

    async def consumer() -> None:
        async for item in q:
            processed.append(item)
            q.task_done()

    task = asyncio.ensure_future(consumer())
    await asyncio.wait_for(joined, 5)
    assert processed == [0, 1, 2]
    assert "tasks" not in repr(q)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ValueError, match="too many times"):
        q.task_done()


async def test_join_timeout() -> None:
    q: Queue[int] = Queue()
    q.put_nowait(1)
    assert "tasks=1" in repr(q)
    with pytest.raises(TyphoonTimeoutError):
        await q.join(timeout=datetime.timedelta(seconds=0.01))


async def test_priority_queue_order() -> None:
    q: PriorityQueue[tuple[int, str]] = PriorityQueue()
    for item in [(3, "c"), (1, "a"), (2, "b")]:
        q.put_nowait(item)
    assert [q.get_nowait() for _ in range(3)] == [(1, "a"), (2, "b"), (3, "c")]


async def test_lifo_queue_order() -> None:
    q: LifoQueue[int] = LifoQueue()
    for i in range(3):
        await q.put(i)
    assert [await q.get() for _ in range(3)] == [2, 1, 0]


async def test_bounded_queue_producers_and_consumers() -> None:
    q: Queue[int] = Queue(maxsize=2)
    received: list[int] = []

    async def producer(start: int) -> None:
        for i in range(start, start + 20):
            await q.put(i)

    async def consumer() -> None:
        while len(received) < 40:
            received.append(await q.get())
            q.task_done()

    await asyncio.wait_for(
        asyncio.gather(producer(0), producer(100), consumer()),
        5,
    )
    assert sorted(received) == list(range(20)) + list(range(100, 120))
    assert q.empty()


async def test_cancelled_getter_is_skipped() -> None:
    q: Queue[int] = Queue()
    cancelled = asyncio.ensure_future(q.get())
    live = q.get()
    await _spin()
    cancelled.cancel()
    await _spin()
    q.put_nowait(1)
    assert await live == 1


async def test_item_given_to_cancelled_getter_is_not_lost() -> None:
    q: Queue[str] = Queue()
    first = asyncio.ensure_future(_get(q))
    await _spin()
    q.put_nowait("precious")  # handed straight to the first getter...
    first.cancel()  # ...whose task is cancelled before it resumes
    await _spin()
    assert first.cancelled()
    assert q.get_nowait() == "precious"


async def test_item_given_to_cancelled_getter_goes_to_next_getter() -> None:
    q: Queue[str] = Queue()
    first = asyncio.ensure_future(_get(q))
    second = asyncio.ensure_future(_get(q))
    await _spin()
    q.put_nowait("one")
    first.cancel()
    await _spin()
    assert await asyncio.wait_for(second, 1) == "one"
    assert q.empty()


async def test_item_returned_to_front_of_fifo() -> None:
    q: Queue[str] = Queue()
    first = asyncio.ensure_future(_get(q))
    await _spin()
    q.put_nowait("a")
    first.cancel()
    q.put_nowait("b")
    await _spin()
    assert [q.get_nowait(), q.get_nowait()] == ["a", "b"]


async def test_cancelled_putter_item_is_not_added() -> None:
    q: Queue[int] = Queue(maxsize=1)
    q.put_nowait(1)
    putter = asyncio.ensure_future(q.put(2))
    await _spin()
    putter.cancel()
    await _spin()
    assert q.get_nowait() == 1
    with pytest.raises(QueueEmpty):
        q.get_nowait()
