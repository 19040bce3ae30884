"""Command-line, environment and config-file options: the ``tornado.options`` API.

Any module defines the options it needs, at import time, in one global registry::

    from typhoon_options import define, options

    define("port", default=8888, help="port to listen on")
    define("db_hosts", default=["127.0.0.1"], multiple=True, help="database servers")

and the program's entry point reads them once, before using them::

    import typhoon_options

    typhoon_options.parse_config_file("/etc/myapp.toml", final=False)
    typhoon_options.parse_command_line()
    app.listen(options.port)

Values come from four sources with a fixed precedence, whatever order they are read
in: the default, then a config file (Python as in Tornado, or TOML), then environment
variables ``TYPHOON_<NAME>``, then the command line (``--name=value``, or a bare
``--flag`` for booleans). Every setting a plugin declares through ``register_settings``
can become an option too (:func:`define_settings`); the plugin's ``configure`` hook
copies the values set for them into ``app.settings``.

:data:`options` is an :class:`OptionParser`, and the module functions call its methods;
make more ``OptionParser`` instances for isolated sets of options. The logging options
of ``tornado.log`` (``--logging``, ``--log_file_prefix``, ...) are defined on
:data:`options`, and a final parse configures logging through
:func:`typhoon.log.enable_pretty_logging` (``--logging=none`` leaves logging alone).
"""

from __future__ import annotations

__all__ = [
    "Error",
    "OptionParser",
    "add_parse_callback",
    "define",
    "define_logging_options",
    "define_settings",
    "options",
    "parse_command_line",
    "parse_config_file",
    "parse_environment",
    "print_help",
]

import os
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from typhoon.errors import OptionsError
from typhoon.plugins import PluginManager, Setting

from typhoon_options import _logging, _settings
from typhoon_options._parser import OptionParser

#: Raised for an unknown or duplicate option or a bad value (Tornado's ``options.Error``).
Error = OptionsError

#: The global options registry the module-level functions work on.
options = OptionParser()
_global_options = options


def define(
    name: str,
    default: Any = None,
    type: type[Any] | None = None,
    help: str | None = None,
    metavar: str | None = None,
    multiple: bool = False,
    group: str | None = None,
    callback: Callable[[Any], None] | None = None,
) -> None:
    """Define an option in the global registry; see :meth:`OptionParser.define`."""
    options.define(
        name,
        default=default,
        type=type,
        help=help,
        metavar=metavar,
        multiple=multiple,
        group=group,
        callback=callback,
    )


def parse_command_line(args: list[str] | None = None, final: bool = True) -> list[str]:
    """Parse the global options from the command line; see :meth:`OptionParser.parse_command_line`."""
    return options.parse_command_line(args, final=final)


def parse_config_file(path: str | os.PathLike[str], final: bool = True) -> None:
    """Read the global options from a config file; see :meth:`OptionParser.parse_config_file`."""
    options.parse_config_file(path, final=final)


def parse_environment(environ: Mapping[str, str] | None = None, final: bool = True) -> None:
    """Read the global options from ``TYPHOON_*`` variables; see :meth:`OptionParser.parse_environment`."""
    options.parse_environment(environ, final=final)


def print_help(file: IO[str] | None = None) -> None:
    """Print the global options' help to ``file`` (stderr by default)."""
    options.print_help(file)


def add_parse_callback(callback: Callable[[], None]) -> None:
    """Call ``callback`` after each final parse of the global options."""
    options.add_parse_callback(callback)


def define_logging_options(options: OptionParser | None = None) -> None:
    """Define Tornado's logging options on ``options`` (the global registry by default).

    After each final parse, the options configure the root logger through
    :func:`typhoon.log.enable_pretty_logging`. The global registry has them already.
    """
    _logging.define_logging_options(_global_options if options is None else options)


def define_settings(
    settings: Iterable[Setting] | None = None, parser: OptionParser | None = None
) -> list[str]:
    """Make every plugin :class:`~typhoon.plugins.Setting` an option of ``parser``.

    Call it before parsing the command line so that plugin settings are accepted as
    flags. ``settings`` defaults to what the installed plugins declare (those a
    ``typhoon.plugins.PluginManager`` loads, honouring ``TYPHOON_PLUGINS``); ``parser``
    defaults to the global :data:`options`. Each option is named and typed like its
    setting and grouped under the declaring plugin; names already defined are left
    alone. Returns the names defined now.
    """
    if settings is None:
        settings = PluginManager().collect_settings()
    return _settings.define_settings(settings, options if parser is None else parser)


define_logging_options(options)
