"""StaticFileHandler behind the real HTTP server: links out of the root, special files,
and subclasses that replace ``initialize``."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from typhoon.errors import HTTPError
from typhoon.httpserver import HTTPServer
from typhoon.web import Application, StaticFileHandler
from typhoon.web.static import FileChunks

posix_only = pytest.mark.skipif(os.name != "posix", reason="symbolic links and FIFOs")


class MultiRoot(StaticFileHandler):
    """Looks a file up in several directories; never calls ``super().initialize()``."""

    def initialize(self, roots: list[str]) -> None:  # type: ignore[override]
        self.roots = [os.path.abspath(root) for root in roots]
        self.root = self.roots[0]

    def get_absolute_path(self, root: str, path: str) -> str:  # type: ignore[override]
        for candidate in self.roots:
            absolute = os.path.abspath(os.path.join(candidate, path))
            if os.path.lexists(absolute):
                return absolute
        return os.path.abspath(os.path.join(root, path))

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        for candidate in self.roots:
            if absolute_path.startswith(candidate + os.sep):
                return super().validate_absolute_path(candidate, absolute_path)
        return super().validate_absolute_path(root, absolute_path)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A public root, a second root, and a directory outside both."""
    paths = {name: tmp_path / name for name in ("public", "second", "outside")}
    for directory in paths.values():
        directory.mkdir()
    (paths["public"] / "page.txt").write_bytes(b"public page")
    (paths["second"] / "two.txt").write_bytes(b"second root")
    (paths["outside"] / "secret.txt").write_bytes(b"secret")
    (paths["outside"] / "secretdir").mkdir()
    (paths["outside"] / "secretdir" / "index.html").write_bytes(b"secret index")
    if os.name == "posix":
        public = paths["public"]
        (public / "to_dir").symlink_to(paths["outside"] / "secretdir")
        (public / "to_missing").symlink_to(paths["outside"] / "nothing-here")
        (public / "to_file").symlink_to(paths["outside"] / "secret.txt")
        (public / "to_second").symlink_to(paths["second"] / "two.txt")
        (public / "to_page").symlink_to(public / "page.txt")
        os.mkfifo(public / "fifo")
        (public / "to_fifo").symlink_to(public / "fifo")
        (public / "to_null").symlink_to("/dev/null")
    return paths


@pytest.fixture
def typhoon_app(tree: dict[str, Path]) -> Application:
    return Application(
        [
            (
                r"/files/(.*)",
                StaticFileHandler,
                {"path": str(tree["public"]), "default_filename": "index.html"},
            ),
            (
                r"/allowed/(.*)",
                StaticFileHandler,
                {"path": str(tree["public"]), "allowed_symlink_directory": str(tree["outside"])},
            ),
            (r"/multi/(.*)", MultiRoot, {"roots": [str(tree["public"]), str(tree["second"])]}),
        ],
        load_entrypoints=False,
    )


async def get(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    """Send a raw GET; return the status, the headers and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


@posix_only
@pytest.mark.parametrize("name", ["to_dir", "to_missing", "to_file", "to_dir/index.html"])
async def test_link_out_of_the_root_is_403_whatever_its_target(
    http_server: HTTPServer, unused_port: int, name: str
) -> None:
    status, headers, body = await get(unused_port, f"/files/{name}")
    assert status == 403
    assert "Location" not in headers
    assert b"secret" not in body


@posix_only
async def test_allowed_symlink_directory_serves_links_into_it(
    http_server: HTTPServer, unused_port: int
) -> None:
    status, _, body = await get(unused_port, "/allowed/to_file")
    assert (status, body) == (200, b"secret")
    assert (await get(unused_port, "/allowed/to_dir/index.html"))[:3:2] == (200, b"secret index")
    # Still refused: a link leading somewhere not allowed.
    assert (await get(unused_port, "/allowed/to_second"))[0] == 403


@posix_only
@pytest.mark.parametrize("name", ["fifo", "to_fifo", "to_null"])
async def test_special_files_are_refused_without_being_opened(
    http_server: HTTPServer, unused_port: int, name: str
) -> None:
    # A FIFO with no writer would hold the request forever if it were opened; the
    # client's read is bounded by wait_for in get().
    status, _, _ = await get(unused_port, f"/files/{name}")
    assert status == 403


@posix_only
async def test_subclass_without_super_initialize_serves_and_checks_links(
    http_server: HTTPServer, unused_port: int
) -> None:
    assert (await get(unused_port, "/multi/page.txt"))[::2] == (200, b"public page")
    assert (await get(unused_port, "/multi/two.txt"))[::2] == (200, b"second root")
    assert (await get(unused_port, "/multi/to_page"))[::2] == (200, b"public page")
    # A link from one root into another still leaves the root it lives in.
    assert (await get(unused_port, "/multi/to_second"))[0] == 403
    assert (await get(unused_port, "/multi/to_file"))[0] == 403
    assert (await get(unused_port, "/multi/to_missing"))[0] == 403


# --- versions of special files -------------------------------------------------------------


def version(tree: dict[str, Path], path: str, **handler_args: Any) -> str | None:
    settings = {"static_path": str(tree["public"]), "static_handler_args": handler_args}
    return StaticFileHandler.get_version(settings, path)


@posix_only
def test_version_of_a_fifo_is_none_and_does_not_block(
    tree: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    StaticFileHandler.reset()
    assert version(tree, "fifo") is None
    assert version(tree, "to_fifo") is None
    assert "it is not a file" in caplog.text


@posix_only
def test_version_of_a_device_or_directory_is_none(tree: dict[str, Path]) -> None:
    StaticFileHandler.reset()
    allowed = {"allowed_symlink_directory": "/dev"}
    assert version(tree, "to_null", **allowed) is None
    assert version(tree, "to_dir", allowed_symlink_directory=str(tree["outside"])) is None
    with pytest.raises(HTTPError) as refused:
        version(tree, "to_null")
    assert refused.value.status_code == 403
    assert version(tree, "page.txt") is not None


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix sockets")
def test_version_of_a_unix_socket_is_none(tmp_path: Path) -> None:
    StaticFileHandler.reset()
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        settings = {"static_path": str(tmp_path)}
        assert StaticFileHandler.get_version(settings, "s") is None


@posix_only
def test_file_chunks_refuse_a_fifo_swapped_in(tree: dict[str, Path]) -> None:
    # What the handler reads after its checks: a FIFO must be refused, not waited on.
    with pytest.raises(OSError, match="not a regular file"):
        list(FileChunks(str(tree["public"] / "fifo")))
    assert b"".join(FileChunks(str(tree["public"] / "page.txt"), 7)) == b"page"
