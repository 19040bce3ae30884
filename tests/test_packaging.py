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


#: Run inside a fresh environment holding the core wheel (argv[1]: the compiled module names
#: as JSON): where each compiled module was loaded from, and one request served over a
#: loopback socket by the compiled HTTP server.
COMPILED_CHECK = """
import importlib, json, sys, urllib.request
from typhoon.httpserver import HTTPServer
from typhoon.httputil import HTTPHeaders, ResponseStartLine
from typhoon.ioloop import IOLoop
from typhoon.netutil import bind_sockets

names = json.loads(sys.argv[1])
suffixes = {name: importlib.import_module(name).__file__.rsplit(".", 1)[-1] for name in names}

def hello(request):
    body = b"hello " + request.path.encode()
    headers = HTTPHeaders({"Content-Length": str(len(body))})
    request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body)
    request.connection.finish()

[sock] = bind_sockets(0, "127.0.0.1")
url = f"http://127.0.0.1:{sock.getsockname()[1]}/x"

async def main():
    server = HTTPServer(hello)
    server.add_sockets([sock])
    fetch = lambda: urllib.request.urlopen(url, timeout=10).read()
    answer = await IOLoop.current().run_in_executor(None, fetch)
    server.stop()
    return answer.decode()

answer = IOLoop.current().run_sync(main, timeout=30)
print(json.dumps({"suffixes": suffixes, "answer": answer}))
"""


def compiled_modules_in(wheel: Path) -> list[str]:
    """The dotted names of the extension modules a wheel carries inside ``typhoon``."""
    with zipfile.ZipFile(wheel) as archive:
        members = archive.namelist()
    return sorted(
        name.split(".", 1)[0].replace("/", ".")
        for name in members
        if name.startswith("typhoon/") and name.endswith(".so")
    )


def test_core_wheel_ships_compiled_request_path_modules(tmp_path: Path, wheelhouse: Path) -> None:
    if os.environ.get("TYPHOON_PURE_PYTHON") == "1":
        pytest.skip("TYPHOON_PURE_PYTHON=1 builds a pure-Python wheel")
    [wheel] = wheelhouse.glob("typhoon-[0-9]*.whl")
    assert not wheel.name.endswith("-none-any.whl"), wheel.name
    bindir = new_venv(tmp_path / "venv")
    env = isolated_env()
    install = ["install", "--no-index", "--find-links", wheelhouse, "typhoon"]
    run([bindir / "python", "-m", "pip", *install], env=env, cwd=tmp_path)
    names = compiled_modules_in(wheel)
    assert {"typhoon.http1proto", "typhoon._h1wire"} <= set(names), names
    check = [bindir / "python", "-c", COMPILED_CHECK, json.dumps(names)]
    report = json.loads(run(check, env=env, cwd=tmp_path))
    assert report["answer"] == "hello /x"
    assert report["suffixes"] == dict.fromkeys(names, "so"), report
