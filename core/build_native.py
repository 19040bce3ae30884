"""Compiles typhoon's request-path modules to C extension modules with mypyc.

The compiled modules are the same source files, compiled unchanged: every module listed in
:data:`COMPILED_MODULES` works the same whether it is imported from its ``.py`` file or from
the extension module built here (the test suite runs on both). A wheel built by the hatchling
hook in ``hatch_build.py`` ships them next to their sources; without a C compiler, or with
``TYPHOON_PURE_PYTHON=1``, the wheel is pure Python instead.

Run as a script, it builds a compiled copy of the package for the test suite and the
benchmarks, leaving the source tree untouched::

    python core/build_native.py build/compiled   # then PYTHONPATH=build/compiled

The copy is rebuilt only when a source file of the package changed since the last build.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

__all__ = ["COMPILED_MODULES", "PURE_PYTHON_VARIABLE", "build_extensions", "build_tree"]

#: The modules compiled, as paths relative to the distribution root: the HTTP/1.1 protocol
#: (server and client), the server's transport-driven connection, the header fields
#: (``HTTPHeaders``) and the stream buffers.
COMPILED_MODULES: tuple[str, ...] = (
    "typhoon/_buffers.py",
    "typhoon/_headers.py",
    "typhoon/_http1events.py",
    "typhoon/_http1base.py",
    "typhoon/_http1client.py",
    "typhoon/http1proto.py",
    "typhoon/_h1context.py",
    "typhoon/_h1request.py",
    "typhoon/_h1settings.py",
    "typhoon/_h1wire.py",
)

#: Set to ``1`` to build a pure-Python wheel.
PURE_PYTHON_VARIABLE = "TYPHOON_PURE_PYTHON"

#: The shared library holding the compiled code of every module (one per build).
GROUP_NAME = "typhoon_native"

DISTRIBUTION_ROOT = Path(__file__).resolve().parent
PACKAGE = "typhoon"
DIGEST_FILE = ".source-digest"


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def build_extensions(root: Path, output: Path, *, inplace: bool = False) -> list[Path]:
    """Compile :data:`COMPILED_MODULES` of the package under ``root``.

    The extension modules are written below ``output`` (``output/typhoon/...`` and the
    shared library at ``output``'s top), or next to their sources when ``inplace``.
    Returns the paths of the files written. Raises whatever mypyc or the C compiler raise.
    """
    # Imported here: only a build needs them (they are build requirements, not runtime ones).
    from mypyc.build import mypycify
    from setuptools import Distribution
    from setuptools.warnings import SetuptoolsDeprecationWarning

    with (
        tempfile.TemporaryDirectory(prefix="typhoon-mypyc-") as scratch,
        _working_directory(root),
        warnings.catch_warnings(),
    ):
        # Driving build_ext directly (no setup.py) is what setuptools warns about here.
        warnings.simplefilter("ignore", SetuptoolsDeprecationWarning)
        extensions = mypycify(
            list(COMPILED_MODULES),
            opt_level="3",
            target_dir=str(Path(scratch) / "c"),
            group_name=GROUP_NAME,
        )
        distribution = Distribution({"name": PACKAGE, "ext_modules": extensions})
        command = distribution.get_command_obj("build_ext")
        command.inplace = inplace  # type: ignore[attr-defined]
        command.build_lib = str(output)  # type: ignore[attr-defined]
        command.build_temp = str(Path(scratch) / "objects")  # type: ignore[attr-defined]
        command.ensure_finalized()
        command.run()
        return [Path(name).resolve() for name in command.get_outputs()]


def _source_digest(package: Path) -> str:
    digest = hashlib.sha256(sys.version.encode())
    digest.update(Path(__file__).read_bytes())
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_tree(destination: Path, root: Path = DISTRIBUTION_ROOT) -> bool:
    """Make ``destination/typhoon`` a compiled copy of the package under ``root``.

    Returns ``False`` when the copy was already up to date, ``True`` when it was rebuilt.
    """
    source = root / PACKAGE
    digest = _source_digest(source)
    stamp = destination / DIGEST_FILE
    if stamp.is_file() and stamp.read_text() == digest:
        return False
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    build_extensions(destination, destination, inplace=True)
    stamp.write_text(digest)
    return True


def main(argv: list[str]) -> int:
    """``build_native.py DESTINATION``: see the module docstring."""
    if len(argv) != 1:
        print("usage: build_native.py DESTINATION", file=sys.stderr)
        return 2
    destination = Path(argv[0]).resolve()
    rebuilt = build_tree(destination)
    print(f"compiled typhoon in {destination}" + ("" if rebuilt else " (up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
