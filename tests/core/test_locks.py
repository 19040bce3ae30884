"""Tests for typhoon.locks: Condition, Event, Semaphore, BoundedSemaphore, Lock."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Generator
from typing import Any

import pytest
from typhoon import gen
from typhoon.errors import TyphoonTimeoutError
from typhoon.ioloop import IOLoop
from typhoon.locks import BoundedSemaphore, Condition, Event, Lock, Semaphore


def _now() -> float:
    io_loop = IOLoop.current()
    assert io_loop is not None
    return io_loop.time()


async def _spin(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


# --- Condition ----------------------------------------------------------------------------


async def test_condition_notify_wakes_in_fifo_order() -> None:
    c = Condition()
    woken: list[int] = []

    async def waiter(i: int) -> None:
        assert await c.wait() is True
        woken.append(i)

    tasks = [asyncio.ensure_future(waiter(i)) for i in range(4)]
    await _spin()
    assert "waiters[4]" in repr(c)
    c.notify()
    await _spin()
    assert woken == [0]
    c.notify(2)
    await _spin()
    assert woken == [0, 1, 2]
    c.notify_all()
    await asyncio.gather(*tasks)
    assert woken == [0, 1, 2, 3]


async def test_condition_wait_timeout_returns_false() -> None:
    c = Condition()
    assert await c.wait(timeout=datetime.timedelta(seconds=0.01)) is False
    assert await c.wait(timeout=_now() + 0.01) is False


async def test_condition_past_deadline_decided_at_once() -> None:
    c = Condition()
    result = c.wait(timeout=0)
    assert result.done()
    assert result.result() is False
    assert c.wait(timeout=datetime.timedelta(0)).result() is False


async def test_condition_skips_cancelled_and_timed_out_waiters() -> None:
    c = Condition()
    cancelled = asyncio.ensure_future(c.wait())
    timed_out = c.wait(timeout=datetime.timedelta(seconds=0.005))
    live = c.wait()
    await _spin()
    cancelled.cancel()
    await asyncio.sleep(0.01)
    assert timed_out.result() is False
    c.notify(1)
    assert await live is True


async def test_condition_sweeps_abandoned_waiters() -> None:
    c = Condition()
    for _ in range(250):
        c.wait().cancel()
    await _spin()
    assert len(c._waiters) < 150


# --- Event --------------------------------------------------------------------------------


async def test_event_set_wakes_all_and_clear_blocks_again() -> None:
    e = Event()
    assert not e.is_set()
    assert "clear" in repr(e)
    waiters = [e.wait() for _ in range(3)]
    await _spin()
    assert not any(w.done() for w in waiters)
    e.set()
    e.set()  # idempotent
    assert "set" in repr(e)
    await asyncio.gather(*waiters)
    assert e.is_set()
    assert e.wait().done()
    e.clear()
    assert not e.is_set()
    assert not e.wait(timeout=datetime.timedelta(seconds=5)).done()
    e.set()


async def test_event_wait_timeout_raises() -> None:
    e = Event()
    with pytest.raises(TyphoonTimeoutError):
        await e.wait(timeout=datetime.timedelta(seconds=0.01))
    with pytest.raises(gen.TimeoutError):
        await e.wait(timeout=_now() + 0.01)


async def test_event_wait_timeout_zero_raises_at_once_unless_set() -> None:
    e = Event()
    waiter = e.wait(timeout=0)
    assert waiter.done()
    with pytest.raises(TyphoonTimeoutError):
        waiter.result()
    e.set()
    assert e.wait(timeout=0).result() is None


async def test_event_cancelled_waiter_does_not_break_set() -> None:
    e = Event()
    w = e.wait()
    w.cancel()
    e.set()
    assert w.cancelled()


# --- Semaphore ----------------------------------------------------------------------------


async def test_semaphore_limits_concurrency() -> None:
    sem = Semaphore(2)
    active = 0
    peak = 0

    async def worker() -> None:
        nonlocal active, peak
        async with sem:
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.005)
            active -= 1

    await asyncio.gather(*(worker() for _ in range(6)))
    assert peak == 2
    assert "unlocked,value:2" in repr(sem)


async def test_semaphore_fifo_and_repr() -> None:
    sem = Semaphore(1)
    await sem.acquire()
    assert "locked" in repr(sem)
    order: list[int] = []

    async def waiter(i: int) -> None:
        await sem.acquire()
        order.append(i)
        sem.release()

    tasks = [asyncio.ensure_future(waiter(i)) for i in range(3)]
    await _spin()
    assert "waiters:3" in repr(sem)
    sem.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]


async def test_semaphore_rejects_negative_value() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        Semaphore(-1)


async def test_semaphore_acquire_timeout() -> None:
    sem = Semaphore(0)
    with pytest.raises(TyphoonTimeoutError):
        await sem.acquire(timeout=datetime.timedelta(seconds=0.01))
    immediate = sem.acquire(timeout=0)
    assert immediate.done()
    with pytest.raises(TyphoonTimeoutError):
        immediate.result()
    sem.release()
    # The timed-out waiters must not have swallowed the released unit.
    sem.acquire(timeout=0).result()
    assert sem._value == 0


async def test_semaphore_cancelled_waiter_leaves_queue() -> None:
    sem = Semaphore(0)
    task = asyncio.ensure_future(sem.acquire())
    await _spin()
    task.cancel()
    await _spin()
    sem.release()
    assert sem._value == 1


async def test_semaphore_unit_given_to_cancelled_task_is_passed_on() -> None:
    sem = Semaphore(0)
    got: list[str] = []

    async def take(name: str) -> None:
        await sem.acquire()
        got.append(name)

    first = asyncio.ensure_future(take("first"))
    second = asyncio.ensure_future(take("second"))
    await _spin()
    sem.release()  # hands the unit to "first"...
    first.cancel()  # ...which is cancelled before it can resume
    await _spin()
    assert first.cancelled()
    assert got == ["second"]
    await asyncio.wait_for(second, 1)


async def test_semaphore_legacy_with_statement() -> None:
    sem = Semaphore(1)

    @gen.coroutine
    def legacy() -> Generator[Any, Any, int]:
        with (yield sem.acquire()):
            assert sem._value == 0
        return sem._value

    assert await legacy() == 1
    with pytest.raises(RuntimeError, match="async with"), sem:
        pass


async def test_bounded_semaphore_refuses_extra_release() -> None:
    sem = BoundedSemaphore(1)
    with pytest.raises(ValueError, match="too many times"):
        sem.release()
    await sem.acquire()
    sem.release()
    with pytest.raises(ValueError, match="too many times"):
        sem.release()


# --- Lock ---------------------------------------------------------------------------------


async def test_lock_mutual_exclusion_in_order() -> None:
    lock = Lock()
    log: list[str] = []

    async def critical(name: str) -> None:
        async with lock:
            log.append(f"{name} in")
            await asyncio.sleep(0.002)
            log.append(f"{name} out")

    await asyncio.gather(critical("a"), critical("b"), critical("c"))
    assert log == ["a in", "a out", "b in", "b out", "c in", "c out"]
    assert "unlocked" in repr(lock)


async def test_lock_release_unlocked_raises() -> None:
    lock = Lock()
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        lock.release()


async def test_lock_acquire_timeout_and_sync_with_refused() -> None:
    lock = Lock()
    await lock.acquire()
    with pytest.raises(TyphoonTimeoutError):
        await lock.acquire(timeout=datetime.timedelta(seconds=0.01))
    with pytest.raises(TyphoonTimeoutError):
        lock.acquire(timeout=0).result()
    lock.release()
    async with lock:
        pass
    with pytest.raises(RuntimeError, match="async with"), lock:
        pass


async def test_lock_survives_cancellation_while_waiting() -> None:
    lock = Lock()
    await lock.acquire()
    waiting = asyncio.ensure_future(lock.acquire())
    await _spin()
    waiting.cancel()
    await _spin()
    lock.release()
    # The lock is free again: nobody took it on the cancelled task's behalf.
    lock.acquire(timeout=0).result()
    lock.release()


async def test_lock_with_wait_for_timeout_does_not_leak() -> None:
    lock = Lock()
    await lock.acquire()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(lock.acquire(), 0.01)
    lock.release()
    await asyncio.wait_for(lock.acquire(), 1)
    lock.release()
