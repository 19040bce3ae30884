"""Cookies: Set-Cookie formatting and validation, signed values v1/v2, key rotation."""

from __future__ import annotations

import base64
import datetime
import http.cookies
from typing import Any

import pytest
from _webclient import fetch
from typhoon.errors import ConfigurationError
from typhoon.web import (
    Application,
    RequestHandler,
    create_signed_value,
    decode_signed_value,
    get_signature_key_version,
)
from typhoon.web.cookies import format_set_cookie

SECRET = "0123456789abcdef" * 2
NOW = 1_700_000_000.0


def clock() -> float:
    return NOW


# --- signed values --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_round_trip(version: int) -> None:
    signed = create_signed_value(SECRET, "name", "välue", version=version, clock=clock)
    assert decode_signed_value(SECRET, "name", signed, clock=clock) == "välue".encode()
    assert decode_signed_value(SECRET, "name", signed.decode(), clock=clock) == "välue".encode()


def test_version_2_layout() -> None:
    signed = create_signed_value(SECRET, "name", b"v", clock=clock)
    prefix = b"2|1:0|10:1700000000|4:name|4:" + base64.b64encode(b"v") + b"|"
    assert signed.startswith(prefix)
    assert len(signed) == len(prefix) + 64  # hex SHA-256


@pytest.mark.parametrize("version", [1, 2])
def test_refused_values(version: int) -> None:
    signed = create_signed_value(SECRET, "name", "value", version=version, clock=clock)
    assert decode_signed_value("another secret", "name", signed, clock=clock) is None
    assert decode_signed_value(SECRET, "other", signed, clock=clock) is None
    tampered = signed[:-1] + (b"0" if signed[-1:] != b"0" else b"1")
    assert decode_signed_value(SECRET, "name", tampered, clock=clock) is None
    # Too old, and from the future.
    assert decode_signed_value(SECRET, "name", signed, clock=lambda: NOW + 32 * 86400) is None
    assert decode_signed_value(SECRET, "name", signed, clock=lambda: NOW - 32 * 86400) is None
    assert decode_signed_value(SECRET, "name", signed, max_age_days=1, clock=clock) is not None
    assert decode_signed_value(SECRET, "name", None) is None
    assert decode_signed_value(SECRET, "name", "") is None
    assert decode_signed_value(SECRET, "name", "garbage", clock=clock) is None


def test_min_version_refuses_old_format() -> None:
    v1 = create_signed_value(SECRET, "n", "v", version=1, clock=clock)
    assert decode_signed_value(SECRET, "n", v1, clock=clock, min_version=2) is None
    with pytest.raises(ValueError, match="min_version"):
        decode_signed_value(SECRET, "n", v1, min_version=3)


def test_v2_fields_are_length_checked() -> None:
    signed = create_signed_value(SECRET, "name", "value", clock=clock)
    # Changing a length prefix breaks parsing even before the signature is checked.
    broken = signed.replace(b"|4:name|", b"|5:name|")
    assert decode_signed_value(SECRET, "name", broken, clock=clock) is None
    assert decode_signed_value(SECRET, "name", b"2|x:0|", clock=clock) is None
    assert decode_signed_value(SECRET, "name", b"9|whatever", clock=clock) is None


def test_v1_timestamp_with_leading_zero_is_refused() -> None:
    from typhoon.web.cookies import _signature_v1

    encoded = base64.b64encode(b"v")
    timestamp = b"0" + str(int(NOW)).encode()
    signature = _signature_v1(SECRET.encode(), "n", encoded, timestamp)
    forged = b"|".join([encoded, timestamp, signature])
    assert decode_signed_value(SECRET, "n", forged, clock=clock) is None


def test_key_rotation() -> None:
    secrets = {0: "old secret", 1: "new secret"}
    old = create_signed_value(secrets, "n", "v", key_version=0, clock=clock)
    new = create_signed_value(secrets, "n", "v", key_version=1, clock=clock)
    assert get_signature_key_version(old) == 0
    assert get_signature_key_version(new) == 1
    assert decode_signed_value(secrets, "n", old, clock=clock) == b"v"
    assert decode_signed_value(secrets, "n", new, clock=clock) == b"v"
    # A retired key no longer verifies.
    assert decode_signed_value({1: "new secret"}, "n", old, clock=clock) is None
    # Version 1 cannot carry a key version.
    with pytest.raises(ValueError, match="key versions"):
        create_signed_value(secrets, "n", "v", version=1)
    with pytest.raises(ValueError, match="key_version"):
        create_signed_value(secrets, "n", "v")
    with pytest.raises(ValueError, match="no cookie secret"):
        create_signed_value(secrets, "n", "v", key_version=7)
    with pytest.raises(ValueError, match="unsupported"):
        create_signed_value(SECRET, "n", "v", version=3)
    v1 = create_signed_value(SECRET, "n", "v", version=1, clock=clock)
    assert get_signature_key_version(v1) is None
    assert decode_signed_value(secrets, "n", v1, clock=clock) is None


# --- Set-Cookie lines -----------------------------------------------------------------------


def test_format_set_cookie_attributes_in_stable_order() -> None:
    line = format_set_cookie(
        "sid",
        "abc",
        domain="example.com",
        expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        path="/app",
        max_age=60,
        httponly=True,
        secure=True,
        samesite="lax",
        partitioned=True,
    )
    assert line == (
        "sid=abc; Domain=example.com; expires=Wed, 02 Jan 2030 03:04:05 GMT; HttpOnly; "
        "Max-Age=60; Partitioned; Path=/app; SameSite=Lax; Secure"
    )


def test_format_set_cookie_quotes_like_http_cookies() -> None:
    for value in ("a=b", 'q"uote', "semi;colon", "comma,", "back\\slash", "2|1:0|x=="):
        line = format_set_cookie("c", value)
        parsed: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        parsed.load(line)
        assert parsed["c"].value == value, line


def test_format_set_cookie_expires_days_and_naive_datetime() -> None:
    line = format_set_cookie("c", "v", expires_days=1, now=NOW)
    assert "expires=Wed, 15 Nov 2023 22:13:20 GMT" in line
    naive = format_set_cookie("c", "v", expires=datetime.datetime(2030, 1, 1))
    assert "expires=Tue, 01 Jan 2030 00:00:00 GMT" in naive


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("bad name", "v"), {}),
        (("n;x", "v"), {}),
        (("n", "has space"), {}),
        (("n", "new\r\nline"), {}),
        (("n", "v"), {"domain": "example.com; Secure"}),
        (("n", "v"), {"path": "/\n"}),
        (("n", "v"), {"samesite": "sometimes"}),
        (("n", "v"), {"priority": "High; x"}),
        (("n", "v"), {"unknown_attr": "1"}),
        (("n", "v"), {"max_age": "60"}),
        (("n", "\u2603"), {}),
    ],
)
def test_format_set_cookie_refuses_injection(args: tuple[str, str], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"(?i)invalid|cookie|character|max_age"):
        format_set_cookie(*args, **kwargs)


# --- handler methods ------------------------------------------------------------------------


class CookieHandler(RequestHandler):
    def get(self) -> None:
        self.write({"got": self.get_cookie("a"), "missing": self.get_cookie("zz", "dflt")})

    def post(self) -> None:
        self.set_cookie("a", "1")
        self.set_cookie("a", "2", path="/x")  # replaces the first
        self.set_cookie("b", "3", httponly=True, samesite="Strict")
        self.clear_cookie("old", path="/")


async def test_get_and_set_cookies() -> None:
    app = Application([("/", CookieHandler)], load_entrypoints=False)
    response = await fetch(app, "/", headers={"Cookie": 'a="quoted value"; b=2'})
    assert response.body == b'{"got": "quoted value", "missing": "dflt"}'
    response = await fetch(app, "/", method="POST", body=b"x")
    cookies = response.headers.get_list("Set-Cookie")
    assert cookies[0] == "a=2; Path=/x"
    assert cookies[1] == "b=3; HttpOnly; Path=/; SameSite=Strict"
    assert cookies[2].startswith('old=""; expires=')
    assert cookies[2].endswith("; Path=/")


async def test_clear_cookie_refuses_expiry_arguments() -> None:
    errors: list[str] = []

    class Handler(RequestHandler):
        def get(self) -> None:
            for kwargs in ({"expires": 1}, {"max_age": 1}):
                try:
                    self.clear_cookie("x", **kwargs)
                except TypeError as exc:
                    errors.append(str(exc))

    await fetch(Application([("/", Handler)], load_entrypoints=False), "/")
    assert len(errors) == 2


async def test_clear_all_cookies() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.clear_all_cookies()

    app = Application([("/", Handler)], load_entrypoints=False)
    response = await fetch(app, "/", headers={"Cookie": "a=1; b=2"})
    names = sorted(line.split("=")[0] for line in response.headers.get_list("Set-Cookie"))
    assert names == ["a", "b"]


class SignedHandler(RequestHandler):
    def get(self) -> None:
        value = self.get_signed_cookie("user")
        version = self.get_signed_cookie_key_version("user")
        self.write({"user": value.decode() if value else None, "key": version})

    def post(self) -> None:
        self.set_signed_cookie("user", "alice")


async def test_signed_cookie_round_trip_and_forgery() -> None:
    app = Application([("/", SignedHandler)], cookie_secret=SECRET, load_entrypoints=False)
    response = await fetch(app, "/", method="POST", body=b"x")
    line = response.headers["Set-Cookie"]
    assert "expires=" in line  # 30 days by default
    parsed: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    parsed.load(line)
    cookie = parsed["user"].value
    response = await fetch(app, "/", headers={"Cookie": line.split(";")[0]})
    assert response.body == b'{"user": "alice", "key": 0}'
    assert "YWxpY2U=" in cookie  # base64 of "alice"
    forged = cookie.replace("YWxpY2U=", "Ym9iYm9i")  # "bobbob", same length
    response = await fetch(app, "/", headers={"Cookie": f"user={forged}"})
    assert b'"user": null' in response.body


async def test_signed_cookie_with_rotated_keys() -> None:
    secrets = {1: "first secret", 2: "second secret"}
    old_app = Application(
        [("/", SignedHandler)], cookie_secret=secrets, key_version=1, load_entrypoints=False
    )
    new_app = Application(
        [("/", SignedHandler)], cookie_secret=secrets, key_version=2, load_entrypoints=False
    )
    old_cookie = (await fetch(old_app, "/", method="POST", body=b"x")).headers["Set-Cookie"]
    response = await fetch(new_app, "/", headers={"Cookie": old_cookie.split(";")[0]})
    assert response.body == b'{"user": "alice", "key": 1}'


async def test_secure_cookie_aliases() -> None:
    assert RequestHandler.set_secure_cookie is RequestHandler.set_signed_cookie
    assert RequestHandler.get_secure_cookie is RequestHandler.get_signed_cookie
    assert (
        RequestHandler.get_secure_cookie_key_version is RequestHandler.get_signed_cookie_key_version
    )


async def test_signed_cookies_need_cookie_secret() -> None:
    app = Application([("/", SignedHandler)], load_entrypoints=False)
    response = await fetch(app, "/", method="POST", body=b"x")
    assert response.code == 500


def test_dict_secret_needs_valid_key_version() -> None:
    with pytest.raises(ConfigurationError, match="key_version"):
        Application([], cookie_secret={1: "a"}, key_version=2, load_entrypoints=False)
    with pytest.raises(ConfigurationError, match="cookie_secret"):
        Application([], cookie_secret="", load_entrypoints=False)
