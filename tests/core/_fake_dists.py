"""Fake installed distributions with ``typhoon`` entry points, for discovery tests.

Each distribution is a ``*.dist-info`` directory (METADATA and entry_points.txt) next to
a one-file module, in a directory put first on ``sys.path``: exactly what
``importlib.metadata`` reads for a real installation.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

from typhoon.plugins import ENTRY_POINT_GROUP

_counter = itertools.count()


class Site:
    """A directory on sys.path holding fake installed distributions with entry points."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def add(self, dist: str, entry_point: str, source: str, version: str = "1.0") -> str:
        """Install distribution ``dist`` whose ``typhoon`` entry point loads ``source``.

        Returns the name of the generated module (unique per call).
        """
        module = f"typhoon_fake_{next(_counter)}"
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_point} = {module}\n")
        self.modules.append(module)
        return module
