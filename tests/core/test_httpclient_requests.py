"""What the client puts on the wire for a request: header value types, Basic
credentials, the ``HTTPRequest.headers`` attribute, and redirects it refuses."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import unicodedata
from collections.abc import AsyncIterator

import pytest
from _httpclient_helpers import client, fixed_response, raw_server, read_head
from typhoon import errors
from typhoon.httpclient import HTTPRequest
from typhoon.httputil import HTTPHeaders


@contextlib.asynccontextmanager
async def recording_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server answering 200 to every request and keeping each request head."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                heads.append(await read_head(reader))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    async with raw_server(handle) as (port, _):
        yield f"http://127.0.0.1:{port}/", heads


def field(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.lower() == name.lower():
            return value.strip()
    raise AssertionError(f"no {name!r} in {head!r}")


# --- header value types -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["plain", b"plain", b"caf\xc3\xa9 utf-8", b"caf\xe9 latin-1", bytearray(b"from bytearray")],
)
async def test_dict_header_values_may_be_bytes(value: str | bytes | bytearray) -> None:
    expected = value.encode() if isinstance(value, str) else bytes(value)
    async with recording_server() as (url, heads), client() as c:
        await c.fetch(url, headers={"X-Value": value, "User-Agent": value})
    assert field(heads[0], b"X-Value") == expected
    assert field(heads[0], b"User-Agent") == expected


@pytest.mark.parametrize("bad", [b"a\r\nX-Injected: 1", b"a\nb", b"a\rb", b"a\x00b"])
async def test_bytes_values_still_refuse_line_breaks(bad: bytes) -> None:
    async with recording_server() as (url, heads), client() as c:
        with pytest.raises(errors.HTTPOutputError):
            await c.fetch(url, headers={"X-Value": bad})
    assert heads == []


# --- Basic credentials ------------------------------------------------------------------


async def test_basic_credentials_are_normalised_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "jos\u00e9")
    password = unicodedata.normalize("NFD", "pa\u00df\u00e5")
    assert decomposed != "jos\u00e9"
    async with recording_server() as (url, heads), client() as c:
        await c.fetch(url, auth_username=decomposed, auth_password=password)
        await c.fetch(url, auth_username="jos\u00e9", auth_password="pa\u00df\u00e5")
    sent = field(heads[0], b"Authorization")
    assert sent == field(heads[1], b"Authorization")
    token = sent.split(b" ", 1)[1]
    assert base64.b64decode(token) == "jos\u00e9:pa\u00df\u00e5".encode()


# --- the headers attribute --------------------------------------------------------------


def test_headers_attribute_keeps_what_was_assigned() -> None:
    plain = {"foo": "bar"}
    request = HTTPRequest("http://127.0.0.1/", headers=plain)
    assert request.headers is plain
    assert request.headers == {"foo": "bar"}
    other = {"X-A": "1"}
    request.headers = other
    assert request.headers is other
    parsed = HTTPHeaders({"X-B": "2"})
    request.headers = parsed
    assert request.headers is parsed
    request.headers = None
    assert isinstance(request.headers, HTTPHeaders)
    assert len(request.headers) == 0


async def test_plain_dict_headers_are_sent() -> None:
    request = HTTPRequest("http://127.0.0.1/", headers={"X-From-Dict": "yes"})
    async with recording_server() as (url, heads), client() as c:
        request.url = url
        await c.fetch(request)
    assert field(heads[0], b"X-From-Dict") == b"yes"


# --- redirects to URLs the client does not fetch ---------------------------------------


@pytest.mark.parametrize("location", [b"ftp://example.com/", b"h:5", b"mailto:a@b.c"])
async def test_redirect_to_another_scheme_fails_like_a_request_for_it(location: bytes) -> None:
    redirect = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(fixed_response(redirect)) as (port, _), client() as c:
        with pytest.raises(ValueError, match="Unsupported url scheme") as info:
            await c.fetch(f"http://127.0.0.1:{port}/")
        with pytest.raises(ValueError, match="Unsupported url scheme"):
            await c.fetch(location.decode())
    assert not isinstance(info.value, errors.HTTPClientError)


async def test_unfollowed_redirect_is_returned_as_is() -> None:
    redirect = b"HTTP/1.1 302 Found\r\nLocation: ftp://example.com/\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(fixed_response(redirect)) as (port, _), client() as c:
        response = await c.fetch(
            f"http://127.0.0.1:{port}/", follow_redirects=False, raise_error=False
        )
    assert response.code == 302
    assert response.headers["Location"] == "ftp://example.com/"
