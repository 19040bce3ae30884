"""``python -m typhoon_autoreload``: run a program and run it again after every change.

The program runs in this interpreter (as ``python script.py`` or ``python -m module``
would run it) with file watching already started, so every module it imports is
watched, including modules whose import failed. When it ends -- normally, with
``sys.exit``, or with an exception such as a ``SyntaxError`` in a module it imports --
the runner reports how it ended and waits for the next change instead of exiting.
Each restart goes through the runner again, so a broken edit never ends the session.
"""

from __future__ import annotations

__all__ = ["USAGE", "main"]

import importlib.util
import os
import runpy
import sys
import traceback
from collections.abc import Sequence

from typhoon_autoreload._reloader import RELOADER

#: The command-line synopsis.
USAGE = "usage: python -m typhoon_autoreload [--until-success] [-m module | script.py] [args ...]"

_NAME = "typhoon_autoreload"


def _say(message: str) -> None:
    sys.stderr.write(f"{_NAME}: {message}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``script.py`` or ``-m module`` with ``args``; restart it when a file changes.

    ``argv`` defaults to ``sys.argv[1:]``. With ``--until-success`` first, the runner
    exits (status 0) as soon as a run of the program succeeds, instead of waiting:
    test runners use it to run until the tests pass. Returns for a usage error
    (status 2), ``--help`` (status 0), that success, or Ctrl+C while waiting (status
    130); otherwise the runner waits for a change and starts the whole command again
    in place of this process.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    until_success = bool(args) and args[0] == "--until-success"
    if until_success:
        args.pop(0)
    if args[:1] in (["-h"], ["--help"]):
        sys.stdout.write(USAGE + "\n")
        return 0
    if not args or args == ["-m"]:
        sys.stderr.write(USAGE + "\n")
        return 2
    if args[0] == "-m":
        module, script, program_args = args[1], None, args[2:]
    else:
        module, script, program_args = None, args[0], args[1:]
    RELOADER.start()
    succeeded = False
    try:
        if script is not None:
            _run_script(script, program_args)
        else:
            assert module is not None
            _run_module(module, program_args)
    except SystemExit as exc:
        succeeded = exc.code in (0, None)
        ending = "normally" if succeeded else f"with status {exc.code!r}"
    except Exception as exc:
        traceback.print_exc()
        RELOADER.watch_exception(exc)
        ending = "with an uncaught exception"
    else:
        succeeded, ending = True, "normally"
    if succeeded and until_success:
        _say("program exited normally")
        return 0
    _say(f"program exited {ending}; waiting for a file to change")
    try:
        RELOADER.wait()
    except KeyboardInterrupt:
        return 130  # interrupted while waiting: end quietly, as the shell expects
    return 0  # not reached: wait() restarts the program


def _run_script(script: str, args: list[str]) -> None:
    path = os.path.abspath(script)
    RELOADER.watch(path)
    sys.argv = [script, *args]
    # As ``python script.py`` would: the script's directory comes first on the path.
    sys.path[0] = os.path.dirname(path)
    runpy.run_path(path, run_name="__main__")


def _run_module(module: str, args: list[str]) -> None:
    sys.argv = [module, *args]
    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(module + ".__main__")
    except Exception:
        spec = None  # run_module below fails the same way, with a traceback to report
    if spec is not None and spec.origin and os.path.exists(spec.origin):
        RELOADER.watch(spec.origin)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
