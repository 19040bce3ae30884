"""Output transforms: rewrite a response's status, headers and body on the way out.

Layer 5 (web). Imports ``typhoon.httputil`` and the standard library.

An application holds transform *classes*; each request makes one instance per class
(``transform(request)``), and ``RequestHandler.flush`` passes the first piece of the
response through :meth:`OutputTransform.transform_first_chunk` (with the status and
headers) and every later piece through :meth:`OutputTransform.transform_chunk`.
``finishing`` is true for the last piece, so a transform sees the whole body at once
when the handler did not flush early.

:class:`GZipContentEncoding` is the one built in (the ``compress_response`` setting
installs it): it compresses text-like responses for clients that accept gzip, as a
stream, so flushed pieces reach the client compressed without waiting for the end.
"""

from __future__ import annotations

__all__ = ["GZipContentEncoding", "OutputTransform"]

import zlib
from typing import ClassVar

from typhoon import httputil


class OutputTransform:
    """Base class of output transforms: passes everything through unchanged.

    Subclasses override the two methods; the constructor receives the request being
    answered.
    """

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        pass

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        """Transform the status, headers and first body piece; ``finishing`` means the
        piece is the whole body."""
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        """Transform a later body piece; ``finishing`` means it is the last one."""
        return chunk


def _accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (RFC 9110, section 12.5.3).

    ``gzip`` (or its alias ``x-gzip``) with a non-zero weight, or ``*`` with a non-zero
    weight when gzip is not listed at all.
    """
    star: bool | None = None
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if coding in ("gzip", "x-gzip"):
            return quality > 0
        if coding == "*":
            star = quality > 0
    return bool(star)


class GZipContentEncoding(OutputTransform):
    """Compresses responses with gzip (RFC 9110, section 8.4.1.3) when the client
    accepts it.

    Only types listed in :attr:`CONTENT_TYPES` or starting with ``text/`` are
    compressed, and a body delivered whole must be at least :attr:`MIN_LENGTH` bytes.
    Partial content (206) and responses that already have a ``Content-Encoding`` are
    left alone. Every response gets ``Vary: Accept-Encoding``, since its form depends
    on that header. A compressed response's entity tag is marked weak (RFC 9110,
    section 8.8.3: a strong tag names one exact sequence of bytes); weak tags still
    match ``If-None-Match``, so conditional requests keep working.
    """

    #: Types other than ``text/*`` worth compressing.
    CONTENT_TYPES: ClassVar[frozenset[str]] = frozenset(
        {
            "application/javascript",
            "application/x-javascript",
            "application/xml",
            "application/atom+xml",
            "application/json",
            "application/xhtml+xml",
            "image/svg+xml",
        }
    )
    #: zlib compression level (1 fastest, 9 smallest).
    GZIP_LEVEL: ClassVar[int] = 6
    #: Smaller complete bodies are sent as they are: the gzip framing would not pay.
    MIN_LENGTH: ClassVar[int] = 1024

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self._gzipping = _accepts_gzip(request.headers.get("Accept-Encoding", ""))
        self._compressor: zlib._Compress | None = None

    def _compressible_type(self, ctype: str) -> bool:
        return ctype.startswith("text/") or ctype in self.CONTENT_TYPES

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        """Decide whether this response is compressed and start the stream if so."""
        vary = headers.get("Vary")
        if vary is None:
            headers["Vary"] = "Accept-Encoding"
        elif vary.strip() != "*" and "accept-encoding" not in vary.lower():
            headers["Vary"] = vary + ", Accept-Encoding"
        if self._gzipping:
            ctype = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            self._gzipping = (
                self._compressible_type(ctype)
                and (not finishing or len(chunk) >= self.MIN_LENGTH)
                and "Content-Encoding" not in headers
                and status_code != 206
                and "Content-Range" not in headers
            )
        if self._gzipping:
            headers["Content-Encoding"] = "gzip"
            etag = headers.get("Etag")
            if etag and not etag.startswith("W/"):
                headers["Etag"] = "W/" + etag
            # wbits 16 + 15: a gzip wrapper (header and CRC trailer) around deflate.
            self._compressor = zlib.compressobj(self.GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            chunk = self.transform_chunk(chunk, finishing)
            if "Content-Length" in headers:
                if finishing:
                    headers["Content-Length"] = str(len(chunk))
                else:
                    del headers["Content-Length"]
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        """Compress a piece; a sync flush makes it decodable as soon as it arrives."""
        compressor = self._compressor
        if compressor is None:
            return chunk
        compressed = compressor.compress(chunk)
        if finishing:
            compressed += compressor.flush(zlib.Z_FINISH)
            self._compressor = None
        else:
            compressed += compressor.flush(zlib.Z_SYNC_FLUSH)
        return compressed
