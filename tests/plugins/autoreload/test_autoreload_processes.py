"""Programs under autoreload in real processes, observed over HTTP.

Each test writes a small application into a temporary directory, starts it in a
subprocess, edits its files and watches the new behaviour appear. The process id stays
the same across restarts (the program re-executes itself), the listening port is bound
again at once, and the descriptor count in ``/proc/<pid>/fd`` stays where it was.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from _autoreload_procs import Program, free_port, python, wait_until, write

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="counts descriptors in /proc"
)

HANDLERS = """\
import os

from typhoon import web

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "{version}"
with open(os.path.join(HERE, "data.txt"), encoding="utf-8") as file:
    DATA = file.read().strip()
with open(os.path.join(HERE, "config.txt"), encoding="utf-8") as file:
    CONFIG = file.read().strip()


class Version(web.RequestHandler):
    def get(self):
        self.write(VERSION)


class Page(web.RequestHandler):
    def get(self):
        self.render("page.html")


class Data(web.RequestHandler):
    def get(self):
        self.write(DATA)


class Config(web.RequestHandler):
    def get(self):
        self.write(CONFIG)


def rules():
    return [("/", Version), ("/page", Page), ("/data", Data), ("/config", Config)]
"""

SERVE = '''\
"""Serves handlers.rules() with autoreload on; records the restart hooks in events.log."""

import asyncio
import os

import typhoon_autoreload
from typhoon import hookimpl, web

import handlers

HERE = os.path.dirname(os.path.abspath(__file__))


def record(event):
    with open(os.path.join(HERE, "events.log"), "a", encoding="utf-8") as file:
        file.write(f"{event} {os.getpid()}\\n")


class Recorder:
    @hookimpl
    def autoreload_watch_paths(self, app):
        return [os.path.join(HERE, "data.txt")]

    @hookimpl
    async def autoreload_before_reload(self, app):
        record("before-reload")

    @hookimpl
    def shutdown(self, app):
        record("shutdown")


typhoon_autoreload.watch(os.path.join(HERE, "config.txt"))
typhoon_autoreload.add_reload_hook(lambda: record("reload-hook"))


async def main():
    app = web.Application(
        handlers.rules(),
        template_path=os.path.join(HERE, "templates"),
        autoreload=True,
        plugins=[Recorder()],
    )
    app.listen(int(os.environ["PORT"]), "127.0.0.1")
    await asyncio.Event().wait()


asyncio.run(main())
'''

APPMOD = """\
import os

from typhoon import web

import handlers

app = web.Application(
    handlers.rules(),
    template_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"),
)
"""


def make_app(directory: Path) -> None:
    """Write the test application into ``directory``."""
    write(directory / "handlers.py", HANDLERS.format(version="v1"))
    write(directory / "serve.py", SERVE)
    write(directory / "appmod.py", APPMOD)
    (directory / "templates").mkdir()
    write(directory / "templates" / "page.html", "page-1")
    write(directory / "data.txt", "data-1")
    write(directory / "config.txt", "config-1")


def events(directory: Path) -> list[tuple[str, int]]:
    """The hook calls recorded by serve.py: (event, pid) pairs in order."""
    path = directory / "events.log"
    if not path.exists():
        return []
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event, pid = line.split()
        pairs.append((event, int(pid)))
    return pairs


def wait_for_restarts(directory: Path, count: int) -> None:
    """Wait until the reload hook has run ``count`` times."""
    wait_until(
        lambda: sum(event == "reload-hook" for event, _pid in events(directory)) >= count,
        describe=lambda: f"not {count} restarts: {events(directory)}",
    )


# Only the autoreload plugin loads from the installed entry points.
ENV = {"TYPHOON_PLUGINS": "autoreload"}


def test_module_template_and_watched_files_restart_the_application(tmp_path: Path) -> None:
    make_app(tmp_path)
    program = Program([python(), "serve.py"], tmp_path, free_port(), ENV)
    try:
        program.wait_for_body("/", "v1")
        program.wait_for_body("/page", "page-1")
        baseline = program.settled_fd_count()

        write(tmp_path / "handlers.py", HANDLERS.format(version="v2"))
        wait_for_restarts(tmp_path, 1)
        program.wait_for_body("/", "v2")
        assert program.settled_fd_count() == baseline, program.output()

        # Rendered once, the template is compiled and cached: only a restart shows the
        # new text.
        program.wait_for_body("/page", "page-1")
        write(tmp_path / "templates" / "page.html", "page-2")
        wait_for_restarts(tmp_path, 2)
        program.wait_for_body("/page", "page-2")

        # data.txt is watched because a plugin returned it from autoreload_watch_paths.
        write(tmp_path / "data.txt", "data-2")
        wait_for_restarts(tmp_path, 3)
        program.wait_for_body("/data", "data-2")

        # config.txt is watched through typhoon_autoreload.watch().
        write(tmp_path / "config.txt", "config-2")
        wait_for_restarts(tmp_path, 4)
        program.wait_for_body("/config", "config-2")
        program.wait_for_body("/", "v2")

        recorded = events(tmp_path)
        # Each restart: the plugin hook while serving, the application's shutdown, then
        # the reload hooks -- four restarts, all in the same process (re-executed).
        assert [event for event, _pid in recorded] == [
            "before-reload",
            "shutdown",
            "reload-hook",
        ] * 4, (recorded, program.output())
        assert {pid for _event, pid in recorded} == {program.pid}
        program.check_alive()
        assert program.settled_fd_count() == baseline, program.output()
    finally:
        program.stop()


def test_a_syntax_error_waits_for_the_fix_under_the_runner(tmp_path: Path) -> None:
    make_app(tmp_path)
    argv = [python(), "-m", "typhoon_autoreload", "-m", "serve"]
    program = Program(argv, tmp_path, free_port(), ENV)
    try:
        program.wait_for_body("/", "v1")
        baseline = program.settled_fd_count()

        write(tmp_path / "handlers.py", "VERSION = 'v2'\ndef broken(:\n")
        program.wait_for_output("program exited with an uncaught exception")
        assert "SyntaxError" in program.output()
        assert program.get("/") is None
        program.check_alive()

        write(tmp_path / "handlers.py", HANDLERS.format(version="v3"))
        program.wait_for_body("/", "v3")
        assert program.settled_fd_count() == baseline, program.output()
        # The first restart ran the hooks; the failed program never started serving.
        assert [event for event, _pid in events(tmp_path)] == [
            "before-reload",
            "shutdown",
            "reload-hook",
        ]
    finally:
        program.stop()


def test_the_runner_runs_a_script_again_after_it_exits(tmp_path: Path) -> None:
    script = tmp_path / "once.py"
    write(script, "import sys\nprint('run', sys.argv[1:])\n")
    program = Program([python(), "-m", "typhoon_autoreload", "once.py", "a", "b"], tmp_path, 0, {})
    try:
        program.wait_for_output("program exited normally; waiting for a file to change")
        assert "run ['a', 'b']" in program.output()
        write(script, "import sys\nprint('again', sys.argv[1:])\nsys.exit(3)\n")
        program.wait_for_output("program exited with status 3")
        assert "again ['a', 'b']" in program.output()
        assert program.interrupt() == 130
        assert "Traceback" not in program.output()
    finally:
        program.stop()


def test_until_success_reruns_a_failing_program_until_it_succeeds(tmp_path: Path) -> None:
    script = tmp_path / "check.py"
    write(script, "import sys\nprint('checking')\nsys.exit(1)\n")
    argv = [python(), "-m", "typhoon_autoreload", "--until-success", "check.py"]
    program = Program(argv, tmp_path, 0, {})
    try:
        program.wait_for_output("program exited with status 1; waiting for a file to change")
        write(script, "print('fixed')\n")
        assert program.process.wait(60) == 0
        output = program.output()
        assert "fixed" in output
        assert output.rstrip().endswith("typhoon_autoreload: program exited normally")
    finally:
        program.stop()


def test_typhoon_run_reload_restarts_on_module_and_template_changes(tmp_path: Path) -> None:
    make_app(tmp_path)
    port = free_port()
    argv = [python(), "-m", "typhoon", "run", "--reload", "--port", str(port), "appmod:app"]
    program = Program(argv, tmp_path, port, ENV)
    try:
        program.wait_for_body("/", "v1")
        program.wait_for_body("/page", "page-1")
        baseline = program.settled_fd_count()
        write(tmp_path / "handlers.py", HANDLERS.format(version="v2"))
        program.wait_for_body("/", "v2")
        program.wait_for_body("/page", "page-1")  # compiled and cached
        write(tmp_path / "templates" / "page.html", "page-2")
        program.wait_for_output("typhoon: serving on", count=3)
        program.wait_for_body("/page", "page-2")
        assert program.settled_fd_count() == baseline, program.output()
        assert program.output().count("typhoon: serving on") == 3, program.output()
        program.check_alive()
    finally:
        program.stop()


LOOPAPP = """\
import asyncio
import os
import time

import typhoon_autoreload
from typhoon import hookimpl, web

import handlers

HERE = os.path.dirname(os.path.abspath(__file__))


def record(event):
    with open(os.path.join(HERE, "events.log"), "a", encoding="utf-8") as file:
        file.write(f"{event} {os.getpid()}\\n")


class LoopUser:
    loop = None

    @hookimpl
    def startup(self, app):
        LoopUser.loop = asyncio.get_running_loop()
        self.idler = LoopUser.loop.create_task(self.idle())

    async def idle(self):
        try:
            await asyncio.Event().wait()
        finally:
            record("task-finally")

    @hookimpl
    def autoreload_before_reload(self, app):
        record("before-reload")
        LoopUser.loop.run_in_executor(None, self.slow_job)

    def slow_job(self):
        time.sleep(0.5)
        record("executor-done")

    @hookimpl
    def shutdown(self, app):
        record("shutdown")


def reload_hook():
    record(f"reload-hook:loop-closed={LoopUser.loop.is_closed()}")


typhoon_autoreload.add_reload_hook(reload_hook)
app = web.Application(handlers.rules(), plugins=[LoopUser()])
"""


def test_typhoon_run_reload_restarts_after_its_event_loop_is_closed(tmp_path: Path) -> None:
    make_app(tmp_path)
    write(tmp_path / "loopapp.py", LOOPAPP)
    port = free_port()
    argv = [python(), "-m", "typhoon", "run", "--reload", "--port", str(port), "loopapp:app"]
    program = Program(argv, tmp_path, port, ENV)
    try:
        program.wait_for_body("/", "v1")
        write(tmp_path / "handlers.py", HANDLERS.format(version="v2"))
        program.wait_for_body("/", "v2")
        recorded = [event for event, _pid in events(tmp_path)]
        # The loop ran to its end before the restart: the task left on it was
        # cancelled, the executor's work finished, the loop was closed.
        assert recorded[0] == "before-reload", (recorded, program.output())
        assert recorded[-1] == "reload-hook:loop-closed=True", (recorded, program.output())
        assert sorted(recorded[1:-1]) == ["executor-done", "shutdown", "task-finally"]
        assert {pid for _event, pid in events(tmp_path)} == {program.pid}
        assert "typhoon: restarting" in program.output()
    finally:
        program.stop()


def test_typhoon_run_reload_waits_for_a_broken_application_to_be_fixed(tmp_path: Path) -> None:
    make_app(tmp_path)
    write(tmp_path / "appmod.py", "from typhoon import web\napp = web.Application([]\n")
    port = free_port()
    argv = [python(), "-m", "typhoon", "run", "--reload", "--port", str(port), "appmod:app"]
    program = Program(argv, tmp_path, port, ENV)
    try:
        waiting = "; waiting for a file to change"
        program.wait_for_output(waiting)
        assert "typhoon: error: cannot load appmod:app: SyntaxError: " in program.output()
        assert program.get("/") is None
        program.check_alive()

        write(tmp_path / "appmod.py", APPMOD)
        program.wait_for_body("/", "v1")

        # An edit that breaks the application while it serves: the restarted program
        # waits again, then serves the fixed code.
        broken = HANDLERS.format(version="v2") + "\nraise RuntimeError('half-edited')\n"
        write(tmp_path / "handlers.py", broken)
        program.wait_for_output(waiting, count=2)
        assert "cannot load appmod:app: RuntimeError: half-edited (" in program.output()
        assert program.get("/") is None

        write(tmp_path / "handlers.py", HANDLERS.format(version="v3"))
        program.wait_for_body("/", "v3")
        program.check_alive()
        assert "Traceback" not in program.output()
        assert program.interrupt() == 0
    finally:
        program.stop()


def test_typhoon_run_reload_does_not_wait_for_a_module_that_does_not_exist(
    tmp_path: Path,
) -> None:
    argv = [python(), "-m", "typhoon", "run", "--reload", "no_such_module_here:app"]
    program = Program(argv, tmp_path, free_port(), ENV)
    try:
        assert program.process.wait(60) == 1
        assert "typhoon: error: cannot import module 'no_such_module_here'" in program.output()
        assert "waiting" not in program.output()
    finally:
        program.stop()


def test_typhoon_run_refuses_processes_for_an_application_with_autoreload(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "debugapp.py", "from typhoon import web\napp = web.Application([], debug=True)\n"
    )
    argv = [python(), "-m", "typhoon", "run", "--processes", "2", "debugapp:app"]
    program = Program(argv, tmp_path, free_port(), ENV)
    try:
        assert program.process.wait(60) == 1
        assert "--processes cannot serve debugapp:app: its autoreload setting is on" in (
            program.output()
        )
    finally:
        program.stop()


def test_workers_of_fork_processes_refuse_autoreload(tmp_path: Path) -> None:
    write(
        tmp_path / "workers.py",
        textwrap.dedent(
            """\
            import sys
            from typhoon import process, web
            try:
                process.fork_processes(1, max_restarts=0)
            except RuntimeError:
                sys.exit(3)  # the parent, after its worker failed
            try:
                web.Application([], debug=True, plugins=[], load_entrypoints=True)
            except Exception as exc:
                print("worker refused:", exc, "| cause:", exc.__cause__, flush=True)
                sys.exit(1)
            print("worker started", flush=True)
            """
        ),
    )
    program = Program([python(), "workers.py"], tmp_path, 0, ENV)
    try:
        assert program.process.wait(60) == 3
        output = program.output()
        assert "worker refused" in output
        assert "cannot be used with multiple processes" in output
        assert "worker started" not in output
    finally:
        program.stop()


def test_start_before_fork_processes_turns_autoreload_off_in_the_parent(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "early.py",
        textwrap.dedent(
            """\
            import logging
            import typhoon_autoreload
            from typhoon import process
            logging.basicConfig(level=logging.INFO, format="%(message)s")
            typhoon_autoreload.start()
            process.fork_processes(1, max_restarts=0)
            try:
                typhoon_autoreload.start()
            except Exception as exc:
                print("worker refused:", type(exc).__name__, flush=True)
            """
        ),
    )
    program = Program([python(), "early.py"], tmp_path, 0, {})
    try:
        assert program.process.wait(60) == 0
        wait_until(lambda: "worker refused: ConfigurationError" in program.output(), 5)
        assert "autoreload is off in this process: fork_processes()" in program.output()
    finally:
        program.stop()
