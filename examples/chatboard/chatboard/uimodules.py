"""The board's UI modules: pieces of page with their own template, CSS and script.

Templates use them as ``{% module Message(message) %}``, ``{% module UserBadge() %}``
and ``{% module LanguageSwitcher() %}``; the script a module asks for
(``javascript_files``) is added once to the end of the page.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "LanguageSwitcher", "Message", "UserBadge"]

from typing import Any

from typhoon.escape import to_unicode
from typhoon.web import UIModule

from chatboard.store import Message as StoredMessage

#: The languages the switcher offers: code -> name in that language.
LANGUAGES = {"en_US": "English", "fr_FR": "Français", "de_DE": "Deutsch"}


class Message(UIModule):
    """One message of the board (the live socket renders the same template)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Render ``message``."""
        message: StoredMessage = args[0] if args else kwargs["message"]
        return to_unicode(self.render_string("modules/message.html", message=message))


class UserBadge(UIModule):
    """Who is signed in, with a sign-out button; or a sign-in link."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Render the badge of the current user."""
        return to_unicode(self.render_string("modules/user_badge.html"))


class LanguageSwitcher(UIModule):
    """A small form choosing the page's language (posted with its XSRF token)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Render the switcher with the current language selected."""
        return to_unicode(
            self.render_string(
                "modules/language_switcher.html",
                languages=LANGUAGES,
                current=self.locale.code,
                next_url=self.request.uri or "/",
            )
        )

    def javascript_files(self) -> list[str]:
        """Submits the switcher as soon as a language is picked."""
        return ["language.js"]
