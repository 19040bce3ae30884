"""Tests for typhoon.concurrent: future helpers, run_on_executor, convert_yielded, multi_future."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from typing import Any

import pytest
from typhoon.concurrent import (
    FUTURES,
    DummyExecutor,
    Future,
    chain_future,
    convert_yielded,
    dummy_executor,
    future_add_done_callback,
    future_set_exc_info,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
    is_future,
    moment,
    multi_future,
    run_on_executor,
)
from typhoon.errors import BadYieldError
from typhoon.ioloop import IOLoop

APP_LOGGER = "typhoon.application"


def test_future_is_asyncio_future() -> None:
    assert Future is asyncio.Future
    assert asyncio.Future in FUTURES
    assert concurrent.futures.Future in FUTURES


async def test_is_future() -> None:
    assert is_future(asyncio.get_running_loop().create_future())
    assert is_future(concurrent.futures.Future())
    coro = asyncio.sleep(0)
    assert not is_future(coro)
    await coro
    assert not is_future(None)


def test_dummy_executor_runs_inline() -> None:
    assert isinstance(dummy_executor, DummyExecutor)
    f = dummy_executor.submit(lambda x: (x, threading.current_thread()), 3)
    assert f.done()
    assert f.result() == (3, threading.current_thread())
    failed = dummy_executor.submit(lambda: 1 / 0)
    assert isinstance(failed.exception(), ZeroDivisionError)
    dummy_executor.shutdown()


async def test_set_result_unless_cancelled() -> None:
    loop = asyncio.get_running_loop()
    f: asyncio.Future[int] = loop.create_future()
    future_set_result_unless_cancelled(f, 1)
    assert f.result() == 1
    g: asyncio.Future[int] = loop.create_future()
    g.cancel()
    future_set_result_unless_cancelled(g, 1)  # no InvalidStateError
    assert g.cancelled()


async def test_set_exception_unless_cancelled_logs_late_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    f: asyncio.Future[int] = loop.create_future()
    future_set_exception_unless_cancelled(f, ValueError("a"))
    with pytest.raises(ValueError, match="a"):
        f.result()
    g: asyncio.Future[int] = loop.create_future()
    g.cancel()
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        future_set_exception_unless_cancelled(g, KeyError("late"))
    [record] = [r for r in caplog.records if r.name == APP_LOGGER]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)


async def test_future_set_exc_info() -> None:
    f: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        future_set_exc_info(f, sys.exc_info())
    with pytest.raises(RuntimeError, match="boom"):
        f.result()
    with pytest.raises(ValueError, match="no exception"):
        future_set_exc_info(f, (None, None, None))


async def test_future_add_done_callback_immediate_when_done() -> None:
    loop = asyncio.get_running_loop()
    calls: list[Any] = []
    done: asyncio.Future[int] = loop.create_future()
    done.set_result(1)
    future_add_done_callback(done, calls.append)
    assert calls == [done]  # immediately, not on the next iteration
    pending: asyncio.Future[int] = loop.create_future()
    future_add_done_callback(pending, calls.append)
    pending.set_result(2)
    assert calls == [done]
    await asyncio.sleep(0)
    assert calls == [done, pending]
    cf: concurrent.futures.Future[int] = concurrent.futures.Future()
    future_add_done_callback(cf, calls.append)
    cf.set_result(3)
    assert calls[-1] is cf


async def test_chain_future_copies_result_and_exception() -> None:
    loop = asyncio.get_running_loop()
    a: asyncio.Future[int] = loop.create_future()
    b: asyncio.Future[int] = loop.create_future()
    chain_future(a, b)
    a.set_result(5)
    assert await b == 5
    c: asyncio.Future[int] = loop.create_future()
    d: asyncio.Future[int] = loop.create_future()
    chain_future(c, d)
    c.set_exception(KeyError("x"))
    with pytest.raises(KeyError):
        await d


async def test_chain_future_from_executor_future() -> None:
    loop = asyncio.get_running_loop()
    target: asyncio.Future[str] = loop.create_future()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        chain_future(pool.submit(lambda: threading.current_thread().name), target)
        name = await asyncio.wait_for(target, 5)
    assert name != threading.current_thread().name


async def test_chain_future_cancellation_both_ways() -> None:
    loop = asyncio.get_running_loop()
    a: asyncio.Future[int] = loop.create_future()
    b: asyncio.Future[int] = loop.create_future()
    chain_future(a, b)
    a.cancel()
    await asyncio.sleep(0)
    assert b.cancelled()

    c: asyncio.Future[int] = loop.create_future()
    d: asyncio.Future[int] = loop.create_future()
    chain_future(c, d)
    d.cancel()
    await asyncio.sleep(0)
    assert c.cancelled()


async def test_chain_future_target_already_done_is_left_alone() -> None:
    loop = asyncio.get_running_loop()
    a: asyncio.Future[int] = loop.create_future()
    b: asyncio.Future[int] = loop.create_future()
    chain_future(a, b)
    b.set_result(1)
    a.set_result(2)
    await asyncio.sleep(0)
    assert b.result() == 1


class _Worker:
    def __init__(self, pool: concurrent.futures.Executor) -> None:
        self.executor = pool
        self.other = DummyExecutor()

    @run_on_executor
    def where(self, suffix: str) -> str:
        return threading.current_thread().name + suffix

    @run_on_executor(executor="other")
    def inline(self) -> str:
        return threading.current_thread().name

    @run_on_executor
    def fail(self) -> None:
        raise LookupError("in executor")


async def test_run_on_executor_default_and_named_attribute() -> None:
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="worker") as pool:
        worker = _Worker(pool)
        result = worker.where("!")
        assert isinstance(result, asyncio.Future)
        assert (await result).startswith("worker")
        assert (await result).endswith("!")
        assert await worker.inline() == threading.current_thread().name
        with pytest.raises(LookupError):
            await worker.fail()


async def test_run_on_executor_io_loop_attribute() -> None:
    class WithLoop:
        def __init__(self) -> None:
            self.executor = DummyExecutor()
            self.io_loop = IOLoop.current()

        @run_on_executor
        def value(self) -> int:
            return 9

    obj = WithLoop()
    fut = obj.value()
    assert fut.get_loop() is asyncio.get_running_loop()
    assert await fut == 9


async def test_run_on_executor_cancellation_reaches_pending_call() -> None:
    gate = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        blocker = pool.submit(gate.wait, 5)
        worker = _Worker(pool)
        queued = worker.where("")
        queued.cancel()
        gate.set()
        blocker.result(5)
    # The queued call never ran: its executor future was cancelled with ours.
    assert queued.cancelled()


def test_run_on_executor_rejects_mixed_arguments() -> None:
    with pytest.raises(TypeError):
        run_on_executor(lambda self: None, executor="x")


async def test_convert_yielded_kinds() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    assert convert_yielded(fut) is fut
    task = convert_yielded(asyncio.sleep(0, "coro"))
    assert await task == "coro"
    cf: concurrent.futures.Future[int] = concurrent.futures.Future()
    wrapped = convert_yielded(cf)
    cf.set_result(4)
    assert await asyncio.wait_for(wrapped, 5) == 4
    assert await convert_yielded([asyncio.sleep(0, 1), asyncio.sleep(0, 2)]) == [1, 2]
    assert await convert_yielded({"a": asyncio.sleep(0, 1)}) == {"a": 1}
    assert await convert_yielded(None) is None
    assert await convert_yielded(moment) is None
    with pytest.raises(BadYieldError, match="unknown object"):
        convert_yielded(42)


async def test_convert_yielded_registration_for_foreign_types() -> None:
    class Foreign:
        def __init__(self, value: int) -> None:
            self.value = value

    converted: list[int] = []

    @convert_yielded.register(Foreign)
    def _(obj: Foreign) -> asyncio.Future[Any]:
        converted.append(obj.value)
        f: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        f.set_result(obj.value * 2)
        return f

    assert await convert_yielded(Foreign(21)) == 42
    # IOLoop callbacks use the same registry.
    io_loop = IOLoop.current()
    assert io_loop is not None
    io_loop.add_callback(lambda: Foreign(1))
    await asyncio.sleep(0.01)
    assert converted == [21, 1]


async def test_moment_yields_to_the_loop() -> None:
    order: list[str] = []
    asyncio.get_running_loop().call_soon(order.append, "other")
    await moment
    order.append("after moment")
    assert order == ["other", "after moment"]
    assert "moment" in repr(moment)


async def test_multi_future_list_and_dict() -> None:
    assert await multi_future([asyncio.sleep(0.01, "a"), asyncio.sleep(0, "b")]) == ["a", "b"]
    assert await multi_future({"x": asyncio.sleep(0, 1), "y": asyncio.sleep(0.01, 2)}) == {
        "x": 1,
        "y": 2,
    }
    assert await multi_future([]) == []
    assert await multi_future({}) == {}


async def test_multi_future_duplicate_children() -> None:
    f: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    f.set_result(3)
    assert await multi_future([f, f]) == [3, 3]


async def _fail_after(delay: float, exc: BaseException) -> None:
    await asyncio.sleep(delay)
    raise exc


async def test_multi_future_first_error_wins_others_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        with pytest.raises(KeyError):
            await multi_future([_fail_after(0, KeyError("first")), _fail_after(0.01, OSError())])
        await asyncio.sleep(0.03)
    logged = [r for r in caplog.records if r.name == APP_LOGGER]
    assert len(logged) == 1
    assert "Multiple exceptions" in logged[0].getMessage()


async def test_multi_future_quiet_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        with pytest.raises(KeyError):
            await multi_future(
                [_fail_after(0, KeyError("first")), _fail_after(0.01, OSError())],
                quiet_exceptions=OSError,
            )
        await asyncio.sleep(0.03)
    assert not [r for r in caplog.records if r.name == APP_LOGGER]


async def test_multi_future_cancellation_propagates_to_children() -> None:
    loop = asyncio.get_running_loop()
    a: asyncio.Future[int] = loop.create_future()
    b: asyncio.Future[int] = loop.create_future()
    combined = multi_future([a, b])
    combined.cancel()
    await asyncio.sleep(0)
    assert a.cancelled()
    assert b.cancelled()


async def test_multi_future_cancelled_child_cancels_combined() -> None:
    loop = asyncio.get_running_loop()
    a: asyncio.Future[int] = loop.create_future()
    b: asyncio.Future[int] = loop.create_future()
    combined = multi_future([a, b])
    a.cancel()
    await asyncio.sleep(0)
    assert combined.cancelled()
    await asyncio.sleep(0)
    assert b.cancelled()  # the combined future's cancellation reaches the siblings
