"""``OptionParser``: a registry of defined options with attribute and item access.

Options are read from four sources whose precedence is fixed, whatever order the
``parse_*`` methods are called in: ``default < config file < environment < command
line``. Assigning in code ranks with the command line (the later of the two wins).
"""

from __future__ import annotations

__all__ = ["OptionParser"]

import difflib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import IO, Any

from typhoon.errors import OptionsError

from typhoon_options._config import load_config
from typhoon_options._help import format_help
from typhoon_options._option import Option, Snapshot, Source, normalize_name

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _defining_file() -> str:
    """The file of the nearest caller outside this package (the module calling ``define``)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            return filename
        frame = frame.f_back
    return ""


def _infer_type(default: Any, multiple: bool) -> type[Any]:
    if multiple:
        if isinstance(default, (list, tuple)) and default and default[0] is not None:
            return type(default[0])
        return str
    if default is None:
        return str
    return type(default)


class OptionParser:
    """A collection of options: a dictionary with attribute access.

    The module-level :data:`typhoon_options.options` is the global instance the module
    functions work on; create more instances for isolated sets of options (for example
    one per subcommand). Read values as ``parser.port`` or ``parser["port"]``; underscores
    and dashes in names are interchangeable.

    Args:
        env_prefix: Environment variables named ``<env_prefix><NAME>`` set options
            (``TYPHOON_PORT`` for ``port``, ``TYPHOON_LOG_FILE_PREFIX`` for
            ``log_file_prefix``); ``None`` turns the environment off for this parser.
    """

    _options: dict[str, Option]
    _parse_callbacks: list[Callable[[], None]]
    _env_prefix: str | None
    _used: bool

    def __init__(self, *, env_prefix: str | None = "TYPHOON_") -> None:
        object.__setattr__(self, "_options", {})
        object.__setattr__(self, "_parse_callbacks", [])
        object.__setattr__(self, "_env_prefix", env_prefix)
        object.__setattr__(self, "_used", False)
        self._add(
            Option(
                "help",
                default=None,
                type=bool,
                help="show this help information",
                metavar=None,
                multiple=False,
                file_name="",
                group_name="",
                callback=None,
            )
        )

    # --- mapping-like access ---------------------------------------------------------

    def _find(self, name: str) -> Option | None:
        options: dict[str, Option] | None = self.__dict__.get("_options")
        if options is None:
            return None
        return options.get(normalize_name(name))

    def __getattr__(self, name: str) -> Any:
        option = self._find(name)
        if option is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        return option.value()

    def __setattr__(self, name: str, value: Any) -> None:
        option = self._find(name)
        if option is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        option.set(value)

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.__setattr__(name, value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalize_name(name) in self._options

    def __iter__(self) -> Iterator[str]:
        return iter([option.name for option in self._options.values()])

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(o.name for o in self._options.values())})

    def items(self) -> list[tuple[str, Any]]:
        """Every option as a ``(name, value)`` pair, in definition order."""
        return [(option.name, option.value()) for option in self._options.values()]

    def groups(self) -> set[str]:
        """The names of all option groups (by default, the files that defined options)."""
        return {option.group_name for option in self._options.values()}

    def group_dict(self, group: str | None) -> dict[str, Any]:
        """The options of ``group`` as a ``{name: value}`` dict (all options when falsy).

        Meant for passing a block of options on, e.g.
        ``Application(handlers, **options.group_dict("application"))``.
        """
        return {
            option.name: option.value()
            for option in self._options.values()
            if not group or option.group_name == group
        }

    def as_dict(self) -> dict[str, Any]:
        """Every option as a ``{name: value}`` dict."""
        return {option.name: option.value() for option in self._options.values()}

    def source_of(self, name: str) -> str:
        """Where the current value of ``name`` came from, for diagnostics.

        One of ``"default"``, ``"config file <path>"``, ``"environment variable
        <VAR>"``, ``"command line"`` or ``"code"``.

        Raises:
            AttributeError: no option has that name.
        """
        option = self._find(name)
        if option is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        return option.origin

    def env_var(self, name: str) -> str | None:
        """The environment variable that sets option ``name`` (``None`` when disabled)."""
        if self._env_prefix is None:
            return None
        return self._env_prefix + normalize_name(name).replace("-", "_").upper()

    # --- defining --------------------------------------------------------------------

    def define(
        self,
        name: str,
        default: Any = None,
        type: type[Any] | None = None,
        help: str | None = None,
        metavar: str | None = None,
        multiple: bool = False,
        group: str | None = None,
        callback: Callable[[Any], None] | None = None,
    ) -> None:
        """Define a new option.

        ``type`` is inferred from ``default`` when omitted (``str`` when both are
        missing; for a list option, from the default's first item). With ``multiple``
        the value is a list, given on the command line as comma-separated items, and
        integer items may be ranges ``lo:hi`` (both ends included). ``help`` and
        ``metavar`` appear in :meth:`print_help`; ``group`` (by default the defining
        module's file) groups options there and for :meth:`group_dict`. ``callback`` is
        called with the new value whenever the option's effective value is set.

        Raises:
            OptionsError: the name is already defined, or ``default`` does not fit
                ``type``.
        """
        existing = self._find(name)
        if existing is not None:
            where = f" in {existing.file_name}" if existing.file_name else ""
            raise OptionsError(f"Option {normalize_name(name)!r} already defined{where}")
        file_name = _defining_file()
        self._add(
            Option(
                name,
                default=default,
                type=type if type is not None else _infer_type(default, multiple),
                help=help,
                metavar=metavar,
                multiple=multiple,
                file_name=file_name,
                group_name=group if group else file_name,
                callback=callback,
            )
        )

    def _add(self, option: Option) -> None:
        self._options[normalize_name(option.name)] = option

    # --- parsing ---------------------------------------------------------------------

    def parse_command_line(self, args: list[str] | None = None, final: bool = True) -> list[str]:
        """Parse options from ``args`` (``sys.argv`` by default; ``args[0]`` is skipped).

        Options are written ``--name=value``; a boolean option may be given as a bare
        ``--name``. Parsing stops at the first argument that does not start with ``-``
        or after ``--``; the arguments left over are returned. ``--help`` prints the
        help and exits. The environment is read too (it ranks below the command line).
        With ``final`` (the default) the parse callbacks run afterwards; pass
        ``final=False`` to every ``parse_*`` call but the last.

        Raises:
            OptionsError: an unknown option, a missing value, or a bad value.
        """
        argv = list(sys.argv if args is None else args)
        self._mark_used()
        self._read_environment(os.environ)
        remaining: list[str] = []
        for index in range(1, len(argv)):
            arg = argv[index]
            if arg == "--":
                remaining = argv[index + 1 :]
                break
            if not arg.startswith("-") or arg == "-":
                remaining = argv[index:]
                break
            name, equals, text = arg.lstrip("-").partition("=")
            option = self._find(name)
            if option is None:
                raise OptionsError(self._unknown_message(name))
            if not equals:
                if option.type is not bool or option.multiple:
                    raise OptionsError(
                        f"Option {normalize_name(name)!r} requires a value: "
                        f"--{normalize_name(name)}=VALUE"
                    )
                text = "true"
            option.parse(text, Source.COMMAND_LINE, "command line")
            if option is self._options["help"] and option.value():
                self.print_help()
                sys.exit(0)
        if final:
            self.run_parse_callbacks()
        return remaining

    def _unknown_message(self, name: str) -> str:
        message = f"Unrecognized command line option: {normalize_name(name)!r}"
        close = difflib.get_close_matches(normalize_name(name), list(self._options), n=1)
        if close:
            message += f" (did you mean --{close[0]}?)"
        return message + "; see --help"

    def parse_config_file(self, path: str | os.PathLike[str], final: bool = True) -> None:
        """Read option values from the config file at ``path``.

        A ``.toml`` file maps option names to values (tables group names one level
        down; an unknown name is an error). Any other file is Python, run with
        ``__file__`` set to its absolute path, whose global names that match options
        become values (other names are ignored). Values may be of the option's type or
        strings in command-line format. Config values rank below the environment and the
        command line, even when read after them.

        Raises:
            OptionsError: the file cannot be read or run, a name is unknown (TOML), or
                a value is bad. Nothing is changed then.
        """
        self._mark_used()
        config = load_config(path)
        origin = f"config file {config.path}"
        accepted: dict[str, tuple[Option, Any]] = {}
        unknown: list[str] = []
        for key, value in config.values.items():
            option = self._find(key)
            if option is None:
                unknown.append(key)
                continue
            canonical = normalize_name(key)
            if canonical in accepted:
                raise OptionsError(f"Error in {origin}: option {canonical!r} is set twice")
            accepted[canonical] = (option, option.accept(value, origin))
        if config.strict and unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise OptionsError(f"Error in {origin}: no option named {names}; see --help")
        for option, value in accepted.values():
            option.store(value, Source.CONFIG, origin)
        self._read_environment(os.environ)
        if final:
            self.run_parse_callbacks()

    def parse_environment(
        self, environ: Mapping[str, str] | None = None, final: bool = True
    ) -> None:
        """Read options from environment variables ``<env_prefix><NAME>``.

        :meth:`parse_command_line` and :meth:`parse_config_file` do this themselves;
        call it directly when neither is used. Values are in command-line format; an
        environment value overrides config files and is overridden by the command line.
        A variable removed since the last read no longer counts.

        Raises:
            OptionsError: a variable holds a bad value; the message names the variable.
        """
        self._mark_used()
        self._read_environment(os.environ if environ is None else environ)
        if final:
            self.run_parse_callbacks()

    def _read_environment(self, environ: Mapping[str, str]) -> None:
        for option in list(self._options.values()):
            variable = self.env_var(option.name)
            if variable is None or option.name == "help":
                continue
            text = environ.get(variable)
            if text is None:
                option.environment_text = None
                option.clear(Source.ENVIRONMENT)
            elif text != option.environment_text:
                option.parse(text, Source.ENVIRONMENT, f"environment variable {variable}")
                option.environment_text = text

    def _refresh_environment(self) -> None:
        """Read the environment again if this parser has parsed anything already.

        For options defined after the first ``parse_*`` call (such as plugin settings
        declared when an application is configured), so they see the environment too.
        """
        if self._used:
            self._read_environment(os.environ)

    def _mark_used(self) -> None:
        object.__setattr__(self, "_used", True)

    # --- help and callbacks ----------------------------------------------------------

    def print_help(self, file: IO[str] | None = None) -> None:
        """Print every option with its help text and default to ``file`` (stderr by default)."""
        prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        out = sys.stderr if file is None else file
        out.write(format_help(prog, self._options.values(), self._env_prefix))

    def add_parse_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (no arguments) each time a final ``parse_*`` call finishes."""
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self) -> None:
        """Call every parse callback, in the order they were added."""
        for callback in list(self._parse_callbacks):
            callback()

    # --- testing ---------------------------------------------------------------------

    def mockable(self) -> _Mockable:
        """A proxy of this parser that works with ``unittest.mock.patch.object``.

        ``mock.patch`` cannot patch this object directly, because options are not
        instance attributes; patching the proxy sets the option and restores its
        previous state (every source's value) when the patch ends::

            with mock.patch.object(options.mockable(), "port", 8888):
                ...
        """
        return _Mockable(self)

    def _snapshot(self, name: str) -> Snapshot:
        option = self._find(name)
        if option is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        return option.snapshot()

    def _restore(self, name: str, snapshot: Snapshot) -> None:
        option = self._find(name)
        if option is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        option.restore(snapshot)


class _Mockable:
    """Attribute proxy of an :class:`OptionParser` that ``mock.patch.object`` can patch."""

    _parser: OptionParser
    _originals: dict[str, Snapshot]

    def __init__(self, parser: OptionParser) -> None:
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_originals", {})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._originals:
            raise OptionsError(
                f"Option {name!r} is already patched through this mockable(); "
                "take a new one from mockable() for each patch"
            )
        self._originals[name] = self._parser._snapshot(name)
        try:
            setattr(self._parser, name, value)
        except BaseException:
            del self._originals[name]
            raise

    def __delattr__(self, name: str) -> None:
        self._parser._restore(name, self._originals.pop(name))
