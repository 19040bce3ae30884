"""multipart/form-data: an incremental parser and a collector that can spool to disk.

Layer 4 (private to ``typhoon.httputil``, which re-exports the public names): imports
``typhoon._headers``, ``typhoon.errors``, ``typhoon.util`` and the standard library.

Strategy. :class:`MultipartParser` is fed the body in pieces of any size and reports
each part to a :class:`MultipartDelegate` as it goes: its header fields, its content
in pieces, its end. Nothing is ever rescanned: the parser remembers how far it has
searched, and while inside a part it hands over every byte that cannot be the start
of the next delimiter, keeping back at most ``len(delimiter) - 1`` bytes. Work is
linear in the body length and memory is bounded by the largest piece fed plus the
part-header limit, whatever the input (RFC 2046, section 5.1.1; RFC 7578).

Limits (:class:`ParseMultipartConfig`) are enforced while parsing, before the part
that breaks them is stored: the number of parts (CVE-2026-31958, GHSA-8423-8fgw-73vq)
and the size of each part's header block (CVE-2025-67726). Every malformed body
raises one :class:`~typhoon.errors.HTTPInputError`, never one log line per part
(CVE-2025-47287).

:class:`MultipartForm` is the delegate that builds Tornado's ``arguments`` and
``files`` dictionaries; given a ``spool_threshold`` it writes each uploaded file to a
:class:`tempfile.SpooledTemporaryFile`, which stays in memory up to the threshold and
moves to a temporary file on local disk beyond it.
"""

from __future__ import annotations

__all__ = [
    "HTTPFile",
    "MultipartDelegate",
    "MultipartForm",
    "MultipartParser",
    "ParseBodyConfig",
    "ParseMultipartConfig",
    "ParseUrlEncodedConfig",
]

import dataclasses
import enum
import tempfile
from typing import IO, Any

from typhoon._headers import HTTPHeaders, parse_header_params
from typhoon.errors import HTTPInputError
from typhoon.util import ObjectDict


@dataclasses.dataclass
class ParseMultipartConfig:
    """Limits for parsing ``multipart/form-data`` bodies.

    Attributes:
        enabled: parse multipart bodies at all; when False they are refused (415).
        max_parts: most parts accepted in one body.
        max_part_header_size: largest header block of one part, in bytes.
    """

    enabled: bool = True
    max_parts: int = 100
    max_part_header_size: int = 10 * 1024


class _Omitted(enum.Enum):
    """Marks a keyword argument that was not given (``None`` is a meaningful value)."""

    OMITTED = enum.auto()


@dataclasses.dataclass(init=False)
class ParseUrlEncodedConfig:
    """Limits for parsing ``application/x-www-form-urlencoded`` bodies and query strings.

    Attributes:
        max_arguments: most fields accepted (``None`` removes the limit).
        max_fields: the same limit under its earlier name; reading or setting either
            name reads or sets the one value.

    Raises:
        TypeError: ``max_fields`` is given along with a different ``max_arguments``
            than the default.
    """

    max_arguments: int | None

    def __init__(
        self,
        max_arguments: int | None = 1000,
        *,
        max_fields: int | _Omitted | None = _Omitted.OMITTED,
    ) -> None:
        if max_fields is not _Omitted.OMITTED:
            if max_arguments not in (1000, max_fields):
                raise TypeError("max_arguments and max_fields name the same limit")
            max_arguments = max_fields
        self.max_arguments = max_arguments

    @property
    def max_fields(self) -> int | None:
        """The limit under its earlier name (the same value as ``max_arguments``)."""
        return self.max_arguments

    @max_fields.setter
    def max_fields(self, value: int | None) -> None:
        self.max_arguments = value


@dataclasses.dataclass
class ParseBodyConfig:
    """How request bodies and query strings are parsed into arguments and files."""

    multipart: ParseMultipartConfig = dataclasses.field(default_factory=ParseMultipartConfig)
    urlencoded: ParseUrlEncodedConfig = dataclasses.field(default_factory=ParseUrlEncodedConfig)


class HTTPFile(ObjectDict):
    """A file uploaded through a form; its attributes are also dictionary keys.

    Attributes:
        filename: the name the client gave.
        body: the content (read from ``file`` on access when the upload was spooled).
        content_type: the part's Content-Type (``application/unknown`` when absent).
        file: only for spooled uploads: the temporary file holding the content,
            positioned at its start.
        size: only for spooled uploads: the content length in bytes.
    """

    @property
    def body(self) -> bytes:
        """The uploaded bytes; for a spooled upload this reads the whole file."""
        if "body" in self:
            data: bytes = self["body"]
            return data
        spooled: IO[bytes] | None = self.get("file")
        if spooled is None:
            raise AttributeError("body")
        spooled.seek(0)
        content = spooled.read()
        spooled.seek(0)
        return content


class MultipartDelegate:
    """Receives the parts of a multipart body from :class:`MultipartParser`.

    Subclasses implement the three methods; an exception raised by one of them stops
    parsing and propagates out of :meth:`MultipartParser.feed`.
    """

    def start_part(
        self, headers: HTTPHeaders, name: str, filename: str | None, content_type: str
    ) -> None:
        """A part begins; ``filename`` is None for a plain form field."""
        raise NotImplementedError

    def part_data(self, data: bytes) -> None:
        """The next piece of the current part's content."""
        raise NotImplementedError

    def finish_part(self) -> None:
        """The current part is complete."""
        raise NotImplementedError


_PREAMBLE = 0
_AFTER_DELIMITER = 1
_PART_HEADERS = 2
_PART_BODY = 3
_EPILOGUE = 4
_PART_START = 5

# RFC 2046, section 5.1.1: transport padding after a delimiter is linear whitespace.
_MAX_PADDING = 1024


class MultipartParser:
    """Incremental, linear-time ``multipart/form-data`` parser (RFC 7578).

    Feed the body with :meth:`feed` in pieces of any size, then call :meth:`finish`.

    Args:
        boundary: the ``boundary`` parameter of the Content-Type, as bytes.
        delegate: receives the parts.
        config: limits; :class:`ParseMultipartConfig` defaults when omitted.

    Raises:
        HTTPInputError: the boundary is empty or longer than RFC 2046's 70 characters.
    """

    def __init__(
        self,
        boundary: bytes,
        delegate: MultipartDelegate,
        *,
        config: ParseMultipartConfig | None = None,
    ) -> None:
        if len(boundary) >= 2 and boundary[:1] == b'"' and boundary[-1:] == b'"':
            boundary = boundary[1:-1]
        if not boundary or len(boundary) > 70:
            raise HTTPInputError("invalid multipart boundary")
        self._config = config or ParseMultipartConfig()
        self._delegate = delegate
        self._first_delimiter = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._buf = bytearray()
        self._scan = 0
        self._state = _PREAMBLE
        self._parts = 0

    @classmethod
    def from_content_type(
        cls,
        content_type: str,
        delegate: MultipartDelegate,
        *,
        config: ParseMultipartConfig | None = None,
    ) -> MultipartParser:
        """Build a parser from a ``multipart/form-data; boundary=...`` header value.

        Raises:
            HTTPInputError: not a multipart/form-data type, or no valid boundary.
        """
        main, params = parse_header_params(content_type)
        if main.lower() != "multipart/form-data":
            raise HTTPInputError(f"not a multipart/form-data body: {main[:64]!r}")
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPInputError("multipart/form-data without a boundary")
        return cls(boundary.encode("latin-1"), delegate, config=config)

    @property
    def complete(self) -> bool:
        """True once the closing delimiter has been seen."""
        return self._state == _EPILOGUE

    def feed(self, data: bytes) -> None:
        """Parse the next piece of the body, reporting parts to the delegate.

        Raises:
            HTTPInputError: the body is malformed or breaks a limit.
        """
        if self._state == _EPILOGUE:
            return  # RFC 2046: the epilogue is ignored.
        self._buf += data
        while self._step():
            pass

    def finish(self) -> None:
        """Check that the whole body has been fed.

        Raises:
            HTTPInputError: the closing delimiter never came.
        """
        if self._state != _EPILOGUE:
            raise HTTPInputError("multipart/form-data body ended before its closing boundary")

    def _take(self, size: int) -> bytes:
        buf = self._buf
        with memoryview(buf) as view:
            data = bytes(view[:size])
        del buf[:size]
        self._scan = 0
        return data

    def _drop(self, size: int) -> None:
        del self._buf[:size]
        self._scan = 0

    def _step(self) -> bool:
        """Make progress on the buffered bytes; False when more input is needed."""
        state = self._state
        buf = self._buf
        if state == _PART_BODY:
            delimiter = self._delimiter
            index = buf.find(delimiter, self._scan)
            if index < 0:
                # Hand over everything that cannot be the start of a delimiter.
                safe = len(buf) - len(delimiter) + 1
                if safe > 0:
                    self._delegate.part_data(self._take(safe))
                else:
                    self._scan = 0
                return False
            if index:
                self._delegate.part_data(self._take(index))
            self._drop(len(delimiter))
            self._delegate.finish_part()
            self._state = _AFTER_DELIMITER
            return True
        if state == _PREAMBLE:
            at_delimiter = self._take_first_delimiter()
            if at_delimiter is None:
                return False
            if at_delimiter:
                self._state = _AFTER_DELIMITER
                return True
            delimiter = self._delimiter
            index = buf.find(delimiter, self._scan)
            if index < 0:
                # The preamble is ignored; keep only what may start a delimiter.
                keep = len(delimiter) - 1
                if len(buf) > keep:
                    self._drop(len(buf) - keep)
                return False
            self._drop(index + len(delimiter))
            self._state = _AFTER_DELIMITER
            return True
        if state == _AFTER_DELIMITER:
            if len(buf) < 2:
                return False
            if buf.startswith(b"--"):
                # The close delimiter: the rest is the epilogue.
                self._state = _EPILOGUE
                self._buf = bytearray()
                return False
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                if len(buf) > _MAX_PADDING:
                    raise HTTPInputError("malformed multipart delimiter line")
                return False
            if buf[:line_end].strip(b" \t"):
                raise HTTPInputError("malformed multipart delimiter line")
            self._drop(line_end + 2)
            self._parts += 1
            if self._parts > self._config.max_parts:
                raise HTTPInputError(
                    f"too many parts in a multipart body: more than {self._config.max_parts}",
                    status_code=413,
                )
            self._state = _PART_HEADERS
            return True
        if state == _PART_HEADERS:
            return self._read_part_headers()
        if state == _PART_START:
            # RFC 2046, section 5.1.1: body-part := MIME-part-headers [CRLF *OCTET].
            # Without the optional part, the CRLF that ended the header block is the
            # one of the next delimiter: the part is empty.
            at_delimiter = self._take_first_delimiter()
            if at_delimiter is None:
                return False
            if at_delimiter:
                self._delegate.finish_part()
                self._state = _AFTER_DELIMITER
            else:
                self._state = _PART_BODY
            return True
        return False

    def _take_first_delimiter(self) -> bool | None:
        """Consume a delimiter at the very start of the buffer (one not preceded by CRLF).

        Returns True when it was there, False when the buffer starts otherwise, and None
        while the buffered bytes are too few to tell.
        """
        buf = self._buf
        first = self._first_delimiter
        if len(buf) < len(first) and first.startswith(bytes(buf)):
            return None
        if buf.startswith(first):
            self._drop(len(first))
            return True
        return False

    def _read_part_headers(self) -> bool:
        buf = self._buf
        limit = self._config.max_part_header_size
        if buf.startswith(b"\r\n"):
            end = 0
            block = b""
        else:
            index = buf.find(b"\r\n\r\n", self._scan)
            if index < 0:
                if len(buf) > limit + 4:
                    raise HTTPInputError("multipart part header block too large")
                self._scan = max(len(buf) - 3, 0)
                return False
            end = index + 2
            block = bytes(buf[:end])
        if end > limit:
            raise HTTPInputError("multipart part header block too large")
        self._drop(end + 2)
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            text = block.decode("latin-1")
        headers = HTTPHeaders.parse(text)
        disposition, params = parse_header_params(headers.get("Content-Disposition", ""))
        if disposition.lower() != "form-data":
            raise HTTPInputError("multipart part without Content-Disposition: form-data")
        name = params.get("name")
        if not name:
            raise HTTPInputError("multipart/form-data part without a name")
        filename = params.get("filename")
        content_type = headers.get("Content-Type", "application/unknown")
        self._delegate.start_part(headers, name, filename, content_type)
        self._state = _PART_START
        return True


class MultipartForm(MultipartDelegate):
    """Collects parsed parts into Tornado's ``arguments`` and ``files`` dictionaries.

    Field values are stored as bytes under their names in ``arguments``; uploads as
    :class:`HTTPFile` under their names in ``files``.

    Args:
        arguments: the dict to add fields to (a new one by default).
        files: the dict to add uploads to (a new one by default).
        spool_threshold: when given, each upload goes to a
            :class:`tempfile.SpooledTemporaryFile` that moves to disk once larger than
            this many bytes; the ``HTTPFile`` then has ``file`` and ``size``. Call
            :meth:`close` (or use ``with``) to delete the temporary files.
        spool_dir: directory for spooled files (the system default when None).
    """

    def __init__(
        self,
        arguments: dict[str, list[bytes]] | None = None,
        files: dict[str, list[HTTPFile]] | None = None,
        *,
        spool_threshold: int | None = None,
        spool_dir: str | None = None,
    ) -> None:
        self.arguments: dict[str, list[bytes]] = {} if arguments is None else arguments
        self.files: dict[str, list[HTTPFile]] = {} if files is None else files
        self._spool_threshold = spool_threshold
        self._spool_dir = spool_dir
        self._spooled: list[IO[bytes]] = []
        self._name = ""
        self._filename: str | None = None
        self._content_type = ""
        self._pieces: list[bytes] = []
        self._file: IO[bytes] | None = None
        self._size = 0

    def start_part(
        self, headers: HTTPHeaders, name: str, filename: str | None, content_type: str
    ) -> None:
        """Begin collecting a field or an upload."""
        self._name = name
        self._filename = filename
        self._content_type = content_type
        self._pieces = []
        self._size = 0
        self._file = None
        if filename is not None and self._spool_threshold is not None:
            spooled: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by close()
                max_size=self._spool_threshold, dir=self._spool_dir
            )
            self._spooled.append(spooled)
            self._file = spooled

    def part_data(self, data: bytes) -> None:
        """Store the next piece of the current part."""
        self._size += len(data)
        if self._file is not None:
            self._file.write(data)
        else:
            self._pieces.append(data)

    def finish_part(self) -> None:
        """File the completed part under its name."""
        if self._filename is None:
            self.arguments.setdefault(self._name, []).append(b"".join(self._pieces))
        elif self._file is not None:
            self._file.seek(0)
            upload = HTTPFile(
                filename=self._filename,
                content_type=self._content_type,
                file=self._file,
                size=self._size,
            )
            self.files.setdefault(self._name, []).append(upload)
        else:
            upload = HTTPFile(
                filename=self._filename,
                body=b"".join(self._pieces),
                content_type=self._content_type,
            )
            self.files.setdefault(self._name, []).append(upload)
        self._pieces = []
        self._file = None

    def close(self) -> None:
        """Close (and so delete) every spooled temporary file."""
        for spooled in self._spooled:
            spooled.close()
        self._spooled.clear()

    def __enter__(self) -> MultipartForm:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
