"""The ``typhoon`` entry point of the autoreload plugin: its hook implementations.

Inert unless an application's ``autoreload`` setting is true (``debug=True`` implies
it): then ``startup`` watches the application and ``shutdown`` stops watching it. The
plugin adds two hook specifications other plugins may implement
(:mod:`typhoon_autoreload.hookspecs`) and declares three settings:

``autoreload_paths``
    Extra files or directories whose changes restart the program.
``autoreload_check_time``
    Seconds between looks for newly imported modules (and between polls, where the
    operating system offers no file notifications). Default 0.5.
``autoreload_debounce``
    Seconds without further changes before restarting, so that an editor saving several
    files causes one restart. Default 0.1.
"""

from __future__ import annotations

__all__ = ["configure", "register_hookspecs", "register_settings", "shutdown", "startup"]

import os
from collections.abc import Sequence
from typing import Any

import pluggy
from typhoon import hookimpl
from typhoon.errors import ConfigurationError
from typhoon.hookspecs import Setting

from typhoon_autoreload import hookspecs
from typhoon_autoreload._process import in_worker_process, worker_refusal
from typhoon_autoreload._reloader import DEFAULT_CHECK_TIME, DEFAULT_DEBOUNCE, RELOADER

_SETTINGS = (
    Setting(
        name="autoreload_paths",
        type=list,
        default=None,
        help="extra files or directories whose changes restart the program",
    ),
    Setting(
        name="autoreload_check_time",
        type=float,
        default=DEFAULT_CHECK_TIME,
        help="seconds between looks for newly imported modules (and polls without "
        "file notifications)",
    ),
    Setting(
        name="autoreload_debounce",
        type=float,
        default=DEFAULT_DEBOUNCE,
        help="seconds without further changes before restarting",
    ),
)


def _enabled(app: Any) -> bool:
    return bool(app.settings.get("autoreload"))


@hookimpl
def register_hookspecs(pm: pluggy.PluginManager) -> None:
    """Add ``autoreload_watch_paths`` and ``autoreload_before_reload``."""
    if not hasattr(pm.hook, "autoreload_before_reload") or not (
        pm.hook.autoreload_before_reload.has_spec()
    ):
        pm.add_hookspecs(hookspecs)


@hookimpl
def register_settings() -> Sequence[Setting]:
    """Declare ``autoreload_paths``, ``autoreload_check_time`` and ``autoreload_debounce``."""
    return list(_SETTINGS)


@hookimpl
def configure(app: Any) -> None:
    """Check the plugin's settings and refuse to run in a worker process.

    Raises:
        ConfigurationError: a setting has a bad value, or autoreload is on in a worker
            of ``fork_processes``.
    """
    if not _enabled(app):
        return
    settings = app.settings
    paths = settings.get("autoreload_paths")
    if paths is not None and (
        isinstance(paths, str | bytes | os.PathLike)
        or not all(isinstance(path, str | os.PathLike) for path in paths)
    ):
        raise ConfigurationError(
            f"setting 'autoreload_paths' must be a list of paths, not {paths!r}"
        )
    for name in ("autoreload_check_time", "autoreload_debounce"):
        value = settings.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise ConfigurationError(f"setting {name!r} must be a number of seconds, not {value!r}")
    if in_worker_process():
        raise ConfigurationError(worker_refusal("autoreload (or debug=True)"))


@hookimpl
def startup(app: Any) -> None:
    """Watch the application when its ``autoreload`` setting is on.

    Raises:
        ConfigurationError: in a worker of ``fork_processes`` (the application was
            built before the fork).
    """
    if not _enabled(app):
        return
    if in_worker_process():
        raise ConfigurationError(worker_refusal("autoreload (or debug=True)"))
    RELOADER.watch_application(app)


@hookimpl
def shutdown(app: Any) -> None:
    """Stop watching the application."""
    RELOADER.forget_application(app)
