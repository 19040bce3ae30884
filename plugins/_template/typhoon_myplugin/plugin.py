"""The hook implementations of the example plugin.

Each function is marked with ``typhoon.hookimpl`` and named after a hook of
``typhoon.hookspecs``; it may take any subset of the hook's arguments.
"""

from __future__ import annotations

__all__ = ["SERVED_BY", "configure", "prepare_request", "register_settings"]

from typing import Any

from typhoon import hookimpl
from typhoon.errors import ConfigurationError
from typhoon.plugins import Setting

#: The setting that enables the plugin: the value of the ``X-Served-By`` header.
SERVED_BY = Setting(
    name="served_by",
    type=str,
    default="",
    help="value of an X-Served-By response header (empty: no header)",
)


@hookimpl
def register_settings() -> list[Setting]:
    """Declare the plugin's setting (also ``--served_by`` / ``TYPHOON_SERVED_BY``)."""
    return [SERVED_BY]


@hookimpl
def configure(app: Any) -> None:
    """Check the setting once the application's settings are final."""
    value = app.settings.get(SERVED_BY.name, SERVED_BY.default)
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        raise ConfigurationError(f"{SERVED_BY.name} must be a one-line string, not {value!r}")


@hookimpl
def prepare_request(handler: Any) -> None:
    """Add the header to the response of every request, when the setting is non-empty."""
    value = handler.application.settings.get(SERVED_BY.name, SERVED_BY.default)
    if value:
        handler.set_header("X-Served-By", value)
