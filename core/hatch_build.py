"""The wheel's build hook: ships mypyc-compiled request-path modules (see build_native.py).

Editable installs stay pure Python, so an edited source file is what runs. A regular wheel
carries the compiled modules next to their sources unless ``TYPHOON_PURE_PYTHON=1`` is set;
if compiling fails (no C compiler, say) the build goes on as a pure-Python wheel and says so.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _load_builder() -> Any:
    path = Path(__file__).resolve().parent / "build_native.py"
    spec = importlib.util.spec_from_file_location("typhoon_build_native", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CompiledModulesHook(BuildHookInterface):  # type: ignore[misc]
    """Adds the compiled extension modules to a (non-editable) wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        builder = _load_builder()
        if version == "editable" or os.environ.get(builder.PURE_PYTHON_VARIABLE) == "1":
            return
        self._output = tempfile.TemporaryDirectory(prefix="typhoon-wheel-")
        output = Path(self._output.name)
        try:
            written = builder.build_extensions(Path(self.root), output)
        except Exception as exc:  # any build failure: fall back to pure Python
            self.app.display_warning(
                f"typhoon: compiling the request-path modules failed ({exc!r}); "
                "building a pure-Python wheel"
            )
            return
        for path in written:
            build_data["force_include"][str(path)] = path.relative_to(output).as_posix()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        output = getattr(self, "_output", None)
        if output is not None:
            output.cleanup()
