"""The ``--help`` text: options grouped by the module (or group) that defined them."""

from __future__ import annotations

__all__ = ["format_help"]

import os
import textwrap
from collections.abc import Iterable

from typhoon_options._option import Option, normalize_name
from typhoon_options._types import is_integer_type

# Layout of one option entry: the flag in a column 33 characters wide after a two-space
# indent, the description wrapped to what is left of a 79-character line.
_INDENT = 2
_FLAG_WIDTH = 32
_DESCRIPTION_COLUMN = _INDENT + _FLAG_WIDTH + 1
_LINE_WIDTH = 79


def _metavar(option: Option) -> str:
    if option.metavar:
        return option.metavar
    if option.type is bool and not option.multiple:
        return ""
    name = getattr(option.type, "__name__", "value").upper()
    if option.multiple:
        return (
            f"{name}[,{name}...]" if not is_integer_type(option.type) else f"{name}[:{name}][,...]"
        )
    return name


def _default_text(option: Option) -> str:
    default = option.default
    if default is None or default == "" or default == []:
        return ""
    if option.multiple:
        return ",".join(str(item) for item in default)
    return str(default)


def _option_lines(option: Option) -> list[str]:
    flag = "--" + normalize_name(option.name)
    metavar = _metavar(option)
    if metavar:
        flag += "=" + metavar
    description = option.help or ""
    default = _default_text(option)
    if default:
        description = f"{description} (default {default})".strip()
    wrapped = textwrap.wrap(description, _LINE_WIDTH - _DESCRIPTION_COLUMN)
    head = " " * _INDENT + flag
    lines: list[str] = []
    if len(flag) >= _FLAG_WIDTH or not wrapped:
        lines.append(head)
    else:
        lines.append(head.ljust(_DESCRIPTION_COLUMN) + wrapped.pop(0))
    lines.extend(" " * _DESCRIPTION_COLUMN + line for line in wrapped)
    return lines


def _group_title(group: str) -> str:
    # Groups that default to the defining module's file show its normalised path.
    if os.sep in group or group.endswith(".py"):
        return os.path.normpath(group)
    return group


def format_help(prog: str, options: Iterable[Option], env_prefix: str | None) -> str:
    """Render the usage text for ``options``: ungrouped ones first, then by group name."""
    by_group: dict[str, list[Option]] = {}
    for option in options:
        by_group.setdefault(option.group_name, []).append(option)
    lines = [f"Usage: {prog} [OPTIONS]", "", "Options:", ""]
    for group in sorted(by_group):
        if group:
            lines.extend(["", f"{_group_title(group)} options:", ""])
        for option in sorted(by_group[group], key=lambda item: normalize_name(item.name)):
            lines.extend(_option_lines(option))
    if env_prefix:
        lines.append("")
        lines.extend(
            textwrap.wrap(
                f"Every option can also be set with the environment variable "
                f"{env_prefix}<NAME> (the name in upper case, '-' written as '_'); "
                "the command line overrides the environment, which overrides config files.",
                _LINE_WIDTH,
            )
        )
    return "\n".join(lines) + "\n"
