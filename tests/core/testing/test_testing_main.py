"""typhoon.testing.main: the ``all()`` suite of ``__main__``, or the tests named."""

from __future__ import annotations

import logging
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from typhoon.testing import main

SOURCE = textwrap.dedent(
    """
    import unittest

    from typhoon.testing import AsyncTestCase, gen_test

    class Case(AsyncTestCase):
        @gen_test
        async def test_ok(self):
            pass

        def test_broken(self):
            raise AssertionError("broken on purpose")

    def all():
        return unittest.defaultTestLoader.loadTestsFromTestCase(Case)
    """
)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "scratch_tests.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    root = logging.getLogger()
    level = root.level
    yield "scratch_tests"
    root.setLevel(level)
    sys.modules.pop("scratch_tests", None)


def exit_code(argv: list[str]) -> object:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


def test_runs_the_all_suite_of_main(
    scratch: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = types.ModuleType("__main__")
    exec(compile(SOURCE, "scratch", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, "__main__", module)
    assert exit_code(["--logging=none"]) == 1
    err = capsys.readouterr().err
    assert "Ran 2 tests" in err
    assert "broken on purpose" in err


def test_runs_the_named_tests(scratch: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["--logging=none", "-v", f"{scratch}.Case.test_ok"]) == 0
    err = capsys.readouterr().err
    assert "Ran 1 test" in err
    assert "test_ok" in err


def test_failfast_and_logging_level(scratch: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["--logging=warning", "-f", "-q", f"{scratch}.Case"]) == 1
    assert logging.getLogger().level == logging.WARNING
    assert "Ran 1 test" in capsys.readouterr().err  # stopped at the first failure
