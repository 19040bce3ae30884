"""The application settings typhoon's core understands: names, types, defaults, meaning.

Layer 5 (web). Imports ``typhoon.errors``, ``typhoon.hookspecs`` (the :class:`Setting`
record) and the standard library.

``Application.settings`` stays a plain ``dict`` holding what the user passed (as in
Tornado, handlers may read and even change it). This module declares every key the core
reads (:data:`CORE_SETTINGS`, the list Tornado documents), checks the types of the
values given (:func:`validate_settings`), and applies what ``debug=True`` implies
(:func:`apply_debug_defaults`). Plugins declare their own settings through the
``register_settings`` hook; their defaults are filled in by the application.
"""

from __future__ import annotations

__all__ = [
    "CORE_SETTINGS",
    "DEBUG_IMPLIES",
    "apply_debug_defaults",
    "core_setting",
    "validate_settings",
]

import os
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from typhoon.errors import ConfigurationError
from typhoon.hookspecs import Setting


def _s(name: str, type_: type[Any], default: Any, help_: str) -> Setting:
    return Setting(name=name, type=type_, default=default, help=help_, plugin="typhoon")


#: Every setting the core reads, with its default and meaning.
CORE_SETTINGS: tuple[Setting, ...] = (
    # general
    _s(
        "debug",
        bool,
        False,
        "development mode: implies autoreload, serve_traceback and "
        "no template or static hash caching",
    ),
    _s(
        "autoreload",
        bool,
        False,
        "restart the process when a source file changes (needs typhoon[autoreload])",
    ),
    _s("serve_traceback", bool, False, "error pages include the traceback"),
    _s(
        "default_handler_class",
        type,
        None,
        "handler for requests no rule matches (instead of a plain 404)",
    ),
    _s("default_handler_args", dict, None, "initialize() arguments of default_handler_class"),
    _s("compress_response", bool, False, "gzip responses to clients that accept it"),
    _s("gzip", bool, False, "old name of compress_response"),
    _s(
        "log_function",
        object,
        None,
        "called with each finished handler instead of Application.log_request",
    ),
    _s(
        "ui_modules",
        dict,
        None,
        "UIModule classes (a dict, a module or a list of them) "
        "available to templates as modules.<name>",
    ),
    _s(
        "ui_methods",
        dict,
        None,
        "functions (a dict, a module or a list of them) "
        "available to templates, called with the handler first",
    ),
    # websocket
    _s("websocket_ping_interval", float, None, "seconds between keep-alive pings"),
    _s("websocket_ping_timeout", float, None, "close a connection whose pong is this late"),
    _s("websocket_max_message_size", int, None, "largest incoming message, in bytes"),
    # authentication and security
    _s(
        "cookie_secret",
        str,
        None,
        "secret that signs cookies (or a dict of secrets by key version)",
    ),
    _s("key_version", int, None, "which cookie_secret entry signs new cookies"),
    _s("login_url", str, None, "where @authenticated sends anonymous users"),
    _s("xsrf_cookies", bool, False, "unsafe requests must echo the XSRF cookie's token"),
    _s("xsrf_cookie_version", int, 2, "format of new XSRF tokens (1 or 2)"),
    _s("xsrf_cookie_kwargs", dict, None, "set_cookie() arguments for the XSRF cookie"),
    _s(
        "xsrf_cookie_name",
        str,
        "_xsrf",
        'name of the XSRF cookie ("__Host-xsrf" pins it to the host)',
    ),
    _s(
        "cross_origin_protection",
        bool,
        False,
        "refuse unsafe requests made by pages from other origins (Sec-Fetch-Site / Origin)",
    ),
    _s(
        "trusted_origins",
        list,
        None,
        "origins (scheme://host[:port]) exempt from cross-origin protection",
    ),
    # templates
    _s("autoescape", str, "xhtml_escape", "escaping function name for template output, or None"),
    _s("compiled_template_cache", bool, True, "keep compiled templates between requests"),
    _s("template_path", str, None, "directory of the templates handlers render"),
    _s("template_loader", object, None, "a template loader to use instead of template_path"),
    _s("template_whitespace", str, None, "whitespace mode of templates: all, single or oneline"),
    # static files
    _s("static_path", str, None, "directory served under static_url_prefix"),
    _s("static_url_prefix", str, "/static/", "URL prefix of static files"),
    _s("static_handler_class", type, None, "handler class serving static files"),
    _s("static_handler_args", dict, None, "initialize() arguments of the static handler"),
    _s("static_hash_cache", bool, True, "remember file hashes for versioned static URLs"),
)

_BY_NAME = {setting.name: setting for setting in CORE_SETTINGS}

#: What ``debug=True`` turns on, unless the setting is given explicitly.
DEBUG_IMPLIES: Mapping[str, Any] = {
    "autoreload": True,
    "compiled_template_cache": False,
    "static_hash_cache": False,
    "serve_traceback": True,
}


def core_setting(name: str) -> Setting | None:
    """The declaration of core setting ``name``, or ``None`` if the core does not read it."""
    return _BY_NAME.get(name)


def apply_debug_defaults(settings: MutableMapping[str, Any]) -> None:
    """Fill in what ``debug`` implies, and the new name of the ``gzip`` setting."""
    if settings.get("debug"):
        for name, value in DEBUG_IMPLIES.items():
            settings.setdefault(name, value)
    if "gzip" in settings and "compress_response" not in settings:
        settings["compress_response"] = settings["gzip"]


def _is_path(value: Any) -> bool:
    return isinstance(value, str | os.PathLike)


def _is_secret(value: Any) -> bool:
    if isinstance(value, str | bytes):
        return bool(value)
    if isinstance(value, Mapping):
        return bool(value) and all(
            isinstance(key, int) and isinstance(secret, str | bytes) and secret
            for key, secret in value.items()
        )
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _is_string_list(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and all(isinstance(item, str) for item in value)
    )


def _is_namespace(value: Any) -> bool:
    # A dict, a module, or a list of them (Tornado's ui_modules/ui_methods forms).
    if isinstance(value, list | tuple):
        return all(_is_namespace(item) for item in value)
    return isinstance(value, Mapping) or hasattr(value, "__dict__")


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "debug": (lambda v: isinstance(v, bool), "True or False"),
    "autoreload": (lambda v: isinstance(v, bool), "True or False"),
    "serve_traceback": (lambda v: isinstance(v, bool), "True or False"),
    "compress_response": (lambda v: isinstance(v, bool), "True or False"),
    "gzip": (lambda v: isinstance(v, bool), "True or False"),
    "default_handler_class": (lambda v: isinstance(v, type), "a RequestHandler subclass"),
    "default_handler_args": (lambda v: isinstance(v, Mapping), "a dict"),
    "log_function": (callable, "a callable taking the handler"),
    "ui_modules": (_is_namespace, "a dict, a module or a list of them"),
    "ui_methods": (_is_namespace, "a dict, a module or a list of them"),
    "websocket_ping_interval": (_is_number, "a number of seconds"),
    "websocket_ping_timeout": (_is_number, "a number of seconds"),
    "websocket_max_message_size": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a positive number of bytes",
    ),
    "cookie_secret": (_is_secret, "a non-empty string, or a dict of them by key version"),
    "key_version": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
    "login_url": (lambda v: isinstance(v, str), "a URL string"),
    "xsrf_cookies": (lambda v: isinstance(v, bool), "True or False"),
    "xsrf_cookie_version": (lambda v: v in (1, 2), "1 or 2"),
    "xsrf_cookie_kwargs": (lambda v: isinstance(v, Mapping), "a dict"),
    "xsrf_cookie_name": (lambda v: isinstance(v, str) and bool(v), "a cookie name"),
    "cross_origin_protection": (lambda v: isinstance(v, bool), "True or False"),
    "trusted_origins": (_is_string_list, "a list of origin strings"),
    "autoescape": (lambda v: isinstance(v, str), "the name of an escaping function"),
    "compiled_template_cache": (lambda v: isinstance(v, bool), "True or False"),
    "template_path": (_is_path, "a directory path"),
    "template_whitespace": (
        lambda v: v in ("all", "single", "oneline"),
        "'all', 'single' or 'oneline'",
    ),
    "static_path": (_is_path, "a directory path"),
    "static_url_prefix": (
        lambda v: isinstance(v, str) and v.startswith("/"),
        "a path starting with /",
    ),
    "static_handler_class": (lambda v: isinstance(v, type), "a RequestHandler subclass"),
    "static_handler_args": (lambda v: isinstance(v, Mapping), "a dict"),
    "static_hash_cache": (lambda v: isinstance(v, bool), "True or False"),
}


def validate_settings(settings: Mapping[str, Any]) -> None:
    """Check the type of every core setting present; ``None`` always means "unset".

    Raises:
        ConfigurationError: naming the setting, what it should be and what it was.
    """
    for name, value in settings.items():
        check = _CHECKS.get(name)
        if check is None or value is None:
            continue
        accepts, expected = check
        if not accepts(value):
            raise ConfigurationError(
                f"setting {name!r} must be {expected}, not {type(value).__name__} {value!r}"
            )
    secret = settings.get("cookie_secret")
    key_version = settings.get("key_version")
    if isinstance(secret, Mapping) and key_version is not None and key_version not in secret:
        raise ConfigurationError(
            "setting 'key_version' must name an entry of the cookie_secret dict "
            f"(one of {sorted(secret)}), not {key_version!r}"
        )
