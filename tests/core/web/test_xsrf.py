"""XSRF tokens (masked, header and form sources) and cross-origin request protection."""

from __future__ import annotations

import binascii
import http.cookies
from typing import Any

import pytest
from _webclient import Response, fetch
from typhoon.web import Application, RequestHandler
from typhoon.web.xsrf import _decode_token


class Form(RequestHandler):
    def get(self) -> None:
        self.write({"token": self.xsrf_token.decode(), "again": self.xsrf_token.decode()})

    def post(self) -> None:
        self.write("accepted")

    def put(self) -> None:
        self.write("accepted")


class Html(RequestHandler):
    def get(self) -> None:
        self.write(self.xsrf_form_html())


def make_app(**settings: Any) -> Application:
    return Application(
        [("/", Form), ("/html", Html)], load_entrypoints=False, xsrf_cookies=True, **settings
    )


def cookie_of(response: Response, name: str = "_xsrf") -> str:
    for line in response.headers.get_list("Set-Cookie"):
        parsed: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        parsed.load(line)
        if name in parsed:
            return parsed[name].value
    raise AssertionError(f"no {name} cookie set")


async def token_and_cookie(app: Application) -> tuple[str, str]:
    response = await fetch(app, "/")
    body = response.text
    token = body.split('"token": "')[1].split('"')[0]
    return token, cookie_of(response)


async def test_tokens_are_masked_differently_each_request_but_unmask_to_the_cookie() -> None:
    app = make_app()
    token1, cookie = await token_and_cookie(app)
    # Same request: the cached token.
    response = await fetch(app, "/", headers={"Cookie": f"_xsrf={cookie}"})
    assert response.text.count(response.text.split('"token": "')[1].split('"')[0]) == 2
    assert "Set-Cookie" not in response.headers  # the cookie already exists
    token2 = response.text.split('"token": "')[1].split('"')[0]
    assert token1 != token2
    assert token1.startswith("2|")
    assert _decode_token(token1)[1] == _decode_token(token2)[1] == _decode_token(cookie)[1]


async def test_post_needs_matching_token_from_form_or_headers() -> None:
    app = make_app()
    token, cookie = await token_and_cookie(app)
    cookie_header = f"_xsrf={cookie}"
    form = {"Cookie": cookie_header, "Content-Type": "application/x-www-form-urlencoded"}
    accepted = await fetch(app, "/", "POST", form, f"_xsrf={token}".replace("|", "%7C").encode())
    assert accepted.body == b"accepted"
    for header in ("X-XSRFToken", "X-CSRFToken"):
        response = await fetch(app, "/", "PUT", {"Cookie": cookie_header, header: token}, b"x")
        assert response.body == b"accepted", header
    # Missing token, missing cookie, wrong token, malformed token.
    assert (await fetch(app, "/", "POST", {"Cookie": cookie_header}, b"x")).code == 403
    assert (await fetch(app, "/", "POST", {"X-XSRFToken": token}, b"x")).code == 403
    other, _ = await token_and_cookie(app)
    wrong = await fetch(app, "/", "POST", {"Cookie": cookie_header, "X-XSRFToken": other}, b"")
    assert wrong.code == 403
    bad = await fetch(app, "/", "POST", {"Cookie": cookie_header, "X-XSRFToken": "3|x"}, b"")
    assert bad.code == 403


async def test_safe_methods_are_not_checked() -> None:
    app = make_app()
    assert (await fetch(app, "/")).code == 200
    assert (await fetch(app, "/", "OPTIONS")).code == 405  # not implemented, but not 403


async def test_version_1_tokens_and_legacy_cookies_still_verify() -> None:
    app = make_app(xsrf_cookie_version=1)
    token, cookie = await token_and_cookie(app)
    assert len(token) == 32  # hex of 16 bytes, unmasked
    response = await fetch(app, "/", "POST", {"Cookie": f"_xsrf={cookie}", "X-XSRFToken": token})
    assert response.body == b"accepted"
    # A raw (pre-hex) cookie value is compared as is.
    raw = "plain-old-token"
    response = await fetch(app, "/", "POST", {"Cookie": f"_xsrf={raw}", "X-XSRFToken": raw})
    assert response.body == b"accepted"
    # A version-2 token matches a version-1 cookie holding the same secret.
    v2_app = make_app()
    response = await fetch(v2_app, "/", headers={"Cookie": f"_xsrf={cookie}"})
    token2 = response.text.split('"token": "')[1].split('"')[0]
    assert _decode_token(token2)[1] == binascii.a2b_hex(cookie)


async def test_cookie_name_and_kwargs_settings() -> None:
    app = make_app(
        xsrf_cookie_name="__Host-xsrf",
        xsrf_cookie_kwargs={"secure": True, "samesite": "Strict"},
    )
    response = await fetch(app, "/")
    line = response.headers["Set-Cookie"]
    assert line.startswith("__Host-xsrf=")
    assert "Secure" in line
    assert "SameSite=Strict" in line
    assert "expires" not in line  # anonymous user: session cookie


async def test_logged_in_user_gets_a_lasting_cookie() -> None:
    class UserForm(Form):
        def get_current_user(self) -> str:
            return "alice"

    app = Application([("/", UserForm)], xsrf_cookies=True, load_entrypoints=False)
    response = await fetch(app, "/")
    assert "expires=" in response.headers["Set-Cookie"]


async def test_xsrf_form_html_escapes_token() -> None:
    response = await fetch(make_app(), "/html")
    assert response.text.startswith('<input type="hidden" name="_xsrf" value="2|')
    assert response.text.endswith('"/>')


def test_unknown_cookie_version_setting_is_refused() -> None:
    from typhoon.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="xsrf_cookie_version"):
        make_app(xsrf_cookie_version=3)


def test_decode_token_rejects_garbage() -> None:
    assert _decode_token("2|zz|zz|1") == (None, None, None)
    assert _decode_token("2||00|1") == (None, None, None)
    assert _decode_token("2|a|b") == (None, None, None)
    assert _decode_token("7|abc") == (None, None, None)


# --- cross-origin protection ----------------------------------------------------------------


class Action(RequestHandler):
    def get(self) -> None:
        self.write("read")

    def post(self) -> None:
        self.write("done")


def cross_origin_app(**settings: Any) -> Application:
    return Application(
        [("/", Action)], cross_origin_protection=True, load_entrypoints=False, **settings
    )


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 200),  # not from a browser page
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
        ({"Origin": "http://example.com"}, 200),  # matches Host
        ({"Origin": "http://EXAMPLE.com"}, 200),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://partner.example"}, 200),
        ({"Origin": "https://partner.example"}, 200),
    ],
)
async def test_cross_origin_protection(headers: dict[str, str], code: int) -> None:
    app = cross_origin_app(trusted_origins=["https://partner.example/"])
    response = await fetch(app, "/", "POST", {"Host": "example.com", **headers}, b"x")
    assert response.code == code


async def test_cross_origin_protection_leaves_safe_methods_and_is_off_by_default() -> None:
    app = cross_origin_app()
    response = await fetch(app, "/", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.code == 200
    off = Application([("/", Action)], load_entrypoints=False)
    response = await fetch(off, "/", "POST", {"Sec-Fetch-Site": "cross-site"}, b"x")
    assert response.code == 200


async def test_check_trusted_origin_can_be_overridden() -> None:
    class Trusting(Action):
        def check_trusted_origin(self, origin: str) -> bool:
            return origin.endswith(".partner.example")

    app = Application([("/", Trusting)], cross_origin_protection=True, load_entrypoints=False)
    ok = await fetch(app, "/", "POST", {"Origin": "https://a.partner.example"}, b"x")
    assert ok.code == 200
    refused = await fetch(app, "/", "POST", {"Origin": "https://partner.evil"}, b"x")
    assert refused.code == 403
