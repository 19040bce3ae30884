"""Which build of typhoon the suite runs on.

``scripts/test`` runs the suite twice: on the pure-Python sources
(``TYPHOON_EXPECT_COMPILED=0``) and on the copy whose request-path modules are compiled
with mypyc (``TYPHOON_EXPECT_COMPILED=1``, ``core/build_native.py``). This checks that each
run really ran on the build it was meant for.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = os.environ.get("TYPHOON_EXPECT_COMPILED")


def _compiled_modules() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("build_native", ROOT / "core" / "build_native.py")
    assert spec is not None
    assert spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    modules: tuple[str, ...] = builder.COMPILED_MODULES
    return modules


@pytest.mark.skipif(EXPECTED is None, reason="TYPHOON_EXPECT_COMPILED is not set")
@pytest.mark.parametrize("path", _compiled_modules())
def test_module_is_loaded_from_the_expected_build(path: str) -> None:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert module.__file__ is not None
    compiled = not module.__file__.endswith(".py")
    assert compiled == (EXPECTED == "1"), module.__file__
