"""One defined option: its definition and its value from each source, by precedence.

An option keeps the value each source gave it (config file, environment, command line
or code) side by side, so the effective value follows a fixed precedence
``default < config file < environment < command line`` whatever order the sources are
read in. An assignment in code shares the command line's rank; between those two the
later one wins, as in Tornado.
"""

from __future__ import annotations

__all__ = ["Option", "Snapshot", "Source", "normalize_name"]

import enum
from collections.abc import Callable
from typing import Any, TypeAlias

from typhoon.errors import OptionsError

from typhoon_options._types import ConversionError, check_value, coerce_value, parse_text


class Source(enum.IntEnum):
    """Where a value came from; a higher source overrides a lower one."""

    DEFAULT = 0
    CONFIG = 1
    ENVIRONMENT = 2
    COMMAND_LINE = 3


#: What a snapshot of an option's sources holds (see :meth:`Option.snapshot`).
Snapshot: TypeAlias = tuple[dict[Source, tuple[Any, str]], str | None]


def normalize_name(name: str) -> str:
    """The canonical spelling of an option name: underscores and dashes are the same."""
    return name.replace("_", "-")


class Option:
    """A defined option (Tornado's ``_Option``): definition plus values by source.

    ``name`` is the name as defined; ``group_name`` groups it in help output and
    :meth:`OptionParser.group_dict`; ``file_name`` is the module that defined it.
    """

    def __init__(
        self,
        name: str,
        *,
        default: Any,
        type: type[Any],
        help: str | None,
        metavar: str | None,
        multiple: bool,
        file_name: str,
        group_name: str,
        callback: Callable[[Any], None] | None,
    ) -> None:
        self.name = name
        self.type = type
        self.help = help
        self.metavar = metavar
        self.multiple = multiple
        self.file_name = file_name
        self.group_name = group_name
        self.callback = callback
        self.default = self._convert(default, coerce_value, "the default")
        self._layers: dict[Source, tuple[Any, str]] = {}
        # The raw environment text last applied, so re-reading the same text is a no-op.
        self.environment_text: str | None = None

    # --- reading ---------------------------------------------------------------------

    @property
    def source(self) -> Source:
        """The source of the effective value (``Source.DEFAULT`` when nobody set it)."""
        return max(self._layers, default=Source.DEFAULT)

    @property
    def origin(self) -> str:
        """A readable account of where the effective value came from."""
        if not self._layers:
            return "default"
        return self._layers[self.source][1]

    def value(self) -> Any:
        """The effective value: the one from the highest source that set it."""
        if not self._layers:
            return self.default
        return self._layers[self.source][0]

    # --- writing ---------------------------------------------------------------------

    def parse(self, text: str, source: Source = Source.COMMAND_LINE, origin: str = "") -> Any:
        """Parse command-line style ``text`` and record it as ``source``'s value.

        Raises:
            OptionsError: ``text`` does not fit the option's type.
        """
        origin = origin or "command line"
        value = self._convert(text, parse_text, origin)
        self._store(value, source, origin)
        return value

    def set(self, value: Any, source: Source = Source.COMMAND_LINE, origin: str = "code") -> None:
        """Record ``value``, which must already have the option's type, as ``source``'s value.

        Raises:
            OptionsError: ``value`` has another type.
        """
        self._store(self._convert(value, check_value, origin), source, origin)

    def accept(self, value: Any, origin: str) -> Any:
        """Convert a config-file value (the final type or text) without storing it.

        Raises:
            OptionsError: ``value`` fits neither form.
        """
        return self._convert(value, coerce_value, origin)

    def store(self, value: Any, source: Source, origin: str) -> None:
        """Record an already converted ``value`` (from :meth:`accept`) as ``source``'s."""
        self._store(value, source, origin)

    def clear(self, source: Source) -> None:
        """Forget ``source``'s value, falling back to the next source down."""
        if source not in self._layers:
            return
        was_effective = self.source == source
        before = self.snapshot()
        del self._layers[source]
        if was_effective:
            self._notify(before)

    def snapshot(self) -> Snapshot:
        """Everything the sources set, for :meth:`restore` (used by ``mockable``)."""
        return dict(self._layers), self.environment_text

    def restore(self, snapshot: Snapshot) -> None:
        """Put back the sources' values from :meth:`snapshot` and announce the value."""
        before = self.snapshot()
        layers, environment_text = snapshot
        self._layers = dict(layers)
        self.environment_text = environment_text
        self._notify(before)

    # --- internals -------------------------------------------------------------------

    def _convert(
        self, value: Any, converter: Callable[[Any, type[Any], bool], Any], origin: str
    ) -> Any:
        try:
            return converter(value, self.type, self.multiple)
        except ConversionError as exc:
            raise OptionsError(f"Bad value for option {self.name!r} ({origin}): {exc}") from None

    def _store(self, value: Any, source: Source, origin: str) -> None:
        before = self.snapshot()
        self._layers[source] = (value, origin)
        if source == self.source:
            self._notify(before)

    def _notify(self, before: Snapshot) -> None:
        """Run the option's callback on the effective value; undo the change if it refuses."""
        if self.callback is None:
            return
        try:
            self.callback(self.value())
        except BaseException:
            self._layers, self.environment_text = before
            raise
