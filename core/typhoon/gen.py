"""Coroutine helpers: legacy generator coroutines, parallel waits, sleeps and timeouts.

Layer 1 (event loop). Imports ``concurrent``, ``ioloop``, ``_waiters``, ``errors`` and ``log``.

Native ``async def`` coroutines are the way to write typhoon code; everything here
also works with them. :func:`coroutine` keeps generator-based code from older
Tornado programs running: such a generator ``yield``\\ s futures, awaitables, lists
or dicts of them, and gets their results back.

Two behaviours differ from plain asyncio on purpose, following Tornado:

* a decorated :func:`coroutine` starts running as soon as it is called (up to its
  first ``yield``), and returns a future;
* :func:`with_timeout` does not cancel the operation it gave up on; it only stops
  waiting for it (cancel explicitly when that is what you want).

Cancelling the future of a :func:`coroutine`, :func:`multi` or :func:`with_timeout`
cancels what it is waiting on.
"""

from __future__ import annotations

__all__ = [
    "BadYieldError",
    "Return",
    "TimeoutError",
    "WaitIterator",
    "convert_yielded",
    "coroutine",
    "is_coroutine_function",
    "maybe_future",
    "moment",
    "multi",
    "multi_future",
    "sleep",
    "with_timeout",
]

import asyncio
import collections
import concurrent.futures
import contextvars
import datetime
import functools
import inspect
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar

from typhoon._waiters import deadline_of
from typhoon.concurrent import (
    chain_future,
    convert_yielded,
    future_add_done_callback,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
    moment,
    multi_future,
)
from typhoon.errors import BadYieldError, Return, TyphoonTimeoutError
from typhoon.ioloop import IOLoop
from typhoon.log import app_log

_T = TypeVar("_T")

#: Raised by :func:`with_timeout` when the deadline passes (``typhoon.util.TimeoutError``).
TimeoutError = TyphoonTimeoutError


def _new_future() -> asyncio.Future[Any]:
    """A future on the running loop, or on the current IOLoop outside one."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        io_loop = IOLoop.current()
        assert io_loop is not None
        loop = io_loop.asyncio_loop
    return loop.create_future()


class _Runner:
    """Drives one generator of a :func:`coroutine` from yielded future to yielded future.

    Every step runs in the context captured when the coroutine was called, so context
    variables behave as in a task. Steps whose futures are already done run in a loop,
    not by recursion, so long chains of ready results cannot exhaust the stack.
    """

    __slots__ = ("_context", "_current", "_gen", "_result")

    def __init__(
        self,
        gen: Generator[Any, Any, Any],
        result: asyncio.Future[Any],
        first_yielded: Any,
        context: contextvars.Context,
    ) -> None:
        self._gen = gen
        self._result = result
        self._context = context
        self._current: asyncio.Future[Any] | None = None
        result.add_done_callback(self._on_result_done)
        if self._accept(first_yielded):
            self._run()

    def _on_result_done(self, result: asyncio.Future[Any]) -> None:
        # Cancelling the coroutine's future cancels what the generator waits on; the
        # generator then sees CancelledError at its yield and may clean up.
        if result.cancelled() and self._current is not None:
            self._current.cancel()

    def _accept(self, yielded: Any) -> bool:
        """Adopt a yielded object as the future to wait on; False when finished."""
        while True:
            try:
                self._current = convert_yielded(yielded)
                return True
            except BadYieldError as exc:
                # Hand the error to the generator, like any failed operation.
                outcome = self._step(None, exc)
                if outcome is _FINISHED:
                    return False
                yielded = outcome

    def _wake(self, _future: asyncio.Future[Any]) -> None:
        self._context.run(self._run)

    def _run(self) -> None:
        while True:
            current = self._current
            assert current is not None
            if not current.done():
                current.add_done_callback(self._wake)
                return
            self._current = None
            try:
                value = current.result()
            except (Exception, asyncio.CancelledError) as exc:
                outcome = self._step(None, exc)
            else:
                outcome = self._step(value, None)
            if outcome is _FINISHED or not self._accept(outcome):
                return

    def _step(self, value: Any, exc: BaseException | None) -> Any:
        """Resume the generator once; return what it yields next, or ``_FINISHED``."""
        try:
            if exc is not None:
                return self._gen.throw(exc)
            return self._gen.send(value)
        except StopIteration as stop:
            future_set_result_unless_cancelled(self._result, stop.value)
        except Return as ret:
            future_set_result_unless_cancelled(self._result, ret.value)
        except asyncio.CancelledError:
            self._result.cancel()
        except Exception as error:
            future_set_exception_unless_cancelled(self._result, error)
        self._gen.close()
        return _FINISHED


_FINISHED = object()


def coroutine(func: Callable[..., Any]) -> Callable[..., asyncio.Future[Any]]:
    """Decorate a generator function so it runs as a coroutine and returns a future.

    Inside, ``result = yield awaitable`` waits for a future, coroutine, list or dict
    of them, or anything registered with :func:`convert_yielded`. Return a value with
    ``return value`` (or ``raise Return(value)`` in code ported from Python 2). The
    body starts running when the function is called. A decorated function that is
    not a generator simply has its return value (or exception) wrapped in a future.
    New code should use ``async def``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        result = _new_future()
        context = contextvars.copy_context()
        try:
            returned = context.run(func, *args, **kwargs)
        except Return as ret:
            result.set_result(ret.value)
            return result
        except asyncio.CancelledError:
            result.cancel()
            return result
        except Exception as exc:
            result.set_exception(exc)
            return result
        if not inspect.isgenerator(returned):
            result.set_result(returned)
            return result
        try:
            first = context.run(next, returned)
        except StopIteration as stop:
            result.set_result(stop.value)
        except Return as ret:
            result.set_result(ret.value)
        except asyncio.CancelledError:
            result.cancel()
        except Exception as exc:
            result.set_exception(exc)
        else:
            context.run(_Runner, returned, result, first, context)
        return result

    wrapper.__typhoon_coroutine__ = True  # type: ignore[attr-defined]
    return wrapper


def is_coroutine_function(func: Any) -> bool:
    """Return True if calling ``func`` gives something to await.

    True for functions decorated with :func:`coroutine` (what Tornado's function
    checks) and, as an extension, for native ``async def`` functions.
    """
    return bool(getattr(func, "__typhoon_coroutine__", False)) or inspect.iscoroutinefunction(func)


def multi(
    children: Sequence[Any] | Mapping[Any, Any],
    quiet_exceptions: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> asyncio.Future[Any]:
    """Wait for a list or dict of awaitables in parallel; resolve to their results.

    A list gives a list of results in the same order, a dict a dict with the same
    keys. The first failure fails the whole; later failures are logged unless they are
    instances of ``quiet_exceptions``. Cancelling the result cancels every child.
    ``yield [a, b]`` in a :func:`coroutine` is the same as ``yield multi([a, b])``.
    """
    return multi_future(children, quiet_exceptions=quiet_exceptions)


def maybe_future(x: Any) -> asyncio.Future[Any]:
    """Return ``x`` if it is a future, else a future already resolved to ``x``.

    Deprecated since Tornado 4.3: it ignores other awaitables. Prefer
    :func:`convert_yielded` for awaitables and test for the plain values you expect.
    """
    if isinstance(x, asyncio.Future):
        return x
    if isinstance(x, concurrent.futures.Future):
        return asyncio.wrap_future(x)
    future = _new_future()
    future.set_result(x)
    return future


def sleep(duration: float) -> asyncio.Future[None]:
    """Return a future that resolves after ``duration`` seconds.

    ``await gen.sleep(1)`` is the non-blocking ``time.sleep(1)``; cancelling the
    future drops the pending timer.
    """
    io_loop = IOLoop.current()
    assert io_loop is not None
    future: asyncio.Future[None] = io_loop.asyncio_loop.create_future()
    handle = io_loop.call_later(duration, future_set_result_unless_cancelled, future, None)
    future.add_done_callback(lambda _: handle.cancel())
    return future


def with_timeout(
    timeout: float | datetime.timedelta,
    future: Any,
    quiet_exceptions: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> asyncio.Future[Any]:
    """Wait for ``future`` until ``timeout``; then fail with :class:`TimeoutError`.

    ``timeout`` is a deadline on :meth:`IOLoop.time` or a timedelta from now.
    ``future`` is anything :func:`convert_yielded` accepts. On timeout the operation
    keeps running (it is not cancelled); if it later fails, the error is logged unless
    it is an instance of ``quiet_exceptions``. Cancelling the returned future cancels
    the operation.

    Raises:
        TypeError: ``timeout`` is neither a number nor a timedelta.
    """
    inner = convert_yielded(future)
    io_loop = IOLoop.current()
    assert io_loop is not None
    deadline = deadline_of(io_loop, timeout)
    result: asyncio.Future[Any] = io_loop.asyncio_loop.create_future()
    chain_future(inner, result)

    def report_late_error(late: asyncio.Future[Any]) -> None:
        if late.cancelled():
            return
        exc = late.exception()
        if exc is not None and not isinstance(exc, quiet_exceptions):
            app_log.error("Exception in Future %r after timeout", late, exc_info=exc)

    def expire() -> None:
        if not result.done():
            result.set_exception(TyphoonTimeoutError("Timeout"))
        future_add_done_callback(inner, report_late_error)

    handle = io_loop.call_at(deadline, expire)
    result.add_done_callback(lambda _: handle.cancel())
    return result


class WaitIterator:
    """Iterate over awaitables in the order they finish.

    Give either positional awaitables or keyword awaitables, not both. Each
    ``await it.next()`` (or ``async for result in it``) yields the next result, or
    raises the next error without stopping the iteration; :attr:`current_index` tells
    which input finished (its position, or its keyword) and :attr:`current_future`
    the finished future itself::

        it = gen.WaitIterator(fetch(a), fetch(b))
        async for result in it:
            print(it.current_index, result)

    Raises:
        ValueError: both positional and keyword awaitables were given.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("WaitIterator takes positional or keyword awaitables, not both")
        pairs: list[tuple[Any, asyncio.Future[Any]]]
        if kwargs:
            pairs = [(key, convert_yielded(value)) for key, value in kwargs.items()]
        else:
            pairs = [(index, convert_yielded(value)) for index, value in enumerate(args)]
        #: The position or keyword of the input that finished most recently.
        self.current_index: Any = None
        #: The future that finished most recently.
        self.current_future: asyncio.Future[Any] | None = None
        self._unfinished: dict[asyncio.Future[Any], Any] = {}
        self._finished: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._waiting: asyncio.Future[Any] | None = None
        for key, child in pairs:
            self._unfinished[child] = key
        for child in list(self._unfinished):
            future_add_done_callback(child, self._on_child_done)

    def done(self) -> bool:
        """Return True when every input has been handed out by :meth:`next`."""
        if self._finished or self._unfinished:
            return False
        self.current_index = None
        self.current_future = None
        return True

    def next(self) -> asyncio.Future[Any]:
        """Return a future for the result of the next input to finish.

        Raises:
            RuntimeError: every input was already handed out, or a previous ``next``
                is still pending.
        """
        if self._waiting is not None and not self._waiting.done():
            raise RuntimeError("WaitIterator.next called while the previous call is pending")
        if not self._finished and not self._unfinished:
            raise RuntimeError("WaitIterator has no more inputs")
        waiting = _new_future()
        if self._finished:
            self._hand_out(self._finished.popleft(), waiting)
        else:
            self._waiting = waiting
        return waiting

    def _on_child_done(self, child: asyncio.Future[Any]) -> None:
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            self._waiting = None
            self._hand_out(child, waiting)
        else:
            self._finished.append(child)

    def _hand_out(self, child: asyncio.Future[Any], waiting: asyncio.Future[Any]) -> None:
        self.current_future = child
        self.current_index = self._unfinished.pop(child)
        chain_future(child, waiting)

    def __aiter__(self) -> WaitIterator:
        return self

    async def __anext__(self) -> Any:
        """Return the next result; stop once every input was handed out."""
        if self.done():
            raise StopAsyncIteration
        return await self.next()
