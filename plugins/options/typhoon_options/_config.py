"""Reading config files: Python files as in Tornado, and TOML files.

A Python config file is executed and its global names become option values (names
that are not options are ignored, so the file may import modules and define helpers).
A ``.toml`` file is data only: its top-level keys are option names, and a table
(``[server]``) groups option names under a heading; a key that names no option is an
error there, since it can only be a typo.
"""

from __future__ import annotations

__all__ = ["ConfigValues", "load_config"]

import os
import tomllib
from dataclasses import dataclass
from typing import Any

from typhoon.errors import OptionsError


@dataclass(frozen=True)
class ConfigValues:
    """The values a config file sets, and whether unknown names are errors."""

    #: Option name (as written in the file) to value.
    values: dict[str, Any]
    #: True for data-only formats, where a name that is not an option is a mistake.
    strict: bool
    #: The file, for messages.
    path: str


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise OptionsError(f"Cannot read config file {path}: {exc.strerror or exc}") from exc


def _load_python(path: str) -> ConfigValues:
    source = _read_bytes(path)
    namespace: dict[str, Any] = {"__file__": os.path.abspath(path)}
    try:
        code = compile(source, path, "exec")
        exec(code, namespace)
    except Exception as exc:
        raise OptionsError(f"Error in config file {path}: {type(exc).__name__}: {exc}") from exc
    values = {
        name: value
        for name, value in namespace.items()
        if not (name.startswith("__") and name.endswith("__"))
    }
    return ConfigValues(values, strict=False, path=path)


def _load_toml(path: str) -> ConfigValues:
    source = _read_bytes(path)
    try:
        document = tomllib.loads(source.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise OptionsError(f"Error in config file {path}: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in document.items():
        if not isinstance(value, dict):
            _add(values, key, value, path)
            continue
        for inner_key, inner_value in value.items():
            if isinstance(inner_value, dict):
                raise OptionsError(
                    f"Error in config file {path}: [{key}.{inner_key}] is nested too deep; "
                    "tables may only group options one level down"
                )
            _add(values, inner_key, inner_value, path)
    return ConfigValues(values, strict=True, path=path)


def _add(values: dict[str, Any], key: str, value: Any, path: str) -> None:
    if key in values:
        raise OptionsError(f"Error in config file {path}: option {key!r} is set twice")
    values[key] = value


def load_config(path: str | os.PathLike[str]) -> ConfigValues:
    """Read the config file at ``path``: TOML when its name ends in ``.toml``, else Python.

    Raises:
        OptionsError: the file cannot be read, or it fails to parse or run.
    """
    text_path = os.fspath(path)
    if text_path.lower().endswith(".toml"):
        return _load_toml(text_path)
    return _load_python(text_path)
