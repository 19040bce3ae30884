"""Settings, the provider registry, the provider factories and ``safe_next_url``."""

from __future__ import annotations

from typing import Any

import pytest
import typhoon_auth
import typhoon_auth.plugin as auth_plugin
from typhoon.errors import ConfigurationError, PluginError
from typhoon.web import Application
from typhoon_auth import ProviderRegistry, make_provider, safe_next_url
from typhoon_auth.registry import env_prefix


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/", "/"),
        ("/board?room=1#top", "/board?room=1#top"),
        ("/a//b", "/a//b"),
        (None, "/home"),
        ("", "/home"),
        ("//evil.example", "/home"),
        ("/\\evil.example", "/home"),
        ("\\\\evil.example", "/home"),
        ("https://evil.example/", "/home"),
        ("http:/evil", "/home"),
        ("javascript:alert(1)", "/home"),
        ("evil.example/x", "/home"),
        ("/\t/evil.example", "/home"),
        ("/\r\n/evil.example", "/home"),
        ("/ok\x00", "/home"),
    ],
)
def test_safe_next_url(value: str | None, expected: str) -> None:
    assert safe_next_url(value, "/home") == expected


def test_env_prefix() -> None:
    assert env_prefix("corp-sso") == "TYPHOON_AUTH_CORP_SSO_"


def test_registry_reads_environment_over_settings() -> None:
    settings = {
        "auth_providers": {"github": {"client_id": "from-settings", "client_secret": "s"}},
        "auth_timeout": 3.0,
    }
    env = {"TYPHOON_AUTH_GITHUB_CLIENT_ID": "from-env", "TYPHOON_AUTH_GITHUB_CLIENT_SECRET": "e"}
    registry = ProviderRegistry.from_settings(settings, environ=env)
    provider = registry["github"]
    assert (provider.client_id, provider.client_secret) == ("from-env", "e")
    assert provider.timeout == 3.0
    assert list(registry) == ["github"]
    assert len(registry) == 1
    # Secrets never show in a repr.
    assert "e'" not in repr(provider)
    assert "***" in repr(provider)
    plain = ProviderRegistry.from_settings(settings, environ={})
    assert plain["github"].client_id == "from-settings"


def test_secret_from_environment_only() -> None:
    settings = {"auth_providers": {"github": {}}}
    env = {"TYPHOON_AUTH_GITHUB_CLIENT_ID": "id", "TYPHOON_AUTH_GITHUB_CLIENT_SECRET": "sec"}
    provider = ProviderRegistry.from_settings(settings, environ=env)["github"]
    assert (provider.client_id, provider.client_secret) == ("id", "sec")


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        (["github"], "must be a dict"),
        ({"a/b": {"client_id": "x"}}, "not a URL segment"),
        ({"github": "x"}, "settings must be a dict"),
        ({"github": {}}, "'client_id' is required"),
        ({"github": {"client_id": "x", "client_secret": 5}}, "must be a string"),
        ({"acme": {"client_id": "x"}}, "unknown type 'acme'"),
        ({"github": {"client_id": "x", "colour": "red"}}, "unknown options colour"),
        ({"corp": {"type": "oidc", "client_id": "x"}}, "'issuer' is required"),
        ({"ms": {"type": "microsoft", "client_id": "x"}}, "needs a 'tenant'"),
        ({"ms": {"type": "microsoft", "client_id": "x", "tenant": "common"}}, "'tenant'"),
    ],
)
def test_bad_provider_settings(providers: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ProviderRegistry.from_settings({"auth_providers": providers}, environ={})


def test_provider_factories() -> None:
    google = make_provider("google", {"client_id": "g"})
    assert google.issuer == "https://accounts.google.com"
    assert google.is_oidc
    github = make_provider("github", {"client_id": "h", "client_secret": "s"})
    assert not github.is_oidc
    assert github.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.token_url == "https://github.com/login/oauth/access_token"
    assert github.userinfo_url == "https://api.github.com/user"
    assert github.id_field == "id"
    assert github.userinfo_headers["Accept"] == "application/vnd.github+json"
    ms = make_provider("work", {"type": "microsoft", "client_id": "m", "tenant": "t-1"})
    assert ms.issuer == "https://login.microsoftonline.com/t-1/v2.0"
    personal = make_provider("ms", {"type": "microsoft", "client_id": "m", "tenant": "consumers"})
    assert personal.issuer == (
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    )
    gitlab = make_provider("gitlab", {"client_id": "l"})
    assert gitlab.issuer == "https://gitlab.com"
    own = make_provider("lab", {"type": "gitlab", "client_id": "l", "issuer": "https://git.corp"})
    assert own.issuer == "https://git.corp"
    corp = make_provider(
        "corp",
        {
            "type": "oidc",
            "client_id": "c",
            "issuer": "https://sso.corp",
            "scope": "openid",
            "pkce": False,
            "token_auth": "client_secret_basic",
            "id_token_algorithms": ["ES256"],
        },
    )
    assert (corp.scope, corp.pkce, corp.token_auth) == ("openid", False, "client_secret_basic")
    assert corp.id_token_algorithms == ("ES256",)


def _app(**settings: Any) -> Application:
    return Application([], plugins=[auth_plugin], load_entrypoints=False, **settings)


def test_plugin_is_inert_without_providers() -> None:
    app = _app()
    assert auth_plugin.auth_state(app) is None
    assert "login_url" not in app.settings


def test_plugin_needs_cookie_secret() -> None:
    with pytest.raises(PluginError, match="cookie_secret") as info:
        _app(auth_providers={"github": {"client_id": "x"}})
    assert isinstance(info.value.__cause__, ConfigurationError)


def test_plugin_checks_prefix() -> None:
    with pytest.raises(PluginError, match="auth_prefix") as info:
        _app(cookie_secret="k", auth_providers={"github": {"client_id": "x"}}, auth_prefix="auth")
    assert isinstance(info.value.__cause__, ConfigurationError)


def test_plugin_settings_and_login_url() -> None:
    app = _app(
        cookie_secret="k",
        auth_providers={"github": {"client_id": "x"}},
        auth_prefix="/sso/",
        auth_session_days=2.0,
        auth_timeout=4.0,
    )
    state = auth_plugin.auth_state(app)
    assert state is not None
    assert state.prefix == "/sso"
    assert state.session_days == 2.0
    assert state.registry["github"].timeout == 4.0
    assert app.settings["login_url"] == "/sso/login/github"
    two = _app(
        cookie_secret="k",
        auth_providers={"github": {"client_id": "x"}, "google": {"client_id": "y"}},
    )
    assert "login_url" not in two.settings


def test_public_names() -> None:
    for name in typhoon_auth.__all__:
        assert hasattr(typhoon_auth, name), name
    assert {"OAuthMixin", "TwitterMixin", "OpenIdMixin", "OAuth2Mixin"} <= set(typhoon_auth.__all__)
