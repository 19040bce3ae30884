"""The core settings table and the web facade's exports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import typhoon.web
from typhoon.errors import ConfigurationError
from typhoon.web.settings import (
    CORE_SETTINGS,
    DEBUG_IMPLIES,
    apply_debug_defaults,
    core_setting,
    validate_settings,
)

#: Every setting tornado.web documents (FEATURES.md 1.4.3), less the auth providers'.
TORNADO_SETTINGS = {
    "debug", "autoreload", "default_handler_class", "default_handler_args",
    "compress_response", "gzip", "log_function", "serve_traceback", "ui_modules",
    "ui_methods", "websocket_ping_interval", "websocket_ping_timeout",
    "websocket_max_message_size", "cookie_secret", "key_version", "login_url",
    "xsrf_cookies", "xsrf_cookie_version", "xsrf_cookie_kwargs", "xsrf_cookie_name",
    "cross_origin_protection", "trusted_origins", "autoescape", "compiled_template_cache",
    "template_path", "template_loader", "template_whitespace", "static_path",
    "static_url_prefix", "static_handler_class", "static_handler_args", "static_hash_cache",
}  # fmt: skip


def test_every_documented_setting_is_declared_with_help() -> None:
    names = {setting.name for setting in CORE_SETTINGS}
    assert names == TORNADO_SETTINGS
    for setting in CORE_SETTINGS:
        assert setting.help, setting.name
        assert setting.plugin == "typhoon"
    assert core_setting("login_url") is not None
    assert core_setting("not_a_setting") is None


def test_debug_implications() -> None:
    settings: dict[str, object] = {"debug": True, "serve_traceback": False}
    apply_debug_defaults(settings)
    assert settings["serve_traceback"] is False
    for name, value in DEBUG_IMPLIES.items():
        if name != "serve_traceback":
            assert settings[name] == value
    quiet: dict[str, object] = {"debug": False}
    apply_debug_defaults(quiet)
    assert quiet == {"debug": False}


def test_validation_accepts_good_values_and_none() -> None:
    validate_settings(
        {
            "debug": True,
            "cookie_secret": {1: "a", 2: b"b"},
            "key_version": 2,
            "trusted_origins": ["https://a.example"],
            "static_url_prefix": "/assets/",
            "websocket_ping_interval": 1.5,
            "login_url": None,
            "ui_modules": [{"x": object}],
        }
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"websocket_ping_timeout": -1},
        {"websocket_ping_interval": True},
        {"cookie_secret": {1: ""}},
        {"cookie_secret": 5},
        {"key_version": "1"},
        {"log_function": "print"},
        {"ui_methods": 5},
        {"template_path": 5},
    ],
)
def test_validation_refuses_bad_values(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(settings))):
        validate_settings(settings)


def test_facade_exports_tornado_web_names() -> None:
    tornado_names = {
        "RequestHandler", "Application", "URLSpec", "url", "RedirectHandler", "ErrorHandler",
        "FallbackHandler", "HTTPError", "Finish", "MissingArgumentError", "authenticated",
        "addslash", "removeslash", "stream_request_body", "create_signed_value",
        "decode_signed_value", "get_signature_key_version", "StaticFileHandler", "UIModule",
        "TemplateModule", "OutputTransform", "GZipContentEncoding",
    }  # fmt: skip
    assert tornado_names <= set(typhoon.web.__all__)
    for name in typhoon.web.__all__:
        assert getattr(typhoon.web, name) is not None, name


@pytest.mark.parametrize(
    "module",
    [
        "typhoon.routing",
        "typhoon.web",
        "typhoon.web.application",
        "typhoon.web.arguments",
        "typhoon.web.context",
        "typhoon.web.cookies",
        "typhoon.web.decorators",
        "typhoon.web.handler",
        "typhoon.web.handlers",
        "typhoon.web.identity",
        "typhoon.web.rendering",
        "typhoon.web.settings",
        "typhoon.web.xsrf",
    ],
)
def test_module_imports_alone_with_warnings_as_errors(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name).__doc__, f"{module}.{name} has no docstring"
