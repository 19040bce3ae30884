"""Isolation for the Twisted bridge tests: each reactor test runs in a forked child.

Twisted's reactor is process-wide and cannot be installed twice or restarted, so a test
marked ``reactor`` runs in a child process forked for it alone: the parent pytest
process (and every other test in it) never sees a reactor. The child runs the test
the usual way (``async def`` tests on a fresh loop, see ``tests/conftest.py``), sends
the outcome back through a pipe and exits; a child that outlives the deadline is killed.
Tests without the marker run in-process and must not install a reactor.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import time

import pytest

#: Seconds a forked reactor test may take, including its process start.
CHILD_DEADLINE = float(os.environ.get("ASYNC_TEST_TIMEOUT", "30")) + 15

_in_child = False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reactor: installs Twisted's process-wide reactor, so runs in a forked child process",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``reactor`` tests in a forked child; the others as usual."""
    if _in_child or pyfuncitem.get_closest_marker("reactor") is None:
        return None
    if not hasattr(os, "fork"):
        pytest.skip("reactor tests need os.fork")
    _run_in_child(pyfuncitem)
    return True


def _run_in_child(item: pytest.Function) -> None:
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(item, write_end)
    os.close(write_end)
    try:
        payload = _read_until(read_end, time.monotonic() + CHILD_DEADLINE)
    finally:
        os.close(read_end)
    if payload is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"the test's child process did not finish in {CHILD_DEADLINE:.0f} s")
    _pid, status = os.waitpid(pid, 0)
    if not payload:
        pytest.fail(f"the test's child process died without a result (status {status})")
    outcome = json.loads(payload)
    if outcome["kind"] == "skip":
        pytest.skip(outcome["text"])
    if outcome["kind"] == "fail":
        pytest.fail(outcome["text"], pytrace=False)


def _child(item: pytest.Function, write_end: int) -> None:
    global _in_child
    _in_child = True
    # pytest's log capture lives in the parent; the child's records go to its stderr,
    # which pytest captures and shows with a failure.
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    outcome = {"kind": "pass", "text": ""}
    try:
        try:
            item.ihook.pytest_pyfunc_call(pyfuncitem=item)
        finally:
            # The fixture finalizers run in the parent; release the reactor's threads here.
            reactor = sys.modules.get("twisted.internet.reactor")
            pool = getattr(reactor, "threadpool", None)
            if pool is not None:
                pool.stop()
    except pytest.skip.Exception as exc:
        outcome = {"kind": "skip", "text": str(exc.msg)}
    except BaseException as exc:
        info = pytest.ExceptionInfo.from_exception(exc)
        outcome = {"kind": "fail", "text": str(item.repr_failure(info))}
    finally:
        try:
            os.write(write_end, json.dumps(outcome).encode())
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)


def _read_until(fd: int, deadline: float) -> bytes | None:
    """Everything the child writes before closing its end, or None past the deadline."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
