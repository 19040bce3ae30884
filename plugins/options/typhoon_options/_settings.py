"""The bridge between plugin settings (``register_settings``) and options.

Each declared setting becomes an option of the same name (flag ``--<name>``, environment
variable ``TYPHOON_<NAME>``, config-file key), grouped under the declaring plugin's name.
When an application is configured, the values those options received from a config
file, the environment, the command line or code are copied into ``app.settings``
unless the application set the key itself.
"""

from __future__ import annotations

__all__ = ["DEFAULT_GROUP", "apply_settings", "define_settings", "flag_type"]

import collections.abc
import types
import typing
from collections.abc import Iterable
from typing import Any

from typhoon.plugins import Setting

from typhoon_options._option import Option, Source
from typhoon_options._parser import OptionParser
from typhoon_options._types import ConversionError, coerce_value

#: The group of settings that name no plugin.
DEFAULT_GROUP = "typhoon"

_LIST_ORIGINS = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.Iterable,
    collections.abc.Collection,
)


def flag_type(annotation: Any) -> tuple[type[Any], bool]:
    """The option type and ``multiple`` flag that represent a setting's declared type.

    ``X | None`` is ``X``; ``list[X]`` (or a tuple, set or sequence of ``X``) is a list
    option of ``X``; a bare ``list`` is a list of ``str``; unions of several types and
    annotations that are not classes (``Any``) are read as ``str``.
    """
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return flag_type(members[0]) if len(members) == 1 else (str, False)
    if origin in _LIST_ORIGINS:
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        element = flag_type(args[0])[0] if args else str
        return element, True
    if annotation in _LIST_ORIGINS:
        return str, True
    if not isinstance(annotation, type) or annotation in (object, Any):
        return str, False
    return annotation, False


def define_settings(settings: Iterable[Setting], parser: OptionParser) -> list[str]:
    """Define an option for every setting that ``parser`` does not have yet.

    An option already defined under the same name (by the application, say) is kept as
    it is. A default that does not fit the setting's own type is left out of the option
    (its help shows no default) rather than refused, since only values that someone
    actually sets are ever copied into ``app.settings``. When ``parser`` has parsed
    anything already, the environment is read for the new options.

    Returns:
        The names of the options defined now.
    """
    defined: list[str] = []
    for setting in settings:
        if setting.name in parser:
            continue
        option_type, multiple = flag_type(setting.type)
        default = setting.default
        try:
            coerce_value(default, option_type, multiple)
        except ConversionError:
            default = None
        group = setting.plugin or DEFAULT_GROUP
        parser._add(
            Option(
                setting.name,
                default=default,
                type=option_type,
                help=setting.help or None,
                metavar=None,
                multiple=multiple,
                # Shown by a later clashing define(): "already defined in settings of ...".
                file_name=f"settings of plugin {group!r}",
                group_name=group,
                callback=None,
            )
        )
        defined.append(setting.name)
    if defined:
        parser._refresh_environment()
    return defined


def _is_default(value: Any, default: Any) -> bool:
    return value is default or bool(value == default)


def apply_settings(
    settings: Iterable[Setting], parser: OptionParser, target: dict[str, Any]
) -> dict[str, Any]:
    """Copy set option values of ``settings`` into ``target`` (an ``app.settings`` dict).

    A value is copied when its option got it from a config file, the environment, the
    command line or code (never a mere default), and ``target`` either lacks the key or
    holds the setting's declared default there (which is what the application fills in
    for keys the user did not pass).

    Returns:
        The keys and values copied.
    """
    applied: dict[str, Any] = {}
    for setting in settings:
        option = parser._find(setting.name)
        if option is None or option.source is Source.DEFAULT:
            continue
        if setting.name in target and not _is_default(target[setting.name], setting.default):
            continue
        target[setting.name] = applied[setting.name] = option.value()
    return applied
