"""Tests for typhoon.gen: legacy coroutines, multi, sleep, with_timeout, WaitIterator."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextvars
import datetime
import logging
import time
from collections.abc import Generator
from typing import Any

import pytest
from typhoon import concurrent as typhoon_concurrent
from typhoon import gen
from typhoon.errors import BadYieldError, Return, TyphoonTimeoutError
from typhoon.ioloop import IOLoop

APP_LOGGER = "typhoon.application"

_var: contextvars.ContextVar[str] = contextvars.ContextVar("_var", default="unset")


def test_reexports() -> None:
    assert gen.TimeoutError is TyphoonTimeoutError
    assert issubclass(gen.TimeoutError, builtins.TimeoutError)
    assert gen.Return is Return
    assert gen.BadYieldError is BadYieldError
    assert gen.convert_yielded is typhoon_concurrent.convert_yielded
    assert gen.moment is typhoon_concurrent.moment
    assert gen.multi_future is typhoon_concurrent.multi_future


# --- @coroutine ---------------------------------------------------------------------------


async def test_coroutine_yields_and_returns() -> None:
    @gen.coroutine
    def add(a: int) -> Generator[Any, Any, int]:
        b = yield asyncio.sleep(0, 2)
        c = yield gen.sleep(0.001)
        d, e = yield [asyncio.sleep(0, 3), asyncio.sleep(0, 4)]
        f = yield {"k": asyncio.sleep(0, 5)}
        yield gen.moment
        yield None
        assert c is None
        return a + b + d + e + f["k"]

    result = add(1)
    assert isinstance(result, asyncio.Future)
    assert await result == 15


async def test_coroutine_raise_return() -> None:
    @gen.coroutine
    def legacy() -> Generator[Any, Any, None]:
        yield asyncio.sleep(0)
        raise gen.Return("value")

    assert await legacy() == "value"

    @gen.coroutine
    def immediate() -> None:
        raise gen.Return("now")

    assert await immediate() == "now"


async def test_coroutine_starts_running_immediately() -> None:
    steps: list[str] = []

    @gen.coroutine
    def body() -> Generator[Any, Any, None]:
        steps.append("started")
        yield asyncio.sleep(0)
        steps.append("resumed")

    future = body()
    assert steps == ["started"]
    await future
    assert steps == ["started", "resumed"]


async def test_coroutine_on_plain_function() -> None:
    @gen.coroutine
    def plain(x: int) -> int:
        return x * 2

    assert await plain(4) == 8

    @gen.coroutine
    def plain_fail() -> None:
        raise ValueError("plain")

    with pytest.raises(ValueError, match="plain"):
        await plain_fail()


async def test_coroutine_exceptions_reach_generator_and_caller() -> None:
    async def fail() -> None:
        raise KeyError("inner")

    @gen.coroutine
    def handles() -> Generator[Any, Any, str]:
        try:
            yield fail()
        except KeyError:
            return "caught"
        return "missed"

    assert await handles() == "caught"

    @gen.coroutine
    def propagates() -> Generator[Any, Any, None]:
        yield fail()

    with pytest.raises(KeyError):
        await propagates()

    @gen.coroutine
    def fails_first() -> Generator[Any, Any, None]:
        raise OSError("before yield")
        yield  # pragma: no cover

    with pytest.raises(OSError, match="before yield"):
        await fails_first()


async def test_coroutine_bad_yield_is_thrown_into_generator() -> None:
    @gen.coroutine
    def bad() -> Generator[Any, Any, str]:
        errors = 0
        try:
            yield 42
        except BadYieldError:
            errors += 1
        assert errors == 1
        try:
            yield "text"
        except BadYieldError as exc:
            return str(exc)
        return "no error"

    assert "unknown object" in await bad()


async def test_coroutine_cancellation_propagates_into_generator() -> None:
    loop = asyncio.get_running_loop()
    inner: asyncio.Future[None] = loop.create_future()
    seen: list[str] = []

    @gen.coroutine
    def waiter() -> Generator[Any, Any, None]:
        try:
            yield inner
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    outer = waiter()
    await asyncio.sleep(0)
    outer.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert inner.cancelled()
    assert seen == ["cancelled"]
    assert outer.cancelled()


async def test_coroutine_cancelled_dependency_cancels_coroutine() -> None:
    inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @gen.coroutine
    def waiter() -> Generator[Any, Any, None]:
        yield inner

    outer = waiter()
    inner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer


async def test_coroutine_long_chain_of_ready_futures_does_not_recurse() -> None:
    loop = asyncio.get_running_loop()

    @gen.coroutine
    def many() -> Generator[Any, Any, int]:
        total = 0
        for i in range(5000):
            f: asyncio.Future[int] = loop.create_future()
            f.set_result(i)
            total += yield f
        return total

    assert await many() == sum(range(5000))


async def test_coroutine_keeps_context_variables_across_yields() -> None:
    _var.set("outer")

    @gen.coroutine
    def body() -> Generator[Any, Any, tuple[str, str]]:
        first = _var.get()
        _var.set("inner")
        yield asyncio.sleep(0)
        return first, _var.get()

    assert await body() == ("outer", "inner")
    assert _var.get() == "outer"


async def test_coroutine_awaitable_from_native_code_and_nesting() -> None:
    @gen.coroutine
    def inner() -> Generator[Any, Any, int]:
        yield asyncio.sleep(0)
        return 1

    @gen.coroutine
    def outer() -> Generator[Any, Any, int]:
        value = yield inner()
        return value + 1

    async def native() -> int:
        return await outer() + 1

    assert await native() == 3


def test_coroutine_with_run_sync() -> None:
    @gen.coroutine
    def body() -> Generator[Any, Any, str]:
        yield gen.sleep(0.001)
        return "done"

    io_loop = IOLoop(make_current=False)
    try:
        assert io_loop.run_sync(body) == "done"
    finally:
        io_loop.close()


def test_is_coroutine_function() -> None:
    @gen.coroutine
    def legacy() -> Generator[Any, Any, None]:
        yield None

    async def native() -> None:
        return None

    def plain() -> None:
        return None

    assert gen.is_coroutine_function(legacy)
    assert gen.is_coroutine_function(native)
    assert not gen.is_coroutine_function(plain)
    assert not gen.is_coroutine_function(None)


# --- multi / maybe_future / sleep ---------------------------------------------------------


async def test_multi_list_dict_and_quiet() -> None:
    assert await gen.multi([asyncio.sleep(0.01, 1), asyncio.sleep(0, 2)]) == [1, 2]
    assert await gen.multi({"a": asyncio.sleep(0, 1)}) == {"a": 1}

    async def fail(exc: BaseException, delay: float) -> None:
        await asyncio.sleep(delay)
        raise exc

    with pytest.raises(ValueError, match="first"):
        await gen.multi(
            [fail(ValueError("first"), 0), fail(OSError("second"), 0.01)],
            quiet_exceptions=(OSError,),
        )
    await asyncio.sleep(0.02)


async def test_maybe_future() -> None:
    loop = asyncio.get_running_loop()
    f: asyncio.Future[int] = loop.create_future()
    assert gen.maybe_future(f) is f
    wrapped = gen.maybe_future(5)
    assert wrapped.done()
    assert wrapped.result() == 5
    cf: concurrent.futures.Future[int] = concurrent.futures.Future()
    cf.set_result(6)
    assert await gen.maybe_future(cf) == 6


async def test_sleep_duration_and_cancel() -> None:
    started = time.monotonic()
    assert await gen.sleep(0.02) is None
    assert time.monotonic() - started >= 0.015
    pending = gen.sleep(10)
    pending.cancel()
    await asyncio.sleep(0)
    assert pending.cancelled()


# --- with_timeout -------------------------------------------------------------------------


async def test_with_timeout_passes_result_through() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    assert await gen.with_timeout(io_loop.time() + 5, asyncio.sleep(0.001, "ok")) == "ok"
    assert await gen.with_timeout(datetime.timedelta(seconds=5), asyncio.sleep(0, "td")) == "td"


async def test_with_timeout_times_out_without_cancelling() -> None:
    inner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    with pytest.raises(gen.TimeoutError, match="Timeout"):
        await gen.with_timeout(datetime.timedelta(seconds=0.01), inner)
    assert not inner.cancelled()
    inner.set_result("late")


async def test_with_timeout_logs_late_errors_unless_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    loud: asyncio.Future[None] = loop.create_future()
    quiet: asyncio.Future[None] = loop.create_future()
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        with pytest.raises(gen.TimeoutError):
            await gen.with_timeout(datetime.timedelta(seconds=0.005), loud)
        with pytest.raises(gen.TimeoutError):
            await gen.with_timeout(
                datetime.timedelta(seconds=0.005), quiet, quiet_exceptions=(OSError,)
            )
        loud.set_exception(KeyError("late"))
        quiet.set_exception(OSError("late but quiet"))
        await asyncio.sleep(0.01)
    errors = [r.exc_info[1] for r in caplog.records if r.name == APP_LOGGER and r.exc_info]
    assert len(errors) == 1
    assert isinstance(errors[0], KeyError)


async def test_with_timeout_cancel_outer_cancels_inner() -> None:
    inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outer = gen.with_timeout(datetime.timedelta(seconds=5), inner)
    outer.cancel()
    await asyncio.sleep(0)
    assert inner.cancelled()


async def test_with_timeout_bad_timeout_type() -> None:
    coro = asyncio.sleep(0)
    with pytest.raises(TypeError, match="Unsupported timeout"):
        gen.with_timeout("soon", coro)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let the wrapped task run


async def test_with_timeout_inside_a_task_being_cancelled() -> None:
    inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        await gen.with_timeout(datetime.timedelta(seconds=5), inner)

    task = asyncio.ensure_future(waits())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert inner.cancelled()


# --- WaitIterator -------------------------------------------------------------------------


async def test_wait_iterator_positional_in_completion_order() -> None:
    it = gen.WaitIterator(asyncio.sleep(0.03, "slow"), asyncio.sleep(0.01, "fast"))
    seen = []
    while not it.done():
        result = await it.next()
        seen.append((it.current_index, result))
        assert it.current_future is not None
    assert seen == [(1, "fast"), (0, "slow")]
    assert it.current_index is None
    assert it.current_future is None


async def test_wait_iterator_keywords_and_async_for_with_errors() -> None:
    async def fail() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("bad")

    it = gen.WaitIterator(good=asyncio.sleep(0, "g"), bad=fail())
    assert it.__aiter__() is it
    results: dict[str, Any] = {}
    for _ in range(3):
        try:
            value = await it.__anext__()
        except StopAsyncIteration:
            break
        except ValueError as exc:
            results[it.current_index] = exc
        else:
            results[it.current_index] = value
    # An error does not end the iteration: both inputs were reported.
    assert results["good"] == "g"
    assert isinstance(results["bad"], ValueError)
    assert it.done()


async def test_wait_iterator_async_for() -> None:
    it = gen.WaitIterator(asyncio.sleep(0.02, 2), asyncio.sleep(0, 1))
    got = [value async for value in it]
    assert got == [1, 2]


async def test_wait_iterator_already_done_futures() -> None:
    loop = asyncio.get_running_loop()
    a: asyncio.Future[str] = loop.create_future()
    a.set_result("a")
    it = gen.WaitIterator(a)
    assert await it.next() == "a"
    assert it.done()
    with pytest.raises(RuntimeError, match="no more inputs"):
        it.next()


async def test_wait_iterator_argument_rules() -> None:
    f: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(ValueError, match="not both"):
        gen.WaitIterator(f, key=f)
    assert gen.WaitIterator().done()
    it = gen.WaitIterator(f)
    pending = it.next()
    with pytest.raises(RuntimeError, match="pending"):
        it.next()
    f.set_result(None)
    assert await pending is None


async def test_wait_iterator_cancelled_next_keeps_the_result() -> None:
    f: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    it = gen.WaitIterator(f)
    first = it.next()
    first.cancel()
    f.set_result("kept")
    await asyncio.sleep(0)
    assert not it.done()
    assert await it.next() == "kept"
