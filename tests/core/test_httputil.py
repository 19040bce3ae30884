"""Tests for typhoon.httputil: headers, start lines, the server request, body parsing.

The parsers get the attack classes of FEATURES.md section 5 that apply to them:
header injection (values with CR/LF/NUL), algorithmic complexity (cookies, header
parameters, repeated header lines, multipart, query strings: each bounded in time
on adversarial input), and resource limits (parts, fields, part-header size).
"""

from __future__ import annotations

import copy
import datetime
import pickle
import time
import types
from collections.abc import Iterator, MutableMapping

import pytest
from typhoon import httputil
from typhoon._headers import normalize_header_name, parse_header_params
from typhoon.errors import HTTPInputError, HTTPOutputError
from typhoon.escape import parse_qs_bytes
from typhoon.httputil import (
    HTTPConnection,
    HTTPFile,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    MultipartDelegate,
    MultipartForm,
    MultipartParser,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
    RequestStartLine,
    ResponseStartLine,
    encode_username_password,
    format_timestamp,
    parse_body_arguments,
    parse_cookie,
    parse_multipart_form_data,
    parse_request_start_line,
    parse_response_start_line,
    qs_to_qsl,
    responses,
    set_parse_body_config,
    split_host_and_port,
    url_concat,
)

# --- HTTPHeaders ---------------------------------------------------------------------------


def test_headers_are_case_insensitive_and_canonical() -> None:
    h = HTTPHeaders()
    h["content-TYPE"] = "text/html"
    h["x-request-id"] = "1"
    h["X-FORWARDED-FOR"] = "a"
    assert list(h) == ["Content-Type", "X-Request-Id", "X-Forwarded-For"]
    assert h["Content-Type"] == h["content-type"] == "text/html"
    assert "CONTENT-type" in h
    assert "Other" not in h
    assert 1 not in h  # type: ignore[comparison-overlap]
    assert h.get("missing") is None
    assert h.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        h["missing"]


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("content-type", "Content-Type"),
        ("WWW-Authenticate", "Www-Authenticate"),
        ("x-b3-traceid", "X-B3-Traceid"),
        ("etag", "Etag"),
        ("ETag", "Etag"),
        ("sec-websocket-key", "Sec-Websocket-Key"),
        ("my_header", "My_header"),
        ("a--b", "A--B"),
    ],
)
def test_header_name_normalisation(name: str, canonical: str) -> None:
    assert normalize_header_name(name) == canonical
    h = HTTPHeaders()
    h[name] = "v"
    assert list(h) == [canonical]


def test_multiple_values() -> None:
    h = HTTPHeaders({"content-type": "text/html"})
    h.add("Set-Cookie", "A=B")
    h.add("set-cookie", "C=D")
    assert h["set-cookie"] == "A=B,C=D"
    assert h.get("Set-Cookie") == "A=B,C=D"
    assert h.get_list("SET-COOKIE") == ["A=B", "C=D"]
    assert h.get_list("absent") == []
    assert sorted(h.get_all()) == [
        ("Content-Type", "text/html"),
        ("Set-Cookie", "A=B"),
        ("Set-Cookie", "C=D"),
    ]
    h.get_list("Set-Cookie").append("mutating a copy")
    assert len(h.get_list("Set-Cookie")) == 2
    h["Set-Cookie"] = "E=F"
    assert h.get_list("Set-Cookie") == ["E=F"]
    del h["set-cookie"]
    assert "Set-Cookie" not in h
    assert len(h) == 1


def test_header_constructors() -> None:
    assert dict(HTTPHeaders(a="1", b="2")) == {"A": "1", "B": "2"}
    assert dict(HTTPHeaders([("x", "1"), ("y", "2")])) == {"X": "1", "Y": "2"}
    original = HTTPHeaders()
    original.add("A", "1")
    original.add("A", "2")
    clone = HTTPHeaders(original)
    assert clone.get_list("A") == ["1", "2"]
    flattened = HTTPHeaders(dict(original))
    assert flattened.get_list("A") == ["1,2"]


def test_header_copies_are_independent() -> None:
    h = HTTPHeaders()
    h.add("A", "1")
    for other in (h.copy(), copy.copy(h), copy.deepcopy(h), pickle.loads(pickle.dumps(h))):
        assert isinstance(other, HTTPHeaders)
        other.add("A", "2")
        other["B"] = "3"
        assert h.get_list("A") == ["1"]
        assert "B" not in h
        assert other.get_list("A") == ["1", "2"]


def test_headers_can_be_subclassed() -> None:
    # The class is compiled in the wheel; application code may still extend it.
    class UpperValues(HTTPHeaders):
        def __setitem__(self, name: str, value: str | bytes | bytearray) -> None:
            super().__setitem__(name, value.upper())

        def names(self) -> list[str]:
            return sorted(self)

    headers = UpperValues({"x-one": "a"})
    headers["X-Two"] = "b"
    assert headers["X-One"] == "A"
    assert headers["x-two"] == "B"
    assert headers.names() == ["X-One", "X-Two"]
    assert isinstance(headers, MutableMapping)
    assert type(UpperValues._from_parsed({"A": ["1"]})) is UpperValues
    assert HTTPHeaders(headers) == {"X-One": "A", "X-Two": "B"}


def test_header_mapping_methods() -> None:
    h = HTTPHeaders()
    h.update({"a": "1"}, b="2")
    assert h.setdefault("A", "x") == "1"
    assert h.pop("b") == "2"
    assert h == HTTPHeaders(A="1")
    assert h != HTTPHeaders(A="2")
    assert HTTPHeaders([("A", "1"), ("A", "2")]).get_list("A") == ["2"]  # item assignment
    repeated = HTTPHeaders()
    repeated.add("A", "1")
    repeated.add("A", "2")
    assert str(repeated) == "A: 1\nA: 2\n"
    assert repr(HTTPHeaders(A="1")) == "HTTPHeaders([('A', '1')])"


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=y", "a\nb", "a\rb", "a\x00b", "\r\n"])
def test_output_values_with_line_breaks_or_nul_are_refused(value: str) -> None:
    h = HTTPHeaders()
    with pytest.raises(HTTPOutputError):
        h["X-A"] = value
    with pytest.raises(HTTPOutputError):
        h.add("X-A", value)
    with pytest.raises(HTTPOutputError):
        HTTPHeaders({"X-A": value})
    assert "X-A" not in h


@pytest.mark.parametrize("name", ["Bad Name", "Bad:Name", "Bad\r\nName", "", "B\x00d", "(x)"])
def test_output_names_must_be_tokens(name: str) -> None:
    with pytest.raises(HTTPOutputError):
        HTTPHeaders().add(name, "v")


def test_output_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        HTTPHeaders()["X"] = "a\nb"


def test_parse_line() -> None:
    h = HTTPHeaders()
    h.parse_line("Content-Type: text/html")
    h.parse_line("X-Spaces:   padded value \t\r\n")
    h.parse_line("Empty:")
    assert h["content-type"] == "text/html"
    assert h["X-Spaces"] == "padded value"
    assert h["Empty"] == ""


@pytest.mark.parametrize(
    "line",
    [
        " folded: continuation",
        "\tfolded",
        "Name : value",
        "Name\t: value",
        "no colon here",
        ": empty name",
        "Na me: v",
        "Name: a\x00b",
        "Name: a\rb",
        "Name: a\nb",
    ],
)
def test_parse_line_refuses_malformed_lines(line: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders().parse_line(line)


_FORBIDDEN_IN_VALUES = [chr(c) for c in (*range(0x09), *range(0x0A, 0x20), 0x7F)]


@pytest.mark.parametrize("char", _FORBIDDEN_IN_VALUES, ids=lambda c: f"0x{ord(c):02x}")
def test_control_characters_in_received_values_are_refused(char: str) -> None:
    # RFC 9110, section 5.5: only VCHAR, obs-text, SP and HTAB make up a value.
    with pytest.raises(HTTPInputError):
        HTTPHeaders().parse_line(f"Foo: a{char}b")
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse(f"Foo: bar\r\nBaz: a{char}b\r\n")


def test_tab_space_and_obs_text_are_allowed_in_received_values() -> None:
    h = HTTPHeaders.parse("Foo: a\tb c\r\nBar: caf\u00e9 \u00ff~\r\n")
    assert h["Foo"] == "a\tb c"
    assert h["Bar"] == "caf\u00e9 \u00ff~"


@pytest.mark.parametrize("line", ["\r\n", ""])
def test_parse_line_ignores_the_empty_line_ending_a_block(line: str) -> None:
    # A header_callback gets every line of the head, the empty last one included.
    h = HTTPHeaders()
    for received in ("Content-Type: text/plain\r\n", "X: 1\r\n", line):
        h.parse_line(received)
    assert list(h.get_all()) == [("Content-Type", "text/plain"), ("X", "1")]


def test_parse_header_block() -> None:
    h = HTTPHeaders.parse("Content-Type: text/html\r\nContent-Length: 42\r\nX: 1\r\nx: 2\r\n\r\n")
    assert sorted(h.items()) == [
        ("Content-Length", "42"),
        ("Content-Type", "text/html"),
        ("X", "1,2"),
    ]
    lf_only = HTTPHeaders.parse("A: 1\nB: 2\n")
    assert dict(lf_only) == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    "block",
    [
        "A: 1\r\nB: 2\nC: 3\r\n",  # mixed line endings
        "A: 1\rB: 2\r\n",  # bare CR
        "A: 1\r\n continued\r\n",  # obsolete folding
        "A: 1\r\nB : 2\r\n",
    ],
)
def test_parse_refuses_malformed_blocks(block: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse(block)


def test_repeated_header_lines_are_linear() -> None:
    # CVE-2025-67725: joining repeated lines by concatenation was quadratic.
    block = "X-Repeat: some value\r\n" * 100_000
    start = time.process_time()
    h = HTTPHeaders.parse(block)
    joined = h["X-Repeat"]
    assert len(h.get_list("x-repeat")) == 100_000
    assert joined.count(",") == 99_999
    assert time.process_time() - start < 3.0


# --- header parameters (Content-Type / Content-Disposition) -------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/html", ("text/html", {})),
        ("text/html; charset=UTF-8", ("text/html", {"charset": "UTF-8"})),
        (
            'form-data; name="a;b"; filename="c d.txt"',
            ("form-data", {"name": "a;b", "filename": "c d.txt"}),
        ),
        ('form-data; name="q\\"uote\\\\"', ("form-data", {"name": 'q"uote\\'})),
        ("attachment; FileName=x", ("attachment", {"filename": "x"})),
        ("a; flag; b=1", ("a", {"flag": "", "b": "1"})),
        (
            "attachment; filename=plain.txt; filename*=UTF-8''%e2%82%ac%20rates.txt",
            ("attachment", {"filename": "\u20ac rates.txt"}),
        ),
        ("attachment; filename*=bogus", ("attachment", {})),
        ("attachment; filename*=nocharset''x", ("attachment", {})),
        ('a; b="unterminated', ("a", {"b": '"unterminated'})),
        ("  spaced  ;  k = v ", ("spaced", {"k": "v"})),
        ("a;;; =x", ("a", {})),
    ],
)
def test_parse_header_params(value: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_header_params(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        'form-data; name="' + '\\"' * 100_000 + '"',
        "form-data; " + ";" * 200_000,
        'form-data; name="' + "\\" * 200_001,
        "form-data; " + '"' * 200_000,
        "form-data; " + "a=b;" * 50_000,
    ],
)
def test_header_params_are_linear_on_adversarial_input(value: str) -> None:
    # CVE-2025-67726: parameter parsing was quadratic.
    start = time.process_time()
    parse_header_params(value)
    assert time.process_time() - start < 2.0


# --- start lines ---------------------------------------------------------------------------


def test_parse_request_start_line() -> None:
    assert parse_request_start_line("GET /foo?x HTTP/1.1") == RequestStartLine(
        "GET", "/foo?x", "HTTP/1.1"
    )
    line = parse_request_start_line("OPTIONS * HTTP/1.0")
    assert (line.method, line.path, line.version) == ("OPTIONS", "*", "HTTP/1.0")


@pytest.mark.parametrize(
    "line",
    [
        "GET /",
        "GET  / HTTP/1.1",
        "GET / HTTP/2",
        "GET / FTP/1.1",
        "G T / HTTP/1.1",
        "GET /a\x00 HTTP/1.1",
        "",
    ],
)
def test_parse_request_start_line_errors(line: str) -> None:
    with pytest.raises(HTTPInputError):
        parse_request_start_line(line)


def test_parse_response_start_line() -> None:
    assert parse_response_start_line("HTTP/1.1 200 OK") == ResponseStartLine("HTTP/1.1", 200, "OK")
    assert parse_response_start_line("HTTP/1.0 404 Not Found") == ResponseStartLine(
        "HTTP/1.0", 404, "Not Found"
    )
    assert parse_response_start_line("HTTP/1.1 204") == ResponseStartLine("HTTP/1.1", 204, "")
    assert parse_response_start_line("HTTP/1.1 299 ") == ResponseStartLine("HTTP/1.1", 299, "")


@pytest.mark.parametrize(
    "line", ["HTTP/1.1 20 OK", "HTTP/1.1 OK", "HTTP/2 200 OK", "HTTP/1.1 200 O\rK", "200 OK"]
)
def test_parse_response_start_line_errors(line: str) -> None:
    with pytest.raises(HTTPInputError):
        parse_response_start_line(line)


# --- HTTPServerRequest ---------------------------------------------------------------------


class _Context:
    remote_ip = "10.0.0.7"
    protocol = "https"


class _Connection(HTTPConnection):
    context = _Context()


def test_server_request_attributes() -> None:
    headers = HTTPHeaders({"Host": "Example.COM:8443"})
    request = HTTPServerRequest(
        start_line=RequestStartLine("GET", "/path/x?a=1&b=&a=2", "HTTP/1.1"),
        headers=headers,
        connection=_Connection(),
    )
    assert (request.method, request.uri, request.version) == (
        "GET",
        "/path/x?a=1&b=&a=2",
        "HTTP/1.1",
    )
    assert request.path == "/path/x"
    assert request.query == "a=1&b=&a=2"
    assert request.query_arguments == {"a": [b"1", b"2"], "b": [b""]}
    assert request.arguments == request.query_arguments
    request.arguments["a"].append(b"3")
    assert request.query_arguments["a"] == [b"1", b"2"]  # independent lists
    assert request.body_arguments == {}
    assert request.body == b""
    assert request.files == {}
    assert request.host == "Example.COM:8443"
    assert request.host_name == "example.com"
    assert request.remote_ip == "10.0.0.7"
    assert request.protocol == "https"
    assert request.full_url() == "https://Example.COM:8443/path/x?a=1&b=&a=2"
    assert "method='GET'" in repr(request)
    assert "remote_ip='10.0.0.7'" in repr(request)


def test_server_request_defaults() -> None:
    request = HTTPServerRequest("POST", "/", body=b"x")
    assert request.version == "HTTP/1.0"
    assert request.host == "127.0.0.1"
    assert request.protocol == "http"
    assert request.remote_ip is None
    assert request.body == b"x"
    assert request.query == ""
    assert request.query_arguments == {}
    assert request.get_ssl_certificate() is None
    bare = HTTPServerRequest()
    assert bare.path == ""
    assert bare.uri is None


def test_server_request_absolute_form_target() -> None:
    request = HTTPServerRequest(
        "GET", "http://origin.example:8080/a/b?q=1", "HTTP/1.1", HTTPHeaders({"Host": "ignored"})
    )
    assert request.uri == "/a/b?q=1"
    assert (request.path, request.query) == ("/a/b", "q=1")
    assert request.host == "origin.example:8080"
    assert request.host_name == "origin.example"
    assert request.full_url() == "http://origin.example:8080/a/b?q=1"
    root = HTTPServerRequest("GET", "https://h", "HTTP/1.1")
    assert (root.uri, root.path, root.host) == ("/", "/", "h")


@pytest.mark.parametrize(
    "query",
    [
        "a=1",
        "a=1&a=2&b=",
        "a&b&&c=",
        "=v&k==x",
        "x=a%20b&y=c+d",
        "caf\u00e9=\u00ff",
        "&&&",
        "a=1;b=2",
        "k=%ZZ&l=%",
    ],
)
def test_query_arguments_match_parse_qs_bytes(query: str) -> None:
    request = HTTPServerRequest("GET", "/p?" + query)
    assert request.query_arguments == parse_qs_bytes(query, keep_blank_values=True)
    assert request.arguments == request.query_arguments


@pytest.mark.parametrize(
    ("host", "host_name"),
    [
        ("Example.com", "example.com"),
        ("EXAMPLE.com:80", "example.com"),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
        ("::1", "::1"),
        ("h:", "h:"),
        ("h:x", "h:x"),
    ],
)
def test_server_request_host_name(host: str, host_name: str) -> None:
    request = HTTPServerRequest("GET", "/", headers=HTTPHeaders({"Host": host}))
    assert request.host == host
    assert request.host_name == host_name
    assert request.host_name == split_host_and_port(host.lower())[0]


@pytest.mark.parametrize(
    ("host", "host_name"),
    [
        ("Example.com", "example.com"),
        ("EXAMPLE.com:80", "example.com"),
        ("example.com:80", "example.com"),
        ("[::1]:8080", "[::1]"),
        ("h:x", "h:x"),
    ],
)
def test_served_request_host_name_is_the_same_when_seen_again(host: str, host_name: str) -> None:
    connection = types.SimpleNamespace(
        context=types.SimpleNamespace(remote_ip="127.0.0.1", protocol="http")
    )
    for _ in range(3):
        headers = HTTPHeaders({"Host": host})
        request = httputil._server_request("GET", "/", "HTTP/1.1", headers, connection, None)
        assert request.host == host
        assert request.host_name == host_name


def test_host_names_kept_between_requests_are_bounded() -> None:
    connection = types.SimpleNamespace(
        context=types.SimpleNamespace(remote_ip="127.0.0.1", protocol="http")
    )
    long_host = "a" * 5000 + ".example:80"
    for host in [f"host{i}.example:80" for i in range(1000)] + [long_host]:
        headers = HTTPHeaders({"Host": host})
        request = httputil._server_request("GET", "/", "HTTP/1.1", headers, connection, None)
        assert request.host_name == host[: -len(":80")]
    assert len(httputil._host_names) <= 256
    assert long_host not in httputil._host_names


def test_server_request_takes_extra_attributes() -> None:
    request = HTTPServerRequest("GET", "/")
    request.current_user = "someone"  # type: ignore[attr-defined]
    assert request.current_user == "someone"  # type: ignore[attr-defined]


def test_server_request_time() -> None:
    request = HTTPServerRequest("GET", "/")
    assert 0 <= request.request_time() < 5
    request._finish_time = request._start_time + 1.5
    assert request.request_time() == 1.5


def test_server_request_query_field_limit() -> None:
    with pytest.raises(HTTPInputError):
        HTTPServerRequest("GET", "/?" + "&".join(f"k{i}=v" for i in range(1001)))


def test_server_request_cookies() -> None:
    headers = HTTPHeaders({"Cookie": 'a=1; b="two words"; bad name=x; c=3'})
    request = HTTPServerRequest("GET", "/", headers=headers)
    cookies = request.cookies
    assert {k: m.value for k, m in cookies.items()} == {"a": "1", "b": "two words", "c": "3"}
    assert request.cookies is cookies
    assert HTTPServerRequest("GET", "/").cookies == {}


def test_get_ssl_certificate() -> None:
    class _Socket:
        def getpeercert(self, binary_form: bool = False) -> object:
            return b"DER" if binary_form else {"subject": ()}

    class _Stream:
        socket = _Socket()

    class _Conn(HTTPConnection):
        stream = _Stream()

    request = HTTPServerRequest("GET", "/", connection=_Conn())
    assert request.get_ssl_certificate() == {"subject": ()}
    assert request.get_ssl_certificate(binary_form=True) == b"DER"

    class _SSLObject:
        def getpeercert(self, binary_form: bool = False) -> object:
            return b"DER2" if binary_form else {"issuer": ()}

    class _Transport:
        def get_extra_info(self, name: str) -> object:
            return _SSLObject() if name == "ssl_object" else None

    class _Conn2(HTTPConnection):
        stream = _Transport()

    request = HTTPServerRequest("GET", "/", connection=_Conn2())
    assert request.get_ssl_certificate(binary_form=True) == b"DER2"


def test_parse_body_merges_arguments() -> None:
    request = HTTPServerRequest(
        "POST",
        "/?a=q",
        headers=HTTPHeaders({"Content-Type": "application/x-www-form-urlencoded"}),
        body=b"a=b1&c=d",
    )
    request._parse_body()
    assert request.body_arguments == {"a": [b"b1"], "c": [b"d"]}
    assert request.arguments == {"a": [b"q", b"b1"], "c": [b"d"]}
    assert request.query_arguments == {"a": [b"q"]}


# --- interfaces ---------------------------------------------------------------------------


def test_delegate_interfaces() -> None:
    delegate = HTTPMessageDelegate()
    start_line = RequestStartLine("GET", "/", "HTTP/1.1")
    assert delegate.headers_received(start_line, HTTPHeaders()) is None
    assert delegate.data_received(b"x") is None
    assert delegate.finish() is None
    assert delegate.on_connection_close() is None
    server_delegate = HTTPServerConnectionDelegate()
    with pytest.raises(NotImplementedError):
        server_delegate.start_request(object(), HTTPConnection())
    assert server_delegate.on_close(object()) is None
    connection = HTTPConnection()
    with pytest.raises(NotImplementedError):
        connection.write_headers(start_line, HTTPHeaders())
    with pytest.raises(NotImplementedError):
        connection.write(b"x")
    with pytest.raises(NotImplementedError):
        connection.finish()


# --- urlencoded bodies ---------------------------------------------------------------------


def test_urlencoded_body() -> None:
    args: dict[str, list[bytes]] = {"keep": [b"1"]}
    files: dict[str, list[HTTPFile]] = {}
    parse_body_arguments(
        "application/x-www-form-urlencoded; charset=UTF-8",
        b"a=1&a=2&b=&c=%E2%82%AC+x&keep=2",
        args,
        files,
    )
    assert args == {"keep": [b"1", b"2"], "a": [b"1", b"2"], "b": [b""], "c": ["\u20ac x".encode()]}
    assert files == {}


def test_urlencoded_field_limit() -> None:
    body = b"&".join(b"f%d=v" % i for i in range(1001))
    with pytest.raises(HTTPInputError):
        parse_body_arguments("application/x-www-form-urlencoded", body, {}, {})
    args: dict[str, list[bytes]] = {}
    config = ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(max_fields=2000))
    parse_body_arguments("application/x-www-form-urlencoded", body, args, {}, config=config)
    assert len(args) == 1001


def test_urlencoded_limit_is_named_max_arguments_and_max_fields() -> None:
    assert ParseUrlEncodedConfig().max_arguments == ParseUrlEncodedConfig().max_fields == 1000
    assert ParseUrlEncodedConfig(10).max_fields == 10
    by_new = ParseUrlEncodedConfig(max_arguments=10)
    by_old = ParseUrlEncodedConfig(max_fields=10)
    assert by_new == by_old
    assert (by_old.max_arguments, by_old.max_fields) == (10, 10)
    assert ParseUrlEncodedConfig(max_fields=None).max_arguments is None
    by_old.max_fields = 3
    assert by_old.max_arguments == 3
    by_old.max_arguments = 4
    assert by_old.max_fields == 4
    assert repr(by_old) == "ParseUrlEncodedConfig(max_arguments=4)"
    with pytest.raises(TypeError):
        ParseUrlEncodedConfig(max_arguments=5, max_fields=6)


def test_max_arguments_limits_bodies_and_query_strings() -> None:
    body = b"&".join(b"f%d=v" % i for i in range(11))
    config = ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(max_arguments=10))
    with pytest.raises(HTTPInputError):
        parse_body_arguments("application/x-www-form-urlencoded", body, {}, {}, config=config)
    args: dict[str, list[bytes]] = {}
    parse_body_arguments("application/x-www-form-urlencoded", body[:-6], args, {}, config=config)
    assert len(args) == 10
    previous = ParseBodyConfig()
    set_parse_body_config(config)
    try:
        assert len(HTTPServerRequest("GET", "/?" + "&".join(["a=1"] * 10)).arguments["a"]) == 10
        with pytest.raises(HTTPInputError):
            HTTPServerRequest("GET", "/?" + "&".join(["a=1"] * 11))
    finally:
        set_parse_body_config(previous)


def test_urlencoded_flood_fails_fast() -> None:
    # CVE-2026-82397: millions of fields stalled the loop.
    body = b"&" * 5_000_000
    start = time.process_time()
    with pytest.raises(HTTPInputError):
        parse_body_arguments("application/x-www-form-urlencoded", body, {}, {})
    assert time.process_time() - start < 2.0


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"],
)
def test_content_coded_form_bodies_are_refused(content_type: str) -> None:
    # The bytes are still compressed, so no field can be read from them: refused
    # rather than read as a form without fields.
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    with pytest.raises(HTTPInputError, match="Unsupported Content-Encoding: x-custom") as info:
        parse_body_arguments(
            content_type, b"a=1", args, files, HTTPHeaders({"Content-Encoding": "x-custom"})
        )
    assert info.value.status_code == 415
    assert args == {}
    assert files == {}


def test_content_coded_bodies_of_other_types_are_ignored_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    args: dict[str, list[bytes]] = {}
    with caplog.at_level("DEBUG"):
        parse_body_arguments(
            "application/octet-stream",
            b"\x1f\x8b",
            args,
            {},
            HTTPHeaders({"Content-Encoding": "gzip"}),
        )
    assert args == {}
    assert caplog.records == []


def test_other_content_types_are_left_alone() -> None:
    args: dict[str, list[bytes]] = {}
    parse_body_arguments("application/json", b'{"a": 1}', args, {})
    parse_body_arguments("", b"a=1", args, {})
    assert args == {}


# --- multipart bodies ----------------------------------------------------------------------

BOUNDARY = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"


def multipart(*parts: tuple[bytes, bytes], boundary: bytes = BOUNDARY) -> bytes:
    out = [
        b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + body + b"\r\n"
        for headers, body in parts
    ]
    return b"".join(out) + b"--" + boundary + b"--\r\n"


FORM = multipart(
    (b'Content-Disposition: form-data; name="title"', b"Hello, world"),
    (b'Content-Disposition: form-data; name="title"', b"second\r\nline"),
    (
        b'Content-Disposition: form-data; name="upload"; filename="a b.txt"\r\n'
        b"Content-Type: text/plain",
        b"file contents\r\n--not-the-boundary\r\n",
    ),
    (
        b"Content-Disposition: form-data; name=\"doc\"; filename*=UTF-8''%E2%82%AC.bin",
        b"\x00\x01\x02",
    ),
    (b'Content-Disposition: form-data; name="empty"', b""),
)


def check_form(args: dict[str, list[bytes]], files: dict[str, list[HTTPFile]]) -> None:
    assert args == {"title": [b"Hello, world", b"second\r\nline"], "empty": [b""]}
    upload = files["upload"][0]
    assert upload.filename == "a b.txt"
    assert upload["filename"] == "a b.txt"
    assert upload.content_type == "text/plain"
    assert upload.body == b"file contents\r\n--not-the-boundary\r\n"
    doc = files["doc"][0]
    assert doc.filename == "\u20ac.bin"
    assert doc.content_type == "application/unknown"
    assert doc.body == b"\x00\x01\x02"


def test_parse_multipart_form_data() -> None:
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_multipart_form_data(BOUNDARY, FORM, args, files)
    check_form(args, files)


def test_parse_body_arguments_multipart() -> None:
    args: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_body_arguments(
        'multipart/form-data; boundary="' + BOUNDARY.decode() + '"', FORM, args, files
    )
    check_form(args, files)
    with pytest.raises(HTTPInputError):
        parse_body_arguments("multipart/form-data", FORM, {}, {})


def test_multipart_preamble_epilogue_and_padding() -> None:
    body = (
        b"This is the preamble.\r\n--" + BOUNDARY + b"  \t\r\n"
        b'Content-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--'
        + BOUNDARY
        + b"--\r\nepilogue, ignored; even --"
        + BOUNDARY
    )
    args: dict[str, list[bytes]] = {}
    parse_multipart_form_data(BOUNDARY, body, args, {})
    assert args == {"a": [b"value"]}
    quoted: dict[str, list[bytes]] = {}
    parse_multipart_form_data(b'"' + BOUNDARY + b'"', body, quoted, {})
    assert quoted == args


@pytest.mark.parametrize(
    "body",
    [
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end',
        b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + BOUNDARY + b"--",
        b"--"
        + BOUNDARY
        + b'\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--'
        + BOUNDARY
        + b"--",
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--" + BOUNDARY + b"--",
        b"--" + BOUNDARY + b"\r\n\r\nx\r\n--" + BOUNDARY + b"--",
        b"--"
        + BOUNDARY
        + b'junk\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--'
        + BOUNDARY
        + b"--",
        # A bare CR inside part headers (6.5.5).
        b"--"
        + BOUNDARY
        + b'\r\nContent-Disposition: form-data; name="a"\rX: y\r\n\r\nx\r\n--'
        + BOUNDARY
        + b"--",
        b"--"
        + BOUNDARY
        + b'\r\nContent-Disposition: form-data; name="a"\r\n folded\r\n\r\nx\r\n--'
        + BOUNDARY
        + b"--",
        b"",
        b"no boundary at all",
    ],
)
def test_malformed_multipart(body: bytes) -> None:
    with pytest.raises(HTTPInputError):
        parse_multipart_form_data(BOUNDARY, body, {}, {})


EMPTY_PARTS = (
    b"--1234\r\n"
    b'Content-Disposition: form-data; name="files"; filename="ab.txt"\r\n'
    b"\r\n--1234\r\n"
    b'Content-Disposition: form-data; name="field"\r\n'
    b"\r\n--1234\r\n"
    b'Content-Disposition: form-data; name="after"\r\n\r\nvalue\r\n'
    b"--1234--"
)


@pytest.mark.parametrize("size", [1, 3, len(EMPTY_PARTS)])
def test_multipart_parts_without_a_body_are_empty(size: int) -> None:
    # RFC 2046, section 5.1.1: body-part := MIME-part-headers [CRLF *OCTET]; when the
    # optional part is absent, the delimiter follows the headers' blank line at once.
    form = MultipartForm()
    parser = MultipartParser(b"1234", form)
    for piece in _pieces(EMPTY_PARTS, size):
        parser.feed(piece)
    parser.finish()
    assert form.arguments == {"field": [b""], "after": [b"value"]}
    [upload] = form.files["files"]
    assert (upload.filename, upload.body) == ("ab.txt", b"")


def test_multipart_last_part_without_a_body() -> None:
    body = (
        b'--1234\r\nContent-Disposition: form-data; name="files"; filename="ab.txt"\r\n\r\n--1234--'
    )
    files: dict[str, list[HTTPFile]] = {}
    parse_multipart_form_data(b"1234", body, {}, files)
    assert files["files"][0].filename == "ab.txt"
    assert files["files"][0].body == b""


@pytest.mark.parametrize("char", [b"\x08", b"\x01", b"\x1f", b"\x7f", b"\x0b"])
def test_multipart_part_headers_refuse_control_characters(char: bytes) -> None:
    body = (
        b'--1234\r\nContent-Disposition: form-data; name="files"; filename="a'
        + char
        + b'b.txt"\r\n\r\ncontent\r\n--1234--'
    )
    with pytest.raises(HTTPInputError):
        parse_multipart_form_data(b"1234", body, {}, {})
    tab = body.replace(char, b"\t")
    files: dict[str, list[HTTPFile]] = {}
    parse_multipart_form_data(b"1234", tab, {}, files)
    assert files["files"][0].filename == "a\tb.txt"


@pytest.mark.parametrize("boundary", [b"", b'""', b"x" * 71])
def test_invalid_boundaries(boundary: bytes) -> None:
    with pytest.raises(HTTPInputError):
        parse_multipart_form_data(boundary, FORM, {}, {})


def test_multipart_part_limit() -> None:
    parts = [(b'Content-Disposition: form-data; name="f%d"' % i, b"v") for i in range(101)]
    with pytest.raises(HTTPInputError) as info:
        parse_multipart_form_data(BOUNDARY, multipart(*parts), {}, {})
    assert info.value.status_code == 413
    args: dict[str, list[bytes]] = {}
    parse_multipart_form_data(BOUNDARY, multipart(*parts[:100]), args, {})
    assert len(args) == 100


def test_multipart_part_limit_stops_before_the_rest_is_split() -> None:
    # GHSA-8423-8fgw-73vq: the limit used to apply only after the whole body was split.
    stored: list[str] = []

    class Recorder(MultipartForm):
        def start_part(
            self, headers: HTTPHeaders, name: str, filename: str | None, content_type: str
        ) -> None:
            stored.append(name)
            super().start_part(headers, name, filename, content_type)

    part = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="x"\r\n\r\nv\r\n'
    parser = MultipartParser(BOUNDARY, Recorder(), config=ParseMultipartConfig(max_parts=5))
    start = time.process_time()
    with pytest.raises(HTTPInputError):
        parser.feed(part * 200_000)
    assert len(stored) == 5
    assert time.process_time() - start < 2.0


def test_multipart_part_header_limit() -> None:
    big = b'Content-Disposition: form-data; name="a"\r\nX-Pad: ' + b"p" * 11_000
    with pytest.raises(HTTPInputError):
        parse_multipart_form_data(BOUNDARY, multipart((big, b"v")), {}, {})
    config = ParseMultipartConfig(max_part_header_size=20_000)
    args: dict[str, list[bytes]] = {}
    parse_multipart_form_data(BOUNDARY, multipart((big, b"v")), args, {}, config=config)
    assert args == {"a": [b"v"]}
    # A header block that never ends is refused once it passes the limit.
    parser = MultipartParser(BOUNDARY, MultipartForm())
    parser.feed(b"--" + BOUNDARY + b"\r\nX: ")
    with pytest.raises(HTTPInputError):
        for _ in range(20):
            parser.feed(b"y" * 1000)


def test_multipart_can_be_disabled() -> None:
    previous = ParseBodyConfig()
    set_parse_body_config(ParseBodyConfig(multipart=ParseMultipartConfig(enabled=False)))
    try:
        with pytest.raises(HTTPInputError) as info:
            parse_body_arguments("multipart/form-data; boundary=" + BOUNDARY.decode(), FORM, {}, {})
        assert info.value.status_code == 415
        # urlencoded bodies are unaffected.
        args: dict[str, list[bytes]] = {}
        parse_body_arguments("application/x-www-form-urlencoded", b"a=1", args, {})
        assert args == {"a": [b"1"]}
    finally:
        set_parse_body_config(previous)
    parse_body_arguments("multipart/form-data; boundary=" + BOUNDARY.decode(), FORM, {}, {})


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 10_000])
def test_streaming_multipart_in_pieces(size: int) -> None:
    form = MultipartForm()
    parser = MultipartParser(BOUNDARY, form)
    for piece in _pieces(FORM, size):
        parser.feed(piece)
    assert parser.complete
    parser.finish()
    check_form(form.arguments, form.files)
    parser.feed(b"ignored epilogue")


def test_streaming_multipart_reports_parts_as_they_come() -> None:
    log: list[tuple[str, object]] = []

    class Log(MultipartDelegate):
        def start_part(
            self, headers: HTTPHeaders, name: str, filename: str | None, content_type: str
        ) -> None:
            log.append(("start", (name, filename, content_type, headers["Content-Disposition"])))

        def part_data(self, data: bytes) -> None:
            log.append(("data", data))

        def finish_part(self) -> None:
            log.append(("end", None))

    parser = MultipartParser.from_content_type(
        "multipart/form-data; boundary=XyZ", Log(), config=ParseMultipartConfig()
    )
    parser.feed(b'--XyZ\r\nContent-Disposition: form-data; name="big"; filename="f"\r\n\r\n')
    assert log == [
        ("start", ("big", "f", "application/unknown", 'form-data; name="big"; filename="f"'))
    ]
    parser.feed(b"a" * 1000)
    assert sum(len(d) for kind, d in log if kind == "data") >= 1000 - 6  # type: ignore[arg-type]
    parser.feed(b"\r\n--XyZ--")
    assert log[-1] == ("end", None)
    assert b"".join(d for kind, d in log if kind == "data") == b"a" * 1000  # type: ignore[misc]
    with pytest.raises(NotImplementedError):
        MultipartDelegate().part_data(b"")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; boundary=x", "multipart/form-data", "multipart/form-data; boundary="],
)
def test_streaming_from_content_type_errors(content_type: str) -> None:
    with pytest.raises(HTTPInputError):
        MultipartParser.from_content_type(content_type, MultipartForm())


def test_streaming_multipart_unfinished_body() -> None:
    parser = MultipartParser(BOUNDARY, MultipartForm())
    parser.feed(FORM[:-10])
    with pytest.raises(HTTPInputError):
        parser.finish()


def test_multipart_spools_uploads_to_disk(tmp_path: object) -> None:
    big = bytes(range(256)) * 400  # 100 KiB
    body = multipart(
        (b'Content-Disposition: form-data; name="field"', b"small value"),
        (b'Content-Disposition: form-data; name="big"; filename="big.bin"', big),
        (b'Content-Disposition: form-data; name="tiny"; filename="t.txt"', b"tiny"),
    )
    with MultipartForm(spool_threshold=1024, spool_dir=str(tmp_path)) as form:
        parser = MultipartParser(BOUNDARY, form)
        for piece in _pieces(body, 4096):
            parser.feed(piece)
        parser.finish()
        assert form.arguments == {"field": [b"small value"]}
        upload = form.files["big"][0]
        assert upload.size == len(big)
        assert upload.file.tell() == 0
        assert upload.file._rolled  # moved to a temporary file on disk
        assert upload.body == big
        assert upload.file.read() == big
        tiny = form.files["tiny"][0]
        assert not tiny.file._rolled
        assert tiny.body == b"tiny"
        spooled = [upload.file, tiny.file]
    assert all(f.closed for f in spooled)


def test_httpfile_without_content() -> None:
    empty = HTTPFile(filename="x", content_type="text/plain")
    with pytest.raises(AttributeError):
        _ = empty.body


def test_multipart_is_linear_on_adversarial_input() -> None:
    # Near-misses of the delimiter everywhere: every byte scanned a bounded number of times.
    near_miss = (b"\r\n--" + BOUNDARY[:-1] + b"X") * 10_000
    body = multipart((b'Content-Disposition: form-data; name="a"', near_miss))
    start = time.process_time()
    args: dict[str, list[bytes]] = {}
    parse_multipart_form_data(BOUNDARY, body, args, {})
    assert args["a"][0] == near_miss
    form = MultipartForm()
    parser = MultipartParser(BOUNDARY, form)
    for piece in _pieces(body, 3):
        parser.feed(piece)
    parser.finish()
    assert form.arguments["a"][0] == near_miss
    assert time.process_time() - start < 5.0


def test_multipart_pathological_disposition_is_linear() -> None:
    disposition = b'Content-Disposition: form-data; name="' + b'\\"' * 4000 + b'"'
    start = time.process_time()
    args: dict[str, list[bytes]] = {}
    parse_multipart_form_data(BOUNDARY, multipart((disposition, b"v")), args, {})
    assert list(args) == ['"' * 4000]
    assert time.process_time() - start < 1.0


# --- cookies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2;c=3", {"a": "1", "b": "2", "c": "3"}),
        ("  a = 1 ;  b=2  ", {"a": "1", "b": "2"}),
        ("a=1; a=2", {"a": "2"}),
        ("a=", {"a": ""}),
        ("novalue", {"": "novalue"}),
        ("a=b=c", {"a": "b=c"}),
        ('a="quoted value"', {"a": "quoted value"}),
        ('a="esc\\"aped\\\\"', {"a": 'esc"aped\\'}),
        ('a="oct\\054al"', {"a": "oct,al"}),
        ('a="\\"', {"a": "\\"}),
        ('a="unbalanced', {"a": '"unbalanced'}),
        ('a=not"quoted"', {"a": 'not"quoted"'}),
        (";;; ;", {}),
        ("a=1;;b=2", {"a": "1", "b": "2"}),
        ("utf8=caf\u00e9", {"utf8": "caf\u00e9"}),
    ],
)
def test_parse_cookie(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        'a="' + "\\" * 200_000 + '"',
        'a="' + '\\"' * 100_000 + '"',
        'a="' + "\\0" * 100_000 + '"',
        'a="' + "\\012" * 60_000 + '"',
        ";" * 300_000,
        "a=" + '"' * 300_000,
        "x=y; " * 60_000,
    ],
)
def test_parse_cookie_is_linear(header: str) -> None:
    # CVE-2024-52804: quadratic cookie unquoting blocked the loop.
    start = time.process_time()
    parse_cookie(header)
    assert time.process_time() - start < 2.0


# --- small helpers -------------------------------------------------------------------------


def test_url_concat() -> None:
    assert url_concat("http://example.com/foo", {"c": "d"}) == "http://example.com/foo?c=d"
    assert url_concat("http://example.com/foo?a=b", {"c": "d"}) == "http://example.com/foo?a=b&c=d"
    assert url_concat("http://example.com/foo?a=b", [("c", "d"), ("c", "d2")]) == (
        "http://example.com/foo?a=b&c=d&c=d2"
    )
    assert (
        url_concat("http://example.com/foo?a=b", (("c", "d"),)) == "http://example.com/foo?a=b&c=d"
    )
    assert (
        url_concat("http://example.com/foo?a=", {"b": "x y"}) == "http://example.com/foo?a=&b=x+y"
    )
    assert (
        url_concat("http://example.com/foo#frag", {"c": "d"}) == "http://example.com/foo?c=d#frag"
    )
    assert url_concat("http://example.com/foo?a=b", None) == "http://example.com/foo?a=b"
    assert url_concat("/relative", []) == "/relative"
    with pytest.raises(TypeError):
        url_concat("http://example.com", "c=d")  # type: ignore[arg-type]


def test_format_timestamp() -> None:
    expected = "Sun, 27 Jan 2013 18:43:20 GMT"
    ts = 1359312200
    assert format_timestamp(ts) == expected
    assert format_timestamp(ts + 0.9) == expected
    assert format_timestamp(time.gmtime(ts)) == expected
    assert format_timestamp(tuple(time.gmtime(ts))) == expected
    assert format_timestamp(datetime.datetime(2013, 1, 27, 18, 43, 20)) == expected
    eastern = datetime.timezone(datetime.timedelta(hours=-5))
    assert format_timestamp(datetime.datetime(2013, 1, 27, 13, 43, 20, tzinfo=eastern)) == expected
    with pytest.raises(TypeError):
        format_timestamp("2013-01-27")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("netloc", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:8080", ("example.com", 8080)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:443", ("[::1]", 443)),
        ("[::1]", ("[::1]", None)),
        ("::1", ("::1", None)),
        ("example.com:", ("example.com:", None)),
        ("example.com:http", ("example.com:http", None)),
        (":80", (":80", None)),
    ],
)
def test_split_host_and_port(netloc: str, expected: tuple[str, int | None]) -> None:
    assert split_host_and_port(netloc) == expected


def test_qs_to_qsl() -> None:
    assert list(qs_to_qsl({"a": ["1", "2"], "b": []})) == [("a", "1"), ("a", "2")]
    assert list(qs_to_qsl({"k": [b"v"]})) == [("k", b"v")]


def test_encode_username_password() -> None:
    assert encode_username_password("user", "pass") == b"user:pass"
    assert encode_username_password(b"user", b"p:w") == b"user:p:w"
    assert encode_username_password("\u00fcser", "p\u20ac") == "\u00fcser:p\u20ac".encode()


def test_responses() -> None:
    assert responses[200] == "OK"
    assert responses[404] == "Not Found"


class _Context:
    remote_ip = "203.0.113.9"
    protocol = "https"


class _ConnectionWithContext:
    context = _Context()


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("/", "Example.COM:8080"),
        ("/a/b?x=1&y=%20z&x=2&flag", "example.com"),
        ("/search?", "[::1]:8443"),
        ("http://other.example/p?q=1", "example.com"),
        ("/p", ""),
    ],
)
@pytest.mark.parametrize("connection", [_ConnectionWithContext(), object()])
def test_server_request_matches_the_general_constructor(
    uri: str, host: str, connection: object
) -> None:
    # The server's shortcut builds the same request as the documented constructor.
    headers = HTTPHeaders()
    if host:
        headers["Host"] = host
    fast = httputil._server_request("GET", uri, "HTTP/1.1", headers, connection, "server")
    general = httputil.HTTPServerRequest(
        connection=connection,  # type: ignore[arg-type]
        server_connection="server",
        start_line=httputil.RequestStartLine("GET", uri, "HTTP/1.1"),
        headers=headers,
    )
    names = [
        "method",
        "uri",
        "version",
        "headers",
        "body",
        "remote_ip",
        "protocol",
        "host",
        "host_name",
        "files",
        "connection",
        "server_connection",
        "path",
        "query",
        "query_arguments",
        "arguments",
        "body_arguments",
    ]
    for name in names:
        assert getattr(fast, name) == getattr(general, name), name
    assert fast.arguments is not fast.query_arguments
    assert fast.request_time() >= 0
    assert fast.cookies is not None


def test_header_values_given_as_bytes_are_kept_byte_for_byte() -> None:
    headers = HTTPHeaders()
    headers["User-Agent"] = b"MyAgent"
    headers.add("X-Raw", b"caf\xc3\xa9")
    headers["X-Array"] = bytearray(b"ok")
    assert headers["User-Agent"] == "MyAgent"
    assert headers["X-Raw"].encode("latin-1") == b"caf\xc3\xa9"
    assert headers["X-Array"] == "ok"
    with pytest.raises(HTTPOutputError):
        headers["X-Bad"] = b"a\r\nInjected: 1"
    with pytest.raises(HTTPOutputError):
        headers.add("X-Bad", b"a\x00b")
    # The pure-Python and the compiled class word it differently; both name the types.
    with pytest.raises(TypeError, match=r"bytes.*int"):
        headers["X-Number"] = 5  # type: ignore[assignment]
