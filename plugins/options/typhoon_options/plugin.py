"""The ``typhoon`` entry point of the options plugin: its hook implementations.

The plugin is inert unless options are used: when an application is configured, it
copies into ``app.settings`` only the values that a config file, the environment, the
command line or code gave to options named after declared settings.
"""

from __future__ import annotations

__all__ = ["configure"]

from typing import Any

from typhoon import hookimpl

from typhoon_options import options
from typhoon_options._settings import apply_settings, define_settings


@hookimpl(tryfirst=True)
def configure(app: Any) -> None:
    """Fill ``app.settings`` from the options set for declared plugin settings.

    Runs before other plugins' ``configure`` so they see the final values. Settings not
    yet defined as options are defined when the global options have been parsed already
    (so the environment applies to them); keys the application set itself are kept.
    """
    settings = list(app.plugin_manager.collect_settings())
    if options._used:
        define_settings(settings, options)
    apply_settings(settings, options, app.settings)
