"""The documentation's code samples run, and the documentation covers the public API.

Every fenced block marked ```` ```python ```` in ``docs/**/*.md`` is a complete program:
it is run alone, in a fresh interpreter with warnings as errors, in an empty directory,
and must exit with status 0 within a deadline. Samples that serve listen on port 0 and
stop by themselves. Blocks meant only to be read use another language tag (``text``,
``toml``, ``console``, ``nginx``, ``ini``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_meta import MODULES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Seconds one sample may run.
SAMPLE_DEADLINE = 60.0
API_HOOK = ROOT / "scripts" / "docs_api_pages.py"

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def samples() -> list[tuple[str, str]]:
    """(``page:line``, code) for every python block of the documentation."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{page.relative_to(DOCS)}:{line}", match.group(1)))
    return found


SAMPLES = samples()


def test_the_documentation_has_samples() -> None:
    assert len(SAMPLES) >= 20
    pages = {where.split(":")[0] for where, _ in SAMPLES}
    assert {"getting-started.md", "porting.md", "plugins/writing.md"} <= pages


@pytest.mark.parametrize(("where", "code"), SAMPLES, ids=[where for where, _ in SAMPLES])
def test_sample_runs(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "sample.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SAMPLE_DEADLINE,
        check=False,
        env={**os.environ, "TYPHOON_PLUGINS": ""},
    )
    assert result.returncode == 0, f"{where}\n{result.stdout}\n{result.stderr}"


def test_every_public_module_gets_an_api_page() -> None:
    # The pages are generated at build time by this hook; it must see the same
    # public modules as the meta-tests.
    spec = importlib.util.spec_from_file_location("docs_api_pages", API_HOOK)
    assert spec is not None
    assert spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert hook.public_modules() == MODULES
    assert "scripts/docs_api_pages.py" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_every_page_is_in_the_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.rglob("*.md"):
        name = page.relative_to(DOCS).as_posix()
        assert f" {name}\n" in config or f": {name}\n" in config, f"{name} not in nav"


def test_the_deployment_guide_shows_the_tested_configuration() -> None:
    guide = (DOCS / "deployment.md").read_text(encoding="utf-8")
    assert '--8<-- "docs/deployment/nginx.conf"' in guide
    assert '--8<-- "docs/deployment/typhoon@.service"' in guide
