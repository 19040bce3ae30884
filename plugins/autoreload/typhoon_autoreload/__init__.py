"""Restart the program when one of its files changes: ``tornado.autoreload`` for typhoon.

While developing, a server should pick up edits without being restarted by hand. With
this distribution installed, ``Application(autoreload=True)`` (or ``debug=True``, or
``typhoon run --reload``) watches every imported module, the application's template and
static directories and the files named with :func:`watch`; when one changes, the
application shuts down cleanly and the program starts again in place of the old one
(same interpreter, same arguments, same environment). Changes are seen through the
operating system's file notifications (``watchfiles``), not by polling.

For programs without an application, call :func:`start` from the running event loop,
or run them as ``python -m typhoon_autoreload [-m module | script.py] args...``, which
also survives a program that fails to import: it waits for the fix and runs it again.

Autoreload restarts one process. It refuses to run in the workers of
``typhoon.process.fork_processes`` (``typhoon run --processes``): restarting one worker
would leave the others and their parent serving old code.
"""

from __future__ import annotations

__all__ = [
    "add_reload_hook",
    "finish_restart",
    "forget_application",
    "main",
    "restart_after_loop",
    "start",
    "wait",
    "watch",
    "watch_application",
    "watch_exception",
]

import os
from collections.abc import Callable
from typing import Any

from typhoon_autoreload._reloader import RELOADER
from typhoon_autoreload._runner import main


def start(check_time: float = 500) -> None:
    """Begin watching; restart the program when a watched file changes.

    Call it from the event loop the program runs (or before starting the current
    ``IOLoop``): the restart shuts down the applications being watched on that loop
    first. ``check_time`` is the interval, in milliseconds, at which newly imported
    modules are added to the watch (and files are polled, where the operating system
    offers no notifications). Calling it again does nothing more.

    Raises:
        ConfigurationError: in a worker process started by ``fork_processes``.
    """
    RELOADER.start(check_time / 1000.0)


def wait() -> None:
    """Block until a watched file changes, then restart the program.

    Meant for the end of scripts such as test runners: the script runs once, then runs
    again after every change. Never returns.
    """
    RELOADER.wait()


def watch(filename: str | os.PathLike[str]) -> None:
    """Restart the program also when ``filename`` changes (any file, not only Python).

    The file's directory is watched, so files replaced by a rename (as many editors
    save) and files that do not exist yet are seen.
    """
    RELOADER.watch(filename)


def add_reload_hook(fn: Callable[[], object]) -> None:
    """Call ``fn()`` just before the program is started again.

    Hooks run after the watched applications have shut down, in the order added; a
    failing hook is logged and the restart goes on. Descriptors opened by Python are
    closed by the restart anyway (they are not inheritable), so hooks are for other
    clean-up: temporary files, child processes, state to save.
    """
    RELOADER.add_reload_hook(fn)


def watch_application(app: Any) -> None:
    """Watch ``app``'s files and shut it down cleanly before each restart.

    What the plugin's ``startup`` hook does when the ``autoreload`` setting is on; call
    it from the application's event loop to enable autoreload for an application
    whatever its settings (``typhoon run --reload`` does). Watches ``template_path``,
    ``static_path``, ``autoreload_paths``, the template directories plugins added and
    the paths from the ``autoreload_watch_paths`` hook; starts watching modules.

    Raises:
        ConfigurationError: in a worker process started by ``fork_processes``.
    """
    RELOADER.watch_application(app)


def forget_application(app: Any) -> None:
    """Stop watching ``app`` (the plugin's ``shutdown`` hook calls it).

    Watching stops altogether when no application is left and :func:`start` was not
    called.
    """
    RELOADER.forget_application(app)


def watch_exception(exc: BaseException) -> None:
    """Watch the files the failure ``exc`` went through, so that fixing them restarts.

    For a program that could not start (a ``SyntaxError`` or another exception while
    importing it) and now waits with :func:`wait`: the module whose import failed is
    not among the imported modules, so its file is watched only through this. Adds
    the file named by a ``SyntaxError`` and the files of the traceback, following the
    exception's causes.
    """
    RELOADER.watch_exception(exc)


def restart_after_loop(stop: Callable[[], object]) -> None:
    """Let the restart wait until the caller's running event loop has ended.

    For code that owns the event loop (``typhoon run --reload`` does this): the
    restart then comes after the loop is closed, instead of from inside it. Call it
    on that loop. On a change, once the ``autoreload_before_reload`` hooks have run,
    ``stop()`` is called on the loop; the caller stops serving, shuts its application
    down, lets the loop end (``asyncio.run`` cancels the remaining tasks and closes
    it) and then calls :func:`finish_restart`.
    """
    RELOADER.restart_after_loop(stop)


def finish_restart() -> bool:
    """After the loop of :func:`restart_after_loop` has ended: restart if it was asked.

    Runs the reload hooks and starts the program again, so it returns only when no
    restart is waiting (False: the loop ended for another reason, such as Ctrl+C), or
    when the process is not replaced (True: ``restart`` was swapped out, in tests).
    """
    return RELOADER.finish_restart()
