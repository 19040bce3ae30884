"""The hook specifications the autoreload plugin adds for other plugins.

The plugin adds them to every :class:`typhoon.plugins.PluginManager` it is registered
with (through ``register_hookspecs``). A plugin that implements them but must also work
where ``typhoon-autoreload`` is not installed marks its implementations
``@hookimpl(optionalhook=True)``, so the check for misspelled hooks lets them pass.
"""

from __future__ import annotations

__all__ = ["autoreload_before_reload", "autoreload_watch_paths"]

import os
from collections.abc import Sequence
from typing import Any

from typhoon.hookspecs import hookspec


@hookspec
def autoreload_watch_paths(app: Any) -> Sequence[str | os.PathLike[str]]:
    """Name files or directories whose changes must restart the program.

    When: once per application start, in the ``startup`` of an application whose
    ``autoreload`` setting is on (``debug=True`` turns it on). A directory is watched
    with everything below it; a file is watched even if it does not exist yet.

    Sync or async: sync only.

    Results: collect -- each implementation returns a list of paths (relative paths
    are taken from the current directory); all of them are watched.
    """
    raise NotImplementedError


@hookspec
def autoreload_before_reload(app: Any) -> None:
    """Prepare for a restart: flush state to disk, say goodbye to clients.

    When: a watched file changed, on the application's event loop, while the
    application still serves -- before its servers stop and before the ``shutdown``
    hooks and the reload hooks (``add_reload_hook``) run. The program is then started
    again in place of this one.

    Sync or async: either; each result is awaited before the next implementation runs.
    A failing implementation is logged and does not stop the restart.

    Results: each -- the return value is ignored.
    """
