"""Tests for typhoon.ioloop: the IOLoop facade, fd handlers, PeriodicCallback, uvloop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typhoon import ioloop as ioloop_module
from typhoon.errors import MissingDependencyError, TyphoonTimeoutError
from typhoon.ioloop import IOLoop, PeriodicCallback, TimeoutError, install_uvloop
from typhoon.util import TimeoutError as UtilTimeoutError

APP_LOGGER = "typhoon.application"


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    """A fresh IOLoop owning its own asyncio loop, closed after the test."""
    loop = IOLoop(make_current=False)
    yield loop
    loop.close()


# --- current / instance -------------------------------------------------------------------


async def test_current_is_one_object_per_running_loop() -> None:
    current = IOLoop.current()
    assert current is not None
    assert current is IOLoop.current()
    assert current is IOLoop.instance()
    assert current.asyncio_loop is asyncio.get_running_loop()


async def test_current_without_instance_before_first_use_returns_none() -> None:
    assert IOLoop.current(instance=False) is None
    created = IOLoop.current()
    assert IOLoop.current(instance=False) is created


def test_current_outside_running_loop_creates_and_reuses() -> None:
    asyncio.set_event_loop(None)
    assert IOLoop.current(instance=False) is None
    created = IOLoop.current()
    assert created is not None
    try:
        assert IOLoop.current() is created
        assert created.run_sync(lambda: IOLoop.current()) is created
    finally:
        created.close()
        asyncio.set_event_loop(None)
    assert IOLoop.current(instance=False) is None


def test_constructor_make_current_flag() -> None:
    asyncio.set_event_loop(None)
    quiet = IOLoop(make_current=False)
    try:
        assert IOLoop.current(instance=False) is None
        loud = IOLoop()
        try:
            assert IOLoop.current(instance=False) is loud
        finally:
            loud.close()
    finally:
        quiet.close()
        asyncio.set_event_loop(None)


def test_make_current_and_clear_current_are_deprecated_but_work(io_loop: IOLoop) -> None:
    asyncio.set_event_loop(None)
    with pytest.warns(DeprecationWarning, match="make_current"):
        io_loop.make_current()
    assert IOLoop.current(instance=False) is io_loop
    with pytest.warns(DeprecationWarning, match="clear_current"):
        IOLoop.clear_current()
    assert IOLoop.current(instance=False) is None


def test_wrapping_a_loop_twice_is_refused() -> None:
    loop = asyncio.new_event_loop()
    try:
        wrapper = IOLoop(asyncio_loop=loop, make_current=False)
        with pytest.raises(RuntimeError, match="already exists"):
            IOLoop(asyncio_loop=loop, make_current=False)
        wrapper.close()
        assert loop.is_closed()
    finally:
        loop.close()


def test_wrapping_a_closed_loop_is_refused() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        IOLoop(asyncio_loop=loop, make_current=False)


def test_current_in_other_thread_is_distinct(io_loop: IOLoop) -> None:
    seen: list[IOLoop | None] = []

    def worker() -> None:
        seen.append(IOLoop.current(instance=False))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert seen == [None]


# --- start / stop / run_sync / close ------------------------------------------------------


def test_start_runs_until_stop(io_loop: IOLoop) -> None:
    order: list[str] = []
    io_loop.add_callback(order.append, "first")
    io_loop.call_later(0.01, io_loop.stop)
    io_loop.start()
    assert order == ["first"]
    assert not io_loop.asyncio_loop.is_running()


def test_run_sync_returns_coroutine_result(io_loop: IOLoop) -> None:
    async def compute() -> int:
        await asyncio.sleep(0)
        return 42

    assert io_loop.run_sync(compute) == 42


def test_run_sync_returns_plain_value_and_none(io_loop: IOLoop) -> None:
    assert io_loop.run_sync(lambda: "plain") == "plain"
    assert io_loop.run_sync(lambda: None) is None


def test_run_sync_propagates_exceptions(io_loop: IOLoop) -> None:
    async def fail() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        io_loop.run_sync(fail)

    def fail_sync() -> None:
        raise ValueError("sync")

    with pytest.raises(ValueError, match="sync"):
        io_loop.run_sync(fail_sync)


def test_run_sync_timeout_raises_and_cancels(io_loop: IOLoop) -> None:
    cancelled = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"timed out after 0\.05 seconds") as info:
        io_loop.run_sync(slow, timeout=0.05)
    assert time.monotonic() - started < 2
    assert cancelled == [True]
    assert isinstance(info.value, TyphoonTimeoutError)
    assert isinstance(info.value, builtins_timeout_error())
    assert TimeoutError is UtilTimeoutError


def builtins_timeout_error() -> type[BaseException]:
    import builtins

    return builtins.TimeoutError


def test_run_sync_inner_cancellation_is_not_a_timeout(io_loop: IOLoop) -> None:
    async def cancelled_inside() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        io_loop.run_sync(cancelled_inside, timeout=5)


def test_run_sync_refuses_nesting(io_loop: IOLoop) -> None:
    def nested() -> None:
        io_loop.run_sync(lambda: None)

    async def outer() -> None:
        nested()

    with pytest.raises(RuntimeError, match="running"):
        io_loop.run_sync(outer)


def test_close_cancels_owned_tasks_and_closes_fds() -> None:
    io_loop = IOLoop(make_current=False)
    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    io_loop.spawn_callback(forever)
    io_loop.run_sync(lambda: asyncio.sleep(0.01))
    a, b = socket.socketpair()
    try:
        io_loop.add_handler(a, lambda fd, events: None, IOLoop.READ)
        io_loop.close(all_fds=True)
        assert cancelled == [True]
        assert a.fileno() == -1
        assert io_loop.asyncio_loop.is_closed()
        io_loop.close()  # a second close is harmless
    finally:
        a.close()
        b.close()


async def test_close_while_running_is_refused() -> None:
    with pytest.raises(RuntimeError, match="running"):
        IOLoop.current().close()  # type: ignore[union-attr]


# --- callbacks ----------------------------------------------------------------------------


async def test_add_callback_runs_on_next_iteration_with_args() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    got: list[Any] = []
    io_loop.add_callback(lambda a, *, b: got.append((a, b)), 1, b=2)
    assert got == []
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert got == [(1, 2)]


async def test_add_callback_from_other_thread_wakes_loop() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def worker() -> None:
        io_loop.add_callback(done.set_result, threading.current_thread().name)

    thread = threading.Thread(target=worker, name="producer")
    thread.start()
    assert await asyncio.wait_for(done, 5) == "producer"
    thread.join(5)


def test_add_callback_after_close_is_dropped() -> None:
    io_loop = IOLoop(make_current=False)
    io_loop.close()
    io_loop.add_callback(lambda: None)  # must not raise


async def test_add_callback_from_signal_is_deprecated_but_runs() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    with pytest.warns(DeprecationWarning, match="add_callback_from_signal"):
        io_loop.add_callback_from_signal(done.set_result, 7)
    assert await asyncio.wait_for(done, 5) == 7


async def test_callback_exception_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None

    def broken() -> None:
        raise ValueError("callback broke")

    after: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        io_loop.add_callback(broken)
        io_loop.add_callback(after.set_result, None)
        await after
    records = [r for r in caplog.records if r.name == APP_LOGGER]
    assert len(records) == 1
    assert "Exception in callback" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], ValueError)


async def test_spawn_callback_coroutine_error_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    started = asyncio.Event()

    async def broken() -> None:
        started.set()
        await asyncio.sleep(0)
        raise KeyError("from coroutine")

    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        io_loop.spawn_callback(broken)
        await started.wait()
        for _ in range(10):
            await asyncio.sleep(0)
    errors = [r.exc_info[1] for r in caplog.records if r.name == APP_LOGGER and r.exc_info]
    assert len(errors) == 1
    assert isinstance(errors[0], KeyError)


async def test_spawned_coroutine_is_owned_until_done() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    release = asyncio.Event()

    async def work() -> None:
        await release.wait()

    io_loop.spawn_callback(work)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(io_loop._tasks) == 1
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(io_loop._tasks) == 0


async def test_callback_cancelled_error_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None

    def cancelled() -> None:
        raise asyncio.CancelledError

    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        io_loop.add_callback(cancelled)
        await asyncio.sleep(0.01)
    assert not [r for r in caplog.records if r.name == APP_LOGGER]


async def test_callback_plain_return_value_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        io_loop.add_callback(lambda: 5)
        await asyncio.sleep(0.01)
    assert not caplog.records


# --- timeouts -----------------------------------------------------------------------------


async def test_call_later_call_at_and_add_timeout_order() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    got: list[str] = []
    now = io_loop.time()
    io_loop.call_at(now + 0.03, got.append, "at")
    io_loop.call_later(0.01, got.append, "later")
    io_loop.add_timeout(datetime.timedelta(seconds=0.02), got.append, "delta")
    io_loop.add_timeout(now + 0.04, got.append, "deadline")
    await asyncio.sleep(0.1)
    assert got == ["later", "delta", "at", "deadline"]


async def test_add_timeout_rejects_other_types() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    with pytest.raises(TypeError, match="Unsupported deadline"):
        io_loop.add_timeout("soon", lambda: None)  # type: ignore[arg-type]


async def test_remove_timeout_prevents_the_call() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    got: list[int] = []
    handle = io_loop.call_later(0.01, got.append, 1)
    io_loop.remove_timeout(handle)
    await asyncio.sleep(0.03)
    assert got == []
    io_loop.remove_timeout(handle)  # removing twice is harmless


async def test_time_is_the_monotonic_loop_clock() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    assert io_loop.time() == pytest.approx(asyncio.get_running_loop().time(), abs=0.05)
    first = io_loop.time()
    await asyncio.sleep(0.01)
    assert io_loop.time() > first


# --- futures and executors ----------------------------------------------------------------


async def test_add_future_asyncio_and_executor_futures() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    got: list[Any] = []
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    io_loop.add_future(fut, lambda f: got.append(f.result()))
    fut.set_result(1)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        done = asyncio.Event()

        def record(f: concurrent.futures.Future[int]) -> None:
            got.append((threading.current_thread() is threading.main_thread(), f.result()))
            done.set()

        io_loop.add_future(pool.submit(lambda: 2), record)
        await asyncio.wait_for(done.wait(), 5)
    assert got == [1, (True, 2)]


async def test_add_future_rejects_non_futures() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    with pytest.raises(TypeError):
        io_loop.add_future(object(), lambda f: None)  # type: ignore[arg-type]


async def test_run_in_executor_and_default_executor() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="custom") as pool:
        name = await io_loop.run_in_executor(pool, lambda: threading.current_thread().name)
        assert name.startswith("custom")
        io_loop.set_default_executor(pool)
        name = await io_loop.run_in_executor(None, lambda: threading.current_thread().name)
        assert name.startswith("custom")
        assert await io_loop.run_in_executor(None, pow, 2, 5) == 32


# --- fd handlers --------------------------------------------------------------------------


async def test_add_handler_on_socketpair_read_and_write() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    events: list[tuple[Any, int]] = []
    readable = asyncio.Event()

    def on_event(fd: Any, mask: int) -> None:
        events.append((fd, mask))
        if mask & IOLoop.READ:
            assert fd.recv(100) == b"ping"
            readable.set()
        io_loop.update_handler(fd, IOLoop.READ)

    try:
        io_loop.add_handler(a, on_event, IOLoop.READ | IOLoop.WRITE)
        with pytest.raises(ValueError, match="added twice"):
            io_loop.add_handler(a.fileno(), on_event, IOLoop.READ)
        await asyncio.sleep(0.01)
        assert events
        assert events[0] == (a, IOLoop.WRITE)
        b.send(b"ping")
        await asyncio.wait_for(readable.wait(), 5)
        assert (a, IOLoop.READ) in events
        io_loop.remove_handler(a)
        io_loop.remove_handler(a)  # unknown fds are ignored
        count = len(events)
        b.send(b"more")
        await asyncio.sleep(0.02)
        assert len(events) == count
    finally:
        a.close()
        b.close()


async def test_add_handler_with_int_fd_passes_the_int() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    read_fd, write_fd = os.pipe()
    got: asyncio.Future[tuple[Any, int]] = asyncio.get_running_loop().create_future()

    def on_read(fd: Any, mask: int) -> None:
        os.read(fd, 10)
        if not got.done():
            got.set_result((fd, mask))

    try:
        io_loop.add_handler(read_fd, on_read, IOLoop.READ)
        os.write(write_fd, b"x")
        assert await asyncio.wait_for(got, 5) == (read_fd, IOLoop.READ)
        io_loop.remove_handler(read_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)


async def test_update_handler_unknown_fd_raises() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    with pytest.raises(KeyError):
        io_loop.update_handler(12345, IOLoop.READ)


async def test_handler_exception_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    a, b = socket.socketpair()
    hit = asyncio.Event()

    def broken(fd: Any, mask: int) -> None:
        io_loop.remove_handler(fd)
        hit.set()
        raise OSError("handler broke")

    try:
        with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
            io_loop.add_handler(a, broken, IOLoop.READ)
            b.send(b"x")
            await asyncio.wait_for(hit.wait(), 5)
            await asyncio.sleep(0)
        assert any(
            r.exc_info and isinstance(r.exc_info[1], OSError)
            for r in caplog.records
            if r.name == APP_LOGGER
        )
    finally:
        a.close()
        b.close()


def test_split_fd_and_close_fd(io_loop: IOLoop) -> None:
    a, b = socket.socketpair()
    assert io_loop.split_fd(a) == (a.fileno(), a)
    assert io_loop.split_fd(7) == (7, 7)
    io_loop.close_fd(a)
    assert a.fileno() == -1
    fd = b.detach()
    io_loop.close_fd(fd)
    io_loop.close_fd(fd)  # closing twice is ignored
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)


# --- PeriodicCallback ---------------------------------------------------------------------


def test_periodic_callback_validates_callback_time() -> None:
    with pytest.raises(ValueError, match="positive"):
        PeriodicCallback(lambda: None, 0)
    with pytest.raises(ValueError, match="positive"):
        PeriodicCallback(lambda: None, -5)
    assert PeriodicCallback(lambda: None, datetime.timedelta(seconds=1.5)).callback_time == 1500


async def test_periodic_callback_runs_and_stops() -> None:
    calls: list[float] = []
    pc = PeriodicCallback(lambda: calls.append(time.monotonic()), 10)
    assert not pc.is_running()
    pc.start()
    assert pc.is_running()
    await asyncio.sleep(0.105)
    pc.stop()
    assert not pc.is_running()
    count = len(calls)
    # Timer coarseness on a shared machine: accept a wide band around 10 calls.
    assert 5 <= count <= 11
    await asyncio.sleep(0.03)
    assert len(calls) == count


async def test_periodic_callback_skips_missed_slots() -> None:
    io_loop = IOLoop.current()
    assert io_loop is not None
    slots: list[float] = []
    pc: PeriodicCallback

    def slow() -> None:
        slots.append(pc._next_timeout)  # the deadline this run was scheduled for
        if len(slots) == 1:
            time.sleep(0.055)  # blocks the loop across slots 2 and 3 (20 ms each)

    pc = PeriodicCallback(slow, 20)
    pc.start()
    origin = pc._next_timeout - 0.02
    await asyncio.sleep(0.15)
    pc.stop()
    assert len(slots) >= 2
    indexes = [(slot - origin) / 0.02 for slot in slots]
    # Every run sits on the original grid...
    assert all(index == pytest.approx(round(index), abs=1e-6) for index in indexes)
    whole = [round(index) for index in indexes]
    # ...the slow first run (slot 1, ending near slot 3.75) is followed by slot 4 or
    # later, never by catch-up runs for slots 2 and 3, and no slot runs twice.
    assert whole[0] == 1
    assert whole[1] >= 4
    assert whole == sorted(set(whole))


def test_periodic_callback_update_next_arithmetic() -> None:
    pc = PeriodicCallback(lambda: None, 100)
    pc._next_timeout = 10.0
    pc._update_next(10.0)
    assert pc._next_timeout == pytest.approx(10.1)
    pc._next_timeout = 10.0
    pc._update_next(10.35)  # slots 10.1, 10.2, 10.3 missed
    assert pc._next_timeout == pytest.approx(10.4)
    pc._next_timeout = 10.5
    pc._update_next(10.2)  # woke early: still advance one period
    assert pc._next_timeout == pytest.approx(10.6)


def test_periodic_callback_jitter_stays_in_band() -> None:
    pc = PeriodicCallback(lambda: None, 1000, jitter=0.5)
    deltas = set()
    for _ in range(50):
        pc._next_timeout = 0.0
        pc._update_next(0.0)
        assert 0.75 <= pc._next_timeout <= 1.25
        deltas.add(round(pc._next_timeout, 6))
    assert len(deltas) > 1


async def test_periodic_callback_exception_logged_and_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("periodic broke")

    pc = PeriodicCallback(broken, 10)
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        pc.start()
        await asyncio.sleep(0.06)
        pc.stop()
    assert len(calls) >= 2
    assert sum(1 for r in caplog.records if r.name == APP_LOGGER) == len(calls)


async def test_periodic_callback_coroutine_is_awaited_before_next_run() -> None:
    active = 0
    overlaps = 0
    runs = 0

    async def slow() -> None:
        nonlocal active, overlaps, runs
        runs += 1
        active += 1
        if active > 1:
            overlaps += 1
        await asyncio.sleep(0.025)
        active -= 1

    pc = PeriodicCallback(slow, 10)
    pc.start()
    await asyncio.sleep(0.12)
    pc.stop()
    await asyncio.sleep(0.03)
    assert runs >= 2
    assert overlaps == 0


async def test_periodic_callback_coroutine_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise LookupError("async periodic")

    pc = PeriodicCallback(broken, 10)
    with caplog.at_level(logging.ERROR, logger=APP_LOGGER):
        pc.start()
        await asyncio.sleep(0.045)
        pc.stop()
    assert any(
        r.exc_info and isinstance(r.exc_info[1], LookupError)
        for r in caplog.records
        if r.name == APP_LOGGER
    )


# --- uvloop -------------------------------------------------------------------------------

_UVLOOP_SCRIPT = """
import asyncio
from typhoon.ioloop import IOLoop, install_uvloop
install_uvloop()

async def main():
    io_loop = IOLoop.current()
    done = asyncio.get_running_loop().create_future()
    io_loop.call_later(0.01, done.set_result, type(io_loop.asyncio_loop).__module__)
    return await done

print(asyncio.run(main()))
io_loop = IOLoop(make_current=False)
print(type(io_loop.asyncio_loop).__module__, io_loop.run_sync(lambda: asyncio.sleep(0, "ok")))
io_loop.close()
"""


def test_install_uvloop_in_subprocess() -> None:
    pytest.importorskip("uvloop")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _UVLOOP_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0].startswith("uvloop")
    assert lines[1].startswith("uvloop")
    assert lines[2] == "ok"


def test_install_uvloop_missing_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(ioloop_module.importlib, "import_module", missing)
    with pytest.raises(MissingDependencyError, match=r"typhoon\[uvloop\]"):
        install_uvloop()
