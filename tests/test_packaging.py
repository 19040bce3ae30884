"""The extras mechanism, proven on real wheels rather than the editable development install.

Wheels of every workspace distribution are built into a temporary wheelhouse together with
their third-party dependencies; fresh virtual environments then install
``typhoon[options]`` and ``typhoon[all]`` from that wheelhouse alone (``--no-index``), and
the installed ``typhoon`` command must list exactly the plugins the extra brings.

Slow (it builds and installs), so it carries the ``packaging`` marker: deselect it with
``-m 'not packaging'``. It runs by default.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
#: Seconds any one build, download or install step may take.
STEP_TIMEOUT = 300


def run(command: Sequence[str | os.PathLike[str]], **kwargs: object) -> str:
    """Run a command; fail the test with its output when it exits non-zero."""
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def workspace_distributions() -> dict[str, Path]:
    """Canonical name -> directory of every distribution in the workspace."""
    plugins = sorted(
        path.parent
        for path in (ROOT / "plugins").glob("*/pyproject.toml")
        if path.parent.name != "_template"
    )
    dirs = [ROOT / "core", *plugins]
    found = {}
    for directory in dirs:
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        found[canonicalize_name(project["name"])] = directory
    return found


def core_extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return extras


def plugin_of(distribution_dir: Path) -> str:
    """The entry-point name a plugin distribution registers in the ``typhoon`` group."""
    project = tomllib.loads((distribution_dir / "pyproject.toml").read_text())["project"]
    [name] = project["entry-points"]["typhoon"]
    return str(name)


def new_venv(path: Path) -> Path:
    """Create a virtual environment with pip; return its scripts directory."""
    run([sys.executable, "-m", "venv", path])
    return path / ("Scripts" if os.name == "nt" else "bin")


def build_wheels(wheelhouse: Path, distributions: dict[str, Path], pip: list[str | Path]) -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv:
        run([uv, "build", "--all-packages", "--wheel", "--out-dir", wheelhouse], cwd=ROOT)
    else:
        run([*pip, "wheel", "--no-deps", "-w", wheelhouse, *distributions.values()])


def third_party_requirements(wheelhouse: Path, ours: set[str]) -> list[str]:
    """The unconditional requirements of our wheels that are not our own distributions."""
    requirements = set()
    for wheel in wheelhouse.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            [metadata_name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            metadata = Parser().parsestr(archive.read(metadata_name).decode())
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) in ours:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                requirement.marker = None
                requirements.add(str(requirement))
    return sorted(requirements)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    house = tmp_path_factory.mktemp("wheelhouse")
    # The development environment has no pip: a throwaway one fetches the dependencies.
    tools = new_venv(tmp_path_factory.mktemp("tools") / "venv")
    pip: list[str | Path] = [tools / "python", "-m", "pip"]
    distributions = workspace_distributions()
    build_wheels(house, distributions, pip)
    built = {canonicalize_name(w.name.split("-")[0]) for w in house.glob("*.whl")}
    assert built == set(distributions)
    requirements = third_party_requirements(house, set(distributions))
    assert "pluggy>=1.5" in requirements
    run([*pip, "download", "--only-binary=:all:", "-d", house, *requirements])
    return house


def isolated_env() -> dict[str, str]:
    """The environment minus pip configuration and typhoon switches: only the wheelhouse."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "TYPHOON_", "VIRTUAL_ENV", "UV_", "PYTHON"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def installed_plugins(tmp_path: Path, wheelhouse: Path, target: str) -> list[dict[str, object]]:
    bindir = new_venv(tmp_path / "venv")
    env = isolated_env()
    run(
        [
            bindir / "python",
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            wheelhouse,
            target,
        ],
        env=env,
        cwd=tmp_path,
    )
    listing = run([bindir / "typhoon", "plugins", "--json"], env=env, cwd=tmp_path)
    plugins: list[dict[str, object]] = json.loads(listing)
    return plugins


def test_options_extra_installs_exactly_the_options_plugin(
    tmp_path: Path, wheelhouse: Path
) -> None:
    plugins = installed_plugins(tmp_path, wheelhouse, "typhoon[options]")
    assert [(p["name"], p["distribution"], p["source"]) for p in plugins] == [
        ("options", "typhoon-options", "entrypoint")
    ]
    assert plugins[0]["version"] == "0.1.0"
    assert "configure" in plugins[0]["hooks"]  # type: ignore[operator]


def test_all_extra_installs_every_plugin_distribution(tmp_path: Path, wheelhouse: Path) -> None:
    distributions = workspace_distributions()
    expected = sorted(
        (plugin_of(directory), name)
        for name, directory in distributions.items()
        if name != "typhoon"
    )
    plugins = installed_plugins(tmp_path, wheelhouse, "typhoon[all]")
    assert sorted((p["name"], p["distribution"]) for p in plugins) == expected


def test_every_plugin_distribution_has_an_extra_and_is_in_all() -> None:
    extras = core_extras()
    plugins = {name for name in workspace_distributions() if name != "typhoon"}
    in_all = {canonicalize_name(Requirement(r).name) for r in extras["all"]}
    assert in_all == plugins
    for plugin in plugins:
        extra = plugin.removeprefix("typhoon-")
        assert [canonicalize_name(Requirement(r).name) for r in extras[extra]] == [plugin]
