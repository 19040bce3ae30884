"""The ``typhoon`` command-line tool.

``typhoon plugins`` lists the installed plugins, ``typhoon run MODULE:APP`` serves an
application until SIGINT or SIGTERM, ``typhoon routes MODULE:APP`` prints an
application's URL rules, and installed plugins add subcommands of their own through the
``register_commands`` hook, using :class:`CommandLine`.

Expected failures (a bad ``MODULE:APP``, a port already in use, a broken plugin) end the
program with one line on standard error and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

__all__ = ["CommandLine", "Route", "list_routes", "load_app", "main"]

import argparse
import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import traceback
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any, TextIO

import typhoon
from typhoon.errors import (
    ConfigurationError,
    MissingDependencyError,
    PluginError,
    TyphoonError,
)
from typhoon.log import enable_pretty_logging
from typhoon.plugins import PluginManager

#: What a command's handler may return: an exit status, ``None`` for 0, or an awaitable
#: of either (run to completion on a fresh event loop).
CommandResult = int | None | Awaitable[int | None]

_PROG = "typhoon"
#: Seconds between a worker's checks that its parent process is still there.
_ORPHAN_CHECK_INTERVAL = 0.5
#: With ``--reload``: the longest requests in progress may delay a restart (seconds).
_RELOAD_DRAIN_TIMEOUT = 5.0


class CommandLine:
    """The ``cli`` object passed to the ``register_commands`` hook.

    Each command is an :mod:`argparse` subcommand: ``setup_parser`` adds its arguments
    to the subcommand's parser and ``handler`` receives the parsed
    :class:`argparse.Namespace`. The built-in commands are registered the same way.
    """

    def __init__(self, plugin_manager: PluginManager) -> None:
        #: The manager of the installed plugins (entry points, honouring the environment).
        self.plugin_manager = plugin_manager
        #: The top-level parser; ``typhoon --help`` prints it.
        self.parser = argparse.ArgumentParser(
            prog=_PROG,
            description="Run and inspect typhoon applications.",
        )
        self.parser.add_argument(
            "--version", action="version", version=f"%(prog)s {typhoon.__version__}"
        )
        self._subparsers = self.parser.add_subparsers(dest="command", metavar="COMMAND")
        self._handlers: dict[str, Callable[[argparse.Namespace], CommandResult]] = {}

    @property
    def commands(self) -> list[str]:
        """The names of the commands defined so far, in definition order."""
        return list(self._handlers)

    def add_command(
        self,
        name: str,
        help: str,
        setup_parser: Callable[[argparse.ArgumentParser], None] | None,
        handler: Callable[[argparse.Namespace], CommandResult],
    ) -> argparse.ArgumentParser:
        """Define the subcommand ``typhoon <name>`` and return its parser.

        ``help`` is the one-line summary shown by ``typhoon --help``. ``handler`` may be
        an ``async def`` function. Raises :class:`~typhoon.errors.ConfigurationError`
        when the name is taken or is not a plain word.
        """
        if not name or name.startswith("-") or any(ch.isspace() for ch in name):
            raise ConfigurationError(f"invalid command name {name!r}")
        if name in self._handlers:
            raise ConfigurationError(f"command {name!r} is defined twice")
        parser = self._subparsers.add_parser(name, help=help, description=help)
        if setup_parser is not None:
            setup_parser(parser)
        self._handlers[name] = handler
        return parser

    def run(self, argv: Sequence[str]) -> int:
        """Parse ``argv`` and run the chosen command; return its exit status."""
        args = self.parser.parse_args(argv)
        if args.command is None:
            self.parser.print_help(sys.stderr)
            return 2
        result = self._handlers[args.command](args)
        if inspect.isawaitable(result):
            result = asyncio.run(_finish(result))
        return 0 if result is None else int(result)


async def _finish(awaitable: Awaitable[int | None]) -> int | None:
    return await awaitable


def _say(message: str) -> None:
    """Write ``typhoon: <message>`` to stderr in one write, so that the lines of several
    worker processes sharing the stream never interleave."""
    sys.stderr.write(f"{_PROG}: {message}\n")
    sys.stderr.flush()


# --- loading an application ---------------------------------------------------------------


def load_app(spec: str) -> Any:
    """Import ``MODULE:APP`` (``APP`` may be a dotted attribute path) and return the object.

    The current directory is searched first, as ``python -m`` would. Raises
    :class:`~typhoon.errors.ConfigurationError` when the spec is malformed, the module
    does not exist or lacks the attribute. Errors raised while the module itself runs
    propagate unchanged: they are bugs in the application.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(f"expected MODULE:APP (like 'myapp.main:app'), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not _is_prefix(exc.name, module_name):
            raise
        raise ConfigurationError(f"cannot import module {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ConfigurationError(
                f"module {module_name!r} has no attribute {attribute!r}"
            ) from exc
    return target


def _is_prefix(missing: str, module_name: str) -> bool:
    """Whether the missing module is ``module_name`` or one of its parent packages."""
    return module_name == missing or module_name.startswith(missing + ".")


# --- typhoon plugins ----------------------------------------------------------------------


def _setup_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def _plugins_command(plugin_manager: PluginManager) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            plugin_manager.check_pending()
        except PluginError as exc:
            _say(f"warning: {exc}")
        infos = plugin_manager.list_plugins()
        if args.json:
            json.dump([info.as_dict() for info in infos], sys.stdout, indent=2)
            sys.stdout.write("\n")
            return 0
        if not infos:
            print("no plugins installed")
            return 0
        rows = [("NAME", "VERSION", "DISTRIBUTION", "HOOKS")]
        rows += [
            (info.name, info.version or "-", info.distribution or "-", ", ".join(info.hooks))
            for info in infos
        ]
        _print_table(rows, sys.stdout)
        return 0

    return handler


def _print_table(rows: Sequence[Sequence[str]], stream: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip(), file=stream)


# --- typhoon routes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL rule of an application, as ``typhoon routes`` prints it."""

    #: The host pattern the rule applies to (``*`` for every host).
    host: str
    #: The path pattern (a regular expression), or a description of another matcher.
    pattern: str
    #: What handles matching requests: a dotted class or function name, or a repr.
    target: str
    #: The rule's name for ``reverse_url``, if it has one.
    name: str | None


def list_routes(app: Any) -> list[Route]:
    """The URL rules of a Tornado-style ``Application``, in matching order.

    Walks ``app.default_router.rules`` (host-specific rules, then the wildcard router)
    or, without it, ``app.wildcard_router.rules``. A rule whose target is itself a
    router (has ``rules``) is expanded in place under its host pattern.
    """
    router = getattr(app, "default_router", None) or getattr(app, "wildcard_router", None)
    if router is None or not hasattr(router, "rules"):
        raise ConfigurationError(
            f"{type(app).__name__} object has no routing rules "
            "(expected default_router.rules or wildcard_router.rules)"
        )
    return list(_walk(router, "*", depth=0))


def _walk(router: Any, host: str, depth: int) -> Iterator[Route]:
    if depth > 16:
        raise ConfigurationError("routers nest more than 16 levels deep")
    for rule in router.rules:
        matcher = rule.matcher
        rule_host = host
        host_pattern = getattr(matcher, "host_pattern", None)
        path_regex = getattr(matcher, "regex", None)
        if host_pattern is not None:
            rule_host = getattr(host_pattern, "pattern", str(host_pattern))
        if hasattr(rule.target, "rules"):
            yield from _walk(rule.target, rule_host, depth + 1)
            continue
        if path_regex is not None:
            pattern = getattr(path_regex, "pattern", str(path_regex))
        elif host_pattern is not None or type(matcher).__name__ == "AnyMatches":
            pattern = "*"
        else:
            pattern = _describe(matcher)
        yield Route(rule_host, pattern, _describe(rule.target), getattr(rule, "name", None))


def _describe(target: Any) -> str:
    if isinstance(target, type) or inspect.isfunction(target):
        return f"{target.__module__}.{target.__qualname__}"
    return repr(target)


def _setup_routes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", metavar="MODULE:APP", help="the application, e.g. myapp:app")
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def _routes_command(args: argparse.Namespace) -> int:
    routes = list_routes(load_app(args.app))
    if args.json:
        json.dump([asdict(route) for route in routes], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    rows = [("HOST", "PATTERN", "NAME", "TARGET")]
    rows += [(r.host, r.pattern, r.name or "-", r.target) for r in routes]
    _print_table(rows, sys.stdout)
    return 0


# --- typhoon run --------------------------------------------------------------------------


def _setup_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", metavar="MODULE:APP", help="the application, e.g. myapp:app")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (8888)")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the port; 0 means one per CPU (1)",
    )
    parser.add_argument(
        "--xheaders",
        action="store_true",
        help="behind a reverse proxy: take the client address and scheme from "
        "X-Real-Ip, X-Forwarded-For and X-Forwarded-Proto",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="with --xheaders: a proxy address skipped in X-Forwarded-For (repeatable)",
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=100,
        metavar="N",
        help="with --processes: restarts of dead workers allowed in total (100)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGINT/SIGTERM, how long requests in progress may take to finish (30)",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart when a source file changes; an application that fails to load is "
        "started again after the next change (needs typhoon[autoreload])",
    )


def _run_command(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"--port must be between 0 and 65535, not {args.port}")
    if args.processes < 0:
        raise ConfigurationError(f"--processes must be 0 or more, not {args.processes}")
    if args.max_restarts < 0:
        raise ConfigurationError(f"--max-restarts must be 0 or more, not {args.max_restarts}")
    if not args.drain_timeout >= 0:
        raise ConfigurationError(f"--drain-timeout must be 0 or more, not {args.drain_timeout}")
    if args.trusted_proxy and not args.xheaders:
        raise ConfigurationError("--trusted-proxy needs --xheaders")
    server_options: dict[str, Any] = {}
    if args.xheaders:
        server_options = {"xheaders": True, "trusted_downstream": list(args.trusted_proxy)}
    if args.reload and args.processes != 1:
        raise ConfigurationError("--reload cannot be combined with --processes")
    # Look everything up before serving, so that a missing piece fails before binding.
    reloader = (
        _optional("typhoon_autoreload", "--reload", "typhoon[autoreload]") if args.reload else None
    )
    workers = None
    if args.processes != 1:
        workers = tuple(
            _optional(module, "--processes", None)
            for module in ("typhoon.netutil", "typhoon.process", "typhoon.httpserver")
        )
    try:
        app = load_app(args.app)
    except Exception as exc:
        if reloader is None or not _fixable(exc):
            raise
        return _wait_for_fix(reloader, args.app, exc)
    listen = getattr(app, "listen", None)
    if not callable(listen):
        raise ConfigurationError(
            f"{args.app} is a {type(app).__name__} object without a "
            "listen(port, address=...) method"
        )
    settings = getattr(app, "settings", None)
    if workers is not None and isinstance(settings, dict) and settings.get("autoreload"):
        raise ConfigurationError(
            f"--processes cannot serve {args.app}: its autoreload setting is on "
            "(debug=True turns it on), and autoreload restarts a single process"
        )
    plugin_manager = getattr(app, "plugin_manager", None)
    if isinstance(plugin_manager, PluginManager):
        plugin_manager.check_pending()  # a misspelled hook fails here, before serving
    enable_pretty_logging()
    where = _url(args.host, args.port)
    if workers is None:
        asyncio.run(
            _serve(
                app,
                lambda: _listen(app, args.host, args.port, server_options),
                where,
                reloader,
                drain_timeout=args.drain_timeout,
            )
        )
        if reloader is not None:
            # A change stopped the loop: the program restarts now that it is closed.
            reloader.finish_restart()
        return 0
    # Tornado's multi-process recipe: bind in the parent, fork, serve the inherited sockets.
    netutil, process, httpserver = workers
    try:
        sockets = netutil.bind_sockets(args.port, address=args.host)
    except OSError as exc:
        raise _listen_error(args.host, args.port, exc) from exc
    parent = os.getpid()
    try:
        process.fork_processes(args.processes, max_restarts=args.max_restarts)
    except RuntimeError as exc:
        if os.getpid() != parent:
            raise
        # Too many restarts: the workers still running notice the parent is gone and
        # stop gracefully on their own.
        raise ConfigurationError(f"workers keep dying: {exc}") from exc
    except KeyboardInterrupt:
        if os.getpid() != parent:
            raise
        # Ctrl+C reaches the whole process group: the workers are stopping gracefully,
        # so the parent only waits for them instead of restarting them.
        _wait_for_children()
        return 0
    finally:
        if os.getpid() == parent:
            for sock in sockets:
                sock.close()

    def start() -> Any:
        server = httpserver.HTTPServer(app, **server_options)
        server.add_sockets(sockets)
        return server

    asyncio.run(_serve(app, start, where, None, parent=parent, drain_timeout=args.drain_timeout))
    return 0


def _fixable(exc: Exception) -> bool:
    """Whether editing the application can cure this failure to load it.

    Anything raised while its module runs can (a ``SyntaxError``, a failing import
    inside it), and so can a missing attribute; a malformed ``MODULE:APP`` or a
    module that does not exist is a mistake on the command line.
    """
    if isinstance(exc, ConfigurationError):
        return isinstance(exc.__cause__, AttributeError)
    return True


def _wait_for_fix(reloader: ModuleType, spec: str, exc: Exception) -> int:
    """``--reload`` with an application that fails to load: say why, wait for an edit.

    As ``python -m typhoon_autoreload`` would: the files the failure went through and
    every imported module are watched, and the first change starts the command again.
    """
    _say(f"error: cannot load {spec}: {_one_line(exc)}; waiting for a file to change")
    reloader.watch_exception(exc)
    reloader.wait()
    return 1  # not reached: wait() starts the program again in place of this one


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, with the place it was raised when that is not said."""
    if isinstance(exc, ConfigurationError):
        return str(exc)
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if not isinstance(exc, SyntaxError) and frames:
        # A SyntaxError's message already ends with "(file, line N)".
        text += f" ({frames[-1].filename}, line {frames[-1].lineno})"
    return text


def _wait_for_children() -> None:
    """Reap every child process of this one (they are all stopping)."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def _optional(module: str, flag: str, extra: str | None) -> ModuleType:
    """Import what a flag needs, or explain in one line why the flag cannot work."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not _is_prefix(exc.name, module):
            raise
        if extra is not None:
            message = f"{flag} needs {module}: install it with pip install '{extra}'"
        else:
            message = f"{flag} is not available yet: this build of typhoon has no {module}"
        raise MissingDependencyError(message) from exc


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host or '0.0.0.0'}:{port}"


def _listen(app: Any, host: str, port: int, options: dict[str, Any]) -> Any:
    try:
        return app.listen(port, address=host, **options)
    except OSError as exc:
        raise _listen_error(host, port, exc) from exc


def _listen_error(host: str, port: int, exc: OSError) -> ConfigurationError:
    reason = exc.strerror or str(exc)
    return ConfigurationError(f"cannot listen on {host}:{port}: {reason}")


async def _serve(
    app: Any,
    start: Callable[[], Any],
    where: str,
    reloader: ModuleType | None,
    parent: int | None = None,
    drain_timeout: float = 30.0,
) -> None:
    """Start the plugins, start serving, wait for SIGINT/SIGTERM, then stop in order.

    Stopping is graceful: no new connections are accepted and requests in progress
    get ``drain_timeout`` seconds to finish. A worker started by ``--processes``
    passes its ``parent`` process id: it also stops when that parent is gone (killed
    with SIGKILL, say), instead of serving on orphaned.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    plugin_manager = getattr(app, "plugin_manager", None)
    if not isinstance(plugin_manager, PluginManager):
        plugin_manager = None
    async with _stop_when_orphaned(parent, stop):
        with _stop_on_signals(loop, stop):
            await _serve_until(app, start, where, reloader, stop, plugin_manager, drain_timeout)


@contextlib.asynccontextmanager
async def _stop_when_orphaned(parent: int | None, stop: asyncio.Event) -> AsyncIterator[None]:
    """While inside, set ``stop`` once this process's parent is no longer ``parent``."""
    if parent is None:
        yield
        return

    async def watch() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(_ORPHAN_CHECK_INTERVAL)
        stop.set()

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _serve_until(
    app: Any,
    start: Callable[[], Any],
    where: str,
    reloader: ModuleType | None,
    stop: asyncio.Event,
    plugin_manager: PluginManager | None,
    drain_timeout: float,
) -> None:
    """Run the plugins' startup, serve until ``stop`` is set, then stop and shut down.

    With ``reloader``, a change of a watched file also sets ``stop``: the program then
    restarts once the event loop has ended (see ``_run_command``).
    """
    restarting = False

    def restart() -> None:
        nonlocal restarting
        restarting = True
        stop.set()

    if plugin_manager is not None:
        await plugin_manager.run_startup(app)
    try:
        server = start()
        if reloader is not None:
            reloader.watch_application(app)
            reloader.restart_after_loop(restart)
        _say(f"serving on {where} (press Ctrl+C to stop)")
        await stop.wait()
        _say("restarting" if restarting else "stopping")
        if restarting:
            drain_timeout = min(drain_timeout, _RELOAD_DRAIN_TIMEOUT)
        shutdown = getattr(server, "shutdown", None)
        if callable(shutdown):
            # HTTPServer: stop accepting, let requests in progress finish, then close.
            result = shutdown(drain_timeout)
            if inspect.isawaitable(result):
                await result
            return
        stop_server = getattr(server, "stop", None)
        if callable(stop_server):
            stop_server()
        close_all = getattr(server, "close_all_connections", None)
        if callable(close_all):
            result = close_all()
            if inspect.isawaitable(result):
                await result
    finally:
        if plugin_manager is not None:
            try:
                await plugin_manager.run_shutdown(app)
            except PluginError as exc:
                if not restarting:
                    raise
                _say(f"error: {exc}")  # a broken shutdown hook does not stop the restart


@contextlib.contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on the first SIGINT or SIGTERM; a second one acts as usual."""
    signals = [signal.SIGINT, signal.SIGTERM]
    previous: dict[int, Any] = {}

    def on_signal() -> None:
        stop.set()
        restore()

    def restore() -> None:
        for signum in signals:
            if signum in previous:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)
                signal.signal(signum, previous.pop(signum))

    for signum in signals:
        previous[signum] = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, on_signal)
        except NotImplementedError:
            # Windows event loops: fall back to a plain handler that wakes the loop.
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(on_signal))
    try:
        yield
    finally:
        restore()


# --- entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``typhoon`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            plugin_manager = PluginManager()
        for warning in caught:
            _say(f"warning: {warning.message}")
        if plugin_manager.trace_calls:
            enable_pretty_logging()
            logging.getLogger("typhoon.plugins").setLevel(logging.DEBUG)
        cli = CommandLine(plugin_manager)
        cli.add_command(
            "plugins",
            "list the installed plugins and the hooks they implement",
            _setup_plugins,
            _plugins_command(plugin_manager),
        )
        cli.add_command("run", "serve an application until interrupted", _setup_run, _run_command)
        cli.add_command(
            "routes", "list the URL rules of an application", _setup_routes, _routes_command
        )
        plugin_manager.call_each("register_commands", cli=cli)
        return cli.run(argv)
    except (TyphoonError, OSError) as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
