"""AsyncTestCase and gen_test: unittest test cases that run coroutines on a fresh loop.

Layer 6 (assembly). Imports ``typhoon.ioloop``, ``typhoon.gen``, ``typhoon.log`` and the
standard library.
"""

from __future__ import annotations

__all__ = ["AsyncTestCase", "close_test_loop", "gen_test", "get_async_test_timeout", "thread_loop"]

import asyncio
import functools
import inspect
import os
import sys
import types
import unittest
import warnings
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar, overload

from typhoon.gen import coroutine as gen_coroutine
from typhoon.ioloop import IOLoop
from typhoon.log import app_log

_T = TypeVar("_T")
_ExcInfo = tuple[type[BaseException], BaseException, types.TracebackType | None]

#: Seconds an async test may run when ``ASYNC_TEST_TIMEOUT`` is unset (Tornado's value).
_DEFAULT_TIMEOUT = 5.0


def get_async_test_timeout() -> float:
    """Seconds ``gen_test`` and ``AsyncTestCase.wait`` allow a test: the
    ``ASYNC_TEST_TIMEOUT`` environment variable, else 5.

    Raise it on slow machines (CI under load) without editing tests.
    """
    value = os.environ.get("ASYNC_TEST_TIMEOUT")
    if value is not None:
        try:
            return float(value)
        except ValueError:
            pass
    return _DEFAULT_TIMEOUT


def thread_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop set for this thread, without creating one (``None`` if unset)."""
    policy = asyncio.get_event_loop_policy()
    local = getattr(policy, "_local", None)
    loop = getattr(local, "_loop", None)
    if loop is None and local is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                loop = policy.get_event_loop()
            except RuntimeError:
                return None
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed():
        return loop
    return None


def close_test_loop(io_loop: IOLoop) -> None:
    """Cancel every task still pending on ``io_loop``, let them end, close the loop.

    Errors the cancelled tasks end with (other than the cancellation) are logged.
    """
    loop = io_loop.asyncio_loop
    if not loop.is_closed():
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            done, _ = loop.run_until_complete(asyncio.wait(pending))
            for task in done:
                if task.cancelled():
                    continue
                error = task.exception()
                if error is not None:
                    app_log.error("exception in test", exc_info=error)
    io_loop.close(all_fds=True)


class _TestMethodWrapper:
    """Wraps a test method to fail loudly when it returns a coroutine or generator.

    Without it a test written ``async def`` but not decorated with :func:`gen_test`
    would "pass" without running its body.
    """

    def __init__(self, orig_method: Callable[[], Any]) -> None:
        self.orig_method = orig_method
        self.__wrapped__ = orig_method

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        result = self.orig_method(*args, **kwargs)
        if inspect.iscoroutine(result) or isinstance(result, Generator):
            result.close()
            raise TypeError(
                "Generator and coroutine test methods should be decorated with "
                "typhoon.testing.gen_test"
            )
        if result is not None:
            raise ValueError(f"Return value from test method ignored: {result!r}")

    def __getattr__(self, name: str) -> Any:
        # unittest reads attributes such as __unittest_skip__ from the method.
        return getattr(self.orig_method, name)


class AsyncTestCase(unittest.TestCase):
    """A ``unittest.TestCase`` with its own event loop, ``self.io_loop``.

    Each test gets a new :class:`~typhoon.ioloop.IOLoop`, current while the test
    runs and closed afterwards (tasks still pending are cancelled). Write tests as
    ``async def`` methods decorated with :func:`gen_test`; the older ``stop()`` /
    ``wait()`` style also works. A test method that returns a coroutine without
    ``gen_test`` fails instead of passing unrun.
    """

    io_loop: IOLoop

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self.__stopped = False
        self.__running = False
        self.__failure: _ExcInfo | None = None
        self.__stop_args: Any = None
        self.__timeout: asyncio.TimerHandle | asyncio.Handle | None = None
        self._prev_aio_loop: asyncio.AbstractEventLoop | None = None
        method = getattr(self, methodName, None)
        if method is not None:
            setattr(self, methodName, _TestMethodWrapper(method))

    def setUp(self) -> None:
        """Create :attr:`io_loop` and make it the thread's current loop."""
        super().setUp()
        self._prev_aio_loop = thread_loop()
        self.io_loop = self.get_new_ioloop()
        asyncio.set_event_loop(self.io_loop.asyncio_loop)

    def tearDown(self) -> None:
        """Cancel the tasks left on the loop, close it, restore the previous loop."""
        close_test_loop(self.io_loop)
        asyncio.set_event_loop(self._prev_aio_loop)
        super().tearDown()
        # A failure recorded by a callback that nobody waited for still fails the test.
        self.__rethrow()

    def get_new_ioloop(self) -> IOLoop:
        """The loop for one test; override to use another kind of loop."""
        return IOLoop(make_current=False)

    def _handle_exception(
        self,
        typ: type[BaseException],
        value: BaseException,
        tb: types.TracebackType | None,
    ) -> bool:
        """Record an exception for the test to raise, and stop :meth:`wait`."""
        if self.__failure is None:
            self.__failure = (typ, value, tb)
        else:
            app_log.error("multiple unhandled exceptions in test", exc_info=(typ, value, tb))
        self.stop()
        return True

    def __rethrow(self) -> None:
        if self.__failure is not None:
            failure = self.__failure
            self.__failure = None
            raise failure[1].with_traceback(failure[2])

    def run(self, result: unittest.TestResult | None = None) -> unittest.TestResult | None:
        """Run the test; a failure that escaped ``tearDown`` is raised here."""
        outcome = super().run(result)
        self.__rethrow()
        return outcome

    def stop(self, _arg: Any = None, **kwargs: Any) -> None:
        """End the current :meth:`wait`; it returns ``_arg`` (or ``kwargs`` as a dict).

        Deprecated style (Tornado keeps it): prefer ``async def`` tests and ``await``.
        """
        assert _arg is None or not kwargs
        self.__stop_args = kwargs or _arg
        if self.__running:
            self.io_loop.stop()
            self.__running = False
        self.__stopped = True

    def wait(
        self, condition: Callable[[], bool] | None = None, timeout: float | None = None
    ) -> Any:
        """Run the loop until :meth:`stop` is called (and ``condition()`` holds, if given).

        Fails the test after ``timeout`` seconds (default
        :func:`get_async_test_timeout`; ``0`` waits without limit).
        """
        if timeout is None:
            timeout = get_async_test_timeout()
        if not self.__stopped:
            if timeout:

                def timed_out() -> None:
                    try:
                        raise self.failureException(
                            f"Async operation timed out after {timeout} seconds"
                        )
                    except self.failureException:
                        self._handle_exception(*_exc_info())

                self.__timeout = self.io_loop.call_later(timeout, timed_out)
            while True:
                self.__running = True
                self.io_loop.start()
                if self.__failure is not None or condition is None or condition():
                    break
            if self.__timeout is not None:
                self.io_loop.remove_timeout(self.__timeout)
                self.__timeout = None
        assert self.__stopped
        self.__stopped = False
        self.__rethrow()
        result = self.__stop_args
        self.__stop_args = None
        return result


def _exc_info() -> _ExcInfo:
    typ, value, tb = sys.exc_info()
    assert typ is not None
    assert value is not None
    return typ, value, tb


_Method = Callable[..., Coroutine[Any, Any, Any] | Generator[Any, Any, Any] | None]


@overload
def gen_test(func: _Method, timeout: float | None = None) -> Callable[..., None]: ...


@overload
def gen_test(
    func: None = None, timeout: float | None = None
) -> Callable[[_Method], Callable[..., None]]: ...


def gen_test(
    func: _Method | None = None, timeout: float | None = None
) -> Callable[..., None] | Callable[[_Method], Callable[..., None]]:
    """Run an ``async def`` (or generator-coroutine) test method to completion on
    ``self.io_loop``.

    Usable bare (``@gen_test``) or with a time limit (``@gen_test(timeout=10)``). The
    default limit is :func:`get_async_test_timeout`, read when the test runs; past it
    the test is cancelled and fails with ``TimeoutError``.
    """

    def wrap(method: _Method) -> Callable[..., None]:
        if inspect.iscoroutinefunction(method):
            run_method: Callable[..., Any] = method
        else:
            run_method = gen_coroutine(method)

        @functools.wraps(method)
        def wrapper(self: AsyncTestCase, *args: Any, **kwargs: Any) -> None:
            limit = get_async_test_timeout() if timeout is None else timeout
            self.io_loop.run_sync(functools.partial(run_method, self, *args, **kwargs), limit)

        return wrapper

    if func is not None:
        return wrap(func)
    return wrap
