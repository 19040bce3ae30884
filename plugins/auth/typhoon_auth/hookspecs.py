"""The hook specification the auth plugin adds for other plugins.

Added to every :class:`typhoon.plugins.PluginManager` the plugin is registered with
(through ``register_hookspecs``). A plugin that implements it but must also work where
``typhoon-auth`` is not installed marks its implementation ``@hookimpl(optionalhook=True)``.
"""

from __future__ import annotations

__all__ = ["auth_user_authenticated"]

from typing import Any

from typhoon.hookspecs import hookspec


@hookspec
def auth_user_authenticated(handler: Any, user: dict[str, Any]) -> None:
    """React to a completed third-party login: create the account, record the visit.

    When: in ``/auth/callback/<provider>``, after the provider's answer was validated
    and before the session cookie is set. ``user`` holds ``provider``, ``id``, ``name``,
    ``email`` and the provider's ``claims``; an implementation may change it in place
    (for example store a local account id under a new key; keep it small, it goes into
    the session cookie without ``claims``). Raising ``HTTPError`` refuses the login with
    that status.

    Sync or async: either; each result is awaited before the next implementation runs.

    Results: each -- the return value is ignored.
    """
