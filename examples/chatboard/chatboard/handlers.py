"""The board's pages: the board itself, posting without JavaScript, sign-in, language."""

from __future__ import annotations

__all__ = ["BaseHandler", "BoardHandler", "LanguageHandler", "LoginHandler", "PostHandler"]

from typing import Any

from typhoon import locale
from typhoon.web import HTTPError, RequestHandler, authenticated

from chatboard.live import Hub, check_body, post_message, user_locale
from chatboard.store import store_for
from chatboard.uimodules import LANGUAGES


class BaseHandler(RequestHandler):
    """The language comes from the ``locale`` cookie, else from the browser."""

    def get_user_locale(self) -> locale.Locale | None:
        """The language the reader chose with the switcher, if any."""
        return user_locale(self)


class BoardHandler(BaseHandler):
    """``GET /``: the last messages, the form to post one, and the live connection."""

    async def get(self) -> None:
        """Render the board."""
        messages = await store_for(self.application).recent()
        self.render("board.html", messages=messages, error=None)


class PostHandler(BaseHandler):
    """``POST /messages``: post from the form (the board's script uses the socket)."""

    hub: Hub

    def initialize(self, **kwargs: Any) -> None:
        """Receive the application's :class:`~chatboard.live.Hub` (``hub=``)."""
        self.hub = kwargs["hub"]

    @authenticated
    async def post(self) -> None:
        """Store the message, tell the live readers, go back to the board."""
        body = self.get_body_argument("body", "")
        problem = check_body(body)
        if problem is not None:
            self.set_status(400)
            messages = await store_for(self.application).recent()
            self.render("board.html", messages=messages, error=self.locale.translate(problem))
            return
        message = await post_message(self.application, self.current_user, body)
        self.hub.publish(message)
        self.redirect(self.reverse_url("board") + f"#m{message.id}", status=303)


class LanguageHandler(BaseHandler):
    """``POST /language``: remember the chosen language in a cookie."""

    def post(self) -> None:
        """Set the ``locale`` cookie and go back where the reader was."""
        code = self.get_body_argument("locale", "")
        if code not in LANGUAGES:
            raise HTTPError(400, reason="Unknown language")
        self.set_cookie("locale", code, expires_days=365, httponly=True, samesite="Lax")
        self.redirect(_same_site_path(self.get_body_argument("next", "/")), status=303)


class LoginHandler(BaseHandler):
    """``GET /login``: the sign-in providers this board offers."""

    def get(self) -> None:
        """List the configured providers, each a link to its login route."""
        next_url = _same_site_path(self.get_argument("next", "/"))
        providers = self.settings.get("auth_providers") or {}
        self.render("login.html", providers=sorted(providers), next_url=next_url)


def _same_site_path(value: str) -> str:
    """``value`` if it is a path on this site, else ``/`` (no open redirects)."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    return value
