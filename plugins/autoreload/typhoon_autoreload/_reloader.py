"""The process-wide reloader: what is watched, who is told, and the restart itself.

One :class:`Reloader` exists per process (:data:`RELOADER`); the public functions of
``typhoon_autoreload`` and the plugin's hooks drive it. It watches the files of every
imported module, the files given to :meth:`Reloader.watch`, and for each application
handed to :meth:`Reloader.watch_application` its template and static directories, its
``autoreload_paths`` setting and what plugins return from ``autoreload_watch_paths``.

When one changes, the restart runs on the event loop the reloader was started from:

1. every watched application's plugins get ``autoreload_before_reload``;
2. every watched application is shut down (its servers stop, so their listening sockets
   close; its plugins' ``shutdown`` hooks run);
3. the loop's asynchronous generators are finalised and its default executor is shut
   down (work in progress there finishes, its threads end);
4. the hooks given to :meth:`Reloader.add_reload_hook` run;
5. the program is started again in place of this one (``_process.replace_process``).

A running loop cannot be closed, so the loop's remaining tasks are not run to their end
in that sequence. Code that owns the loop's whole life (``typhoon run --reload``) does
better: it registers with :meth:`Reloader.restart_after_loop`, and after step 1 the
reloader asks it to stop instead. It stops serving and lets its loop end (remaining
tasks cancelled, generators and executor shut down, the loop closed), then calls
:meth:`Reloader.finish_restart`, which carries out steps 4 and 5.

Without a running event loop (a program blocked in :meth:`Reloader.wait`, or one that
never ran a loop), steps 4 and 5 run in the thread that waits, or the watcher's thread.
"""

from __future__ import annotations

__all__ = ["RELOADER", "AppEntry", "Reloader"]

import asyncio
import importlib.util
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from typhoon.errors import ConfigurationError
from typhoon.ioloop import IOLoop
from typhoon.log import gen_log

from typhoon_autoreload._process import (
    forked_by_fork_processes,
    in_worker_process,
    replace_process,
    worker_refusal,
)
from typhoon_autoreload._watcher import Targets, Watcher, normalise

#: Seconds an application's shutdown may take before the restart goes ahead anyway.
SHUTDOWN_TIMEOUT = 5.0
#: Default seconds between looks for newly imported modules (and polls, when polling).
DEFAULT_CHECK_TIME = 0.5
#: Default seconds of quiet after a change before the restart (groups editor bursts).
DEFAULT_DEBOUNCE = 0.1
#: When this module was imported: early in the program's start, since the plugin loads
#: with the application and the runner and ``typhoon run --reload`` import it first.
#: Watched files modified after this and before the watch began restart the program.
LOADED_AT = time.time()


@dataclass
class AppEntry:
    """An application being watched, and the paths it contributed."""

    app: Any
    files: set[str] = field(default_factory=set)
    trees: set[str] = field(default_factory=set)


class Reloader:
    """Watches files and restarts the program when one changes (see the module docs)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._hooks: list[Callable[[], object]] = []
        self._files: set[str] = set()
        self._apps: list[AppEntry] = []
        self._explicit = False
        self._waiting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: Watcher | None = None
        self._check_time = DEFAULT_CHECK_TIME
        self._debounce = DEFAULT_DEBOUNCE
        self._restarting = False
        self._disabled: str | None = None
        self._changed = threading.Event()
        self._changed_paths: list[str] = []
        self._module_paths: dict[str, list[str]] = {}
        self._restart_task: asyncio.Task[None] | None = None
        # The owner of the loop, asked to stop it for a restart (restart_after_loop),
        # and the changed paths of a restart waiting for that loop to end.
        self._stop_loop: Callable[[], object] | None = None
        self._pending: list[str] | None = None
        #: Called instead of replacing the process (tests and embedding code).
        self.restart: Callable[[], object] = replace_process
        #: Watched files modified after this time but before the watch began count as
        #: changed (see ``LOADED_AT``).
        self.started_at = LOADED_AT

    # --- what to watch --------------------------------------------------------------------

    def start(self, check_time: float = DEFAULT_CHECK_TIME) -> None:
        """Begin watching; restart on the current event loop when something changes."""
        self._refuse_in_worker("typhoon_autoreload.start()")
        with self._lock:
            self._explicit = True
            self._check_time = check_time
            self._bind_loop()
            self._ensure_watching()

    def watch(self, filename: str | os.PathLike[str]) -> None:
        """Add a file whose changes restart the program."""
        with self._lock:
            self._files.update(normalise([filename]))
            if self._watcher is not None:
                self._watcher.refresh()

    def add_reload_hook(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` just before the program restarts."""
        with self._lock:
            self._hooks.append(fn)

    def watch_application(self, app: Any) -> None:
        """Watch ``app``'s files and shut it down cleanly before restarting.

        Reads the ``template_path``, ``static_path`` and ``autoreload_paths`` settings,
        the template directories plugins contributed, and the plugin hook
        ``autoreload_watch_paths``. Call it on the application's event loop.
        """
        self._refuse_in_worker("autoreload")
        entry = AppEntry(app)
        settings = getattr(app, "settings", {})
        paths: list[Any] = [settings.get("template_path"), settings.get("static_path")]
        paths += list(getattr(app, "template_paths", ()) or ())
        paths += list(settings.get("autoreload_paths") or ())
        manager = getattr(app, "plugin_manager", None)
        if manager is not None and _has_spec(manager, "autoreload_watch_paths"):
            for result in manager.call_collect("autoreload_watch_paths", app=app):
                paths += [result] if isinstance(result, str | os.PathLike) else list(result)
        for path in normalise(path for path in paths if path):
            (entry.trees if os.path.isdir(path) else entry.files).add(path)
        with self._lock:
            self._apps = [item for item in self._apps if item.app is not app]
            self._apps.append(entry)
            self._check_time = _seconds(settings.get("autoreload_check_time"), self._check_time)
            self._debounce = _seconds(settings.get("autoreload_debounce"), self._debounce)
            self._bind_loop()
            self._ensure_watching()
            if self._watcher is not None:
                self._watcher.refresh()

    def watch_exception(self, exc: BaseException) -> None:
        """Watch the files ``exc`` went through, including those whose import failed.

        A module that fails to import is not in ``sys.modules``, so it is not watched
        as an imported module: this adds the files of the traceback's frames and the
        file a ``SyntaxError`` names, following the chain of causes.
        """
        seen: set[int] = set()
        current: BaseException | None = exc
        files: list[str] = []
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            files += [frame.filename for frame in traceback.extract_tb(current.__traceback__)]
            if isinstance(current, SyntaxError) and current.filename:
                files.append(current.filename)
            current = current.__cause__ or current.__context__
        for filename in files:
            if os.path.isfile(filename):
                self.watch(filename)

    def forget_application(self, app: Any) -> None:
        """Stop watching ``app``; watching ends when nothing else asked for it."""
        with self._lock:
            self._apps = [item for item in self._apps if item.app is not app]
            if self._apps or self._explicit or self._waiting or self._restarting:
                return
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    @property
    def watching(self) -> bool:
        """Whether files are being watched now."""
        watcher = self._watcher
        return watcher is not None and watcher.running

    def targets(self) -> Targets:
        """Everything watched right now (called by the watcher's thread)."""
        files = set(self._files)
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and path:
                cached = self._module_paths.get(path)
                if cached is None:
                    source = path[:-1] if path.endswith((".pyc", ".pyo")) else path
                    cached = self._module_paths[path] = normalise([source])
                files.update(cached)
        trees: set[str] = set()
        for entry in list(self._apps):
            files |= entry.files
            trees |= entry.trees
        return Targets(frozenset(files), frozenset(trees))

    # --- restarting after the event loop ends ---------------------------------------------

    def restart_after_loop(self, stop: Callable[[], object]) -> None:
        """Restart only once the running event loop has ended, by its owner's hand.

        For code that runs the event loop and can close it (``asyncio.run``), so that
        the restart comes after the loop is closed. On a change, once the
        ``autoreload_before_reload`` hooks have run, ``stop()`` is called on the loop
        instead of restarting there. The owner then stops serving, shuts its
        application down, lets the loop end, and calls :meth:`finish_restart`.
        """
        with self._lock:
            self._stop_loop = stop
            self._bind_loop()

    def finish_restart(self) -> bool:
        """Restart now if a change stopped the loop (see :meth:`restart_after_loop`).

        Returns False, and forgets the owner, when no restart is waiting. Otherwise the
        reload hooks run and the program is started again (so this does not return,
        unless :attr:`restart` was replaced, when it returns True).
        """
        with self._lock:
            paths, self._pending = self._pending, None
            self._stop_loop = None
        if paths is None:
            return False
        self._restart_now(paths)
        return True

    # --- waiting --------------------------------------------------------------------------

    def wait(self) -> None:
        """Block this thread until a watched file changes, then restart the program."""
        self._refuse_in_worker("typhoon_autoreload.wait()")
        with self._lock:
            self._waiting = True
            self._changed.clear()
            self._ensure_watching()
        self._changed.wait()
        self._restart_now(self._changed_paths)

    # --- internals ------------------------------------------------------------------------

    def _refuse_in_worker(self, what: str) -> None:
        if in_worker_process():
            raise ConfigurationError(worker_refusal(what))

    def _bind_loop(self) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = IOLoop.current(instance=False)
            loop = current.asyncio_loop if current is not None else None
        if loop is not None:
            self._loop = loop

    def _ensure_watching(self) -> None:
        if self._disabled is not None or self._restarting:
            return
        if self._watcher is not None and self._watcher.running:
            return
        self._watcher = Watcher(
            self.targets,
            self._on_change,
            check_time=self._check_time,
            debounce=self._debounce,
            changed_since=self.started_at,
        )
        self._watcher.start()

    def _on_change(self, paths: list[str]) -> None:
        """Called once by the watcher's thread with the changed paths."""
        with self._lock:
            if self._restarting or self._disabled is not None:
                return
            self._restarting = True
            self._watcher = None
            loop, waiting = self._loop, self._waiting
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        gen_log.info("%s changed; restarting", shown)
        if waiting:
            self._changed_paths = paths
            self._changed.set()
            return
        if loop is not None and loop.is_running():
            try:
                loop.call_soon_threadsafe(self._begin_on_loop, paths)
            except RuntimeError:
                pass  # the loop closed meanwhile: restart from this thread
            else:
                return
        self._restart_now(paths)

    def _begin_on_loop(self, paths: list[str]) -> None:
        self._restart_task = asyncio.get_running_loop().create_task(self._restart_on_loop(paths))

    async def _restart_on_loop(self, paths: list[str]) -> None:
        apps = [entry.app for entry in self._apps]
        await self._before_reload(apps)
        stop_loop = self._stop_loop
        if stop_loop is not None:
            # The loop's owner shuts down, closes the loop, then calls finish_restart().
            self._pending = paths
            try:
                stop_loop()
            except Exception:
                self._pending = None
                gen_log.error("stopping the event loop before restarting failed", exc_info=True)
            else:
                return
        await self._shutdown_on_loop(apps)
        self._restart_now(paths)

    async def _before_reload(self, apps: list[Any]) -> None:
        for app in apps:
            manager = getattr(app, "plugin_manager", None)
            if manager is None or not _has_spec(manager, "autoreload_before_reload"):
                continue
            try:
                await manager.acall_each("autoreload_before_reload", app=app)
            except Exception:
                gen_log.error("autoreload_before_reload hook failed", exc_info=True)

    async def _shutdown_on_loop(self, apps: list[Any]) -> None:
        """Stop the applications and release what the running loop can let go of."""
        for app in apps:
            shutdown = getattr(app, "shutdown", None)
            if shutdown is None:
                continue
            try:
                await asyncio.wait_for(shutdown(), SHUTDOWN_TIMEOUT)
            except Exception:
                gen_log.error(
                    "shutting the application down before restarting failed", exc_info=True
                )
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.shutdown_asyncgens(), 1.0)
        except Exception:
            gen_log.error("finalising async generators before restarting failed", exc_info=True)
        try:
            # Work handed to run_in_executor(None, ...) finishes instead of being cut
            # off mid-way by the restart.
            await asyncio.wait_for(loop.shutdown_default_executor(), SHUTDOWN_TIMEOUT)
        except Exception:
            gen_log.error(
                "shutting down the default executor before restarting failed", exc_info=True
            )

    def _restart_now(self, paths: list[str]) -> None:
        _discard_bytecode(paths)
        for hook in list(self._hooks):
            try:
                hook()
            except Exception:
                gen_log.error("reload hook %r failed", hook, exc_info=True)
        self.restart()

    # --- forks ----------------------------------------------------------------------------

    def _after_fork_in_parent(self) -> None:
        if not forked_by_fork_processes():
            return
        with self._lock:
            watcher, self._watcher = self._watcher, None
            active = watcher is not None or self._apps or self._explicit
            self._disabled = "fork_processes"
        if watcher is not None:
            watcher.stop(timeout=0)
        if active:
            gen_log.error(
                "autoreload is off in this process: fork_processes() started worker "
                "processes, and restarting the parent would leave them serving old code. "
                "Use a single process while developing."
            )

    def _after_fork_in_child(self) -> None:
        # The watcher's thread does not exist in the child; a worker refuses to start
        # another (see _refuse_in_worker), any other child may.
        with self._lock:
            self._watcher = None
            self._restart_task = None
            self._loop = None
            self._stop_loop = None
            self._pending = None


def _has_spec(manager: Any, name: str) -> bool:
    caller = getattr(manager.hook, name, None)
    return caller is not None and caller.has_spec()


def _discard_bytecode(paths: list[str]) -> None:
    """Remove the cached bytecode of changed modules.

    The cache is trusted when the source's size and whole-second modification time
    match, so an edit that keeps the size within the second of the previous write would
    otherwise restart the program on the old code.
    """
    for path in paths:
        if not path.endswith(".py"):
            continue
        try:
            os.remove(importlib.util.cache_from_source(path))
        except (OSError, NotImplementedError, ValueError):
            continue


def _seconds(value: Any, default: float) -> float:
    return default if value is None else float(value)


#: The reloader of this process.
RELOADER = Reloader()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        after_in_parent=RELOADER._after_fork_in_parent,
        after_in_child=RELOADER._after_fork_in_child,
    )
