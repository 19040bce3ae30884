"""The WebSocket opening handshake helpers and permessage-deflate negotiation."""

from __future__ import annotations

import base64

import pytest
from typhoon.errors import ConfigurationError, WebSocketHandshakeError, WebSocketOutputError
from typhoon.wsproto import (
    ClientHandshake,
    DeflateOptions,
    DeflateParams,
    Extension,
    accept_client_handshake,
    compute_accept,
    format_extension,
    generate_key,
    parse_extensions,
    validate_client_handshake,
    verify_accept,
)

# RFC 6455 section 1.3's worked example.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request_headers(**overrides: str | None) -> list[tuple[str, str]]:
    headers = {
        "Host": "example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": RFC_KEY,
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return list(headers.items())


def refused(headers: list[tuple[str, str]], method: str = "GET", version: str = "HTTP/1.1"):
    with pytest.raises(WebSocketHandshakeError) as info:
        validate_client_handshake(method, version, headers)
    return info.value


# --- accept key -------------------------------------------------------------------------


def test_compute_and_verify_accept() -> None:
    assert compute_accept(RFC_KEY) == RFC_ACCEPT
    assert verify_accept(RFC_KEY, RFC_ACCEPT)
    assert verify_accept(RFC_KEY, f" {RFC_ACCEPT} ")
    assert not verify_accept(RFC_KEY, RFC_ACCEPT.lower())
    assert not verify_accept(generate_key(), RFC_ACCEPT)


def test_generate_key_is_16_random_bytes() -> None:
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


# --- server side ------------------------------------------------------------------------


def test_valid_request() -> None:
    headers = request_headers(
        Connection="keep-alive, Upgrade",
        Upgrade="WebSocket",
        Origin="https://example.com",
        Sec_WebSocket_Protocol="chat, superchat",
        Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits, x-other",
    )
    request = validate_client_handshake("GET", "HTTP/1.1", headers)
    assert request.key == RFC_KEY
    assert request.host == "example.com"
    assert request.origin == "https://example.com"
    assert request.subprotocols == ("chat", "superchat")
    assert request.extensions == (
        Extension("permessage-deflate", (("client_max_window_bits", None),)),
        Extension("x-other", ()),
    )


def test_headers_as_a_mapping_with_any_case() -> None:
    mapping = {name.lower(): value for name, value in request_headers()}
    assert validate_client_handshake("GET", "HTTP/1.1", mapping).key == RFC_KEY


def test_headers_mapping_with_joined_repeated_values() -> None:
    mapping = dict(request_headers())
    mapping["Sec-WebSocket-Protocol"] = "a,b"
    assert validate_client_handshake("GET", "HTTP/1.1", mapping).subprotocols == ("a", "b")
    # Two keys joined into one value are refused like two headers.
    mapping["Sec-WebSocket-Key"] = f"{RFC_KEY},{RFC_KEY}"
    assert refused(list(mapping.items())).status_code == 400


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT", "get"])
def test_method_must_be_get(method: str) -> None:
    error = refused(request_headers(), method=method)
    assert error.status_code == 405
    assert error.headers == (("Allow", "GET"),)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/0.9", "HTTP/x", ""])
def test_http_10_is_refused(version: str) -> None:
    assert refused(request_headers(), version=version).status_code == 400


def test_later_http_versions_are_accepted() -> None:
    assert validate_client_handshake("GET", "HTTP/1.2", request_headers()).key == RFC_KEY


@pytest.mark.parametrize(
    "overrides",
    [
        {"Host": None},
        {"Upgrade": None},
        {"Upgrade": "h2c"},
        {"Connection": None},
        {"Connection": "keep-alive"},
        {"Sec_WebSocket_Key": None},
        {"Sec_WebSocket_Key": "not base64!"},
        {"Sec_WebSocket_Key": base64.b64encode(b"x" * 15).decode()},
        {"Sec_WebSocket_Key": base64.b64encode(b"x" * 17).decode()},
        {"Sec_WebSocket_Key": "AAAAAAAAAAAAAAAAAAAAAB=="},  # non-canonical padding bits
        {"Sec_WebSocket_Key": RFC_KEY.rstrip("=")},
        {"Sec_WebSocket_Key": f"{RFC_KEY}, {RFC_KEY}"},
        {"Sec_WebSocket_Protocol": "chat, bad protocol"},
        {"Sec_WebSocket_Extensions": "permessage-deflate; =1"},
    ],
)
def test_bad_requests_are_400(overrides: dict[str, str | None]) -> None:
    error = refused(request_headers(**overrides))
    assert error.status_code == 400
    assert error.headers == ()


@pytest.mark.parametrize("version", [None, "8", "12", "14", "13, 8", "13 "])
def test_wrong_version_is_426_with_the_supported_version(version: str | None) -> None:
    headers = request_headers(Sec_WebSocket_Version=version)
    if version == "13 ":
        # Surrounding whitespace is not part of a header value.
        assert validate_client_handshake("GET", "HTTP/1.1", headers).key == RFC_KEY
        return
    error = refused(headers)
    assert error.status_code == 426
    assert error.headers == (("Sec-WebSocket-Version", "13"),)


def test_accept_builds_the_101_headers() -> None:
    request = validate_client_handshake(
        "GET", "HTTP/1.1", request_headers(Sec_WebSocket_Protocol="chat, superchat")
    )
    accept = accept_client_handshake(request, subprotocol="superchat")
    assert accept.headers == (
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", RFC_ACCEPT),
        ("Sec-WebSocket-Protocol", "superchat"),
    )
    assert accept.subprotocol == "superchat"
    assert accept.deflate is None
    with pytest.raises(WebSocketOutputError):
        accept_client_handshake(request, subprotocol="other")


def test_accept_without_an_acceptable_offer_runs_uncompressed() -> None:
    request = validate_client_handshake(
        "GET", "HTTP/1.1", request_headers(Sec_WebSocket_Extensions="x-webkit-deflate-frame")
    )
    accept = accept_client_handshake(request, deflate=DeflateOptions())
    assert accept.deflate is None
    assert all(name != "Sec-WebSocket-Extensions" for name, _ in accept.headers)


# --- extension header syntax ------------------------------------------------------------


def test_parse_extensions_grammar() -> None:
    parsed = parse_extensions(
        [
            ' Permessage-Deflate ;Client_Max_Window_Bits ; server_max_window_bits="10" ,',
            "foo;a=1;b, , bar",
            'baz; q="a\\b"',
        ]
    )
    assert parsed == [
        Extension(
            "permessage-deflate",
            (("client_max_window_bits", None), ("server_max_window_bits", "10")),
        ),
        Extension("foo", (("a", "1"), ("b", None))),
        Extension("bar", ()),
        Extension("baz", (("q", "ab"),)),
    ]
    assert format_extension(parsed[1]) == "foo; a=1; b"


@pytest.mark.parametrize(
    "value",
    [
        "permessage-deflate;",
        "permessage-deflate; a=",
        'permessage-deflate; a="1 2"',  # quoted value must be a token once unquoted
        'permessage-deflate; a="unterminated',
        "permessage-deflate x",
        "; a",
        "a b",
        "a;b=c d",
    ],
)
def test_parse_extensions_rejects_bad_syntax(value: str) -> None:
    with pytest.raises(WebSocketHandshakeError) as info:
        parse_extensions([value])
    assert info.value.status_code == 400


# --- permessage-deflate negotiation, server side -------------------------------------------


def negotiate(
    offer: str, options: DeflateOptions | None = None
) -> tuple[str | None, DeflateParams | None]:
    request = validate_client_handshake(
        "GET", "HTTP/1.1", request_headers(Sec_WebSocket_Extensions=offer)
    )
    accept = accept_client_handshake(request, deflate=options or DeflateOptions())
    values = [v for name, v in accept.headers if name == "Sec-WebSocket-Extensions"]
    return (values[0] if values else None), accept.deflate


@pytest.mark.parametrize(
    ("offer", "options", "response", "params"),
    [
        ("permessage-deflate", DeflateOptions(), "permessage-deflate", DeflateParams()),
        (
            "permessage-deflate; client_max_window_bits",
            DeflateOptions(),
            "permessage-deflate",
            DeflateParams(),
        ),
        (
            "permessage-deflate; client_max_window_bits=10",
            DeflateOptions(),
            "permessage-deflate; client_max_window_bits=10",
            DeflateParams(client_max_window_bits=10),
        ),
        (
            "permessage-deflate; client_max_window_bits",
            DeflateOptions(client_max_window_bits=9),
            "permessage-deflate; client_max_window_bits=9",
            DeflateParams(client_max_window_bits=9),
        ),
        (
            # Without the client's client_max_window_bits we may not ask for it.
            "permessage-deflate",
            DeflateOptions(client_max_window_bits=9),
            "permessage-deflate",
            DeflateParams(),
        ),
        (
            "permessage-deflate; server_max_window_bits=11",
            DeflateOptions(),
            "permessage-deflate; server_max_window_bits=11",
            DeflateParams(server_max_window_bits=11),
        ),
        (
            "permessage-deflate; server_max_window_bits=12",
            DeflateOptions(server_max_window_bits=10),
            "permessage-deflate; server_max_window_bits=10",
            DeflateParams(server_max_window_bits=10),
        ),
        (
            "permessage-deflate",
            DeflateOptions(server_max_window_bits=10),
            "permessage-deflate; server_max_window_bits=10",
            DeflateParams(server_max_window_bits=10),
        ),
        (
            "permessage-deflate; server_max_window_bits=8",
            DeflateOptions(),
            "permessage-deflate; server_max_window_bits=8",
            DeflateParams(server_max_window_bits=8),
        ),
        (
            "permessage-deflate; server_no_context_takeover",
            DeflateOptions(),
            "permessage-deflate; server_no_context_takeover",
            DeflateParams(server_no_context_takeover=True),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            DeflateOptions(),
            "permessage-deflate; client_no_context_takeover",
            DeflateParams(client_no_context_takeover=True),
        ),
        (
            "permessage-deflate",
            DeflateOptions(server_no_context_takeover=True, client_no_context_takeover=True),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True),
        ),
        (
            "permessage-deflate",
            DeflateOptions(compression_level=9, mem_level=4),
            "permessage-deflate",
            DeflateParams(compression_level=9, mem_level=4),
        ),
    ],
)
def test_server_negotiation(
    offer: str, options: DeflateOptions, response: str, params: DeflateParams
) -> None:
    assert negotiate(offer, options) == (response, params)


@pytest.mark.parametrize(
    "bad_offer",
    [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; client_max_window_bits=0x9",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; mystery",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
    ],
)
def test_invalid_offers_are_declined_and_the_next_one_is_used(bad_offer: str) -> None:
    assert negotiate(bad_offer) == (None, None)
    response, params = negotiate(f"{bad_offer}, permessage-deflate; client_no_context_takeover")
    assert response == "permessage-deflate; client_no_context_takeover"
    assert params == DeflateParams(client_no_context_takeover=True)


def test_no_deflate_options_means_no_compression() -> None:
    request = validate_client_handshake(
        "GET", "HTTP/1.1", request_headers(Sec_WebSocket_Extensions="permessage-deflate")
    )
    assert accept_client_handshake(request).deflate is None


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compression_level": 10},
        {"compression_level": -2},
        {"mem_level": 0},
        {"mem_level": 10},
        {"server_max_window_bits": 7},
        {"client_max_window_bits": 16},
        {"client_max_window_bits": True},
    ],
)
def test_invalid_options(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        DeflateOptions(**kwargs)  # type: ignore[arg-type]


def test_options_from_tornado_compression_options() -> None:
    assert DeflateOptions.from_compression_options(None) is None
    assert DeflateOptions.from_compression_options({}) == DeflateOptions()
    assert DeflateOptions.from_compression_options(
        {"compression_level": 5, "mem_level": 5}
    ) == DeflateOptions(compression_level=5, mem_level=5)
    with pytest.raises(ConfigurationError):
        DeflateOptions.from_compression_options({"compresion_level": 5})


# --- client side ------------------------------------------------------------------------


def server_response(handshake: ClientHandshake, **extra: str) -> list[tuple[str, str]]:
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", compute_accept(handshake.key)),
    ]
    headers += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return headers


def test_client_request_headers() -> None:
    handshake = ClientHandshake(
        subprotocols=["chat", "v2.chat"],
        deflate=DeflateOptions(server_no_context_takeover=True, server_max_window_bits=10),
        origin="https://example.com",
        key=RFC_KEY,
    )
    assert handshake.request_headers() == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", RFC_KEY),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", "https://example.com"),
        ("Sec-WebSocket-Protocol", "chat, v2.chat"),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; "
            "client_max_window_bits",
        ),
    ]
    # The request the client builds passes the server's validation.
    request = validate_client_handshake(
        "GET", "HTTP/1.1", [("Host", "h"), *handshake.request_headers()]
    )
    assert request.subprotocols == ("chat", "v2.chat")


def test_client_handshake_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigurationError):
        ClientHandshake(subprotocols=["has space"])
    with pytest.raises(ConfigurationError):
        ClientHandshake(key="short")


def test_client_accepts_a_valid_response() -> None:
    handshake = ClientHandshake(subprotocols=["chat"], deflate=DeflateOptions())
    accept = handshake.validate_response(
        101,
        server_response(
            handshake,
            Sec_WebSocket_Protocol="chat",
            Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits=12",
        ),
    )
    assert accept.subprotocol == "chat"
    assert accept.deflate == DeflateParams(client_max_window_bits=12)


@pytest.mark.parametrize(
    ("status", "extra", "expected_status"),
    [
        (200, {}, 200),
        (426, {}, 426),
        (101, {"Sec_WebSocket_Accept": RFC_ACCEPT}, 400),
        (101, {"Sec_WebSocket_Protocol": "other"}, 400),
        (101, {"Sec_WebSocket_Protocol": "chat, other"}, 400),
        (101, {"Sec_WebSocket_Extensions": "x-unknown"}, 400),
        (101, {"Sec_WebSocket_Extensions": "permessage-deflate, permessage-deflate"}, 400),
        (101, {"Sec_WebSocket_Extensions": "permessage-deflate; client_max_window_bits"}, 400),
        (101, {"Sec_WebSocket_Extensions": "permessage-deflate; server_max_window_bits=16"}, 400),
        (101, {"Sec_WebSocket_Extensions": "permessage-deflate; unknown"}, 400),
        (101, {"Sec_WebSocket_Extensions": "permessage-deflate; ;"}, 400),
    ],
)
def test_client_refuses_bad_responses(
    status: int, extra: dict[str, str], expected_status: int
) -> None:
    handshake = ClientHandshake(subprotocols=["chat"], deflate=DeflateOptions())
    headers = server_response(handshake)
    if "Sec_WebSocket_Accept" in extra:
        headers = headers[:2]
    headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
    with pytest.raises(WebSocketHandshakeError) as info:
        handshake.validate_response(status, headers)
    assert info.value.status_code == expected_status


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([("Connection", "Upgrade")], "Upgrade"),
        ([("Upgrade", "websocket")], "Connection"),
        ([("Upgrade", "websocket"), ("Connection", "Upgrade")], "Accept"),
    ],
)
def test_client_requires_the_upgrade_headers(headers: list[tuple[str, str]], reason: str) -> None:
    handshake = ClientHandshake()
    accept = ("Sec-WebSocket-Accept", compute_accept(handshake.key))
    full = headers if reason == "Accept" else [*headers, accept]
    with pytest.raises(WebSocketHandshakeError, match=reason):
        handshake.validate_response(101, full)


def test_client_refuses_a_subprotocol_or_deflate_it_did_not_offer() -> None:
    handshake = ClientHandshake()
    with pytest.raises(WebSocketHandshakeError):
        handshake.validate_response(101, server_response(handshake, Sec_WebSocket_Protocol="x"))
    with pytest.raises(WebSocketHandshakeError):
        handshake.validate_response(
            101, server_response(handshake, Sec_WebSocket_Extensions="permessage-deflate")
        )


@pytest.mark.parametrize(
    ("options", "response", "params"),
    [
        (DeflateOptions(), "permessage-deflate", DeflateParams()),
        (
            DeflateOptions(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True),
        ),
        (
            DeflateOptions(client_no_context_takeover=True),
            "permessage-deflate",
            DeflateParams(client_no_context_takeover=True),
        ),
        (
            DeflateOptions(),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8",
            DeflateParams(server_max_window_bits=9, client_max_window_bits=8),
        ),
        (
            DeflateOptions(client_max_window_bits=11),
            "permessage-deflate",
            DeflateParams(client_max_window_bits=11),
        ),
        (DeflateOptions(), None, None),
    ],
)
def test_client_negotiation(
    options: DeflateOptions, response: str | None, params: DeflateParams | None
) -> None:
    handshake = ClientHandshake(deflate=options)
    extra = {} if response is None else {"Sec_WebSocket_Extensions": response}
    assert handshake.validate_response(101, server_response(handshake, **extra)).deflate == params


@pytest.mark.parametrize(
    ("options", "response"),
    [
        (DeflateOptions(server_no_context_takeover=True), "permessage-deflate"),
        (DeflateOptions(server_max_window_bits=10), "permessage-deflate"),
        (
            DeflateOptions(server_max_window_bits=10),
            "permessage-deflate; server_max_window_bits=11",
        ),
        (
            DeflateOptions(client_max_window_bits=10),
            "permessage-deflate; client_max_window_bits=11",
        ),
    ],
)
def test_client_refuses_a_response_that_ignores_its_request(
    options: DeflateOptions, response: str
) -> None:
    handshake = ClientHandshake(deflate=options)
    with pytest.raises(WebSocketHandshakeError):
        handshake.validate_response(
            101, server_response(handshake, Sec_WebSocket_Extensions=response)
        )
