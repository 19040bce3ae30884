"""Deferreds awaited by typhoon and futures handed to Twisted, with no reactor installed.

These Deferreds are fired by asyncio callbacks, so the tests run in the pytest process
itself; the plugin's adapter is registered by building an application with it.
"""

from __future__ import annotations

import asyncio
import datetime
import sys
import traceback
from collections.abc import Generator
from typing import Any

import pytest
from _twisted_helpers import client, make_app, serving
from twisted.internet.defer import CancelledError as DeferredCancelledError
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from typhoon import gen, hookimpl
from typhoon.errors import TyphoonTimeoutError
from typhoon.web import RequestHandler
from typhoon_twisted_bridge import as_deferred, deferred_to_future


@pytest.fixture(autouse=True)
def _adapters_registered() -> None:
    """Deferred is registered with convert_yielded the way applications do it."""
    make_app([])


def fire_later(value: Any, delay: float = 0.01) -> Deferred[Any]:
    """A Deferred that an asyncio timer fires with ``value``."""
    deferred: Deferred[Any] = Deferred()
    asyncio.get_running_loop().call_later(delay, deferred.callback, value)
    return deferred


def explode() -> None:
    raise KeyError("original")


def failed_deferred() -> tuple[Deferred[Any], BaseException]:
    """A Deferred that failed with an exception raised (and caught) in ``explode``."""
    deferred: Deferred[Any] = Deferred()
    try:
        explode()
    except KeyError as exc:
        deferred.errback()
        return deferred, exc
    raise AssertionError("unreachable")


# --- Deferred -> future -------------------------------------------------------------------


async def test_deferred_to_future_gets_the_result() -> None:
    assert await deferred_to_future(fire_later("value")) == "value"
    assert await deferred_to_future(succeed(7)) == 7


async def test_an_errback_raises_the_original_exception_with_its_traceback() -> None:
    deferred, original = failed_deferred()
    with pytest.raises(KeyError) as info:
        await deferred_to_future(deferred)
    assert info.value is original
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "explode" in frames


async def test_a_failure_without_traceback_still_raises_its_exception() -> None:
    deferred: Deferred[Any] = Deferred()
    deferred.errback(Failure(ValueError("no traceback")))
    with pytest.raises(ValueError, match="no traceback"):
        await deferred_to_future(deferred)


async def test_cancelling_the_awaiting_task_cancels_the_deferred() -> None:
    cancelled: list[Deferred[Any]] = []
    deferred: Deferred[Any] = Deferred(canceller=cancelled.append)

    async def waiter() -> Any:
        return await deferred_to_future(deferred)

    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == [deferred]
    assert deferred.called
    # The Deferred's CancelledError was consumed: nothing left unhandled in it.
    seen: list[Any] = []
    deferred.addBoth(seen.append)
    assert seen == [None]


async def test_cancelling_the_deferred_cancels_the_awaiting_task() -> None:
    deferred: Deferred[Any] = Deferred()
    reached = asyncio.Event()

    async def waiter() -> Any:
        future = deferred_to_future(deferred)
        reached.set()
        return await future

    task = asyncio.ensure_future(waiter())
    await reached.wait()
    deferred.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_cancelling_the_future_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    deferred: Deferred[Any] = Deferred(canceller=lambda d: None)
    future = deferred_to_future(deferred)
    future.cancel()
    await asyncio.sleep(0)
    # The canceller did not fire it, so Twisted failed it with CancelledError, which
    # is the expected end of a cancelled wait: nothing is logged.
    assert deferred.called
    assert not caplog.records


# --- where typhoon awaits user results ------------------------------------------------------


async def test_gen_multi_waits_for_deferreds_in_lists_and_dicts() -> None:
    assert await gen.multi([fire_later(1), fire_later(2, 0.02), asyncio.sleep(0, 3)]) == [1, 2, 3]
    assert await gen.multi({"a": fire_later("x"), "b": succeed("y")}) == {"a": "x", "b": "y"}


async def test_gen_multi_raises_the_first_deferred_failure() -> None:
    deferred, original = failed_deferred()
    with pytest.raises(KeyError) as info:
        await gen.multi([fire_later(1), deferred])
    assert info.value is original


async def test_with_timeout_accepts_a_deferred() -> None:
    within = datetime.timedelta(seconds=5)
    assert await gen.with_timeout(within, fire_later("in time")) == "in time"
    never: Deferred[Any] = Deferred()
    with pytest.raises(TyphoonTimeoutError):
        await gen.with_timeout(datetime.timedelta(seconds=0.02), never)
    never.callback(None)


async def test_gen_coroutine_yields_deferreds() -> None:
    @gen.coroutine
    def legacy() -> Generator[Any, Any, Any]:
        first = yield fire_later(20)
        second = yield succeed(22)
        return first + second

    assert await legacy() == 42


async def test_handlers_may_return_and_prepare_with_deferreds() -> None:
    class DeferredHandler(RequestHandler):
        def prepare(self) -> Any:
            deferred = fire_later("prepared ")
            deferred.addCallback(self.write)
            return deferred

        def get(self) -> Any:
            deferred = fire_later("and answered")
            deferred.addCallback(self.write)
            return deferred

    class AwaitingHandler(RequestHandler):
        async def get(self) -> None:
            self.write(await deferred_to_future(fire_later("awaited")))

    class FailingHandler(RequestHandler):
        def get(self) -> Any:
            deferred, _original = failed_deferred()
            return deferred

    app = make_app(
        [(r"/deferred", DeferredHandler), (r"/await", AwaitingHandler), (r"/fail", FailingHandler)]
    )
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/deferred")
        assert response.body == b"prepared and answered"
        response = await http.fetch(base + "/await")
        assert response.body == b"awaited"
        response = await http.fetch(base + "/fail", raise_error=False)
        assert response.code == 500
    http.close()


async def test_hooks_may_return_deferreds() -> None:
    order: list[str] = []

    class SlowStartup:
        @hookimpl
        def startup(self, app: Any) -> Deferred[None]:
            deferred: Deferred[None] = Deferred()
            deferred.addCallback(lambda _: order.append("first startup done"))
            asyncio.get_running_loop().call_later(0.02, deferred.callback, None)
            return deferred

    class Follower:
        @hookimpl(trylast=True)
        def startup(self, app: Any) -> None:
            order.append("next startup")

    app = make_app([], SlowStartup(), Follower())
    await app.startup()
    await app.shutdown()
    assert order == ["first startup done", "next startup"]


# --- future -> Deferred -------------------------------------------------------------------


async def test_as_deferred_fires_with_a_coroutine_result() -> None:
    async def compute() -> int:
        await asyncio.sleep(0.01)
        return 5

    assert await deferred_to_future(as_deferred(compute())) == 5
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    deferred = as_deferred(future)
    future.set_result("set")
    results: list[Any] = []
    deferred.addCallback(results.append)
    await asyncio.sleep(0)
    assert results == ["set"]
    assert as_deferred(deferred) is deferred


async def test_as_deferred_fails_with_the_same_exception() -> None:
    async def broken() -> None:
        explode()

    deferred = as_deferred(broken())
    failures: list[Failure] = []
    deferred.addErrback(failures.append)
    await asyncio.sleep(0.01)
    [failure] = failures
    assert failure.check(KeyError)
    frames = [frame.name for frame in traceback.extract_tb(failure.value.__traceback__)]
    assert frames[-2:] == ["broken", "explode"]


async def test_cancelling_the_deferred_cancels_the_task() -> None:
    started = asyncio.Event()
    cleanup: list[str] = []

    async def long_running() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cleanup.append("cancelled")
            raise

    task = asyncio.ensure_future(long_running())
    deferred = as_deferred(task)
    await started.wait()
    failures: list[Failure] = []
    deferred.addErrback(failures.append)
    deferred.cancel()
    assert failures[0].check(DeferredCancelledError)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleanup == ["cancelled"]


async def test_a_cancelled_future_fails_the_deferred_with_twisteds_cancelled_error() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    deferred = as_deferred(future)
    failures: list[Failure] = []
    deferred.addErrback(failures.append)
    future.cancel()
    await asyncio.sleep(0)
    assert failures[0].check(DeferredCancelledError)


def test_no_reactor_was_installed_by_these_tests() -> None:
    assert "twisted.internet.reactor" not in sys.modules
