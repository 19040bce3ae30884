"""The ``auth`` plugin: third-party login mounted on an application from its settings.

Inert until ``auth_providers`` names at least one provider. Then ``configure`` builds the
:class:`~typhoon_auth.registry.ProviderRegistry` (requiring ``cookie_secret``),
``register_routes`` mounts ``<prefix>/login/<provider>``, ``<prefix>/callback/<provider>``
and ``<prefix>/logout``, and ``resolve_current_user`` reads the signed session cookie so
``current_user`` and ``@authenticated`` work without handler code. With a single provider
and no ``login_url`` setting, ``login_url`` points at that provider's login route.
"""

from __future__ import annotations

__all__ = [
    "SETTINGS",
    "auth_state",
    "configure",
    "register_hookspecs",
    "register_routes",
    "register_settings",
    "resolve_current_user",
]

import weakref
from collections.abc import Sequence
from typing import Any

import pluggy
from typhoon import hookimpl
from typhoon.errors import ConfigurationError
from typhoon.plugins import Setting

from typhoon_auth import hookspecs
from typhoon_auth.handlers import (
    AuthState,
    CallbackHandler,
    LoginHandler,
    LogoutHandler,
    read_session,
)
from typhoon_auth.registry import ProviderRegistry

#: The settings this plugin declares; each may also come from ``TYPHOON_<NAME>``.
SETTINGS = [
    Setting("auth_providers", dict, None, "login providers: name -> settings", "auth"),
    Setting("auth_session_cookie", str, "typhoon_user", "name of the session cookie", "auth"),
    Setting("auth_session_days", float, 30.0, "lifetime of a login, in days", "auth"),
    Setting("auth_default_next", str, "/", "where to go after login/logout", "auth"),
    Setting("auth_prefix", str, "/auth", "URL prefix of the login routes", "auth"),
    Setting("auth_redirect_base", str, None, "https://host used in callback URLs", "auth"),
    Setting("auth_timeout", float, 10.0, "seconds each provider request may take", "auth"),
]

_STATES: weakref.WeakKeyDictionary[Any, AuthState] = weakref.WeakKeyDictionary()


def auth_state(app: Any) -> AuthState | None:
    """The login state of ``app``, or None when the plugin is inert there."""
    return _STATES.get(app)


@hookimpl
def register_hookspecs(pm: pluggy.PluginManager) -> None:
    """Add ``auth_user_authenticated``."""
    if not hasattr(pm.hook, "auth_user_authenticated") or not (
        pm.hook.auth_user_authenticated.has_spec()
    ):
        pm.add_hookspecs(hookspecs)


@hookimpl
def register_settings() -> Sequence[Setting]:
    """Declare the ``auth_*`` settings."""
    return list(SETTINGS)


@hookimpl
def configure(app: Any) -> None:
    """Build the provider registry when ``auth_providers`` is set.

    Raises:
        ConfigurationError: bad provider settings, a bad prefix, or no ``cookie_secret``.
    """
    settings = app.settings
    if not settings.get("auth_providers"):
        return
    if not settings.get("cookie_secret"):
        raise ConfigurationError("the auth plugin signs its cookies: set 'cookie_secret'")
    prefix = str(settings.get("auth_prefix") or "/auth").rstrip("/")
    if not prefix.startswith("/"):
        raise ConfigurationError(f"setting 'auth_prefix' must start with '/', not {prefix!r}")
    registry = ProviderRegistry.from_settings(settings)
    days = settings.get("auth_session_days")
    state = AuthState(
        registry=registry,
        session_cookie=str(settings.get("auth_session_cookie") or "typhoon_user"),
        session_days=float(days) if days is not None else 30.0,
        default_next=str(settings.get("auth_default_next") or "/"),
        prefix=prefix,
        redirect_base=settings.get("auth_redirect_base"),
    )
    _STATES[app] = state
    if "login_url" not in settings and len(registry) == 1:
        settings["login_url"] = f"{prefix}/login/{next(iter(registry))}"


@hookimpl
def register_routes(app: Any) -> Sequence[Any]:
    """Mount the login, callback and logout routes."""
    state = _STATES.get(app)
    if state is None:
        return []
    kwargs = {"auth": state}
    return [
        (state.prefix + r"/login/([^/]+)", LoginHandler, kwargs, "auth_login"),
        (state.prefix + r"/callback/([^/]+)", CallbackHandler, kwargs, "auth_callback"),
        (state.prefix + r"/logout", LogoutHandler, kwargs, "auth_logout"),
    ]


@hookimpl
def resolve_current_user(handler: Any) -> Any:
    """The user of the session cookie (a dict with ``provider``, ``id``, ``name``, ``email``)."""
    state = _STATES.get(handler.application)
    if state is None:
        return None
    return read_session(handler, state)
