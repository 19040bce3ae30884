"""MkDocs hook: one API reference page per public module, generated at build time.

A public module is a module of the core package ``typhoon`` or of a plugin package
``plugins/*/typhoon_*`` (not the template) with no ``_``-prefixed part in its dotted
name. Each gets ``api/<module>.md`` holding a mkdocstrings directive, and
``api/index.md`` lists them all, so a new module is documented from its docstrings
without anyone editing the documentation.
"""

from __future__ import annotations

__all__ = ["on_files", "public_modules"]

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parent.parent


def public_modules(root: Path = ROOT) -> list[str]:
    """Dotted names of the public modules of the core and of every plugin package."""
    packages = [root / "core" / "typhoon"]
    packages += sorted(
        path
        for path in (root / "plugins").glob("*/typhoon_*")
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


def _index(modules: list[str]) -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings of every public module: the core package",
        "`typhoon`, then the official plugins.",
        "",
    ]
    lines += [f"- [`{module}`]({module}.md)" for module in modules]
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: Any) -> Files:
    """Add the generated API pages to the site's files."""
    modules = public_modules()
    files.append(File.generated(config, "api/index.md", content=_index(modules)))
    for module in modules:
        page = f"# `{module}`\n\n::: {module}\n"
        files.append(
            File.generated(
                config, f"api/{module}.md", content=page, inclusion=InclusionLevel.NOT_IN_NAV
            )
        )
    return files
