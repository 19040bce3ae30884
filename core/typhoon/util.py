"""Small general-purpose helpers shared by every layer.

Layer 0 (leaves). Imports only :mod:`typhoon.errors` and the standard library.

Kept deliberately small: attribute-style dicts, importing an object by dotted name,
a bounded gzip decompressor for request and response bodies, undoing ``re.escape``,
and a few conversions. Tornado's ``Configurable`` class switching is not offered;
typhoon chooses implementations by passing a class or factory explicitly.
"""

from __future__ import annotations

__all__ = [
    "GzipDecompressor",
    "ObjectDict",
    "TimeoutError",
    "errno_from_exception",
    "import_object",
    "raise_exc_info",
    "re_unescape",
    "timedelta_to_seconds",
    "unicode_type",
]

import datetime
import importlib
import re
import zlib
from types import TracebackType
from typing import Any, NoReturn

from typhoon.errors import TyphoonTimeoutError

#: Raised when an operation's deadline passes; also ``typhoon.gen.TimeoutError`` and
#: ``typhoon.ioloop.TimeoutError``. A subclass of the builtin :class:`TimeoutError`.
TimeoutError = TyphoonTimeoutError

#: The text type, :class:`str`: kept for code written when Python 2 was supported.
unicode_type = str


class ObjectDict(dict[str, Any]):
    """A dict whose keys can also be read and written as attributes (``d.key``).

    Missing keys raise :class:`AttributeError` on attribute access, so ``hasattr``
    and ``getattr(d, name, default)`` behave as for any object.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def import_object(name: str) -> Any:
    """Import and return the object a dotted name refers to.

    ``import_object("os.path")`` returns the module, ``import_object("os.path.join")``
    the function inside it; a name without dots imports a top-level module. Used to
    resolve settings that name a class, like a handler or a resolver.

    Raises:
        ImportError: the module or the attribute does not exist.
    """
    if "." not in name:
        return importlib.import_module(name)
    module_name, _, attribute = name.rpartition(".")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only "this dotted name is not a module" is worth retrying as an attribute;
        # a module that fails inside its own imports must report that failure.
        if exc.name != name:
            raise
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(
            f"No module or attribute named {attribute!r} in {module_name!r}"
        ) from None


def timedelta_to_seconds(td: datetime.timedelta) -> float:
    """Return the length of ``td`` in seconds, as a float."""
    return td.total_seconds()


def errno_from_exception(e: BaseException) -> int | None:
    """Return the errno carried by an exception, or None.

    Reads ``errno`` when the exception sets it, falling back to its first argument the
    way ``OSError`` subclasses built by hand carry it.
    """
    errno = getattr(e, "errno", None)
    if isinstance(errno, int):
        return errno
    if e.args and isinstance(e.args[0], int):
        return e.args[0]
    return None


def raise_exc_info(
    exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
) -> NoReturn:
    """Re-raise the exception of a ``sys.exc_info()`` triple with its original traceback.

    Raises:
        TypeError: the triple holds no exception.
    """
    exc = exc_info[1]
    if exc is None:
        raise TypeError("raise_exc_info called with no exception")
    raise exc.with_traceback(exc_info[2])


_ESCAPED_CHAR = re.compile(r"\\(.)", re.DOTALL)


def _unescape_one(match: re.Match[str]) -> str:
    char = match.group(1)
    if char.isalnum():
        # \d, \w, \1 ... are regex syntax, not escaped literals: no string matches them.
        raise ValueError(f"cannot unescape '\\{char}': it is regex syntax, not a literal")
    return char


def re_unescape(s: str) -> str:
    """Undo :func:`re.escape`: turn an escaped pattern back into the literal string.

    Used to rebuild a URL from a route pattern.

    Raises:
        ValueError: the string has an escape that stands for a character class or a
            back-reference (``\\d``, ``\\1``), which no literal reverses.
    """
    return _ESCAPED_CHAR.sub(_unescape_one, s)


class GzipDecompressor:
    """Streaming gzip decompressor with a bound on output per call.

    Feed compressed chunks to :meth:`decompress` with ``max_length`` to cap how much
    comes out at once: a tiny "zip bomb" body can then be consumed gradually and
    rejected when it passes a size limit, instead of exhausting memory in one call.
    Input left over by a bounded call is in :attr:`unconsumed_tail`; pass it back in.
    """

    def __init__(self) -> None:
        # wbits = 16 + MAX_WBITS selects the gzip header and trailer (zlib manual).
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decompress(self, value: bytes, max_length: int = 0) -> bytes:
        """Decompress a chunk; return at most ``max_length`` bytes (0 means no bound).

        Raises:
            zlib.error: the data is not valid gzip.
        """
        return self._decompressor.decompress(value, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        """Compressed input the last bounded :meth:`decompress` call did not use yet."""
        return self._decompressor.unconsumed_tail

    @property
    def eof(self) -> bool:
        """True once the end of the gzip stream was reached."""
        return self._decompressor.eof

    def flush(self) -> bytes:
        """Return whatever output is still buffered; call once after the last chunk."""
        return self._decompressor.flush()
