"""AsyncTestCase, gen_test and get_async_test_timeout, run through unittest in process."""

from __future__ import annotations

import asyncio
import time
import unittest
from collections.abc import Generator
from typing import Any

import pytest
from typhoon import gen
from typhoon.ioloop import IOLoop
from typhoon.testing import AsyncTestCase, ExpectLog, gen_test, get_async_test_timeout


def run_case(case: type[unittest.TestCase], *names: str) -> unittest.TestResult:
    """Run the named tests of ``case`` and return the result (never raises)."""
    suite = unittest.TestSuite(case(name) for name in names)
    result = unittest.TestResult()
    suite.run(result)
    return result


def messages(result: unittest.TestResult) -> list[str]:
    return [text for _, text in result.errors + result.failures]


# --- get_async_test_timeout ----------------------------------------------------------------


def test_timeout_defaults_to_five_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNC_TEST_TIMEOUT", raising=False)
    assert get_async_test_timeout() == 5


@pytest.mark.parametrize(("value", "expected"), [("0.5", 0.5), ("12", 12.0), ("soon", 5.0)])
def test_timeout_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: float
) -> None:
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", value)
    assert get_async_test_timeout() == expected


# --- the loop ------------------------------------------------------------------------------


class LoopCase(AsyncTestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    seen: list[Any] = []  # noqa: RUF012 -- collects across instances on purpose

    def test_a(self) -> None:
        LoopCase.seen.append(self.io_loop)
        assert IOLoop.current() is self.io_loop

    def test_b(self) -> None:
        LoopCase.seen.append(self.io_loop)

    @gen_test
    async def test_current_inside(self) -> None:
        assert IOLoop.current() is self.io_loop
        assert asyncio.get_running_loop() is self.io_loop.asyncio_loop


def test_each_test_gets_its_own_loop_closed_afterwards() -> None:
    LoopCase.seen.clear()
    result = run_case(LoopCase, "test_a", "test_b", "test_current_inside")
    assert result.wasSuccessful(), messages(result)
    first, second = LoopCase.seen
    assert first is not second
    assert first.asyncio_loop.is_closed()
    assert second.asyncio_loop.is_closed()


def test_the_previous_loop_is_restored() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        result = run_case(LoopCase, "test_b")
        assert result.wasSuccessful(), messages(result)
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class PendingTaskCase(AsyncTestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    cancelled: list[bool] = []  # noqa: RUF012

    @gen_test
    async def test_leaves_a_task(self) -> None:
        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                PendingTaskCase.cancelled.append(True)
                raise

        task = asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)
        assert not task.done()


def test_tasks_left_running_are_cancelled_at_teardown() -> None:
    PendingTaskCase.cancelled.clear()
    result = run_case(PendingTaskCase, "test_leaves_a_task")
    assert result.wasSuccessful(), messages(result)
    assert PendingTaskCase.cancelled == [True]


# --- gen_test ------------------------------------------------------------------------------


class GenCase(AsyncTestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    @gen_test
    async def test_async(self) -> None:
        await asyncio.sleep(0.01)
        assert await self.double(21) == 42

    async def double(self, value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    @gen_test
    def test_generator_coroutine(self) -> Generator[Any, Any, None]:
        yield gen.sleep(0.01)
        value = yield self.double(2)
        assert value == 4

    @gen_test(timeout=0.2)
    async def test_times_out(self) -> None:
        await asyncio.sleep(10)

    @gen_test
    async def test_fails(self) -> None:
        await asyncio.sleep(0)
        assert await self.double(1) == 3

    @gen_test
    async def test_raises(self) -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    @gen_test
    async def test_uses_environment_timeout(self) -> None:
        await asyncio.sleep(10)

    @gen_test
    async def test_with_arguments(self, value: int = 3) -> None:
        assert value == 3


def test_gen_test_runs_async_and_generator_tests() -> None:
    result = run_case(GenCase, "test_async", "test_generator_coroutine", "test_with_arguments")
    assert result.wasSuccessful(), messages(result)
    assert result.testsRun == 3


def test_gen_test_timeout_argument() -> None:
    started = time.monotonic()
    result = run_case(GenCase, "test_times_out")
    assert time.monotonic() - started < 5
    [text] = messages(result)
    assert "TimeoutError" in text
    assert "timed out after 0.2 seconds" in text


def test_gen_test_reads_the_environment_when_the_test_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.1")
    started = time.monotonic()
    result = run_case(GenCase, "test_uses_environment_timeout")
    assert time.monotonic() - started < 5
    assert "timed out after 0.1 seconds" in messages(result)[0]


def test_failures_and_errors_are_reported() -> None:
    result = run_case(GenCase, "test_fails", "test_raises")
    assert len(result.failures) == 1
    assert len(result.errors) == 1
    assert "ValueError: boom" in result.errors[0][1]


class Undecorated(AsyncTestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    async def test_forgot_gen_test(self) -> None:
        raise AssertionError("never runs")

    def test_returns_a_value(self) -> int:
        return 3

    def test_generator(self) -> Generator[int, None, None]:
        yield 1


def test_undecorated_coroutine_tests_fail_instead_of_passing() -> None:
    result = run_case(Undecorated, "test_forgot_gen_test", "test_generator")
    texts = messages(result)
    assert len(texts) == 2
    assert all("should be decorated with typhoon.testing.gen_test" in text for text in texts)


def test_returning_a_value_is_an_error() -> None:
    result = run_case(Undecorated, "test_returns_a_value")
    assert "Return value from test method ignored: 3" in messages(result)[0]


class SkippedCase(AsyncTestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    @unittest.skip("not today")
    def test_skipped(self) -> None:
        raise AssertionError("skipped tests do not run")


def test_skip_decorators_still_work() -> None:
    result = run_case(SkippedCase, "test_skipped")
    assert len(result.skipped) == 1
    assert result.wasSuccessful()


# --- stop / wait ---------------------------------------------------------------------------


class WaitCase(AsyncTestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    def test_stop_and_wait(self) -> None:
        self.io_loop.add_callback(self.stop, "value")
        assert self.wait() == "value"

    def test_stop_with_keywords(self) -> None:
        self.io_loop.call_later(0.01, lambda: self.stop(a=1, b=2))
        assert self.wait() == {"a": 1, "b": 2}

    def test_wait_with_condition(self) -> None:
        counter = [0]

        def tick() -> None:
            counter[0] += 1
            self.stop()
            if counter[0] < 3:
                self.io_loop.add_callback(tick)

        self.io_loop.add_callback(tick)
        self.wait(condition=lambda: counter[0] >= 3)
        assert counter[0] >= 3

    def test_wait_times_out(self) -> None:
        self.wait(timeout=0.05)


def test_stop_and_wait() -> None:
    result = run_case(WaitCase, "test_stop_and_wait", "test_stop_with_keywords")
    assert result.wasSuccessful(), messages(result)
    result = run_case(WaitCase, "test_wait_with_condition")
    assert result.wasSuccessful(), messages(result)


def test_wait_timeout_fails_the_test() -> None:
    result = run_case(WaitCase, "test_wait_times_out")
    assert len(result.failures) == 1
    assert "Async operation timed out after 0.05 seconds" in result.failures[0][1]


class CallbackErrorCase(AsyncTestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    def test_error_in_callback(self) -> None:
        def broken() -> None:
            raise RuntimeError("in a callback")

        with ExpectLog("typhoon.application", "Exception in callback"):
            self.io_loop.add_callback(broken)
            self.io_loop.add_callback(self.stop)
            self.wait()


def test_errors_in_callbacks_are_logged() -> None:
    result = run_case(CallbackErrorCase, "test_error_in_callback")
    assert result.wasSuccessful(), messages(result)
