"""Tests for the ``typhoon`` command line: plugins, run, routes and plugin commands."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fake_dists import Site
from typhoon.cli import CommandLine, Route, list_routes, load_app, main
from typhoon.errors import ConfigurationError
from typhoon.plugins import PluginManager

#: Seconds a subprocess gets to print a line or to exit.
DEADLINE = 20.0


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TYPHOON_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("TYPHOON_TRACE_PLUGINS", raising=False)
    fake = Site(tmp_path)
    yield fake
    for module in fake.modules:
        sys.modules.pop(module, None)


GREETER = """
import asyncio
import typhoon

@typhoon.hookimpl
def register_commands(cli):
    def setup(parser):
        parser.add_argument("--name", default="world")

    async def greet(args):
        await asyncio.sleep(0)
        print(f"hello {args.name}")
        return 3

    cli.add_command("greet", "say hello", setup, greet)

@typhoon.hookimpl
def configure(app):
    pass
"""


# --- typhoon plugins -------------------------------------------------------------------------


def test_plugins_lists_installed_plugins_as_a_table(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add("typhoon-greeter", "greeter", GREETER, version="1.2")
    monkeypatch.setenv("TYPHOON_PLUGINS", "greeter")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "HOOKS"]
    assert out[1].split() == [
        "greeter",
        "1.2",
        "typhoon-greeter",
        "configure,",
        "register_commands",
    ]


def test_plugins_json_honours_the_block_list(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add("typhoon-greeter", "greeter", GREETER)
    site.add("typhoon-other", "other", "")
    monkeypatch.setenv("TYPHOON_PLUGINS", "greeter,other")
    monkeypatch.setenv("TYPHOON_DISABLE_PLUGINS", "greeter")
    assert main(["plugins", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "name": "other",
            "version": "1.0",
            "distribution": "typhoon-other",
            "hooks": [],
            "source": "entrypoint",
        }
    ]


def test_plugins_with_nothing_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TYPHOON_PLUGINS", "")
    assert main(["plugins"]) == 0
    assert capsys.readouterr().out == "no plugins installed\n"


@pytest.mark.filterwarnings("always::typhoon.errors.PluginWarning")
def test_broken_plugin_is_one_warning_line_and_the_rest_still_works(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add("typhoon-broken", "broken", "import not_installed_anywhere\n", version="0.9")
    site.add("typhoon-greeter", "greeter", GREETER)
    monkeypatch.setenv("TYPHOON_PLUGINS", "broken,greeter")
    assert main(["plugins", "--json"]) == 0
    captured = capsys.readouterr()
    assert [entry["name"] for entry in json.loads(captured.out)] == ["greeter"]
    [line] = captured.err.splitlines()
    assert line.startswith("typhoon: warning: typhoon plugin 'broken' from distribution ")
    assert "'typhoon-broken' 0.9 failed to import" in line
    assert "No module named 'not_installed_anywhere'" in line


def test_plugins_warns_about_a_misspelled_hook(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        import typhoon

        @typhoon.hookimpl
        def configur(app):
            pass
    """
    site.add("typhoon-typo", "typo", source)
    monkeypatch.setenv("TYPHOON_PLUGINS", "typo")
    assert main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].split() == ["typo", "1.0", "typhoon-typo", "configur"]
    assert captured.err == (
        "typhoon: warning: plugin 'typo' implements unknown hook 'configur'; "
        "did you mean 'configure'?\n"
    )


# --- plugin commands -------------------------------------------------------------------------


def test_plugin_command_with_async_handler_and_exit_status(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add("typhoon-greeter", "greeter", GREETER)
    monkeypatch.setenv("TYPHOON_PLUGINS", "greeter")
    assert main(["greet", "--name", "ada"]) == 3
    assert capsys.readouterr().out == "hello ada\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert re.search(r"^ +greet +say hello$", capsys.readouterr().out, re.MULTILINE)


def test_plugin_redefining_a_builtin_command_is_one_error_line(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        import typhoon

        @typhoon.hookimpl
        def register_commands(cli):
            cli.add_command("run", "clash", None, lambda args: 0)
    """
    site.add("typhoon-clash", "clash", source)
    monkeypatch.setenv("TYPHOON_PLUGINS", "clash")
    assert main(["plugins"]) == 1
    assert capsys.readouterr().err == (
        "typhoon: error: plugin 'clash' failed in hook 'register_commands': "
        "ConfigurationError: command 'run' is defined twice\n"
    )


def test_command_line_api() -> None:
    cli = CommandLine(PluginManager(load_entrypoints=False))
    seen: list[object] = []
    parser = cli.add_command("echo", "echo", None, lambda args: seen.append(args.command))
    parser.add_argument("words", nargs="*")
    assert cli.commands == ["echo"]
    assert cli.run(["echo", "a"]) == 0
    assert seen == ["echo"]
    for bad in ("", "-x", "two words"):
        with pytest.raises(ConfigurationError, match="invalid command name"):
            cli.add_command(bad, "", None, lambda args: 0)


def test_no_command_prints_usage_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TYPHOON_PLUGINS", "")
    assert main([]) == 2
    assert capsys.readouterr().err.startswith("usage: typhoon")


# --- loading MODULE:APP ----------------------------------------------------------------------


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The current directory, holding application modules; sys.path restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("TYPHOON_PLUGINS", "")
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("cliapp"):
            del sys.modules[name]


def test_load_app_from_the_current_directory_with_a_dotted_attribute(app_dir: Path) -> None:
    (app_dir / "cliapp_load.py").write_text("class Holder:\n    app = 'the app'\n")
    assert load_app("cliapp_load:Holder.app") == "the app"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cliapp_none", "expected MODULE:APP (like 'myapp.main:app'), got 'cliapp_none'"),
        (":app", "expected MODULE:APP"),
        ("cliapp_missing:app", "cannot import module 'cliapp_missing': No module named"),
        ("cliapp_attr:nope", "module 'cliapp_attr' has no attribute 'nope'"),
    ],
)
def test_bad_app_spec_is_one_error_line(
    app_dir: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    (app_dir / "cliapp_attr.py").write_text("app = None\n")
    assert main(["routes", spec]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"typhoon: error: {message}")
    assert err.count("\n") == 1


def test_error_inside_the_application_module_is_not_hidden(app_dir: Path) -> None:
    (app_dir / "cliapp_buggy.py").write_text("import cliapp_dependency_missing\n")
    with pytest.raises(ModuleNotFoundError, match="cliapp_dependency_missing"):
        load_app("cliapp_buggy:app")


def test_run_refuses_an_object_without_listen(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app_dir / "cliapp_nolisten.py").write_text("app = object()\n")
    assert main(["run", "cliapp_nolisten:app"]) == 1
    assert capsys.readouterr().err == (
        "typhoon: error: cliapp_nolisten:app is a object object without a "
        "listen(port, address=...) method\n"
    )


def test_run_fails_before_serving_when_a_plugin_misspells_a_hook(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        from types import SimpleNamespace

        import typhoon
        from typhoon.plugins import PluginManager


        @typhoon.hookimpl
        def startpu(app):
            raise AssertionError("never called")


        class App:
            settings = {}
            plugin_manager = PluginManager(
                [SimpleNamespace(__name__="typo", startpu=startpu)], load_entrypoints=False
            )

            def listen(self, port, address=""):
                raise AssertionError("must not listen")


        app = App()
    """
    (app_dir / "cliapp_typo.py").write_text(textwrap.dedent(source))
    assert main(["run", "cliapp_typo:app"]) == 1
    assert capsys.readouterr().err == (
        "typhoon: error: plugin 'typo' implements unknown hook 'startpu'; did you mean 'startup'?\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port must be between 0 and 65535, not 70000"),
        (["--processes", "-1"], "--processes must be 0 or more, not -1"),
        (["--reload", "--processes", "2"], "--reload cannot be combined with --processes"),
        (["--max-restarts", "-1"], "--max-restarts must be 0 or more, not -1"),
        (["--drain-timeout", "-1"], "--drain-timeout must be 0 or more, not -1.0"),
        (["--drain-timeout", "nan"], "--drain-timeout must be 0 or more, not nan"),
        (["--trusted-proxy", "10.0.0.2"], "--trusted-proxy needs --xheaders"),
    ],
)
def test_run_rejects_bad_flags(
    app_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["run", "cliapp_whatever:app", *args]) == 1
    assert capsys.readouterr().err == f"typhoon: error: {message}\n"


@pytest.mark.skipif(
    importlib.util.find_spec("typhoon_autoreload") is not None,
    reason="the autoreload plugin is installed: --reload is tested with it",
)
def test_run_reload_without_the_autoreload_plugin_names_the_extra(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "cliapp_whatever:app", "--reload"]) == 1
    assert capsys.readouterr().err == (
        "typhoon: error: --reload needs typhoon_autoreload: "
        "install it with pip install 'typhoon[autoreload]'\n"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("typhoon.httpserver") is not None,
    reason="the HTTP server exists: --processes is tested end to end",
)
def test_run_processes_without_the_http_server_says_so(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "cliapp_whatever:app", "--processes", "2"]) == 1
    assert capsys.readouterr().err == (
        "typhoon: error: --processes is not available yet: "
        "this build of typhoon has no typhoon.httpserver\n"
    )


# --- typhoon routes --------------------------------------------------------------------------

ROUTED_APP = r"""
import re


class PathMatches:
    def __init__(self, pattern):
        self.regex = re.compile(pattern)


class HostMatches:
    def __init__(self, pattern):
        self.host_pattern = re.compile(pattern)


class AnyMatches:
    pass


class Rule:
    def __init__(self, matcher, target, name=None):
        self.matcher, self.target, self.name = matcher, target, name


class Router:
    def __init__(self, rules):
        self.rules = rules


class MainHandler:
    pass


class UserHandler:
    pass


class AdminHandler:
    pass


def health(request):
    return "ok"


class Application:
    def __init__(self):
        self.wildcard_router = Router([
            Rule(PathMatches("/$"), MainHandler),
            Rule(PathMatches(r"/user/(\d+)$"), UserHandler, "user"),
            Rule(PathMatches("/health$"), health),
        ])
        admin = Router([Rule(PathMatches("/$"), AdminHandler, "admin")])
        self.default_router = Router([
            Rule(HostMatches(r"admin\.example\.com$"), admin),
            Rule(AnyMatches(), self.wildcard_router),
        ])


app = Application()
only_wildcard = Router([])
only_wildcard.wildcard_router = Router([Rule(PathMatches("/x$"), MainHandler)])
"""


def test_routes_walks_host_rules_then_the_wildcard_router(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app_dir / "cliapp_routes.py").write_text(ROUTED_APP)
    assert list_routes(load_app("cliapp_routes:app")) == [
        Route(r"admin\.example\.com$", "/$", "cliapp_routes.AdminHandler", "admin"),
        Route("*", "/$", "cliapp_routes.MainHandler", None),
        Route("*", r"/user/(\d+)$", "cliapp_routes.UserHandler", "user"),
        Route("*", "/health$", "cliapp_routes.health", None),
    ]
    assert main(["routes", "cliapp_routes:app"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["HOST", "PATTERN", "NAME", "TARGET"]
    assert lines[3].split() == ["*", r"/user/(\d+)$", "user", "cliapp_routes.UserHandler"]
    assert main(["routes", "--json", "cliapp_routes:only_wildcard"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"host": "*", "pattern": "/x$", "target": "cliapp_routes.MainHandler", "name": None}
    ]


def test_routes_of_an_object_without_routers(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app_dir / "cliapp_norouter.py").write_text("app = 42\n")
    assert main(["routes", "cliapp_norouter:app"]) == 1
    assert capsys.readouterr().err == (
        "typhoon: error: int object has no routing rules "
        "(expected default_router.rules or wildcard_router.rules)\n"
    )


# --- typhoon run, end to end in a subprocess -------------------------------------------------

SERVED_APP = """
import asyncio
import socket
import sys
import textwrap

from typhoon import hookimpl
from typhoon.plugins import PluginManager


def say(text):
    print(text, file=sys.stderr, flush=True)


class Lifecycle:
    @hookimpl
    async def startup(self, app):
        say("plugin startup")

    @hookimpl
    async def shutdown(self, app):
        await asyncio.sleep(0)
        say("plugin shutdown")


class Server:
    def __init__(self, sock):
        self._server = None
        self._task = asyncio.get_running_loop().create_task(self._start(sock))

    async def _start(self, sock):
        self._server = await asyncio.start_server(self._reply, sock=sock)

    async def _reply(self, reader, writer):
        writer.write(b"hello\\n")
        await writer.drain()
        writer.close()

    def stop(self):
        say("server stop")
        self._task.add_done_callback(lambda task: self._server.close())

    async def close_all_connections(self):
        await self._task
        await self._server.wait_closed()
        say("connections closed")


class Application:
    def __init__(self):
        self.settings = {}
        self.plugin_manager = PluginManager([Lifecycle()], load_entrypoints=False)

    def listen(self, port, address=""):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
            sock.listen()
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return Server(sock)


app = Application()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def typhoon_process(cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TYPHOON_PLUGINS": "", "PYTHONWARNINGS": "error"}
    return subprocess.Popen(
        [sys.executable, "-m", "typhoon", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_stderr(process: subprocess.Popen[bytes], marker: str | None, count: int = 1) -> list[str]:
    """Read stderr until ``marker`` appeared on ``count`` complete lines, or (``marker``
    None) until end of file; bounded by DEADLINE. Returns the lines read so far.

    Reads the pipe unbuffered (os.read), so that select() sees every byte not yet read.
    """
    assert process.stderr is not None
    fd = process.stderr.fileno()
    data = b""
    deadline = time.monotonic() + DEADLINE

    def done() -> bool:
        complete = data[: data.rfind(b"\n") + 1]
        return marker is not None and complete.count(marker.encode()) >= count

    while not done() and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            if marker is None and ready:
                return data.decode().splitlines()
            break
        data += chunk
    lines = data.decode().splitlines()
    if not done():
        process.kill()
        process.wait(DEADLINE)
        wanted = f"{count} line(s) containing {marker!r}" if marker else "end of file"
        raise AssertionError(f"no {wanted}; got {lines}")
    return lines


@pytest.mark.skipif(sys.platform == "win32", reason="signals are POSIX here")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_serves_until_a_signal_then_stops_in_order(tmp_path: Path, signum: int) -> None:
    (tmp_path / "cliapp_served.py").write_text(SERVED_APP)
    port = free_port()
    process = typhoon_process(tmp_path, "run", "cliapp_served:app", "--port", str(port))
    try:
        before = read_stderr(process, "serving on")
        assert before == [
            "plugin startup",
            f"typhoon: serving on http://127.0.0.1:{port} (press Ctrl+C to stop)",
        ]
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
            assert client.makefile("rb").readline() == b"hello\n"
        process.send_signal(signum)
        out, err = (stream.decode() for stream in process.communicate(timeout=DEADLINE))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(DEADLINE)
    assert process.returncode == 0, err
    assert out == ""
    assert err.splitlines() == [
        "typhoon: stopping",
        "server stop",
        "connections closed",
        "plugin shutdown",
    ]


def test_run_port_in_use_is_one_error_line_after_releasing_plugins(tmp_path: Path) -> None:
    (tmp_path / "cliapp_served.py").write_text(SERVED_APP)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = typhoon_process(tmp_path, "run", "cliapp_served:app", "--port", str(port))
        out, err = (stream.decode() for stream in process.communicate(timeout=DEADLINE))
    assert process.returncode == 1
    assert out == ""
    assert err.splitlines() == [
        "plugin startup",
        "plugin shutdown",
        f"typhoon: error: cannot listen on 127.0.0.1:{port}: Address already in use",
    ]


def test_console_script_is_installed_and_reports_its_version() -> None:
    script = Path(sys.executable).with_name("typhoon")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=DEADLINE, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("typhoon 0.")


# --- with the real web layer -----------------------------------------------------------------

WEB_APP = r"""
import os

from typhoon.httpserver import HTTPServer
from typhoon.web import Application, RequestHandler


class MainHandler(RequestHandler):
    def get(self):
        self.write(f"pid {os.getpid()}")


class UserHandler(RequestHandler):
    def get(self, uid):
        self.write(uid)


class AdminHandler(RequestHandler):
    def get(self):
        self.write("admin")


class WithListen(Application):
    # Application.listen as Tornado defines it, used while the web layer has none.
    def listen(self, port, address="", **kwargs):
        server = HTTPServer(self, **kwargs)
        server.listen(port, address)
        return server


Served = Application if hasattr(Application, "listen") else WithListen
app = Served(
    [(r"/", MainHandler), (r"/user/(\d+)", UserHandler, {}, "user")], load_entrypoints=False
)
app.add_handlers(r"admin\.example\.com$", [(r"/", AdminHandler, None, "admin")])
"""

needs_http_server = pytest.mark.skipif(
    importlib.util.find_spec("typhoon.httpserver") is None, reason="no HTTP server yet"
)


def get(port: int, path: str = "/") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@needs_http_server
def test_routes_of_a_real_application(app_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (app_dir / "cliapp_web.py").write_text(WEB_APP)
    assert main(["routes", "--json", "cliapp_web:app"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "host": r"admin\.example\.com$",
            "pattern": "/$",
            "target": "cliapp_web.AdminHandler",
            "name": "admin",
        },
        {"host": "*", "pattern": "/$", "target": "cliapp_web.MainHandler", "name": None},
        {
            "host": "*",
            "pattern": r"/user/(\d+)$",
            "target": "cliapp_web.UserHandler",
            "name": "user",
        },
    ]


@needs_http_server
def test_run_serves_a_real_application(tmp_path: Path) -> None:
    (tmp_path / "cliapp_web.py").write_text(WEB_APP)
    port = free_port()
    process = typhoon_process(tmp_path, "run", "cliapp_web:app", "--port", str(port))
    try:
        read_stderr(process, "serving on")
        assert get(port) == (200, f"pid {process.pid}")
        assert get(port, "/user/42") == (200, "42")
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(DEADLINE)
    assert process.returncode == 0


def start_workers(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    (tmp_path / "cliapp_web.py").write_text(WEB_APP)
    env = {**os.environ, "TYPHOON_PLUGINS": "", "PYTHONWARNINGS": "error"}
    arguments = ["run", "cliapp_web:app", "--processes", "2", "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", "typhoon", *arguments],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a shell job
    )


def stop_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(DEADLINE)
    assert process.stderr is not None
    process.stderr.close()


@needs_http_server
@pytest.mark.skipif(sys.platform == "win32", reason="fork_processes is POSIX only")
def test_processes_serve_and_stop_together_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = start_workers(tmp_path, port)
    try:
        started = read_stderr(process, "serving on", count=2)
        assert started[0].endswith("Starting 2 processes")
        pids = {get(port)[1] for _ in range(4)}
        assert pids <= {f"pid {pid}" for pid in range(process.pid + 1, process.pid + 1000)}
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl+C in a terminal does
        rest = read_stderr(process, None)
        assert process.wait(DEADLINE) == 0
    finally:
        stop_group(process)
    assert rest.count("typhoon: stopping") == 2
    assert not any("Traceback" in line or "restarting" in line for line in rest)


@needs_http_server
@pytest.mark.skipif(sys.platform == "win32", reason="fork_processes is POSIX only")
def test_workers_stop_when_the_parent_is_terminated(tmp_path: Path) -> None:
    port = free_port()
    process = start_workers(tmp_path, port)
    try:
        read_stderr(process, "serving on", count=2)
        process.send_signal(signal.SIGKILL)  # the parent only, and it cannot pass it on
        assert process.wait(DEADLINE) == -signal.SIGKILL
        # The stderr pipe reaches end of file once every worker has exited.
        rest = read_stderr(process, None)
    finally:
        stop_group(process)
    assert rest.count("typhoon: stopping") == 2
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE),
    ):
        pass
