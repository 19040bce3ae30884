"""Deferreds and futures, each usable where the other is expected.

:func:`deferred_to_future` is the adapter the plugin registers with
``typhoon.gen.convert_yielded``: a Deferred returned from a handler or a hook, yielded
in a ``gen.coroutine``, passed to ``gen.multi`` or ``gen.with_timeout`` becomes an
asyncio future. :func:`as_deferred` goes the other way, for Twisted code that wants a
Deferred from a typhoon coroutine or future.

Cancellation crosses in both directions: cancelling the future (for example because the
task awaiting it was cancelled, or a ``with_timeout`` expired) cancels the Deferred, and
cancelling the Deferred cancels the future. Failures become the exception the Failure
holds, with its traceback, so ``except`` clauses see the original error.
"""

from __future__ import annotations

__all__ = ["as_deferred", "deferred_to_future"]

import asyncio
import types
from typing import Any, TypeVar

from twisted.internet.defer import CancelledError as DeferredCancelledError
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from typhoon.concurrent import convert_yielded, future_set_exception_unless_cancelled

_T = TypeVar("_T")


def deferred_to_future(
    deferred: Deferred[_T], loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Future[_T]:
    """An asyncio future that settles like ``deferred``.

    The future gets the Deferred's result, or the exception of its Failure (with the
    Failure's traceback). A Deferred cancelled by Twisted code cancels the future;
    cancelling the future cancels the Deferred. ``loop`` defaults to the running loop.
    The Deferred's result chain ends here: callbacks added to it afterwards see ``None``.
    """
    target = asyncio.get_running_loop() if loop is None else loop
    future: asyncio.Future[_T] = target.create_future()

    def on_result(result: _T) -> None:
        if not future.done():
            future.set_result(result)

    def on_failure(failure: Failure) -> None:
        if failure.check(DeferredCancelledError):
            future.cancel()
            return
        if future.done() and not future.cancelled():
            return
        future_set_exception_unless_cancelled(future, _exception_of(failure))

    def on_future_done(settled: asyncio.Future[_T]) -> None:
        if settled.cancelled() and not deferred.called:
            deferred.cancel()

    deferred.addCallbacks(on_result, on_failure)
    future.add_done_callback(on_future_done)
    return future


def as_deferred(awaitable: Any) -> Deferred[Any]:
    """A Deferred that fires with the outcome of ``awaitable``.

    ``awaitable`` is anything ``typhoon.gen.convert_yielded`` accepts: an asyncio or
    ``concurrent.futures`` future, a coroutine (started as a task on the running loop),
    a list or dict of those. A Deferred is returned as it is. Exceptions arrive as a
    Failure holding the same exception; a cancelled future fails the Deferred with
    Twisted's ``CancelledError``; cancelling the Deferred cancels the future (a task is
    asked to stop, and may still finish its cleanup after the Deferred has failed).
    """
    if isinstance(awaitable, Deferred):
        return awaitable
    future = convert_yielded(awaitable)

    def cancel_future(_deferred: Deferred[Any]) -> None:
        future.cancel()

    deferred: Deferred[Any] = Deferred(canceller=cancel_future)

    def on_future_done(settled: asyncio.Future[Any]) -> None:
        if deferred.called:
            # The Deferred was cancelled first; the future's late outcome has no reader.
            return
        if settled.cancelled():
            deferred.errback(Failure(DeferredCancelledError()))
            return
        exc = settled.exception()
        if exc is not None:
            deferred.errback(Failure(exc, type(exc), exc.__traceback__))
        else:
            deferred.callback(settled.result())

    future.add_done_callback(on_future_done)
    return deferred


def _exception_of(failure: Failure) -> BaseException:
    """The exception a Failure stands for, carrying the Failure's traceback."""
    exc = failure.value
    assert exc is not None
    if exc.__traceback__ is None:
        traceback = failure.getTracebackObject()
        # A cleaned Failure keeps only a stand-in, which exceptions cannot carry.
        if isinstance(traceback, types.TracebackType):
            exc = exc.with_traceback(traceback)
    return exc
