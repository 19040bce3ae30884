"""Tests for typhoon.process: cpu_count, fork_processes (in a child interpreter), Subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typhoon import process
from typhoon.errors import TyphoonError
from typhoon.iostream import PipeIOStream
from typhoon.process import CalledProcessError, Subprocess, cpu_count, fork_processes, task_id

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")

#: Seconds a fork_processes scenario may take before the test fails.
FORK_TIMEOUT = 60


def test_cpu_count() -> None:
    count = cpu_count()
    assert isinstance(count, int)
    assert count >= 1


def test_task_id_outside_workers() -> None:
    assert task_id() is None


async def test_fork_processes_refuses_running_loop() -> None:
    with pytest.raises(RuntimeError, match="event loop"):
        fork_processes(2)


def _run_forking_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "fork_script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=FORK_TIMEOUT,
        check=False,
    )


def test_fork_processes_restarts_failed_children(tmp_path: Path) -> None:
    # Child 1 fails on its first run and child 2 is killed by a signal on its first run;
    # both are restarted with the same task id and then exit normally, after which
    # the parent exits with status 0.
    result = _run_forking_script(
        tmp_path,
        """
        import json, os, signal, sys
        from pathlib import Path
        from typhoon.process import fork_processes, task_id

        out = Path(sys.argv[1])
        index = fork_processes(3, max_restarts=5)
        assert index == task_id()
        marker = out / f"ran-{index}"
        first_run = not marker.exists()
        with open(out / "log", "a") as log:
            log.write(json.dumps([index, os.getpid(), first_run]) + "\\n")
        marker.write_text("x")
        if index == 1 and first_run:
            os._exit(3)
        if index == 2 and first_run:
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(0)
        """,
    )
    assert result.returncode == 0, result.stderr
    runs = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert sorted(index for index, _pid, _first in runs) == [0, 1, 1, 2, 2]
    assert len({pid for _index, pid, _first in runs}) == 5
    assert "exited with status 3" in result.stderr
    assert "killed by signal 9" in result.stderr


def test_fork_processes_gives_up_after_max_restarts(tmp_path: Path) -> None:
    result = _run_forking_script(
        tmp_path,
        """
        import os, sys
        from pathlib import Path
        from typhoon.process import fork_processes

        out = Path(sys.argv[1])
        try:
            index = fork_processes(2, max_restarts=3)
        except RuntimeError as exc:
            (out / "parent").write_text(str(exc))
            sys.exit(7)
        with open(out / "runs", "a") as runs:
            runs.write(f"{index}\\n")
        os._exit(1)
        """,
    )
    assert result.returncode == 7, result.stderr
    assert (tmp_path / "parent").read_text() == "Too many child restarts, giving up"
    # Two first runs plus the three allowed restarts; the fourth failure ends it.
    assert len((tmp_path / "runs").read_text().split()) == 5


def test_fork_processes_default_count_is_cpu_count(tmp_path: Path) -> None:
    result = _run_forking_script(
        tmp_path,
        """
        import os, sys
        from pathlib import Path
        from typhoon.process import fork_processes

        index = fork_processes(0)
        (Path(sys.argv[1]) / f"child-{index}").write_text("x")
        os._exit(0)
        """,
    )
    assert result.returncode == 0, result.stderr
    children = sorted(p.name for p in tmp_path.glob("child-*"))
    assert children == [f"child-{i}" for i in range(cpu_count())]


def test_called_process_error_tree() -> None:
    error = CalledProcessError(2, ["false"])
    assert isinstance(error, TyphoonError)
    assert isinstance(error, subprocess.CalledProcessError)
    assert error.returncode == 2


# --- Subprocess -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _reset_sigchld() -> object:
    yield None
    Subprocess.uninitialize()


async def test_subprocess_streams_roundtrip() -> None:
    child = Subprocess(
        [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
        stdin=Subprocess.STREAM,
        stdout=Subprocess.STREAM,
    )
    assert isinstance(child.stdin, PipeIOStream)
    assert isinstance(child.stdout, PipeIOStream)
    assert child.stderr is None
    await child.stdin.write(b"hello pipes")
    child.stdin.close()
    data = await child.stdout.read_until_close()
    assert data == b"HELLO PIPES"
    assert await child.wait_for_exit() == 0
    assert child.returncode == 0
    assert child.proc.returncode == 0


async def test_subprocess_stderr_stream_and_line_reads() -> None:
    child = Subprocess(
        [
            sys.executable,
            "-c",
            "import sys; print('one'); print('two'); sys.stderr.write('oops'); sys.exit(0)",
        ],
        stdout=Subprocess.STREAM,
        stderr=Subprocess.STREAM,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    assert await child.stdout.read_until(b"\n") == b"one\n"
    assert await child.stdout.read_until(b"\n") == b"two\n"
    assert await child.stderr.read_until_close() == b"oops"
    await child.stdout.read_until_close()
    assert await child.wait_for_exit() == 0


async def test_wait_for_exit_raises_on_failure() -> None:
    child = Subprocess([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(CalledProcessError) as info:
        await child.wait_for_exit()
    assert info.value.returncode == 3
    assert child.returncode == 3


async def test_wait_for_exit_without_raising() -> None:
    child = Subprocess([sys.executable, "-c", "raise SystemExit(4)"])
    assert await child.wait_for_exit(raise_error=False) == 4


async def test_exit_callback_reports_signal() -> None:
    child = Subprocess(
        [sys.executable, "-c", "import time; time.sleep(30)"], stdout=Subprocess.STREAM
    )
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    child.set_exit_callback(done.set_result)
    os.kill(child.pid, signal.SIGTERM)
    assert await asyncio.wait_for(done, 10) == -signal.SIGTERM
    assert child.stdout is not None
    child.stdout.close()


async def test_exit_callback_after_process_already_exited() -> None:
    child = Subprocess([sys.executable, "-c", "pass"])
    # Let the child finish before anyone listens for SIGCHLD.
    for _ in range(200):
        if os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            break
        await asyncio.sleep(0.025)
    assert await asyncio.wait_for(child.wait_for_exit(), 10) == 0


async def test_many_children_in_parallel() -> None:
    children = [Subprocess([sys.executable, "-c", f"raise SystemExit({i})"]) for i in range(4)]
    codes = await asyncio.wait_for(
        asyncio.gather(*(c.wait_for_exit(raise_error=False) for c in children)), 20
    )
    assert codes == [0, 1, 2, 3]


async def test_plain_pipe_passthrough() -> None:
    child = Subprocess([sys.executable, "-c", "print('x')"], stdout=subprocess.PIPE)
    assert not isinstance(child.stdout, PipeIOStream)
    assert await child.wait_for_exit() == 0
    raw = child.proc.stdout
    assert raw is not None
    assert raw.read() == b"x\n"
    raw.close()


async def test_popen_failure_closes_pipes() -> None:
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    with pytest.raises(FileNotFoundError):
        Subprocess(["/nonexistent/program"], stdin=Subprocess.STREAM, stdout=Subprocess.STREAM)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


async def test_initialize_is_idempotent_and_uninitialize_removes() -> None:
    Subprocess.initialize()
    Subprocess.initialize()
    Subprocess.uninitialize()
    Subprocess.uninitialize()
    child = Subprocess([sys.executable, "-c", "pass"])
    # set_exit_callback installs the handler again on demand.
    assert await child.wait_for_exit() == 0


def test_module_exports() -> None:
    for name in process.__all__:
        assert getattr(process, name).__doc__, name
