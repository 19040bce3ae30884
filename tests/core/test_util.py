"""Tests for typhoon.util."""

from __future__ import annotations

import builtins
import datetime
import errno
import gzip
import os
import re
import sys
import zlib

import pytest
from typhoon.errors import TyphoonTimeoutError
from typhoon.util import (
    GzipDecompressor,
    ObjectDict,
    TimeoutError,
    errno_from_exception,
    import_object,
    raise_exc_info,
    re_unescape,
    timedelta_to_seconds,
    unicode_type,
)


def test_object_dict_attribute_access() -> None:
    d = ObjectDict(a=1)
    assert d.a == 1
    d.b = 2
    assert d["b"] == 2
    del d.a
    assert "a" not in d
    with pytest.raises(AttributeError, match="missing"):
        _ = d.missing
    with pytest.raises(AttributeError, match="gone"):
        del d.gone
    assert getattr(d, "nothing", "default") == "default"
    assert not hasattr(d, "nothing")


def test_import_object_modules_and_attributes() -> None:
    assert import_object("os") is os
    assert import_object("os.path") is os.path
    assert import_object("os.path.join") is os.path.join
    assert import_object("typhoon.util.ObjectDict") is ObjectDict


def test_import_object_missing_names() -> None:
    with pytest.raises(ImportError, match="no_such_attr"):
        import_object("os.path.no_such_attr")
    with pytest.raises(ImportError):
        import_object("no_such_module_xyz")
    with pytest.raises(ImportError):
        import_object("no_such_module_xyz.attr")


def test_import_object_reports_broken_module(tmp_path: os.PathLike[str]) -> None:
    package = os.path.join(tmp_path, "brokenpkg_typhoon")
    os.mkdir(package)
    with open(os.path.join(package, "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(package, "mod.py"), "w") as f:
        f.write("import definitely_missing_dependency_xyz\n")
    sys.path.insert(0, os.fspath(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="definitely_missing_dependency_xyz"):
            import_object("brokenpkg_typhoon.mod")
    finally:
        sys.path.remove(os.fspath(tmp_path))
        for name in [n for n in sys.modules if n.startswith("brokenpkg_typhoon")]:
            del sys.modules[name]


def test_timeout_error_is_the_tree_class_and_builtin() -> None:
    assert TimeoutError is TyphoonTimeoutError
    assert issubclass(TimeoutError, builtins.TimeoutError)


def test_unicode_type_is_str() -> None:
    assert unicode_type is str
    assert isinstance("caf\u00e9", unicode_type)
    assert not isinstance(b"cafe", unicode_type)


def test_timedelta_to_seconds() -> None:
    assert timedelta_to_seconds(datetime.timedelta(minutes=1, milliseconds=500)) == 60.5


def test_errno_from_exception() -> None:
    assert errno_from_exception(OSError(errno.EPIPE, "pipe")) == errno.EPIPE
    assert errno_from_exception(Exception(errno.ECONNRESET)) == errno.ECONNRESET
    assert errno_from_exception(Exception("text")) is None
    assert errno_from_exception(Exception()) is None


def test_raise_exc_info_keeps_traceback() -> None:
    try:
        raise ValueError("original")
    except ValueError:
        info = sys.exc_info()
    with pytest.raises(ValueError, match="original") as caught:
        raise_exc_info(info)
    assert caught.value.__traceback__ is not None
    with pytest.raises(TypeError):
        raise_exc_info((None, None, None))


@pytest.mark.parametrize("text", ["abc", "/path/to/[x]", "a.b*c+d?", "tab\tnew\nline", "ü€"])
def test_re_unescape_reverses_re_escape(text: str) -> None:
    assert re_unescape(re.escape(text)) == text


@pytest.mark.parametrize("pattern", [r"\d", r"\w+", r"a\1", r"\s"])
def test_re_unescape_rejects_regex_syntax(pattern: str) -> None:
    with pytest.raises(ValueError, match="cannot unescape"):
        re_unescape(pattern)


def test_gzip_decompressor_whole() -> None:
    data = b"hello world " * 100
    d = GzipDecompressor()
    out = d.decompress(gzip.compress(data)) + d.flush()
    assert out == data
    assert d.eof


def test_gzip_decompressor_bounds_output_per_call() -> None:
    data = b"\0" * 1_000_000  # compresses to about 1 KB: a small bomb
    compressed = gzip.compress(data)
    d = GzipDecompressor()
    pieces = []
    chunk = d.decompress(compressed, 4096)
    calls = 1
    while True:
        assert len(chunk) <= 4096
        pieces.append(chunk)
        if not d.unconsumed_tail:
            break
        chunk = d.decompress(d.unconsumed_tail, 4096)
        calls += 1
        assert calls < 1000
    pieces.append(d.decompress(b"", 0))
    pieces.append(d.flush())
    assert b"".join(pieces) == data
    assert calls > 100


def test_gzip_decompressor_rejects_garbage() -> None:
    with pytest.raises(zlib.error):
        GzipDecompressor().decompress(b"not gzip at all")
