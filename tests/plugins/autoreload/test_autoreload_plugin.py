"""The plugin's wiring and the restart sequence, in this process.

The reloader used here is a fresh ``Reloader`` whose ``restart`` records the call
instead of replacing the test process; the watching itself is real.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import inspect
import os
import py_compile
import socket
import sys
import threading
import time
import types
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

import pytest
import typhoon_autoreload
from typhoon import hookimpl, process
from typhoon.errors import ConfigurationError, PluginError
from typhoon.web import Application
from typhoon_autoreload import _runner, hookspecs, plugin
from typhoon_autoreload._process import restart_argv
from typhoon_autoreload._reloader import Reloader
from typhoon_autoreload._runner import USAGE, main

DEADLINE = 15.0


class Restarts:
    """Stands in for replacing the process: records who asked, from which thread."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.threads: list[threading.Thread] = []
        self.done = threading.Event()

    def __call__(self) -> None:
        self.log.append("restart")
        self.threads.append(threading.current_thread())
        self.done.set()


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def reloader(monkeypatch: pytest.MonkeyPatch, log: list[str]) -> Iterator[Reloader]:
    """A fresh reloader used by the plugin and the public functions."""
    fresh = Reloader()
    fresh.restart = Restarts(log)
    # Files edited before now (by the tests, or in the working tree) do not count.
    fresh.started_at = time.time()
    monkeypatch.setattr(plugin, "RELOADER", fresh)
    monkeypatch.setattr(typhoon_autoreload, "RELOADER", fresh)
    monkeypatch.setattr(_runner, "RELOADER", fresh)
    yield fresh
    watcher = fresh._watcher
    if watcher is not None:
        watcher.stop(timeout=5)


def restarts(reloader: Reloader) -> Restarts:
    restart = reloader.restart
    assert isinstance(restart, Restarts)
    return restart


def make_app(**settings: Any) -> Application:
    plugins = settings.pop("plugins", [])
    return Application([], plugins=[plugin, *plugins], load_entrypoints=False, **settings)


async def wait_for(event: threading.Event) -> None:
    deadline = time.monotonic() + DEADLINE
    while not event.is_set():
        assert time.monotonic() < deadline, "no restart within the deadline"
        await asyncio.sleep(0.02)


# --- declaration --------------------------------------------------------------------------


def test_the_plugin_is_an_installed_entry_point() -> None:
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="typhoon")}
    assert found.get("autoreload") == "typhoon_autoreload.plugin"


def test_settings_and_hook_specs_are_declared(reloader: Reloader) -> None:
    app = make_app()
    assert app.settings["autoreload_paths"] is None
    assert app.settings["autoreload_check_time"] == 0.5
    assert app.settings["autoreload_debounce"] == 0.1
    hook = app.plugin_manager.hook
    assert hook.autoreload_watch_paths.has_spec()
    assert hook.autoreload_before_reload.has_spec()


@pytest.mark.parametrize("name", ["autoreload_watch_paths", "autoreload_before_reload"])
def test_hook_specs_document_when_how_and_results(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    for section in ("When:", "Sync or async:", "Results:"):
        assert section in doc
    assert name in hookspecs.__all__


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"autoreload_paths": "templates"}, "'autoreload_paths' must be a list of paths"),
        ({"autoreload_paths": [1]}, "'autoreload_paths' must be a list of paths"),
        ({"autoreload_check_time": -1}, "'autoreload_check_time' must be a number"),
        ({"autoreload_debounce": "fast"}, "'autoreload_debounce' must be a number"),
    ],
)
def test_bad_settings_are_refused(
    reloader: Reloader, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(PluginError, match=message) as caught:
        make_app(autoreload=True, **settings)
    assert isinstance(caught.value.__cause__, ConfigurationError)


def test_bad_settings_of_a_disabled_plugin_are_ignored(reloader: Reloader) -> None:
    make_app(autoreload_paths="templates")


# --- enabling -----------------------------------------------------------------------------


async def test_inert_without_the_autoreload_setting(reloader: Reloader) -> None:
    app = make_app()
    await app.startup()
    assert not reloader.watching
    await app.shutdown()


async def test_debug_watches_the_application_until_shutdown(
    reloader: Reloader, tmp_path: Path
) -> None:
    for name in ("templates", "static", "more", "plugin_templates"):
        (tmp_path / name).mkdir()

    class Contributor:
        @hookimpl
        def autoreload_watch_paths(self, app: Any) -> list[str]:
            return [str(tmp_path / "hooked.cfg")]

        @hookimpl
        def register_template_paths(self, app: Any) -> list[str]:
            return [str(tmp_path / "plugin_templates")]

    app = make_app(
        debug=True,
        template_path=str(tmp_path / "templates"),
        static_path=str(tmp_path / "static"),
        autoreload_paths=[str(tmp_path / "extra.txt"), tmp_path / "more"],
        plugins=[Contributor()],
    )
    await app.startup()
    assert reloader.watching
    targets = reloader.targets()
    assert {str(tmp_path / name) for name in ("templates", "static", "more")} <= targets.trees
    assert str(tmp_path / "plugin_templates") in targets.trees
    assert {str(tmp_path / "extra.txt"), str(tmp_path / "hooked.cfg")} <= targets.files
    assert os.path.abspath(__file__) in targets.files  # every imported module
    await app.shutdown()
    assert not reloader.watching
    assert str(tmp_path / "hooked.cfg") not in reloader.targets().files


def test_workers_of_fork_processes_refuse(
    reloader: Reloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "_task_id", 0)
    with pytest.raises(PluginError, match="cannot be used with multiple processes") as caught:
        make_app(debug=True)
    assert isinstance(caught.value.__cause__, ConfigurationError)
    with pytest.raises(ConfigurationError, match="worker 0 started by fork_processes"):
        typhoon_autoreload.start()
    with pytest.raises(ConfigurationError, match="cannot be used with multiple processes"):
        typhoon_autoreload.wait()
    make_app(debug=True, autoreload=False)  # a worker without autoreload is fine
    assert not reloader.watching


# --- restarting ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def accepts(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def test_a_change_restarts_in_order_after_the_application_stopped(
    reloader: Reloader, log: list[str], tmp_path: Path
) -> None:
    module = tmp_path / "watched_module.py"
    module.write_text("A = 1\n")
    py_compile.compile(str(module))
    cached = Path(importlib.util.cache_from_source(str(module)))
    assert cached.exists()
    time.sleep(0.05)
    reloader.started_at = time.time()

    class Recorder:
        @hookimpl
        def autoreload_watch_paths(self, app: Any) -> list[str]:
            return [str(module)]

        @hookimpl
        async def autoreload_before_reload(self, app: Any) -> None:
            await asyncio.sleep(0)
            log.append("before-reload")

        @hookimpl
        def shutdown(self, app: Any) -> None:
            log.append("shutdown")

    typhoon_autoreload.add_reload_hook(lambda: log.append("reload-hook"))
    app = make_app(autoreload=True, plugins=[Recorder()])
    port = free_port()
    app.listen(port, "127.0.0.1")
    deadline = time.monotonic() + DEADLINE
    while not await accepts(port):
        assert time.monotonic() < deadline, "the application never served"
        await asyncio.sleep(0.02)
    assert reloader.watching

    module.write_text("A = 2\n")
    await wait_for(restarts(reloader).done)

    assert log == ["before-reload", "shutdown", "reload-hook", "restart"]
    assert restarts(reloader).threads == [threading.current_thread()]  # on the loop
    assert not await accepts(port)  # the listening socket is closed
    assert not cached.exists()  # stale bytecode of the changed module is gone


async def test_failing_hooks_do_not_stop_the_restart(
    reloader: Reloader, log: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watched = tmp_path / "settings.cfg"

    class Broken:
        @hookimpl
        def autoreload_before_reload(self, app: Any) -> None:
            raise RuntimeError("before_reload is broken")

    def broken_hook() -> None:
        raise RuntimeError("reload hook is broken")

    typhoon_autoreload.add_reload_hook(broken_hook)
    typhoon_autoreload.add_reload_hook(lambda: log.append("second hook"))
    app = make_app(autoreload=True, autoreload_paths=[str(watched)], plugins=[Broken()])
    await app.startup()
    watched.write_text("changed")
    await wait_for(restarts(reloader).done)
    assert log == ["second hook", "restart"]
    messages = caplog.text
    assert "autoreload_before_reload hook failed" in messages
    assert "reload hook <function" in messages


async def test_start_restarts_on_the_running_loop(
    reloader: Reloader, log: list[str], tmp_path: Path
) -> None:
    watched = tmp_path / "data.json"
    typhoon_autoreload.watch(watched)
    typhoon_autoreload.start(check_time=50)
    assert reloader.watching
    watched.write_text("{}")
    await wait_for(restarts(reloader).done)
    assert restarts(reloader).threads == [threading.current_thread()]
    assert log == ["restart"]


async def test_work_in_the_default_executor_finishes_before_the_restart(
    reloader: Reloader, log: list[str], tmp_path: Path
) -> None:
    watched = tmp_path / "settings.cfg"
    shut_down = threading.Event()

    def slow_job() -> None:
        # Still running when the application has shut down: the restart waits for it.
        shut_down.wait(DEADLINE)
        time.sleep(0.2)
        log.append("executor job done")

    class Submitter:
        @hookimpl
        def autoreload_before_reload(self, app: Any) -> None:
            asyncio.get_running_loop().run_in_executor(None, slow_job)

        @hookimpl
        def shutdown(self, app: Any) -> None:
            log.append("shutdown")
            shut_down.set()

    typhoon_autoreload.add_reload_hook(lambda: log.append("reload-hook"))
    app = make_app(autoreload=True, autoreload_paths=[str(watched)], plugins=[Submitter()])
    await app.startup()
    watched.write_text("changed")
    await wait_for(restarts(reloader).done)
    assert log == ["shutdown", "executor job done", "reload-hook", "restart"]


async def test_an_owner_of_the_loop_stops_it_and_restarts_afterwards(
    reloader: Reloader, log: list[str], tmp_path: Path
) -> None:
    watched = tmp_path / "settings.cfg"
    stopped = asyncio.Event()

    class Recorder:
        @hookimpl
        def autoreload_before_reload(self, app: Any) -> None:
            log.append("before-reload")

        @hookimpl
        def shutdown(self, app: Any) -> None:
            log.append("shutdown")

    def stop() -> None:
        log.append("stop")
        assert threading.current_thread() is threading.main_thread()
        stopped.set()

    typhoon_autoreload.add_reload_hook(lambda: log.append("reload-hook"))
    app = make_app(autoreload=True, autoreload_paths=[str(watched)], plugins=[Recorder()])
    await app.startup()
    typhoon_autoreload.restart_after_loop(stop)
    watched.write_text("changed")
    await asyncio.wait_for(stopped.wait(), DEADLINE)
    await asyncio.sleep(0.05)
    # The reloader left the shutdown and the restart to the owner of the loop.
    assert log == ["before-reload", "stop"]
    await app.shutdown()
    assert typhoon_autoreload.finish_restart() is True
    assert log == ["before-reload", "stop", "shutdown", "reload-hook", "restart"]
    assert typhoon_autoreload.finish_restart() is False  # nothing is waiting any more


async def test_finish_restart_without_a_change_does_nothing(
    reloader: Reloader, log: list[str]
) -> None:
    typhoon_autoreload.restart_after_loop(lambda: log.append("stop"))
    assert typhoon_autoreload.finish_restart() is False
    assert log == []


def test_watch_exception_watches_the_files_a_failure_went_through(
    reloader: Reloader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_syntax_mod.py").write_text("def broken(:\n")
    (tmp_path / "importer_mod.py").write_text("import broken_syntax_mod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SyntaxError) as caught:
        importlib.import_module("importer_mod")
    assert "importer_mod" not in sys.modules
    typhoon_autoreload.watch_exception(caught.value)
    files = reloader.targets().files
    assert str(tmp_path / "broken_syntax_mod.py") in files  # named by the SyntaxError
    assert str(tmp_path / "importer_mod.py") in files  # a frame of the traceback
    assert os.path.abspath(__file__) in files


def test_wait_restarts_from_the_waiting_thread(
    reloader: Reloader, log: list[str], tmp_path: Path
) -> None:
    watched = tmp_path / "input.txt"
    typhoon_autoreload.add_reload_hook(lambda: log.append("hook"))
    typhoon_autoreload.watch(watched)
    waiter = threading.Thread(target=typhoon_autoreload.wait)
    waiter.start()
    deadline = time.monotonic() + DEADLINE
    while not reloader.watching:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    watched.write_text("changed")
    assert restarts(reloader).done.wait(DEADLINE)
    waiter.join(DEADLINE)
    assert not waiter.is_alive()
    assert restarts(reloader).threads == [waiter]
    assert log == ["hook", "restart"]


# --- the command line ---------------------------------------------------------------------


def test_the_restart_keeps_interpreter_options_and_the_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-X", "dev", "-m", "pkg.mod", "--flag"])
    assert restart_argv() == [sys.executable, "-X", "dev", "-m", "pkg.mod", "--flag"]


def test_without_orig_argv_the_main_module_is_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    main_module = types.ModuleType("__main__")
    main_module.__spec__ = ModuleSpec("pkg.__main__", None)
    monkeypatch.setattr(sys, "orig_argv", [])
    monkeypatch.setitem(sys.modules, "__main__", main_module)
    monkeypatch.setattr(sys, "argv", ["/srv/pkg/__main__.py", "serve", "--port=1"])
    assert restart_argv() == [sys.executable, "-m", "pkg", "serve", "--port=1"]


@pytest.mark.parametrize(
    ("argv", "status", "stream"),
    [
        ([], 2, "err"),
        (["-m"], 2, "err"),
        (["--until-success"], 2, "err"),
        (["--until-success", "-m"], 2, "err"),
        (["--help"], 0, "out"),
    ],
)
def test_runner_usage(
    reloader: Reloader,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    stream: str,
) -> None:
    assert main(argv) == status
    captured = capsys.readouterr()
    assert USAGE in (captured.err if stream == "err" else captured.out)
    assert not reloader.watching
