"""RedirectHandler behind the real HTTP server: substitutions never redirect off-site."""

from __future__ import annotations

import asyncio

import pytest
from typhoon.httpserver import HTTPServer
from typhoon.web import Application, RedirectHandler


@pytest.fixture
def typhoon_app() -> Application:
    return Application(
        [
            (r"/rel/(.*)", RedirectHandler, {"url": "{0}"}),
            (r"/moved(.*)", RedirectHandler, {"url": "https://example.com{0}"}),
            (r"/scheme/(.*)", RedirectHandler, {"url": "https:{0}"}),
            (r"/host/(.*)", RedirectHandler, {"url": "https://{0}"}),
            (r"/sub/(\w+)", RedirectHandler, {"url": "https://{0}.example.com/"}),
            (r"/(.*)/end", RedirectHandler, {"url": "/{0}/landing"}),
            (r"/search/(.*)", RedirectHandler, {"url": "/find?q={0}", "permanent": False}),
        ],
        load_entrypoints=False,
    )


async def get(port: int, target: str) -> tuple[int, dict[str, str]]:
    """Send a raw GET for ``target``; return the status and the response headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if line)
    return int(status_line.split()[1]), headers


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/moved/a/b", "https://example.com/a/b"),
        ("/moved", "https://example.com"),
        ("/moved/x?k=v", "https://example.com/x?k=v"),
        ("/moved?k=v", "https://example.com?k=v"),
        ("/rel/foo/bar", "foo/bar"),
        ("/ok/end", "/ok/landing"),
        ("/a/b/end?x=1", "/a/b/landing?x=1"),
        ("/search///evil.com", "/find?q=//evil.com"),
        ("/search/https://evil.com", "/find?q=https://evil.com"),
    ],
)
async def test_substitution_into_the_path_or_query_redirects(
    http_server: HTTPServer, unused_port: int, target: str, location: str
) -> None:
    status, headers = await get(unused_port, target)
    assert status in (301, 302)
    assert headers["Location"] == location


@pytest.mark.parametrize(
    "target",
    [
        # "https:evil.com" from an http page is https://evil.com/ in browsers.
        "/scheme/evil.com",
        "/scheme/evil.com?x=1",
        "/scheme//evil.com",
        "/scheme////evil.com",
        "/scheme/%5Cevil.com",
        # Substitutions right after the host would extend it or add userinfo or a port.
        "/moved.evil.com/x",
        "/moved@evil.com/x",
        "/moved:8080/x",
        # The template leaves the host to the substitution: never accepted.
        "/host/evil.com",
        "/host//evil.com",
        "/sub/x",
        "/sub/evil",
        # Right after the first slash: a second slash makes the target host-relative.
        "/%2Fevil.com/end",
        "/%2F%2Fevil.com/end",
        "/%5C%5Cevil.com/end",
        "/%5Cevil.com/end",
        "/%2Fevil.com/end?x=1",
        # A template made of the substitution alone takes relative URLs only.
        "/rel/https://evil.com/",
        "/rel///evil.com",
        "/rel/%5C%5Cevil.com/",
        "/rel////evil.com/",
        "/rel/javascript:alert(1)",
        "/rel/%20//evil.com",
    ],
)
async def test_substitution_changing_scheme_or_host_is_refused(
    http_server: HTTPServer, unused_port: int, target: str
) -> None:
    status, headers = await get(unused_port, target)
    assert status == 400
    assert "Location" not in headers


@pytest.mark.parametrize(
    "target",
    [
        "/rel/%0Afoo",
        "/rel/a%0D%0ASet-Cookie:%20x=1",
        "/rel/a%00b",
        "/rel/a%7Fb",
        "/%09//evil.com/end",
        "/moved/%09x",
        # An unbalanced "[" cannot be parsed as a host at all.
        "/rel/%2F%2F%5B?x=1",
    ],
)
async def test_substitution_with_invalid_characters_is_a_bad_request(
    http_server: HTTPServer, unused_port: int, target: str
) -> None:
    status, headers = await get(unused_port, target)
    assert status == 400
    assert "Location" not in headers
    assert "Set-Cookie" not in headers
