"""The HTTP client over TLS (trustme certificates) and through proxies: nginx as a
forwarding proxy, a CONNECT proxy, proxy authentication and proxies from the environment."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from _httpclient_helpers import (
    DIGEST_PASSWORD,
    DIGEST_USER,
    _digest_check,
    client,
    connect_proxy,
    nginx,
    raw_server,
    read_head,
    stdlib_server,
)
from typhoon import errors
from typhoon.httpclient import HTTPClientError, HTTPResponse


def echo(response: HTTPResponse) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.body)
    data["headers"] = {name.lower(): value for name, value in data["headers"]}
    return data


class PKI:
    """A test CA, a server certificate for loopback, and a client certificate."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.server_cert = self.ca.issue_cert("localhost", "127.0.0.1", "::1")
        client_cert = self.ca.issue_cert("client@example.org")
        self.client_cert = str(directory / "client.pem")
        self.client_key = str(directory / "client.key")
        client_cert.cert_chain_pems[0].write_to_path(self.client_cert)
        client_cert.private_key_pem.write_to_path(self.client_key)

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_server(pki: PKI) -> Iterator[tuple[str, Any]]:
    with stdlib_server(tls=pki.server_context()) as (base, log):
        yield base, log


@pytest.fixture
def server() -> Iterator[tuple[str, Any]]:
    with stdlib_server() as (base, log):
        yield base, log


# --- TLS --------------------------------------------------------------------------------


async def test_certificates_are_verified_by_default(tls_server: tuple[str, Any]) -> None:
    base, log = tls_server
    async with client() as c:
        with pytest.raises(ssl.SSLCertVerificationError):
            await c.fetch(base + "/hello")
        with pytest.raises(ssl.SSLCertVerificationError):
            await c.fetch(base + "/hello", raise_error=False)
    assert log.requests == []


async def test_trusted_ca(tls_server: tuple[str, Any], pki: PKI) -> None:
    base, log = tls_server
    async with client() as c:
        response = await c.fetch(base + "/hello", ca_certs=pki.ca_file)
        assert response.body == b"Hello world!"
        localhost = base.replace("127.0.0.1", "localhost")
        assert (await c.fetch(localhost + "/hello", ca_certs=pki.ca_file)).code == 200
        # Pooled like plain connections.
        await c.fetch(base + "/hello", ca_certs=pki.ca_file)
        assert log.ports[0] == log.ports[2]


async def test_host_name_must_match(pki: PKI) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.ca.issue_cert("other.example").configure_cert(context)
    with stdlib_server(tls=context) as (base, _log):
        async with client() as c:
            with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
                await c.fetch(base + "/hello", ca_certs=pki.ca_file)
            # Turning validation off is explicit.
            response = await c.fetch(base + "/hello", validate_cert=False)
            assert response.code == 200


async def test_ssl_options(tls_server: tuple[str, Any], pki: PKI) -> None:
    base, _log = tls_server
    context = ssl.create_default_context(cafile=pki.ca_file)
    async with client() as c:
        assert (await c.fetch(base + "/hello", ssl_options=context)).code == 200
        assert (await c.fetch(base + "/hello", ssl_options={"ca_certs": pki.ca_file})).code == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            await c.fetch(base + "/hello", ssl_options=ssl.create_default_context())
    async with client(defaults={"ca_certs": pki.ca_file}) as c:
        assert (await c.fetch(base + "/hello")).code == 200


async def test_client_certificates(pki: PKI) -> None:
    with stdlib_server(tls=pki.server_context(require_client_cert=True)) as (base, log):
        async with client() as c:
            response = await c.fetch(
                base + "/hello",
                ca_certs=pki.ca_file,
                client_cert=pki.client_cert,
                client_key=pki.client_key,
            )
            assert response.code == 200
            # A request without the certificate never reuses the connection that
            # presented it (Tornado GHSA-pw6j-qg29-8w7f).
            with pytest.raises((ssl.SSLError, OSError, errors.HTTPStreamClosedError)):
                await c.fetch(base + "/hello", ca_certs=pki.ca_file)
        assert len(log.requests) == 1


async def test_https_to_http_redirect_drops_credentials(
    tls_server: tuple[str, Any], server: tuple[str, Any], pki: PKI
) -> None:
    tls_base, _tls_log = tls_server
    base, _log = server
    async with client(defaults={"ca_certs": pki.ca_file}) as c:
        response = await c.fetch(
            f"{tls_base}/redirect?to={base}/echo", headers={"Authorization": "Bearer t"}
        )
    assert "authorization" not in echo(response)["headers"]


# --- nginx as a forwarding proxy --------------------------------------------------------


async def test_nginx_forwarding_proxy(server: tuple[str, Any]) -> None:
    base, _log = server
    with nginx() as proxy_port:
        async with client() as c:
            for _ in range(2):
                response = await c.fetch(
                    base + "/echo?x=1", proxy_host="127.0.0.1", proxy_port=proxy_port
                )
                data = echo(response)
                assert data["headers"]["x-via-nginx"] == "yes"
                assert data["path"] == "/echo?x=1"
            # One connection to the proxy carried both requests.
            assert len(c._pool) == 1
            response = await c.fetch(
                base + "/redirect?to=/hello", proxy_host="127.0.0.1", proxy_port=proxy_port
            )
            assert response.body == b"Hello world!"


async def test_nginx_proxy_authentication(server: tuple[str, Any]) -> None:
    base, _log = server
    with nginx(credentials="proxyuser:proxy secret") as proxy_port:
        async with client() as c:
            with pytest.raises(HTTPClientError) as info:
                await c.fetch(base + "/echo", proxy_host="127.0.0.1", proxy_port=proxy_port)
            assert info.value.code == 407
            response = await c.fetch(
                base + "/echo",
                proxy_host="127.0.0.1",
                proxy_port=proxy_port,
                proxy_username="proxyuser",
                proxy_password="proxy secret",
            )
            assert response.code == 200


async def test_nginx_as_origin() -> None:
    text = b"".join(b"line %d of a text file\n" % i for i in range(5000))
    with nginx(files={"big.txt": text, "small.txt": b"small"}) as port:
        base = f"http://127.0.0.1:{port}/files"
        async with client() as c:
            response = await c.fetch(base + "/big.txt")
            assert response.body == text
            assert response.headers["X-Consumed-Content-Encoding"] == "gzip"
            connection = response.headers["X-Connection"]
            # Without decompression nothing asks for gzip, so none comes.
            plain = await c.fetch(base + "/big.txt", decompress_response=False)
            assert plain.body == text
            raw = await c.fetch(
                base + "/big.txt", decompress_response=False, headers={"Accept-Encoding": "gzip"}
            )
            assert raw.headers["Content-Encoding"] == "gzip"
            assert len(raw.body) < len(text) // 5
            head = await c.fetch(base + "/small.txt", method="HEAD")
            assert head.body == b""
            assert head.headers["X-Connection"] == connection
            modified = head.headers["Last-Modified"]
            with pytest.raises(HTTPClientError) as info:
                await c.fetch(base + "/small.txt", headers={"If-Modified-Since": modified})
            assert info.value.code == 304
            # nginx wants the exact date back (if_modified_since exact).
            later = await c.fetch(
                base + "/small.txt",
                if_modified_since=email.utils.parsedate_to_datetime(modified),
                raise_error=False,
            )
            assert later.code == 304
            assert later.body == b""
            missing = await c.fetch(base + "/missing.txt", raise_error=False)
            assert missing.code == 404
            # Every fetch above travelled on nginx's first connection.
            last = await c.fetch(base + "/small.txt")
            assert last.headers["X-Connection"] == connection


# --- a CONNECT proxy and the proxy protocol details -------------------------------------


async def test_plain_proxy_uses_absolute_form(server: tuple[str, Any]) -> None:
    base, _log = server
    async with connect_proxy() as (proxy_port, proxy_log), client() as c:
        response = await c.fetch(
            base + "/echo?q=1",
            proxy_host="127.0.0.1",
            proxy_port=proxy_port,
            proxy_username="u",
            proxy_password="p",
        )
    line, headers = proxy_log.requests[0]
    assert line == f"GET {base}/echo?q=1 HTTP/1.1"
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert headers["host"] == base.removeprefix("http://")
    # The credentials are for the proxy: they stay out of the request object.
    assert "Proxy-Authorization" not in response.request.headers


async def test_https_through_connect_tunnel(tls_server: tuple[str, Any], pki: PKI) -> None:
    base, log = tls_server
    authority = base.removeprefix("https://")
    async with connect_proxy(credentials="u:p") as (proxy_port, proxy_log), client() as c:
        for _ in range(2):
            response = await c.fetch(
                base + "/echo",
                ca_certs=pki.ca_file,
                proxy_host="127.0.0.1",
                proxy_port=proxy_port,
                proxy_username="u",
                proxy_password="p",
            )
            # The proxy's credentials never enter the tunnel.
            assert "proxy-authorization" not in echo(response)["headers"]
        with pytest.raises(HTTPClientError, match="proxy refused CONNECT") as info:
            await c.fetch(
                base + "/echo",
                ca_certs=pki.ca_file,
                proxy_host="127.0.0.1",
                proxy_port=proxy_port,
                proxy_username="u",
                proxy_password="wrong",
            )
        assert info.value.code == 599
    connects = [line for line, _headers in proxy_log.requests if line.startswith("CONNECT")]
    assert connects[0] == f"CONNECT {authority} HTTP/1.1"
    # The tunnel is pooled: two fetches, one CONNECT (plus the refused one).
    assert len(connects) == 2
    assert len(log.requests) == 2


async def test_tunnel_certificate_is_still_verified(tls_server: tuple[str, Any]) -> None:
    base, _log = tls_server
    async with connect_proxy() as (proxy_port, _proxy_log), client() as c:
        with pytest.raises(ssl.SSLCertVerificationError):
            await c.fetch(base + "/echo", proxy_host="127.0.0.1", proxy_port=proxy_port)


async def test_proxy_digest_authentication(server: tuple[str, Any]) -> None:
    base, _log = server
    challenge = (
        'Digest realm="http-auth@example.org", qop="auth", algorithm=MD5, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"'
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = (await read_head(reader)).decode("latin-1")
            method = head.split(" ", 1)[0]
            fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
            if _digest_check(fields.get("Proxy-Authorization", ""), method):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied")
            else:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    + f"Proxy-Authenticate: {challenge}\r\n".encode()
                    + b"Content-Length: 0\r\n\r\n"
                )
            await writer.drain()

    async with raw_server(handle) as (proxy_port, conns), client() as c:
        response = await c.fetch(
            base + "/anything",
            proxy_host="127.0.0.1",
            proxy_port=proxy_port,
            proxy_username=DIGEST_USER,
            proxy_password=DIGEST_PASSWORD,
            proxy_auth_mode="digest",
        )
        assert response.body == b"proxied"
        assert len(conns) == 1
        with pytest.raises(HTTPClientError) as info:
            await c.fetch(
                base + "/anything",
                proxy_host="127.0.0.1",
                proxy_port=proxy_port,
                proxy_username=DIGEST_USER,
                proxy_password="wrong",
                proxy_auth_mode="digest",
            )
        assert info.value.code == 407
        with pytest.raises(ValueError, match="proxy_auth_mode"):
            await c.fetch(
                base + "/", proxy_host="127.0.0.1", proxy_port=proxy_port, proxy_auth_mode="ntlm"
            )


# --- proxies from the environment -------------------------------------------------------


async def test_environment_proxies_need_trust_env(
    server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _log = server
    async with connect_proxy(credentials="envuser:env pass") as (proxy_port, proxy_log):
        monkeypatch.setenv("HTTP_PROXY", f"http://envuser:env%20pass@127.0.0.1:{proxy_port}")
        monkeypatch.delenv("http_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with client() as c:
            await c.fetch(base + "/hello")
        assert proxy_log.requests == []
        async with client(trust_env=True) as c:
            assert (await c.fetch(base + "/hello")).body == b"Hello world!"
            assert len(proxy_log.requests) == 1
            monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
            assert (await c.fetch(base + "/hello")).body == b"Hello world!"
            assert len(proxy_log.requests) == 1
            monkeypatch.delenv("NO_PROXY")
            # An explicit proxy wins over the environment.
            monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
            with pytest.raises(ConnectionRefusedError):
                await c.fetch(base + "/hello")
            monkeypatch.setenv("http_proxy", "ftp://127.0.0.1:1")
            with pytest.raises(ValueError, match="only http://"):
                await c.fetch(base + "/hello")


async def test_environment_https_proxy(
    tls_server: tuple[str, Any], pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _log = tls_server
    async with connect_proxy() as (proxy_port, proxy_log):
        monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{proxy_port}")
        monkeypatch.delenv("https_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with client(trust_env=True) as c:
            response = await c.fetch(base + "/hello", ca_certs=pki.ca_file)
            assert response.code == 200
        assert proxy_log.requests[0][0].startswith("CONNECT ")
