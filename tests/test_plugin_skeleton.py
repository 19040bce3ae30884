"""The plugin skeleton in plugins/_template works as shipped: its tests pass, typhoon finds it.

The skeleton is outside the workspace (users copy it), so it is checked here from a copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typhoon.plugins import ENTRY_POINT_GROUP, PluginManager

TEMPLATE = Path(__file__).resolve().parent.parent / "plugins" / "_template"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "typhoon-myplugin"
    shutil.copytree(TEMPLATE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_template_layout() -> None:
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]
    assert project["name"] == "typhoon-myplugin"
    assert project["entry-points"][ENTRY_POINT_GROUP] == {"myplugin": "typhoon_myplugin.plugin"}
    assert (TEMPLATE / "typhoon_myplugin" / "py.typed").is_file()
    assert any((TEMPLATE / "tests").glob("test_*.py"))


def test_template_tests_pass_in_a_copy(copy: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(copy / "tests")],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


@pytest.fixture
def installed(copy: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The copy made importable, with the dist-info its wheel would install."""
    project = tomllib.loads((copy / "pyproject.toml").read_text())["project"]
    info = copy / f"typhoon_myplugin-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [f"{name} = {target}" for name, target in project["entry-points"]["typhoon"].items()]
    (info / "entry_points.txt").write_text("[typhoon]\n" + "\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(copy))
    yield copy
    for name in [m for m in sys.modules if m.startswith("typhoon_myplugin")]:
        del sys.modules[name]


def test_template_is_discovered_through_its_entry_point(installed: Path) -> None:
    pm = PluginManager(environ={"TYPHOON_PLUGINS": "myplugin"})
    pm.check_pending()
    [info] = pm.list_plugins()
    assert (info.name, info.distribution, info.version) == ("myplugin", "typhoon-myplugin", "0.1.0")
    assert info.hooks == ("configure", "prepare_request", "register_settings")
