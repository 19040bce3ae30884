"""The board's application: routes, settings, and the login providers it offers.

Settings come from :func:`make_app`'s keyword arguments, over values read from the
environment (so the same program runs offline in development and against real
providers and a real database in production):

``CHATBOARD_COOKIE_SECRET``
    signs the session, XSRF and language cookies (required outside development).
``CHATBOARD_DEBUG``
    ``1`` for development: templates and static files re-read, autoreload on.
``CHATBOARD_DEV_ISSUER``, ``CHATBOARD_DEV_CLIENT_SECRET``
    the development OpenID Connect provider started by ``python -m chatboard demo``.
``TYPHOON_AUTH_GITHUB_CLIENT_ID`` / ``..._SECRET``, ``TYPHOON_AUTH_GOOGLE_CLIENT_ID`` / ``..._SECRET``
    switch on "Sign in with GitHub" / "with Google".
``CHATBOARD_OIDC_ISSUER`` with ``TYPHOON_AUTH_OIDC_CLIENT_ID`` / ``..._SECRET``
    switch on any OpenID Connect issuer.
``TYPHOON_MYSQL_HOST``, ``TYPHOON_MYSQL_DATABASE``, ``TYPHOON_MYSQL_USER``, ...
    the database (the ``database`` plugin's settings).
"""

from __future__ import annotations

__all__ = ["DEV_CLIENT_ID", "STATIC_PATH", "TEMPLATE_PATH", "make_app", "providers_from_env"]

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typhoon import locale
from typhoon.web import Application, url

from chatboard import uimodules
from chatboard.handlers import BoardHandler, LanguageHandler, LoginHandler, PostHandler
from chatboard.live import ChatSocket, Hub

_HERE = Path(__file__).resolve().parent
#: Directory of the page templates.
TEMPLATE_PATH = str(_HERE / "templates")
#: Directory of the stylesheet, scripts and images.
STATIC_PATH = str(_HERE / "static")
_TRANSLATIONS = str(_HERE / "translations")
#: The client id the board uses with the development provider.
DEV_CLIENT_ID = "chatboard"


def providers_from_env(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The ``auth_providers`` setting the environment asks for (see the module docs).

    Client ids and secrets of GitHub, Google and the generic issuer are not copied
    here: the auth plugin reads ``TYPHOON_AUTH_<NAME>_CLIENT_ID`` / ``_SECRET`` itself.
    """
    env = os.environ if environ is None else environ
    providers: dict[str, dict[str, Any]] = {}
    issuer = env.get("CHATBOARD_DEV_ISSUER")
    if issuer:
        providers["dev"] = {
            "type": "oidc",
            "issuer": issuer,
            "client_id": DEV_CLIENT_ID,
            "client_secret": env.get("CHATBOARD_DEV_CLIENT_SECRET") or None,
        }
    for name in ("github", "google"):
        if env.get(f"TYPHOON_AUTH_{name.upper()}_CLIENT_ID"):
            providers[name] = {}
    generic = env.get("CHATBOARD_OIDC_ISSUER")
    if generic and env.get("TYPHOON_AUTH_OIDC_CLIENT_ID"):
        providers["oidc"] = {"type": "oidc", "issuer": generic}
    return providers


def make_app(environ: Mapping[str, str] | None = None, **overrides: Any) -> Application:
    """Build the board; ``overrides`` win over the environment's settings.

    The ``database`` plugin must be configured (``mysql_host`` and friends, or the
    ``TYPHOON_MYSQL_*`` variables) and the schema created
    (:func:`chatboard.store.create_schema`).
    """
    env = os.environ if environ is None else environ
    locale.load_translations(_TRANSLATIONS)
    hub = Hub()
    debug = env.get("CHATBOARD_DEBUG", "") not in ("", "0")
    settings: dict[str, Any] = {
        "cookie_secret": env.get("CHATBOARD_COOKIE_SECRET") or None,
        "debug": debug,
        "template_path": TEMPLATE_PATH,
        "static_path": STATIC_PATH,
        "ui_modules": uimodules,
        "xsrf_cookies": True,
        "xsrf_cookie_kwargs": {"httponly": True, "samesite": "Lax"},
        "login_url": "/login",
        "auth_providers": providers_from_env(env),
        "chatboard_hub": hub,
        # Autoreload (debug) watches modules, templates and static files; add translations.
        "autoreload_paths": [_TRANSLATIONS],
    }
    settings.update(overrides)
    if not settings["cookie_secret"]:
        raise ValueError("set CHATBOARD_COOKIE_SECRET (or cookie_secret=...) to sign cookies")
    routes = [
        url(r"/", BoardHandler, name="board"),
        url(r"/messages", PostHandler, {"hub": hub}, name="post"),
        url(r"/live", ChatSocket, {"hub": hub}, name="live"),
        url(r"/language", LanguageHandler, name="language"),
        url(r"/login", LoginHandler, name="login"),
    ]
    return Application(routes, **settings)
