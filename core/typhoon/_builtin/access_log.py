"""Built-in plugin: the access log, installed as the application's ``log_function``.

Layer 6 (assembly). Imports ``typhoon.hookimpl`` and ``typhoon.log``.

At ``configure`` it fills in the ``log_function`` setting (unless the application set
one), so ``Application.log_request`` calls it once per finished request: one line on
the ``typhoon.access`` logger -- successes at INFO, client errors at WARNING, server
errors at ERROR. Installing it as the setting, not as a ``request_finished`` hook,
keeps the per-request cost at a single call.
"""

from __future__ import annotations

__all__ = ["configure", "log_access"]

import logging
from typing import Any

from typhoon import hookimpl
from typhoon.log import access_log

# Bound here: CPython 3.11 compiles ``name.method()`` on a name bound by an import as
# an attribute load it cannot specialise (it assumes the name is a module).
_is_enabled_for = access_log.isEnabledFor


def log_access(handler: Any) -> None:
    """Write the access-log line of a finished request: status, summary, milliseconds."""
    status: int = handler.get_status()
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if _is_enabled_for(level):
        access_log.log(
            level,
            "%d %s %.2fms",
            status,
            handler._request_summary(),
            1000.0 * handler.request.request_time(),
        )


@hookimpl
def configure(app: Any) -> None:
    """Make :func:`log_access` the ``log_function`` unless the application chose one."""
    if app.settings.get("log_function") is None:
        app.settings["log_function"] = log_access
