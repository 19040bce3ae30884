"""The plugin manager: discovery, registration and typhoon's own hook callers.

Plugins are found through the ``typhoon`` entry-point group (or passed explicitly),
registered with a pluggy manager for the ``typhoon`` project, and called through the
callers defined here, which know how to await implementations written as coroutines.
"""

from __future__ import annotations

__all__ = ["Setting"]

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """A typed setting a plugin declares from its ``register_settings`` hook.

    The application merges declared settings with the values the user passes; the options
    plugin turns each one into a command-line flag and reads it from the environment
    variable :attr:`env_var`.
    """

    #: The key in ``app.settings`` (and the flag name, ``--<name>``).
    name: str
    #: The value's type; values from the command line or environment are parsed to it.
    type: type[Any]
    #: The value used when nobody sets it.
    default: Any = None
    #: One line for ``--help`` output and the docs.
    help: str = ""
    #: The name of the plugin that declared it (filled in by the manager when missing).
    plugin: str | None = None

    @property
    def env_var(self) -> str:
        """The environment variable that sets this value: ``TYPHOON_<NAME>``."""
        return "TYPHOON_" + self.name.upper()
