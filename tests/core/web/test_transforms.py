"""Output transforms: GZipContentEncoding decisions and streaming, custom transforms."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest
from _webclient import fetch
from typhoon import httputil
from typhoon.escape import url_escape
from typhoon.web import Application, GZipContentEncoding, OutputTransform, RequestHandler
from typhoon.web.transforms import _accepts_gzip

HTML = "<p>" + "compressible " * 200 + "</p>"  # well above MIN_LENGTH


class Page(RequestHandler):
    def get(self) -> None:
        kind = self.get_argument("type", None)
        if kind:
            self.set_header("Content-Type", kind)
        vary = self.get_argument("vary", None)
        if vary:
            self.set_header("Vary", vary)
        if self.get_argument("encoded", None):
            self.set_header("Content-Encoding", "br")
        size = int(self.get_argument("size", "0"))
        self.write(HTML if not size else "x" * size)

    def head(self) -> None:
        self.get()


class Streaming(RequestHandler):
    async def get(self) -> None:
        for index in range(3):
            self.write(f"piece {index} " * 200)
            await self.flush()


class Partial(RequestHandler):
    def get(self) -> None:
        self.set_status(206)
        self.set_header("Content-Range", "bytes 0-2999/9000")
        self.write("p" * 3000)


def make_app(**settings: Any) -> Application:
    settings.setdefault("compress_response", True)
    return Application(
        [("/", Page), ("/stream", Streaming), ("/partial", Partial)],
        load_entrypoints=False,
        **settings,
    )


GZIP = {"Accept-Encoding": "gzip, deflate"}


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("deflate, gzip", True),
        ("GZIP;q=0.5", True),
        ("x-gzip", True),
        ("gzip; q=0", False),
        ("gzip;q=0.000", False),
        ("gzip;q=nonsense", False),
        ("*", True),
        ("identity, *;q=0.1", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("deflate, br", False),
        ("", False),
        (",,;", False),
    ],
)
def test_accept_encoding(header: str, accepted: bool) -> None:
    assert _accepts_gzip(header) is accepted


async def test_whole_response_is_compressed_with_its_length() -> None:
    response = await fetch(make_app(), "/", headers=GZIP)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert gzip.decompress(response.body) == HTML.encode()
    assert len(response.body) < len(HTML)


async def test_the_entity_tag_is_weakened_and_still_validates() -> None:
    app = make_app()
    response = await fetch(app, "/", headers=GZIP)
    etag = response.headers["Etag"]
    assert etag.startswith('W/"')
    again = await fetch(app, "/", headers={**GZIP, "If-None-Match": etag})
    assert again.code == 304
    plain = await fetch(app, "/")
    assert not plain.headers["Etag"].startswith("W/")


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?size=100", GZIP),  # below MIN_LENGTH
        ("?type=image/png", GZIP),  # not a compressible type
        ("?encoded=1", GZIP),  # already encoded
        ("", {}),  # the client did not ask
        ("", {"Accept-Encoding": "gzip;q=0"}),  # the client refused
    ],
)
async def test_left_uncompressed(query: str, headers: dict[str, str]) -> None:
    response = await fetch(make_app(), "/" + query, headers=headers)
    assert response.headers.get("Content-Encoding") in (None, "br")
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Length"] == str(len(response.body))


@pytest.mark.parametrize(
    "kind",
    ["text/css", "application/json; charset=UTF-8", "image/svg+xml", "application/javascript"],
)
async def test_compressible_types(kind: str) -> None:
    response = await fetch(make_app(), "/?type=" + url_escape(kind), headers=GZIP)
    assert response.headers["Content-Encoding"] == "gzip"


@pytest.mark.parametrize(
    ("vary", "expected"),
    [("Cookie", "Cookie, Accept-Encoding"), ("accept-encoding", "accept-encoding"), ("*", "*")],
)
async def test_existing_vary_is_extended(vary: str, expected: str) -> None:
    response = await fetch(make_app(), "/?vary=" + vary, headers=GZIP)
    assert response.headers["Vary"] == expected


async def test_streamed_response_is_compressed_piece_by_piece() -> None:
    response = await fetch(make_app(), "/stream", headers=GZIP)
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in response.headers
    chunks = response.connection.chunks
    assert len(chunks) >= 3
    # Each flushed piece decodes on arrival (sync flush), before the stream ends.
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decoder.decompress(chunks[0]) == ("piece 0 " * 200).encode()
    assert decoder.decompress(chunks[1]) == ("piece 1 " * 200).encode()
    expected = "".join(f"piece {index} " * 200 for index in range(3)).encode()
    assert gzip.decompress(b"".join(chunks)) == expected


async def test_partial_content_is_not_compressed() -> None:
    response = await fetch(make_app(), "/partial", headers=GZIP)
    assert response.code == 206
    assert "Content-Encoding" not in response.headers
    assert response.body == b"p" * 3000


async def test_old_setting_name_and_no_duplicate_transform() -> None:
    assert (await fetch(make_app(compress_response=None, gzip=True), "/", headers=GZIP)).headers[
        "Content-Encoding"
    ] == "gzip"
    app = Application(
        [("/", Page)],
        transforms=[GZipContentEncoding],
        compress_response=True,
        load_entrypoints=False,
    )
    assert app.transforms == [GZipContentEncoding]
    assert Application([("/", Page)], load_entrypoints=False).transforms == []


async def test_head_response_has_no_body() -> None:
    response = await fetch(make_app(), "/", method="HEAD", headers=GZIP)
    assert response.body == b""
    assert response.headers["Content-Encoding"] == "gzip"


class Upper(OutputTransform):
    """Upper-cases the body and counts the pieces it saw."""

    seen: list[tuple[str, bool]] = []  # noqa: RUF012

    def transform_first_chunk(
        self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        Upper.seen.append(("first", finishing))
        headers["X-Transformed"] = "yes"
        headers.pop("Content-Length", None)
        return status_code, headers, chunk.upper()

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        Upper.seen.append(("later", finishing))
        return chunk.upper()


async def test_custom_transform_sees_first_and_later_chunks() -> None:
    Upper.seen.clear()
    app = Application([("/stream", Streaming)], load_entrypoints=False)
    app.add_transform(Upper)
    response = await fetch(app, "/stream")
    assert response.headers["X-Transformed"] == "yes"
    assert response.body == "".join(f"PIECE {i} " * 200 for i in range(3)).encode()
    assert Upper.seen == [("first", False), ("later", False), ("later", False), ("later", True)]


def test_base_transform_passes_everything_through() -> None:
    request = httputil.HTTPServerRequest(method="GET", uri="/")
    transform = OutputTransform(request)
    headers = httputil.HTTPHeaders({"A": "b"})
    assert transform.transform_first_chunk(200, headers, b"x", True) == (200, headers, b"x")
    assert transform.transform_chunk(b"y", False) == b"y"


def test_same_policy_as_tornado() -> None:
    tornado_web = pytest.importorskip("tornado.web")
    theirs = tornado_web.GZipContentEncoding
    assert set(GZipContentEncoding.CONTENT_TYPES) == set(theirs.CONTENT_TYPES)
    assert GZipContentEncoding.MIN_LENGTH == theirs.MIN_LENGTH
    assert GZipContentEncoding.GZIP_LEVEL == theirs.GZIP_LEVEL
