"""main(): run a module's unittest tests from the command line, with readable logging.

Layer 6 (assembly). Imports ``typhoon.log`` and the standard library.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import logging
import sys
import unittest
from typing import Any

from typhoon.log import enable_pretty_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run tests (all of them, or the named modules, classes or methods)."
    )
    parser.add_argument("tests", nargs="*", help="dotted names of tests to run")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    parser.add_argument("-q", "--quiet", action="store_true", help="minimal output")
    parser.add_argument("-f", "--failfast", action="store_true", help="stop at the first failure")
    parser.add_argument("-c", "--catch", action="store_true", help="Ctrl+C waits for the test")
    parser.add_argument("-b", "--buffer", action="store_true", help="hide passing tests' output")
    parser.add_argument(
        "--logging",
        default="info",
        help="log level (debug, info, warning, error, none); default info",
    )
    return parser


def main(argv: list[str] | None = None, **kwargs: Any) -> None:
    """Run tests and exit with their status (for ``if __name__ == "__main__": main()``).

    With test names on the command line, runs those (dotted names such as
    ``package.test_module.Case.test_x``); without, runs the suite returned by a
    function ``all()`` of the ``__main__`` module, as Tornado's ``main`` does.
    ``kwargs`` go to :func:`unittest.main` (``verbosity``, ``exit``, ...).
    """
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.logging.lower() != "none":
        root = logging.getLogger()
        if not root.handlers:
            enable_pretty_logging(_LoggingOptions(args.logging))
        else:
            root.setLevel(getattr(logging, args.logging.upper()))
    if args.verbose:
        kwargs.setdefault("verbosity", 2)
    elif args.quiet:
        kwargs.setdefault("verbosity", 0)
    for flag in ("failfast", "catchbreak", "buffer"):
        option = "catch" if flag == "catchbreak" else flag
        if getattr(args, option):
            kwargs.setdefault(flag, True)
    program = sys.argv[0] if sys.argv else "typhoon.testing"
    if args.tests:
        unittest.main(module=None, argv=[program, *args.tests], **kwargs)
    else:
        unittest.main(defaultTest="all", argv=[program], **kwargs)


class _LoggingOptions:
    """The one option ``enable_pretty_logging`` needs here."""

    def __init__(self, level: str) -> None:
        self.logging = level
