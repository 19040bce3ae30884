"""Who is making the request: the current user and the user's locale.

Layer 5 (web). Imports ``typhoon.locale``; the application, request and plugin types
are named for the checker only.

:class:`IdentityMixin` holds ``RequestHandler``'s user and locale methods. Both values
are computed on first use and cached for the request. ``get_current_user`` may be
``async`` (the handler then awaits it before ``prepare``); by default it asks the
plugins' ``resolve_current_user`` hook, which is free when no plugin implements it.
"""

from __future__ import annotations

__all__ = ["IdentityMixin"]

from typing import TYPE_CHECKING, Any

from typhoon.locale import Locale
from typhoon.locale import get as get_locale

if TYPE_CHECKING:
    from typhoon.httputil import HTTPServerRequest
    from typhoon.web.application import Application


class IdentityMixin:
    """The user and locale methods of ``RequestHandler``."""

    if TYPE_CHECKING:
        application: Application
        request: HTTPServerRequest
        _current_user: Any
        _locale: Locale

        def require_setting(self, name: str, feature: str = ...) -> None: ...

    @property
    def current_user(self) -> Any:
        """The user of this request, as :meth:`get_current_user` found it (cached).

        May be assigned, for example in an ``async`` :meth:`prepare`.
        """
        try:
            return self._current_user
        except AttributeError:
            self._current_user = self.get_current_user()
            return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def get_current_user(self) -> Any:
        """Find the user making the request; ``None`` for an anonymous one.

        Override it (plain or ``async``; an ``async`` one is awaited before
        :meth:`prepare`). The default asks the plugins' ``resolve_current_user`` hook.
        """
        hooks = self.application._hooks
        if hooks.resolve_current_user_sync:
            return self.application.plugin_manager.call_first("resolve_current_user", handler=self)
        return None

    def get_login_url(self) -> str:
        """The URL ``@authenticated`` sends anonymous users to (``login_url`` setting)."""
        self.require_setting("login_url", "@typhoon.web.authenticated")
        url: str = self.application.settings["login_url"]
        return url

    @property
    def locale(self) -> Locale:
        """The user's locale: :meth:`get_user_locale`, else from ``Accept-Language``."""
        try:
            return self._locale
        except AttributeError:
            found = self.get_user_locale()
            self._locale = found if found is not None else self.get_browser_locale()
            return self._locale

    @locale.setter
    def locale(self, value: Locale) -> None:
        self._locale = value

    def get_user_locale(self) -> Locale | None:
        """Override to pick the locale from the user's profile; ``None`` defers to the
        browser's ``Accept-Language``."""
        return None

    def get_browser_locale(self, default: str = "en_US") -> Locale:
        """The closest supported locale to the ``Accept-Language`` header (RFC 9110,
        section 12.5.4), by quality value; ``default`` when none is acceptable."""
        header = self.request.headers.get("Accept-Language")
        if header:
            ranked: list[tuple[float, int, str]] = []
            for position, item in enumerate(header.split(",")):
                code, _, params = item.strip().partition(";")
                code = code.strip()
                if not code:
                    continue
                quality = 1.0
                params = params.strip()
                if params.startswith("q="):
                    try:
                        quality = float(params[2:])
                    except ValueError:
                        quality = 0.0
                if quality > 0:
                    ranked.append((-quality, position, code))
            if ranked:
                ranked.sort()
                return get_locale(*(code for _, _, code in ranked))
        return get_locale(default)
