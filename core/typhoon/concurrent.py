"""Future helpers: the bridge between asyncio futures, executor futures and awaitables.

Layer 1 (event loop). Imports only ``errors``, ``log`` and the standard library, so
every other event-loop module (``ioloop``, ``gen``, ``locks``, ``queues``) can build on it.

``Future`` is :class:`asyncio.Future`. The helpers here keep Tornado's names and add
what asyncio lacks: copying results between futures of different kinds (``chain_future``),
setting results without tripping over a future the waiter already cancelled, running a
blocking method on an executor (``run_on_executor``), and the registry that turns any
yieldable object into an awaitable future (``convert_yielded``, extended by plugins with
``convert_yielded.register(SomeType)``).

Cancellation travels both ways through the helpers: cancelling a future made by
``chain_future`` or ``multi_future`` cancels what it waits on, and a cancelled source
cancels the future chained to it.
"""

from __future__ import annotations

__all__ = [
    "FUTURES",
    "DummyExecutor",
    "Future",
    "chain_future",
    "convert_yielded",
    "dummy_executor",
    "future_add_done_callback",
    "future_set_exc_info",
    "future_set_exception_unless_cancelled",
    "future_set_result_unless_cancelled",
    "is_future",
    "moment",
    "multi_future",
    "run_on_executor",
]

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

from typhoon.errors import BadYieldError
from typhoon.log import app_log

_T = TypeVar("_T")

#: The future class typhoon creates and returns: an alias of :class:`asyncio.Future`.
Future = asyncio.Future

#: Every future type typhoon accepts wherever a future is expected.
FUTURES = (asyncio.Future, concurrent.futures.Future)


def is_future(x: object) -> bool:
    """Return True if ``x`` is an asyncio or a ``concurrent.futures`` future."""
    return isinstance(x, FUTURES)


class DummyExecutor(concurrent.futures.Executor):
    """An executor that runs each submitted call at once, in the calling thread.

    Useful where an API wants an executor but the work is cheap or must stay on the
    loop thread (for example a resolver in tests).
    """

    def submit(
        self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[_T]:
        """Run ``fn(*args, **kwargs)`` now and return a finished future holding its outcome."""
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to release: every call already finished inside :meth:`submit`."""


#: A shared :class:`DummyExecutor`.
dummy_executor = DummyExecutor()


def future_set_result_unless_cancelled(future: asyncio.Future[_T], value: _T) -> None:
    """Set ``value`` as the result of ``future`` unless the future was cancelled.

    A waiter that gave up (timeout, cancellation) leaves a cancelled future behind;
    producers call this instead of ``set_result`` so a late result is dropped quietly.
    """
    if not future.cancelled():
        future.set_result(value)


def future_set_exception_unless_cancelled(
    future: asyncio.Future[Any] | concurrent.futures.Future[Any], exc: BaseException
) -> None:
    """Set ``exc`` on ``future`` unless it was cancelled; then log it instead.

    The exception is never lost: when nobody can receive it any more it goes to the
    ``typhoon.application`` logger.
    """
    if not future.cancelled():
        future.set_exception(exc)
    else:
        app_log.error("Exception after Future was cancelled", exc_info=exc)


def future_set_exc_info(
    future: asyncio.Future[Any] | concurrent.futures.Future[Any],
    exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
) -> None:
    """Set the exception of a ``sys.exc_info()`` triple on ``future``.

    Raises:
        ValueError: the triple holds no exception.
    """
    exc = exc_info[1]
    if exc is None:
        raise ValueError("future_set_exc_info called with no exception")
    future_set_exception_unless_cancelled(future, exc)


@overload
def future_add_done_callback(
    future: concurrent.futures.Future[_T],
    callback: Callable[[concurrent.futures.Future[_T]], None],
) -> None: ...


@overload
def future_add_done_callback(
    future: asyncio.Future[_T], callback: Callable[[asyncio.Future[_T]], None]
) -> None: ...


def future_add_done_callback(future: Any, callback: Callable[[Any], None]) -> None:
    """Arrange for ``callback(future)`` to run when ``future`` finishes.

    Unlike ``add_done_callback`` on an asyncio future, a future that is already done
    runs the callback immediately, so the caller sees a consistent order of events.
    """
    if isinstance(future, asyncio.Future) and future.done():
        callback(future)
    else:
        future.add_done_callback(callback)


def _copy_outcome(
    source: asyncio.Future[Any] | concurrent.futures.Future[Any],
    target: asyncio.Future[Any] | concurrent.futures.Future[Any],
) -> None:
    """Copy the result, exception or cancellation of finished ``source`` into ``target``."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
        return
    exc = source.exception()
    if exc is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


def chain_future(
    a: asyncio.Future[_T] | concurrent.futures.Future[_T],
    b: asyncio.Future[_T] | concurrent.futures.Future[_T],
) -> None:
    """Make ``b`` finish with the outcome of ``a`` once ``a`` finishes.

    ``a`` may be an executor future: its outcome is handed to ``b``'s loop thread-safely.
    A cancelled ``a`` cancels ``b``; cancelling ``b`` first cancels ``a`` (an executor
    call that already started keeps running, as ``concurrent.futures`` allows).
    """

    def on_source_done(source: Any) -> None:
        if isinstance(b, asyncio.Future) and not isinstance(source, asyncio.Future):
            # The executor thread finished the source: only b's loop may touch b.
            try:
                b.get_loop().call_soon_threadsafe(_copy_outcome, source, b)
            except RuntimeError:
                # b's loop is closed: nobody is left to observe b.
                return
        else:
            _copy_outcome(source, b)

    def on_target_done(target: Any) -> None:
        if target.cancelled() and not a.done():
            a.cancel()

    a.add_done_callback(on_source_done)
    b.add_done_callback(on_target_done)


def run_on_executor(
    fn: Callable[..., Any] | None = None, /, *, executor: str = "executor", io_loop: str = "io_loop"
) -> Any:
    """Decorate a blocking method so calling it runs it on ``self.executor``.

    The decorated method returns an asyncio future (await it) resolved on the loop
    that called it. Use ``@run_on_executor(executor="_pool")`` to name a different
    executor attribute; ``io_loop`` names an optional attribute holding the
    ``IOLoop`` (or asyncio loop) that should receive the result, for objects that
    serve a loop other than the calling one. Cancelling the returned future cancels
    the call if it has not started yet.

    Raises:
        TypeError: a method and attribute names were both given.
    """

    def decorator(method: Callable[..., _T]) -> Callable[..., asyncio.Future[_T]]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> asyncio.Future[_T]:
            loop_holder = getattr(self, io_loop, None)
            loop = getattr(loop_holder, "asyncio_loop", loop_holder)
            if not isinstance(loop, asyncio.AbstractEventLoop):
                loop = asyncio.get_running_loop()
            result: asyncio.Future[_T] = loop.create_future()
            pool: concurrent.futures.Executor = getattr(self, executor)
            chain_future(pool.submit(method, self, *args, **kwargs), result)
            return result

        return wrapper

    if fn is None:
        return decorator
    if executor != "executor" or io_loop != "io_loop":
        raise TypeError("run_on_executor takes either a method or attribute names, not both")
    return decorator(fn)


class _Moment:
    """The ``gen.moment`` sentinel: awaiting it lets the loop run one iteration."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        # A bare ``yield`` is asyncio's protocol for "reschedule me on the next pass".
        yield

    def __repr__(self) -> str:
        return "typhoon.gen.moment"


#: Yield or await this to let other callbacks run for one loop iteration (``gen.moment``).
moment = _Moment()


def _resolved_next_iteration() -> asyncio.Future[None]:
    """A future resolved on the next loop iteration (what yielding ``moment`` means)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    loop.call_soon(future_set_result_unless_cancelled, future, None)
    return future


@functools.singledispatch
def convert_yielded(yielded: Any) -> asyncio.Future[Any]:
    """Turn anything a coroutine may yield or await into an asyncio future.

    Handles futures, coroutines and other awaitables, lists and dicts of those
    (combined with :func:`multi_future`), ``None`` and ``moment``. Plugins teach it
    foreign types with ``@convert_yielded.register(TheirType)``, which is how
    Twisted's ``Deferred`` becomes awaitable in typhoon coroutines.

    Raises:
        BadYieldError: the object is none of the above.
    """
    if yielded is None or yielded is moment:
        return _resolved_next_iteration()
    if isinstance(yielded, list | dict):
        return multi_future(yielded)
    if isinstance(yielded, asyncio.Future):
        return yielded
    if isinstance(yielded, concurrent.futures.Future):
        return asyncio.wrap_future(yielded)
    if inspect.isawaitable(yielded):
        return asyncio.ensure_future(yielded)
    raise BadYieldError(f"yielded unknown object {yielded!r}")


def multi_future(
    children: Sequence[Any] | Mapping[Any, Any],
    quiet_exceptions: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> asyncio.Future[Any]:
    """Wait for several yieldables in parallel; resolve to their results.

    ``children`` is a list (the result is a list in the same order) or a dict (the
    result maps the same keys to results). If any child fails, the combined future
    fails with the first error; later errors are logged unless they are instances of
    ``quiet_exceptions``. A cancelled child cancels the combined future, and
    cancelling the combined future cancels every child still running.
    """
    keys: list[Any] | None
    if isinstance(children, Mapping):
        keys = list(children.keys())
        futures = [convert_yielded(children[k]) for k in keys]
    else:
        keys = None
        futures = [convert_yielded(child) for child in children]

    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if not futures:
        future.set_result({} if keys is not None else [])
        return future

    pending = set(futures)

    def on_child_done(child: asyncio.Future[Any]) -> None:
        pending.discard(child)
        if child.cancelled():
            future.cancel()
        elif child.exception() is not None:
            exc = child.exception()
            if not future.done():
                future.set_exception(child.exception())  # type: ignore[arg-type]
            elif not isinstance(exc, quiet_exceptions):
                app_log.error("Multiple exceptions in yield list", exc_info=exc)
        if not pending and not future.done():
            results = [f.result() for f in futures]
            future.set_result(
                dict(zip(keys, results, strict=True)) if keys is not None else results
            )

    def on_combined_done(combined: asyncio.Future[Any]) -> None:
        if combined.cancelled():
            for child in futures:
                child.cancel()

    for child in dict.fromkeys(futures):
        child.add_done_callback(on_child_done)
    future.add_done_callback(on_combined_done)
    return future
