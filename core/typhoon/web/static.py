"""StaticFileHandler: files from a directory, with versioned URLs and HTTP caching.

Layer 5 (web). Imports ``typhoon.errors``, ``typhoon.log``, ``typhoon.web.handler`` and
the standard library.

What a request goes through (:meth:`StaticFileHandler.get`): the URL path is mapped to a
file under the root (:meth:`~StaticFileHandler.parse_url_path`,
:meth:`~StaticFileHandler.get_absolute_path`), checked
(:meth:`~StaticFileHandler.validate_absolute_path`: inside the root, symbolic links
kept inside it, directories answered with ``default_filename``), then the caching
headers are set and a conditional request may end with ``304 Not Modified``; a
``Range`` request gets ``206`` or ``416``; the content is sent in 64 KiB pieces, each
flushed before the next is read, so a large file never sits in memory whole.

Every step is a method a subclass may override; the class methods among them are also
used without a request, by ``RequestHandler.static_url`` to build versioned URLs
(``/static/app.js?v=<hash>``). Version hashes are SHA-512 digests of the content, kept
in a bounded least-recently-used cache shared by the process.

Security rules (each has a test): no path outside the root (``..``, percent-encoded
or not, sibling directories whose name starts with the root's, absolute paths), no
symbolic link leading out of the root unless its target is in an
``allowed_symlink_directory`` (refused alike whether its target exists or not), no NUL
bytes, no NTFS alternate data streams on Windows, nothing but regular files read (never
a FIFO, device or socket), and no directory redirect that a browser would read as
another host (``//host``, ``///host``, ``/\\host``).
"""

from __future__ import annotations

__all__ = ["FileChunks", "StaticFileHandler"]

import collections
import contextlib
import datetime
import email.utils
import errno
import hashlib
import mimetypes
import os
import re
import stat
import threading
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, BinaryIO, ClassVar

from typhoon.errors import HTTPError, StreamClosedError
from typhoon.log import gen_log
from typhoon.web.handler import RequestHandler

#: Size of the pieces a file is read and sent in.
_CHUNK_SIZE = 64 * 1024
#: NTFS reads ``name:stream`` as an alternate data stream of ``name``.
_WINDOWS = os.name == "nt"
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = _O_NONBLOCK | getattr(os, "O_BINARY", 0)
#: What ``_requested_range`` returns for a range that no byte of the file satisfies.
_UNSATISFIABLE = object()
# RFC 9110, section 14.1.1: byte-range-spec / suffix-byte-range-spec, digits only
# (no sign, no underscore, no whitespace inside a number). Positions beyond 19 digits
# cannot address a file; such a header is ignored rather than parsed into a huge int.
# A lone position ("bytes=5", no "-") is not a range-spec at all; it is matched so that
# it can be refused (see _requested_range).
_RANGE_RE = re.compile(r"(\d{0,19})(?:(-)(\d{0,19}))?")

#: What :meth:`StaticFileHandler.get_content` may produce: all the bytes at once, or
#: pieces from a plain or an asynchronous iterable.
Content = bytes | Iterable[bytes] | AsyncIterable[bytes]


class StaticFileHandler(RequestHandler):
    """Serves the files of directory ``path`` (the ``static_path`` setting's handler).

    Map it with a pattern that has one group, the file path relative to the root::

        (r"/files/(.*)", StaticFileHandler, {"path": "/var/www/files"})

    ``initialize`` arguments: ``path`` is the root directory; ``default_filename``
    (for example ``"index.html"``) is served for a directory, after redirecting
    ``/dir`` to ``/dir/``; ``allowed_symlink_directory`` (a directory or a list of
    them) lets symbolic links point there, outside the root.

    Responses carry ``Etag`` (the content's hash), ``Last-Modified`` and
    ``Accept-Ranges``; requests whose URL has a ``v`` argument (as ``static_url`` makes
    them) are cached by clients for ten years. Subclasses change the behaviour through
    the methods documented below, most of them class methods.
    """

    #: Seconds clients may cache a versioned URL (ten years: the URL changes with it).
    CACHE_MAX_AGE: ClassVar[int] = 86400 * 365 * 10
    #: Files larger than this get no version hash (hashing them would stall requests).
    MAX_VERSION_CONTENT_SIZE: ClassVar[int] = 64 * 1024 * 1024
    #: How many version hashes are remembered; the least recently used go first.
    MAX_CACHED_VERSIONS: ClassVar[int] = 10_000

    _static_hashes: ClassVar[collections.OrderedDict[str, str | None]] = collections.OrderedDict()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    root: str
    #: Served for a directory (set by :meth:`initialize`; class-level defaults keep
    #: subclasses whose ``initialize`` does not call it safe).
    default_filename: str | None = None
    #: Directories symbolic links may lead to, besides the root.
    allowed_symlink_directories: Sequence[str] = ()
    #: The URL path of the current request, as :meth:`parse_url_path` returned it.
    path: str
    #: The file being served (set by :meth:`get` once validated).
    absolute_path: str | None
    #: The file's modification time, from :meth:`get_modified_time`.
    modified: datetime.datetime | None

    def initialize(  # type: ignore[override]
        self,
        path: str | os.PathLike[str],
        default_filename: str | None = None,
        allowed_symlink_directory: str
        | os.PathLike[str]
        | Sequence[str | os.PathLike[str]]
        | None = None,
    ) -> None:
        """Receive the root directory and the options described on the class."""
        self.root = os.fspath(path)
        self.default_filename = default_filename
        if allowed_symlink_directory is None:
            allowed: list[str] = []
        elif isinstance(allowed_symlink_directory, str | os.PathLike):
            allowed = [os.fspath(allowed_symlink_directory)]
        else:
            allowed = [os.fspath(item) for item in allowed_symlink_directory]
        self.allowed_symlink_directories = allowed

    @classmethod
    def reset(cls) -> None:
        """Forget every cached version hash (``static_hash_cache=False`` does it per
        request, so edited files get new URLs during development)."""
        with cls._lock:
            cls._static_hashes.clear()

    def head(self, path: str) -> Awaitable[None]:
        """Like :meth:`get`, without the body."""
        return self.get(path, include_body=False)

    async def get(self, path: str, include_body: bool = True) -> None:
        """Serve the file at URL path ``path`` (the rule's group)."""
        self.path = self.parse_url_path(path)
        del path  # from here on only the parsed form is used
        absolute_path = self.get_absolute_path(self.root, self.path)
        self.absolute_path = self.validate_absolute_path(self.root, absolute_path)
        if self.absolute_path is None:
            return
        self.modified = self.get_modified_time()
        self.set_headers()
        if self.should_return_304():
            self.set_status(304)
            return
        size = self.get_content_size()
        byte_range = self._requested_range(size)
        start: int | None = None
        end: int | None = None
        length = size
        if byte_range is _UNSATISFIABLE:
            # RFC 9110, section 15.5.17: say how long the representation is.
            self.set_status(416)
            self.set_header("Content-Type", "text/plain")
            self.set_header("Content-Range", f"bytes */{size}")
            return
        if isinstance(byte_range, tuple) and byte_range[1] - byte_range[0] != size:
            start, end = byte_range
            length = end - start
            # RFC 9110, section 14.4: Content-Range names the last byte, inclusive.
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.set_header("Content-Length", length)
        if include_body:
            await self._send(self.get_content(self.absolute_path, start, end), length)

    # --- the request -----------------------------------------------------------------

    def _requested_range(self, size: int) -> tuple[int, int] | object | None:
        """The ``(start, end)`` bytes to send (``end`` exclusive), ``None`` for the whole
        representation, or ``_UNSATISFIABLE``.

        One range only: a request for several, for another unit, or one that does not
        parse, is answered with the whole representation, as RFC 9110 (section 14.2)
        allows. A single byte range that is invalid (the last position before the
        first, or a lone position without ``-``) is refused with 416, which section
        14.2 also allows: the client asked for part of the file, and sending it all
        could be taken for that part. An ``If-Range`` that does not match the current
        validators also means the whole representation (section 13.1.5).
        """
        header = self.request.headers.get("Range")
        if not header:
            return None
        unit, _, spec = header.partition("=")
        if unit.strip().lower() != "bytes":
            return None
        found = _RANGE_RE.fullmatch(spec.strip())
        if found is None or found.group() in ("", "-"):
            return None
        if not self._if_range_matches():
            return None
        first, dash, last = found.groups()
        if not dash:
            return _UNSATISFIABLE  # a lone position: an invalid range-spec
        if not first:
            # A suffix range: the last N bytes. "-0" asks for nothing at all.
            suffix = int(last)
            if suffix == 0 or size == 0:
                return _UNSATISFIABLE
            return max(size - suffix, 0), size
        start = int(first)
        if last and int(last) < start:
            return _UNSATISFIABLE  # an invalid range-spec (section 14.1.1)
        if start >= size:
            return _UNSATISFIABLE
        end = size if not last else min(int(last) + 1, size)
        return start, end

    def _if_range_matches(self) -> bool:
        condition = self.request.headers.get("If-Range")
        if condition is None:
            return True
        condition = condition.strip()
        if condition.startswith(('"', "W/")):
            # Only a strong entity tag can validate a range (RFC 9110, section 13.1.5).
            etag = self._headers.get("Etag")
            return bool(etag) and not condition.startswith("W/") and condition == etag
        try:
            since = email.utils.parsedate_to_datetime(condition)
        except (TypeError, ValueError):
            return False
        return self.modified is not None and _aware(since) == _aware(self.modified)

    async def _send(self, content: Content, length: int) -> None:
        """Write ``content``, flushing after each piece; never more than ``length`` bytes.

        The bound matters when the file grows while it is sent: the response declared
        its ``Content-Length`` already. Iterators are closed when sending stops early,
        so an open file is released at once.
        """
        if isinstance(content, bytes):
            self.write(content[:length])
            with contextlib.suppress(StreamClosedError):  # the client may have left
                await self.flush()
            return
        remaining = length
        if isinstance(content, AsyncIterable):
            pieces = aiter(content)
            try:
                async for chunk in pieces:
                    remaining = await self._send_piece(chunk, remaining)
                    if remaining <= 0:
                        break
            except StreamClosedError:
                return
            finally:
                aclose = getattr(pieces, "aclose", None)
                if aclose is not None:
                    await aclose()
            return
        sync_pieces = iter(content)
        try:
            for chunk in sync_pieces:
                remaining = await self._send_piece(chunk, remaining)
                if remaining <= 0:
                    break
        except StreamClosedError:
            return
        finally:
            close = getattr(sync_pieces, "close", None)
            if close is not None:
                close()

    async def _send_piece(self, chunk: bytes, remaining: int) -> int:
        chunk = chunk[:remaining]
        self.write(chunk)
        await self.flush()
        return remaining - len(chunk)

    def set_headers(self) -> None:
        """Set the caching and content headers of the response (not ``Content-Length``)."""
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        if self.modified is not None:
            self.set_header("Last-Modified", self.modified)
        content_type = self.get_content_type()
        if content_type:
            self.set_header("Content-Type", content_type)
        cache_time = self.get_cache_time(self.path, self.modified, content_type)
        if cache_time > 0:
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=cache_time)
            self.set_header("Expires", expires)
            self.set_header("Cache-Control", f"max-age={cache_time}")
        self.set_extra_headers(self.path)

    def should_return_304(self) -> bool:
        """Whether the client's copy is current (``If-None-Match``, else
        ``If-Modified-Since``; RFC 9110, section 13.2.2 gives the first precedence).

        A date that does not parse is ignored.
        """
        if self.request.headers.get("If-None-Match"):
            return self.check_etag_header()
        header = self.request.headers.get("If-Modified-Since")
        if header is None or self.modified is None:
            return False
        try:
            since = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return False
        return _aware(since) >= _aware(self.modified)

    # --- mapping URLs to files -------------------------------------------------------

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        """The absolute file-system path of ``path`` under ``root`` (no checks here)."""
        return os.path.abspath(os.path.join(root, path))

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """Check ``absolute_path`` and return the file to serve, or ``None`` when the
        response was already given (the redirect of a directory to its slashed URL).

        Raises:
            HTTPError: 400 for a NUL byte; 403 outside the root, for a symbolic link
                leading out of it, an NTFS stream name, a directory without
                ``default_filename``, or a redirect a browser would send to another
                host; 404 when nothing exists there.
        """
        if "\x00" in absolute_path:
            raise HTTPError(400, "NUL byte in static path %r", self.path)
        root = os.path.abspath(root)
        if not _is_within(absolute_path, root):
            # Compared with a separator at the end, so "/static_evil" is not inside
            # "/static".
            raise HTTPError(403, "%s is not in root static directory", self.path)
        if _WINDOWS and ":" in absolute_path[len(root) :]:
            raise HTTPError(403, "%s names an alternate data stream", self.path)
        # Links are resolved before anything looks at what they lead to, so a link out
        # of the root gets the same 403 whether its target exists, is a directory
        # (which would be redirected) or is missing: no probing of the file system.
        self._check_symlinks(root, absolute_path)
        if os.path.isdir(absolute_path) and self.default_filename is not None:
            request_path = self.request.path
            if not request_path.endswith("/"):
                if request_path[1:2] in ("/", "\\"):
                    # "//host/dir" + "/" in a Location header is another host to a
                    # browser (and so is "/\host": browsers read "\" as "/").
                    raise HTTPError(403, "cannot redirect path with two initial slashes")
                self.redirect(request_path + "/", permanent=True)
                return None
            absolute_path = os.path.join(absolute_path, self.default_filename)
            self._check_symlinks(root, absolute_path)
        if not os.path.exists(absolute_path):
            raise HTTPError(404)
        if not os.path.isfile(absolute_path):
            # Directories, FIFOs, devices, sockets: reading a FIFO would wait for a
            # writer forever, a device may never end.
            raise HTTPError(403, "%s is not a file", self.path)
        return absolute_path

    def _check_symlinks(self, root: str, absolute_path: str) -> None:
        real = os.path.realpath(absolute_path)
        if real == absolute_path:
            return
        allowed = [os.path.realpath(root)]
        allowed += [os.path.realpath(item) for item in self.allowed_symlink_directories]
        if not any(_is_within(real, directory) for directory in allowed):
            raise HTTPError(403, "%s is not in root static directory", self.path)

    def parse_url_path(self, url_path: str) -> str:
        """The file path (relative to the root) that URL path ``url_path`` names.

        The URL always uses ``/``; this converts it to the platform's separator.
        Override it to map URLs to files differently.
        """
        if os.path.sep != "/":
            url_path = url_path.replace("/", os.path.sep)
        return url_path

    # --- the content -----------------------------------------------------------------

    @classmethod
    def get_content(cls, abspath: str, start: int | None = None, end: int | None = None) -> Content:
        """The bytes of file ``abspath`` from ``start`` to ``end`` (exclusive).

        The default returns 64 KiB pieces read as they are sent, through an object
        that can be iterated with ``async for`` (how :meth:`get` reads it) and with a
        plain ``for`` (how code written for synchronous generators reads it).
        Overrides may return bytes, or a plain or asynchronous iterable of bytes.
        """
        return FileChunks(abspath, start, end)

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        """The version string of file ``abspath``: the SHA-512 hex digest of its bytes.

        Runs without a request (for ``static_url``), so it reads :meth:`get_content`
        synchronously.

        Raises:
            TypeError: an override of :meth:`get_content` returns an iterable that is
                only asynchronous; override this method too.
        """
        hasher = hashlib.sha512()
        content = cls.get_content(abspath)
        if isinstance(content, bytes):
            hasher.update(content)
        elif isinstance(content, Iterable):
            for chunk in content:
                hasher.update(chunk)
        else:
            raise TypeError(
                f"{cls.__name__}.get_content returns an asynchronous iterable; "
                "override get_content_version to compute versions without a request"
            )
        return hasher.hexdigest()

    def _stat(self) -> os.stat_result:
        assert self.absolute_path is not None
        try:
            return self._stat_result
        except AttributeError:
            self._stat_result: os.stat_result = os.stat(self.absolute_path)
            return self._stat_result

    def get_content_size(self) -> int:
        """The size in bytes of the file being served."""
        return self._stat().st_size

    def get_modified_time(self) -> datetime.datetime | None:
        """When the file being served last changed (UTC, whole seconds, as HTTP dates
        carry them); ``None`` sends no ``Last-Modified``."""
        return datetime.datetime.fromtimestamp(int(self._stat().st_mtime), datetime.UTC)

    def get_content_type(self) -> str:
        """The ``Content-Type`` of the file being served, guessed from its name.

        A compressed file is served as such (``application/gzip``, or
        ``application/octet-stream`` for other encodings), never as the type it
        decompresses to: the response carries no ``Content-Encoding``.
        """
        assert self.absolute_path is not None
        mime_type, encoding = mimetypes.guess_type(self.absolute_path)
        if encoding == "gzip":
            return "application/gzip"
        if encoding is not None:
            return "application/octet-stream"
        return mime_type or "application/octet-stream"

    def set_extra_headers(self, path: str) -> None:
        """Set more headers on the response of ``path`` (override; does nothing)."""

    def get_cache_time(self, path: str, modified: datetime.datetime | None, mime_type: str) -> int:
        """Seconds clients may cache the response: :attr:`CACHE_MAX_AGE` for versioned
        URLs (with a ``v`` argument), else 0 (no ``Expires`` / ``Cache-Control``)."""
        return self.CACHE_MAX_AGE if "v" in self.request.arguments else 0

    def compute_etag(self) -> str | None:
        """The strong entity tag of the file: its version hash, quoted."""
        assert self.absolute_path is not None
        version = self._get_cached_version(self.absolute_path)
        if not version:
            return None
        return f'"{version}"'

    # --- versioned URLs --------------------------------------------------------------

    @classmethod
    def make_static_url(
        cls, settings: Mapping[str, Any], path: str, include_version: bool = True
    ) -> str:
        """The URL of static file ``path``: ``static_url_prefix`` + path, then
        ``?v=<version>`` when ``include_version`` and the file has a version.

        A class method: ``RequestHandler.static_url`` calls it with the application's
        settings. Override it to serve from a CDN or to put the version in the path.

        Raises:
            HTTPError: 403 when ``path`` leads outside ``static_path``.
        """
        prefix = settings.get("static_url_prefix") or "/static/"
        url = prefix + path
        if not include_version:
            return url
        version = cls.get_version(settings, path)
        if not version:
            return url
        return f"{url}?v={version}"

    @classmethod
    def get_version(cls, settings: Mapping[str, Any], path: str) -> str | None:
        """The version string of static file ``path``, or ``None`` when it has none
        (missing, unreadable, not a regular file, or larger than
        :attr:`MAX_VERSION_CONTENT_SIZE`).

        Raises:
            HTTPError: 403 when ``path`` leads outside ``static_path`` (directly or
                through a symbolic link), so templates cannot be made to hash and
                reveal other files.
        """
        root = os.path.abspath(os.fspath(settings["static_path"]))
        abs_path = cls.get_absolute_path(root, path)
        if "\x00" in abs_path or not _is_within(abs_path, root):
            raise HTTPError(403, "static_url path %r is outside the static directory", path)
        real = os.path.realpath(abs_path)
        if real != abs_path:
            handler_args = settings.get("static_handler_args") or {}
            allowed = handler_args.get("allowed_symlink_directory") or []
            if isinstance(allowed, str | os.PathLike):
                allowed = [allowed]
            roots = [os.path.realpath(root)] + [os.path.realpath(item) for item in allowed]
            if not any(_is_within(real, directory) for directory in roots):
                raise HTTPError(403, "static_url path %r is not in root static directory", path)
        return cls._get_cached_version(abs_path)

    @classmethod
    def _get_cached_version(cls, abs_path: str) -> str | None:
        hashes = cls._static_hashes
        with cls._lock:
            if abs_path in hashes:
                hashes.move_to_end(abs_path)
                return hashes[abs_path]
        version = cls._compute_version(abs_path)
        with cls._lock:
            hashes[abs_path] = version
            hashes.move_to_end(abs_path)
            while len(hashes) > cls.MAX_CACHED_VERSIONS:
                hashes.popitem(last=False)
        return version

    @classmethod
    def _compute_version(cls, abs_path: str) -> str | None:
        try:
            status: os.stat_result | None = os.stat(abs_path)
        except OSError:
            status = None  # nothing on disk: get_content_version decides (subclasses may)
        if status is not None:
            if not stat.S_ISREG(status.st_mode):
                # A directory, FIFO, device or socket has no content to hash, and
                # opening a FIFO or reading /dev/zero would never end.
                gen_log.error("Could not open static file %r: it is not a file", abs_path)
                return None
            if status.st_size > cls.MAX_VERSION_CONTENT_SIZE:
                gen_log.error(
                    "Could not open static file %r: larger than %d bytes, no version hash",
                    abs_path,
                    cls.MAX_VERSION_CONTENT_SIZE,
                )
                return None
        try:
            return cls.get_content_version(abs_path) or None
        except Exception as exc:
            gen_log.error("Could not open static file %r: %s", abs_path, exc)
            return None


def _is_within(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or below it (both absolute and normalized)."""
    if not directory.endswith(os.sep):
        directory += os.sep
    return (path + os.sep).startswith(directory)


def _aware(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` with a time zone; a naive one is taken as UTC (HTTP dates are GMT)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment


class FileChunks:
    """The bytes of a file range, read in 64 KiB pieces as they are consumed.

    Iterable with ``async for`` and with ``for``; each iteration opens the file anew
    and closes it when it ends or when its iterator is closed.
    """

    __slots__ = ("abspath", "end", "start")

    def __init__(self, abspath: str, start: int | None = None, end: int | None = None) -> None:
        self.abspath = abspath
        self.start = start
        self.end = end

    def __iter__(self) -> Iterator[bytes]:
        with _open_regular(self.abspath) as file:
            yield from _pieces(file, self.start, self.end)

    async def _pieces(self) -> AsyncIterator[bytes]:
        with _open_regular(self.abspath) as file:
            for chunk in _pieces(file, self.start, self.end):
                yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()


def _open_regular(path: str) -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file.

    The file may have been replaced since it was checked; opening without blocking
    means a FIFO swapped in answers at once (and is then refused) instead of waiting
    for a writer.

    Raises:
        OSError: ``path`` cannot be opened, or is not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if _O_NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _pieces(file: BinaryIO, start: int | None, end: int | None) -> Iterator[bytes]:
    if start is not None:
        file.seek(start)
    remaining = None if end is None else end - (start or 0)
    while remaining is None or remaining > 0:
        chunk = file.read(_CHUNK_SIZE if remaining is None else min(_CHUNK_SIZE, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk
