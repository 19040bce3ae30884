"""Checks on the project itself: hook specs are documented and tested, modules stand alone.

* every hook spec has a docstring saying when it runs, sync/async and how results combine;
* every hook spec is referenced by at least one test;
* every hook spec has an entry in docs/plugins/hooks.md with the same parameters;
* every public module imports alone in a fresh interpreter with warnings as errors;
* every public module has ``__all__`` and every name in it exists.
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typhoon import hookspecs

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
HOOKS_DOC = ROOT / "docs" / "plugins" / "hooks.md"

SPECS: dict[str, Callable[..., Any]] = {
    name: value
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and hasattr(value, "typhoon_spec")
}


def public_modules() -> list[str]:
    """Dotted names of the public modules of the core and of every plugin distribution."""
    packages = [ROOT / "core" / "typhoon"]
    packages += sorted(
        path
        for path in (ROOT / "plugins").glob("*/typhoon_*")
        if path.is_dir() and path.parent.name != "_template"
    )
    names = []
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            parts = list(path.relative_to(package.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts[-1] == "__main__" or any(part.startswith("_") for part in parts):
                continue
            names.append(".".join(parts))
    return names


MODULES = public_modules()


def test_the_design_hooks_are_all_specified() -> None:
    assert set(SPECS) == {
        "register_hookspecs",
        "register_settings",
        "configure",
        "register_awaitable_adapters",
        "register_routes",
        "register_output_transforms",
        "register_template_helpers",
        "register_template_paths",
        "register_commands",
        "prepare_event_loop",
        "startup",
        "shutdown",
        "resolve_current_user",
        "prepare_request",
        "prepare_template_namespace",
        "handle_exception",
        "request_finished",
    }


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_spec_docstring_says_when_how_and_combination(name: str) -> None:
    doc = inspect.getdoc(SPECS[name]) or ""
    for section in ("When:", "Sync or async:", "Results:"):
        assert section in doc, f"{name}: docstring lacks {section!r}"
    assert name in hookspecs.__all__


def _test_sources() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for path in TESTS.rglob("test_*.py")
        if path.resolve() != Path(__file__).resolve()
    )


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_spec_is_referenced_by_a_test(name: str) -> None:
    assert re.search(rf"\b{name}\b", _test_sources()), f"no test mentions hook {name!r}"


def _documented_signatures() -> dict[str, list[str]]:
    text = HOOKS_DOC.read_text(encoding="utf-8")
    entries: dict[str, list[str]] = {}
    for match in re.finditer(r"^### `(\w+)\(([^)]*)\)`\s*$", text, re.MULTILINE):
        name, params = match.group(1), match.group(2)
        assert name not in entries, f"{name} documented twice"
        entries[name] = [p.strip() for p in params.split(",") if p.strip()]
    return entries


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_spec_is_documented_with_its_signature(name: str) -> None:
    documented = _documented_signatures()
    assert name in documented, f"docs/plugins/hooks.md has no entry for {name}"
    assert documented[name] == list(inspect.signature(SPECS[name]).parameters)


def test_docs_describe_no_hook_that_does_not_exist() -> None:
    assert set(_documented_signatures()) <= set(SPECS)


def test_module_discovery_finds_the_core() -> None:
    assert {"typhoon", "typhoon.errors", "typhoon.hookspecs", "typhoon.plugins"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone_with_warnings_as_errors(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", MODULES)
def test_module_all_names_exist(module: str) -> None:
    imported = importlib.import_module(module)
    exported = getattr(imported, "__all__", None)
    assert isinstance(exported, list | tuple), f"{module} has no __all__"
    assert all(isinstance(name, str) for name in exported)
    missing = [name for name in exported if not hasattr(imported, name)]
    assert not missing, f"{module}.__all__ names missing objects: {missing}"
    assert len(set(exported)) == len(exported), f"{module}.__all__ has duplicates"
