"""The HTTP client's pure helpers: URL checks, NO_PROXY matching, Digest answers (RFC 7616
examples), challenge parsing in linear time, and the response decoders."""

from __future__ import annotations

import gzip
import time
import zlib

import pytest
from typhoon import errors
from typhoon._client_body import BodySink, DrainSink
from typhoon._client_support import (
    DigestChallenge,
    ProxyConfig,
    basic_credentials,
    parse_url,
    proxy_from_environment,
)
from typhoon.http1proto import Response
from typhoon.httputil import HTTPHeaders

# --- URLs -------------------------------------------------------------------------------


def test_parse_url() -> None:
    parsed = parse_url("http://example.com/a/b?c=d#frag")
    assert (parsed.scheme, parsed.host, parsed.port) == ("http", "example.com", 80)
    assert parsed.authority == "example.com"
    assert parsed.target == "/a/b?c=d"
    assert parsed.absolute_target == "http://example.com/a/b?c=d"
    assert parsed.connect_target == "example.com:80"
    assert parsed.origin == ("http", "example.com", 80)
    parsed = parse_url("HTTPS://User%40x:p%3Ass@Example.COM:8443")
    assert (parsed.scheme, parsed.host, parsed.port) == ("https", "example.com", 8443)
    assert parsed.target == "/"
    assert (parsed.username, parsed.password) == ("User@x", "p:ss")
    assert parsed.authority == "Example.COM:8443"
    parsed = parse_url("https://[::1]:4443/x?")
    assert (parsed.host, parsed.port, parsed.target) == ("::1", 4443, "/x")
    assert parsed.connect_target == "[::1]:4443"
    assert parse_url("http://h/").username is None


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://h/", ValueError),
        ("h/path", ValueError),
        ("http://", ValueError),
        ("http://h:port/", ValueError),
        ("http://h/\r\n", errors.HTTPOutputError),
        ("http://h/ x", errors.HTTPOutputError),
        ("http://h/\x7f", errors.HTTPOutputError),
    ],
)
def test_parse_url_refuses(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_url(url)


def test_basic_credentials() -> None:
    assert basic_credentials("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert basic_credentials("test", "123£") == "Basic dGVzdDoxMjPCow=="


# --- proxies from the environment -------------------------------------------------------


def test_proxy_from_environment() -> None:
    env = {"http_proxy": "http://user:p%40ss@proxy.local:3128", "HTTPS_PROXY": "secure.local"}
    assert proxy_from_environment("http", "example.com", 80, env) == ProxyConfig(
        "proxy.local", 3128, "user", "p@ss"
    )
    assert proxy_from_environment("https", "example.com", 443, env) == ProxyConfig(
        "secure.local", 80
    )
    assert proxy_from_environment("http", "example.com", 80, {}) is None
    assert proxy_from_environment("http", "x", 80, {"ALL_PROXY": "http://all:1"}) == ProxyConfig(
        "all", 1
    )
    # Lower case wins; upper-case HTTP_PROXY is ignored in CGI (httpoxy).
    both = {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:2"}
    assert proxy_from_environment("http", "x", 80, both) == ProxyConfig("lower", 1)
    cgi = {"HTTP_PROXY": "http://attacker:1", "REQUEST_METHOD": "GET"}
    assert proxy_from_environment("http", "x", 80, cgi) is None
    with pytest.raises(ValueError, match="only http://"):
        proxy_from_environment("http", "x", 80, {"http_proxy": "socks5://p:1080"})


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("*", "anything.example", 80, True),
        ("example.com", "example.com", 80, True),
        ("example.com", "www.example.com", 80, True),
        ("example.com", "badexample.com", 80, False),
        (".example.com", "www.example.com", 80, True),
        ("*.example.com", "www.example.com", 80, True),
        ("example.com:8080", "example.com", 8080, True),
        ("example.com:8080", "example.com", 80, False),
        (" other.org , EXAMPLE.com ", "example.com", 80, True),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("127.0.0.1", "127.0.0.1", 80, True),
        ("::1", "::1", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 80, False),
        ("", "example.com", 80, False),
        (",,", "example.com", 80, False),
    ],
)
def test_no_proxy(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    env = {"http_proxy": "http://proxy:1", "no_proxy": no_proxy}
    assert (proxy_from_environment("http", host, port, env) is None) is bypassed


# --- Digest (RFC 7616, section 3.9.1) ---------------------------------------------------

RFC_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_digest_matches_rfc_7616_examples(algorithm: str, expected: str) -> None:
    challenge = DigestChallenge.from_headers([RFC_CHALLENGE.format(algorithm=algorithm)])
    assert challenge is not None
    answer = challenge.authorization(
        "Mufasa", "Circle of Life", "GET", "/dir/index.html", None, cnonce=RFC_CNONCE
    )
    assert answer.startswith("Digest ")
    assert f'response="{expected}"' in answer
    assert "qop=auth," in answer
    assert "nc=00000001" in answer
    assert 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in answer
    again = challenge.authorization("Mufasa", "Circle of Life", "GET", "/x", None)
    assert "nc=00000002" in again


def test_digest_variants() -> None:
    header = 'Digest realm="r", nonce="n", algorithm=SHA-256-sess, qop="auth-int", userhash=true'
    challenge = DigestChallenge.from_headers([header])
    assert challenge is not None
    answer = challenge.authorization("user", "pw", "POST", "/", b"body", cnonce="c")
    assert "qop=auth-int" in answer
    assert "userhash=true" in answer
    assert 'username="user"' not in answer
    # auth-int needs the body; without it there is no qop to answer with.
    assert "qop=" not in challenge.authorization("user", "pw", "POST", "/", None, cnonce="c")
    legacy = DigestChallenge.from_headers(['Digest realm="r", nonce="n"'])
    assert legacy is not None
    answer = legacy.authorization("ünïcode", "pw", "GET", "/", None)
    assert "username*=UTF-8''%C3%BCn%C3%AFcode" in answer
    assert "qop=" not in answer
    sha512 = DigestChallenge.from_headers(['Digest realm="r", nonce="n", algorithm=SHA-512-256'])
    assert sha512 is not None
    assert "algorithm=SHA-512-256" in sha512.authorization("u", "p", "GET", "/", None)
    stale = DigestChallenge.from_headers(['Digest realm="r", nonce="n", stale=TRUE'])
    assert stale is not None
    assert stale.stale


@pytest.mark.parametrize(
    "values",
    [
        ['Basic realm="simple"'],
        ['Digest realm="r", algorithm=UNKNOWN, nonce="n"'],
        ['Digest realm="r"'],
        ["Negotiate abc=="],
        [""],
    ],
)
def test_no_usable_digest_challenge(values: list[str]) -> None:
    assert DigestChallenge.from_headers(values) is None


def test_digest_among_other_challenges() -> None:
    values = [
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        'Negotiate abc==, Digest realm="quoted, \\"realm\\"", nonce="n1", qop="auth"',
    ]
    challenge = DigestChallenge.from_headers(values)
    assert challenge is not None
    assert challenge.realm == 'quoted, "realm"'
    assert challenge.nonce == "n1"


@pytest.mark.parametrize(
    "hostile",
    [
        'Digest realm="' + "a" * 200000,
        "Digest " + "a=" * 100000,
        "Digest " + ", " * 100000,
        "x " * 100000,
        'Digest realm="' + "\\" * 200000,
    ],
)
def test_challenge_parsing_is_linear(hostile: str) -> None:
    started = time.monotonic()
    DigestChallenge.from_headers([hostile])
    assert time.monotonic() - started < 1.0


# --- sinks ------------------------------------------------------------------------------


def _response(headers: dict[str, str]) -> Response:
    return Response(200, "OK", "HTTP/1.1", HTTPHeaders(headers), True)


def test_body_sink_decodes_and_counts_after_decoding() -> None:
    sink = BodySink(10000, True, None, None)
    head = _response({"Content-Encoding": "GZIP"})
    sink.head(head)
    assert head.headers["X-Consumed-Content-Encoding"] == "GZIP"
    data = gzip.compress(b"q" * 5000)
    for i in range(len(data)):
        sink.data(data[i : i + 1])
    sink.finish()
    assert b"".join(sink.chunks) == b"q" * 5000
    over = BodySink(100, True, None, None)
    over.head(_response({"Content-Encoding": "gzip"}))
    with pytest.raises(errors.HTTPInputError, match="max_body_size"):
        over.data(gzip.compress(b"q" * 5000))


def test_body_sink_leaves_unknown_codings_alone() -> None:
    for coding in ("br", "gzip, gzip", "identity"):
        sink = BodySink(100, True, None, None)
        head = _response({"Content-Encoding": coding})
        sink.head(head)
        sink.data(b"raw")
        sink.finish()
        assert head.headers["Content-Encoding"] == coding
        assert sink.chunks == [b"raw"]


def test_deflate_variants_and_truncation() -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_data = raw.compress(b"r" * 300) + raw.flush()
    for data in (zlib.compress(b"r" * 300), raw_data):
        sink = BodySink(1000, True, None, None)
        sink.head(_response({"Content-Encoding": "deflate"}))
        sink.data(data[:1])
        sink.data(data[1:])
        sink.finish()
        assert b"".join(sink.chunks) == b"r" * 300
    truncated = BodySink(1000, True, None, None)
    truncated.head(_response({"Content-Encoding": "gzip"}))
    truncated.data(gzip.compress(b"t" * 300)[:-8])
    with pytest.raises(errors.HTTPInputError, match="truncated"):
        truncated.finish()
    trailing = BodySink(1000, True, None, None)
    trailing.head(_response({"Content-Encoding": "gzip"}))
    with pytest.raises(errors.HTTPInputError, match="after the end"):
        trailing.data(gzip.compress(b"t") + b"garbage")


def test_drain_sink_gives_up_on_large_bodies() -> None:
    sink = DrainSink()
    assert sink.data(b"x" * 65536)
    assert not sink.data(b"x")
