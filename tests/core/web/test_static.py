"""StaticFileHandler in process: content, caching, ranges, versioned URLs, extension points,
and the traversal / symbolic-link / open-redirect rules of FEATURES.md section 5."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import gzip
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from _webclient import RecordingConnection, fetch, start
from typhoon.errors import HTTPError, StreamClosedError
from typhoon.web import Application, RequestHandler, StaticFileHandler
from typhoon.web import static as static_module
from typhoon.web.static import FileChunks

CONTENT = b"static file contents\n" * 10


@pytest.fixture(autouse=True)
def _fresh_version_cache() -> Iterator[None]:
    StaticFileHandler.reset()
    yield
    StaticFileHandler.reset()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    static.mkdir()
    (static / "a.txt").write_bytes(CONTENT)
    (static / "page.html").write_text("<html></html>")
    (static / "sub").mkdir()
    (static / "sub" / "index.html").write_text("sub index")
    (static / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (static / "blob.unknownext").write_bytes(b"?")
    (static / "empty.txt").write_bytes(b"")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "static_evil").mkdir()
    (tmp_path / "static_evil" / "x.txt").write_text("sibling")
    return static


def make_app(root: Path, *handlers: Any, **settings: Any) -> Application:
    return Application(list(handlers), static_path=str(root), load_entrypoints=False, **settings)


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


# --- serving -------------------------------------------------------------------------------


async def test_get_serves_the_file_with_validators(root: Path) -> None:
    response = await fetch(make_app(root), "/static/a.txt")
    assert response.code == 200
    assert response.body == CONTENT
    headers = response.headers
    assert headers["Content-Length"] == str(len(CONTENT))
    assert headers["Content-Type"] == "text/plain"
    assert headers["Etag"] == f'"{sha512(CONTENT)}"'
    assert headers["Accept-Ranges"] == "bytes"
    mtime = int((root / "a.txt").stat().st_mtime)
    assert email.utils.parsedate_to_datetime(headers["Last-Modified"]).timestamp() == mtime
    # Unversioned URLs are not cached by clients.
    assert "Cache-Control" not in headers
    assert "Expires" not in headers


async def test_head_has_the_headers_of_get_without_body(root: Path) -> None:
    response = await fetch(make_app(root), "/static/a.txt", method="HEAD")
    assert response.code == 200
    assert response.body == b""
    assert response.headers["Content-Length"] == str(len(CONTENT))
    assert response.headers["Etag"] == f'"{sha512(CONTENT)}"'


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("page.html", "text/html"),
        ("archive.tar.gz", "application/gzip"),
        ("blob.unknownext", "application/octet-stream"),
    ],
)
async def test_content_type(root: Path, name: str, expected: str) -> None:
    response = await fetch(make_app(root), f"/static/{name}")
    assert response.headers["Content-Type"] == expected


async def test_empty_file(root: Path) -> None:
    response = await fetch(make_app(root), "/static/empty.txt")
    assert response.code == 200
    assert response.body == b""
    assert response.headers["Content-Length"] == "0"


async def test_missing_file_is_404_and_other_methods_405(root: Path) -> None:
    app = make_app(root)
    assert (await fetch(app, "/static/nope.txt")).code == 404
    assert (await fetch(app, "/static/a.txt", method="POST", body=b"x")).code == 405


async def test_favicon_and_robots_are_served_from_the_root(root: Path) -> None:
    (root / "favicon.ico").write_bytes(b"icon")
    (root / "robots.txt").write_bytes(b"User-agent: *")
    app = make_app(root)
    assert (await fetch(app, "/favicon.ico")).body == b"icon"
    assert (await fetch(app, "/robots.txt")).body == b"User-agent: *"


async def test_large_file_goes_out_in_pieces(root: Path) -> None:
    data = os.urandom(300 * 1024)
    (root / "big.bin").write_bytes(data)
    response = await fetch(make_app(root), "/static/big.bin")
    assert response.body == data
    # 64 KiB pieces, each flushed: headers with the first, then one write per piece.
    assert response.connection.writes >= 5
    assert all(len(chunk) <= 64 * 1024 for chunk in response.connection.chunks)


def test_file_chunks_iterate_synchronously_and_respect_the_range(root: Path) -> None:
    data = bytes(range(256)) * 600  # 150 KiB
    (root / "r.bin").write_bytes(data)
    chunks = list(FileChunks(str(root / "r.bin"), 10, 70_000))
    assert b"".join(chunks) == data[10:70_000]
    assert [len(chunk) for chunk in chunks] == [65536, 70_000 - 10 - 65536]


async def test_file_chunks_iterate_asynchronously(root: Path) -> None:
    data = os.urandom(100_000)
    (root / "r.bin").write_bytes(data)
    pieces = [chunk async for chunk in FileChunks(str(root / "r.bin"), 99_990)]
    assert b"".join(pieces) == data[99_990:]


# --- conditional requests ------------------------------------------------------------------


async def test_if_none_match_gives_304_without_body(root: Path) -> None:
    app = make_app(root)
    etag = (await fetch(app, "/static/a.txt")).headers["Etag"]
    for value in (etag, "W/" + etag, f'"other", {etag}', "*"):
        response = await fetch(app, "/static/a.txt", headers={"If-None-Match": value})
        assert response.code == 304, value
        assert response.body == b""
        assert "Content-Type" not in response.headers
    other = await fetch(app, "/static/a.txt", headers={"If-None-Match": '"other"'})
    assert other.code == 200


async def test_if_modified_since(root: Path) -> None:
    app = make_app(root)
    modified = (await fetch(app, "/static/a.txt")).headers["Last-Modified"]
    moment = email.utils.parsedate_to_datetime(modified)
    later = email.utils.format_datetime(moment + datetime.timedelta(seconds=5), usegmt=True)
    earlier = email.utils.format_datetime(moment - datetime.timedelta(seconds=5), usegmt=True)
    for value, code in [(modified, 304), (later, 304), (earlier, 200), ("not a date", 200)]:
        response = await fetch(app, "/static/a.txt", headers={"If-Modified-Since": value})
        assert response.code == code, value


async def test_if_none_match_takes_precedence_over_if_modified_since(root: Path) -> None:
    app = make_app(root)
    modified = (await fetch(app, "/static/a.txt")).headers["Last-Modified"]
    response = await fetch(
        app,
        "/static/a.txt",
        headers={"If-None-Match": '"stale"', "If-Modified-Since": modified},
    )
    assert response.code == 200


# --- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code", "body", "content_range"),
    [
        ("bytes=0-4", 206, CONTENT[:5], f"bytes 0-4/{len(CONTENT)}"),
        ("bytes=5-9", 206, CONTENT[5:10], f"bytes 5-9/{len(CONTENT)}"),
        (
            "bytes=-3",
            206,
            CONTENT[-3:],
            f"bytes {len(CONTENT) - 3}-{len(CONTENT) - 1}/{len(CONTENT)}",
        ),
        ("bytes=200-", 206, CONTENT[200:], f"bytes 200-{len(CONTENT) - 1}/{len(CONTENT)}"),
        ("bytes=200-100000", 206, CONTENT[200:], f"bytes 200-{len(CONTENT) - 1}/{len(CONTENT)}"),
        ("BYTES = 0-4", 206, CONTENT[:5], f"bytes 0-4/{len(CONTENT)}"),
        # The whole representation: a plain 200.
        ("bytes=0-", 200, CONTENT, None),
        ("bytes=-100000", 200, CONTENT, None),
        # Ignored headers (RFC 9110, section 14.2): multiple ranges, bad syntax, other units.
        ("bytes=0-1,3-4", 200, CONTENT, None),
        ("bytes=+1-5", 200, CONTENT, None),
        ("bytes=1_0-20", 200, CONTENT, None),
        ("bytes=-", 200, CONTENT, None),
        ("items=0-4", 200, CONTENT, None),
        ("bytes=" + "9" * 5000 + "-", 200, CONTENT, None),
    ],
)
async def test_range(
    root: Path, header: str, code: int, body: bytes, content_range: str | None
) -> None:
    response = await fetch(make_app(root), "/static/a.txt", headers={"Range": header})
    assert response.code == code
    assert response.body == body
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers.get("Content-Range") == content_range


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={len(CONTENT)}-",
        "bytes=100000-",
        "bytes=-0",
        # Invalid single ranges are refused too (RFC 9110, section 14.2 allows it).
        "bytes=5-2",
        f"bytes={len(CONTENT)}-{len(CONTENT) - 1}",
        "bytes=5",
        f"bytes={len(CONTENT)}",
    ],
)
async def test_unsatisfiable_range_is_416(root: Path, header: str) -> None:
    response = await fetch(make_app(root), "/static/a.txt", headers={"Range": header})
    assert response.code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(CONTENT)}"
    assert response.headers["Content-Type"] == "text/plain"


async def test_any_range_of_an_empty_file_is_416(root: Path) -> None:
    response = await fetch(make_app(root), "/static/empty.txt", headers={"Range": "bytes=0-"})
    assert response.code == 416
    assert response.headers["Content-Range"] == "bytes */0"


async def test_if_range(root: Path) -> None:
    app = make_app(root)
    full = await fetch(app, "/static/a.txt")
    etag, modified = full.headers["Etag"], full.headers["Last-Modified"]
    cases = [(etag, 206), ('"stale"', 200), ("W/" + etag, 200), (modified, 206)]
    cases.append(("Mon, 01 Jan 2001 00:00:00 GMT", 200))
    for value, code in cases:
        response = await fetch(
            app, "/static/a.txt", headers={"Range": "bytes=0-1", "If-Range": value}
        )
        assert response.code == code, value


async def test_range_with_head(root: Path) -> None:
    response = await fetch(
        make_app(root), "/static/a.txt", method="HEAD", headers={"Range": "bytes=0-4"}
    )
    assert response.code == 206
    assert response.body == b""
    assert response.headers["Content-Length"] == "5"


# --- versioned URLs ------------------------------------------------------------------------


class UrlHandler(RequestHandler):
    def get(self, path: str) -> None:
        self.write(self.static_url(path, include_version=self.get_argument("v", "1") == "1"))


async def test_static_url_carries_the_content_hash(root: Path) -> None:
    app = make_app(root, (r"/url/(.*)", UrlHandler))
    response = await fetch(app, "/url/a.txt")
    assert response.body.decode() == f"/static/a.txt?v={sha512(CONTENT)}"
    unversioned = await fetch(app, "/url/a.txt?v=0")
    assert unversioned.body == b"/static/a.txt"
    # A file that does not exist has no version (and the URL still works as a path).
    missing = await fetch(app, "/url/missing.txt")
    assert missing.body == b"/static/missing.txt"


async def test_static_url_with_prefix_and_host(root: Path) -> None:
    class Absolute(RequestHandler):
        def get(self) -> None:
            self.write(self.static_url("a.txt", include_host=True))

    app = make_app(root, ("/abs", Absolute), static_url_prefix="/assets/")
    response = await fetch(app, "/abs")
    assert response.body.decode() == f"http://example.com/assets/a.txt?v={sha512(CONTENT)}"
    assert (await fetch(app, "/assets/a.txt")).body == CONTENT


async def test_versioned_requests_are_cached_for_ten_years(root: Path) -> None:
    response = await fetch(make_app(root), f"/static/a.txt?v={sha512(CONTENT)}")
    assert response.headers["Cache-Control"] == f"max-age={10 * 365 * 86400}"
    expires = email.utils.parsedate_to_datetime(response.headers["Expires"])
    assert expires > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3600)


@pytest.mark.parametrize("path", ["../secret.txt", "../static_evil/x.txt", "/etc/passwd", "a\x00b"])
async def test_static_url_refuses_paths_outside_the_root(root: Path, path: str) -> None:
    app = make_app(root, (r"/url/(.*)", UrlHandler))
    with pytest.raises(HTTPError) as info:
        StaticFileHandler.make_static_url(app.settings, path)
    assert info.value.status_code == 403
    response = await fetch(app, "/url/" + path.replace("\x00", "%00"))
    assert response.code == 403
    assert b"secret" not in response.body


def test_static_url_refuses_symlinks_leaving_the_root(root: Path) -> None:
    os.symlink(root.parent / "secret.txt", root / "link.txt")
    settings: dict[str, Any] = {"static_path": str(root)}
    with pytest.raises(HTTPError):
        StaticFileHandler.get_version(settings, "link.txt")
    settings["static_handler_args"] = {"allowed_symlink_directory": str(root.parent)}
    assert StaticFileHandler.get_version(settings, "link.txt") == sha512(b"secret")


def test_version_cache_is_bounded_and_least_recently_used(root: Path) -> None:
    class Small(StaticFileHandler):
        MAX_CACHED_VERSIONS = 2

    for name in ("one", "two", "three"):
        (root / name).write_text(name)
    settings = {"static_path": str(root)}
    Small.get_version(settings, "one")
    Small.get_version(settings, "two")
    Small.get_version(settings, "one")  # now the most recently used
    Small.get_version(settings, "three")
    cached = list(StaticFileHandler._static_hashes)
    assert cached == [str(root / "one"), str(root / "three")]


def test_files_above_the_size_cap_get_no_version(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Capped(StaticFileHandler):
        MAX_VERSION_CONTENT_SIZE = 10

    settings = {"static_path": str(root)}
    with caplog.at_level("ERROR", logger="typhoon.general"):
        assert Capped.get_version(settings, "a.txt") is None
    assert "larger than 10 bytes" in caplog.text
    assert Capped.make_static_url(settings, "a.txt") == "/static/a.txt"
    assert StaticFileHandler.get_version(settings, "page.html") == sha512(b"<html></html>")


def test_versions_are_cached_until_reset(root: Path) -> None:
    settings = {"static_path": str(root)}
    first = StaticFileHandler.get_version(settings, "a.txt")
    (root / "a.txt").write_bytes(b"changed")
    assert StaticFileHandler.get_version(settings, "a.txt") == first
    StaticFileHandler.reset()
    assert StaticFileHandler.get_version(settings, "a.txt") == sha512(b"changed")


async def test_static_hash_cache_off_recomputes_per_request(root: Path) -> None:
    app = make_app(root, (r"/url/(.*)", UrlHandler), static_hash_cache=False)
    first = (await fetch(app, "/url/a.txt")).body
    (root / "a.txt").write_bytes(b"changed")
    assert (await fetch(app, "/url/a.txt")).body == f"/static/a.txt?v={sha512(b'changed')}".encode()
    assert first != (await fetch(app, "/url/a.txt")).body


def test_unreadable_file_has_no_version_and_is_logged(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert StaticFileHandler.get_version({"static_path": str(root)}, "missing.txt") is None
    assert any("Could not open static file" in r.getMessage() for r in caplog.records)


# --- traversal and symbolic links ----------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "/static/../secret.txt",
        "/static/..%2fsecret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/sub/../../secret.txt",
        # A sibling directory whose name starts with the root's (4.2.1 advisory).
        "/static/../static_evil/x.txt",
        "/static/..%2fstatic_evil%2fx.txt",
        # An absolute path joined to the root replaces it.
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
    ],
)
async def test_paths_outside_the_root_are_refused(root: Path, uri: str) -> None:
    response = await fetch(make_app(root), uri)
    assert response.code == 403, uri
    assert b"secret" not in response.body
    assert b"sibling" not in response.body


async def test_nul_byte_is_refused(root: Path) -> None:
    response = await fetch(make_app(root), "/static/a.txt%00.html")
    assert response.code == 400


async def test_symlink_leaving_the_root_is_refused(root: Path) -> None:
    os.symlink(root.parent / "secret.txt", root / "link.txt")
    os.symlink(root.parent / "static_evil", root / "evil_dir")
    app = make_app(root)
    assert (await fetch(app, "/static/link.txt")).code == 403
    assert (await fetch(app, "/static/evil_dir/x.txt")).code == 403


async def test_symlink_inside_the_root_is_served(root: Path) -> None:
    os.symlink(root / "a.txt", root / "alias.txt")
    response = await fetch(make_app(root), "/static/alias.txt")
    assert response.code == 200
    assert response.body == CONTENT


@pytest.mark.parametrize("as_list", [False, True])
async def test_allowed_symlink_directory(root: Path, as_list: bool) -> None:
    shared = root.parent / "static_evil"
    os.symlink(shared / "x.txt", root / "shared.txt")
    os.symlink(root.parent / "secret.txt", root / "link.txt")
    allowed: Any = [str(shared)] if as_list else str(shared)
    app = make_app(root, static_handler_args={"allowed_symlink_directory": allowed})
    assert (await fetch(app, "/static/shared.txt")).body == b"sibling"
    # Only the allowed directory: other targets outside the root stay refused.
    assert (await fetch(app, "/static/link.txt")).code == 403


async def test_root_that_is_itself_a_symlink(root: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias_root"
    os.symlink(root, alias)
    response = await fetch(make_app(alias), "/static/a.txt")
    assert response.body == CONTENT


async def test_ntfs_alternate_data_streams_are_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(static_module, "_WINDOWS", True)
    response = await fetch(make_app(root), "/static/a.txt::$DATA")
    assert response.code == 403


# --- directories and default_filename ------------------------------------------------------


async def test_directory_without_default_filename_is_403(root: Path) -> None:
    app = make_app(root)
    assert (await fetch(app, "/static/sub/")).code == 403
    assert (await fetch(app, "/static/sub")).code == 403


async def test_default_filename_redirects_then_serves(root: Path) -> None:
    app = make_app(root, static_handler_args={"default_filename": "index.html"})
    redirect = await fetch(app, "/static/sub")
    assert redirect.code == 301
    assert redirect.headers["Location"] == "/static/sub/"
    served = await fetch(app, "/static/sub/")
    assert served.code == 200
    assert served.body == b"sub index"
    assert (await fetch(app, "/static/")).code == 404  # no index.html at the root


@pytest.mark.parametrize(
    "uri", ["//evil.example", "///evil.example", "/\\evil.example", "/%5Cevil.example"]
)
async def test_directory_redirect_never_leaves_the_host(root: Path, uri: str) -> None:
    # The handler serves the whole site, so the URL path is the file path.
    for name in ("evil.example", "\\evil.example"):
        (root / name).mkdir()
        (root / name / "index.html").write_text("x")
    app = Application(
        [(r"/(.*)", StaticFileHandler, {"path": str(root), "default_filename": "index.html"})],
        load_entrypoints=False,
    )
    response = await fetch(app, uri)
    if "%" in uri:
        # Browsers leave "%5C" encoded in a path: a redirect to it stays on this host.
        assert response.code == 301
        assert response.headers["Location"] == uri + "/"
    else:
        assert response.code == 403, uri
        assert "Location" not in response.headers


# --- extension points ----------------------------------------------------------------------


async def test_overrides_of_the_extension_points(root: Path) -> None:
    calls: list[str] = []

    class Custom(StaticFileHandler):
        def parse_url_path(self, url_path: str) -> str:
            calls.append("parse_url_path")
            return url_path.removesuffix(".alias")

        @classmethod
        def get_absolute_path(cls, root: str, path: str) -> str:
            calls.append("get_absolute_path")
            return super().get_absolute_path(root, path)

        def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
            calls.append("validate_absolute_path")
            return super().validate_absolute_path(root, absolute_path)

        def get_content_type(self) -> str:
            return "application/x-custom"

        def set_extra_headers(self, path: str) -> None:
            self.set_header("X-Path", path)

        def get_cache_time(
            self, path: str, modified: datetime.datetime | None, mime_type: str
        ) -> int:
            return 60

        def get_modified_time(self) -> datetime.datetime | None:
            return datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

        def compute_etag(self) -> str | None:
            return '"fixed"'

    app = Application([(r"/c/(.*)", Custom, {"path": str(root)})], load_entrypoints=False)
    response = await fetch(app, "/c/a.txt.alias")
    assert response.body == CONTENT
    assert calls == ["parse_url_path", "get_absolute_path", "validate_absolute_path"]
    headers = response.headers
    assert headers["Content-Type"] == "application/x-custom"
    assert headers["X-Path"] == "a.txt"
    assert headers["Cache-Control"] == "max-age=60"
    assert headers["Last-Modified"] == "Thu, 02 Jan 2020 03:04:05 GMT"
    assert headers["Etag"] == '"fixed"'
    again = await fetch(app, "/c/a.txt", headers={"If-None-Match": '"fixed"'})
    assert again.code == 304


class FromMemory(StaticFileHandler):
    """Serves names from a dict; each kind of get_content result is tried."""

    FILES: ClassVar[dict[str, bytes]] = {
        "bytes.txt": b"as bytes",
        "sync.txt": b"from a generator",
        "async.txt": b"async!",
    }

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if os.path.basename(absolute_path) not in self.FILES:
            raise HTTPError(404)
        return absolute_path

    @classmethod
    def get_content(cls, abspath: str, start: int | None = None, end: int | None = None) -> Any:
        name = os.path.basename(abspath)
        data = cls.FILES[name][start:end]
        if name == "bytes.txt":
            return data

        def pieces() -> Iterator[bytes]:
            for i in range(0, len(data), 3):
                yield data[i : i + 3]

        async def async_pieces() -> AsyncIterator[bytes]:
            for piece in pieces():
                yield piece

        return pieces() if name == "sync.txt" else async_pieces()

    def get_content_size(self) -> int:
        assert self.absolute_path is not None
        return len(self.FILES[os.path.basename(self.absolute_path)])

    def get_modified_time(self) -> datetime.datetime | None:
        return None


@pytest.mark.parametrize("name", ["bytes.txt", "sync.txt", "async.txt"])
async def test_get_content_may_return_bytes_or_iterables(root: Path, name: str) -> None:
    app = Application([(r"/m/(.*)", FromMemory, {"path": str(root)})], load_entrypoints=False)
    response = await fetch(app, f"/m/{name}")
    assert response.body == FromMemory.FILES[name]
    assert "Last-Modified" not in response.headers
    partial = await fetch(app, f"/m/{name}", headers={"Range": "bytes=2-5"})
    assert partial.code == 206
    assert partial.body == FromMemory.FILES[name][2:6]


def test_get_content_version_of_overrides(root: Path) -> None:
    assert FromMemory.get_content_version("/x/bytes.txt") == sha512(b"as bytes")
    assert FromMemory.get_content_version("/x/sync.txt") == sha512(b"from a generator")
    with pytest.raises(TypeError, match="get_content_version"):
        FromMemory.get_content_version("/x/async.txt")


def test_tornado_style_version_override_reads_the_default_content(root: Path) -> None:
    class Md5(StaticFileHandler):
        @classmethod
        def get_content_version(cls, abspath: str) -> str:
            data = cls.get_content(abspath)
            hasher = hashlib.md5()
            if isinstance(data, bytes):
                hasher.update(data)
            else:
                for chunk in data:  # type: ignore[union-attr]
                    hasher.update(chunk)
            return hasher.hexdigest()

    settings = {"static_path": str(root)}
    assert Md5.make_static_url(settings, "a.txt") == (
        f"/static/a.txt?v={hashlib.md5(CONTENT).hexdigest()}"
    )


async def test_make_static_url_override_is_used_by_static_url(root: Path) -> None:
    class Cdn(StaticFileHandler):
        @classmethod
        def make_static_url(cls, settings: Any, path: str, include_version: bool = True) -> str:
            return "https://cdn.example/" + path

    app = make_app(root, (r"/url/(.*)", UrlHandler), static_handler_class=Cdn)
    assert (await fetch(app, "/url/a.txt")).body == b"https://cdn.example/a.txt"
    assert (await fetch(app, "/static/a.txt")).body == CONTENT  # served by Cdn too


async def test_the_file_is_closed_when_the_client_leaves(root: Path) -> None:
    closed: list[bool] = []

    class Tracking(StaticFileHandler):
        @classmethod
        def get_content(cls, abspath: str, start: int | None = None, end: int | None = None) -> Any:
            async def pieces() -> AsyncIterator[bytes]:
                try:
                    async for piece in FileChunks(abspath, start, end):
                        yield piece
                finally:
                    closed.append(True)

            return pieces()

    class Leaving(RecordingConnection):
        def write(self, chunk: bytes) -> Any:
            raise StreamClosedError()

    (root / "big.bin").write_bytes(b"x" * (512 * 1024))
    app = Application([(r"/t/(.*)", Tracking, {"path": str(root)})], load_entrypoints=False)
    conn = Leaving()
    await start(app, "GET", "/t/big.bin", connection=conn)
    for _ in range(20):
        if closed:
            break
        await _tick()
    assert closed == [True]
    assert conn.start_line is not None  # the headers (with the first piece) went out


async def test_static_rules_come_before_the_applications_catch_all(root: Path) -> None:
    class CatchAll(RequestHandler):
        def get(self, path: str) -> None:
            self.write("catch-all")

    app = make_app(root, (r"/(.*)", CatchAll))
    assert (await fetch(app, "/static/a.txt")).body == CONTENT
    assert (await fetch(app, "/other")).body == b"catch-all"


async def test_static_files_through_gzip(root: Path) -> None:
    data = b"compressible text " * 10_000
    (root / "big.txt").write_bytes(data)
    app = make_app(root, compress_response=True)
    response = await fetch(app, "/static/big.txt", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in response.headers  # streamed, so chunked
    assert gzip.decompress(response.body) == data
    partial = await fetch(
        app, "/static/big.txt", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"}
    )
    assert partial.code == 206
    assert "Content-Encoding" not in partial.headers
    assert partial.body == data[:10]


async def _tick() -> None:
    await asyncio.sleep(0)
