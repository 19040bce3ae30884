"""Live chat: browsers keep a WebSocket open to ``/live`` and see new messages at once.

A message arrives either over the WebSocket (from the board's script) or as a plain
form post (without JavaScript); either way it is stored first, then every open socket
of this process receives it rendered in its reader's language. The fan-out is
in-process: several board processes would need a shared channel (a database poll or
a message broker) to see each other's messages live.
"""

from __future__ import annotations

__all__ = ["ChatSocket", "Hub"]

import json
from typing import Any

from typhoon import locale
from typhoon.escape import to_unicode
from typhoon.log import app_log
from typhoon.websocket import WebSocketClosedError, WebSocketHandler

from chatboard.store import MAX_BODY, Message, store_for


class Hub:
    """The open chat sockets of one application."""

    def __init__(self) -> None:
        self.sockets: set[ChatSocket] = set()

    def join(self, socket: ChatSocket) -> None:
        """Start sending new messages to ``socket``."""
        self.sockets.add(socket)

    def leave(self, socket: ChatSocket) -> None:
        """Stop sending to ``socket`` (it closed)."""
        self.sockets.discard(socket)

    def publish(self, message: Message) -> None:
        """Send ``message`` to every open socket."""
        for socket in list(self.sockets):
            socket.send_message(message)

    def close_all(self) -> None:
        """Close every socket with 1001 "going away" (RFC 6455 section 7.4.1)."""
        for socket in list(self.sockets):
            socket.close(1001, "server shutting down")
        self.sockets.clear()


class ChatSocket(WebSocketHandler):
    """One browser's live connection.

    Everyone may watch; only signed-in users may post. Frames from the browser are
    JSON objects ``{"body": "..."}``; frames to it are ``{"type": "message", "id":
    ..., "html": "..."}`` (the message rendered by the same template as the board) or
    ``{"type": "error", "error": "..."}``. The handshake's ``Origin`` must be this
    site (the default :meth:`check_origin`), so other sites' pages cannot post as the
    user with the user's cookies.
    """

    hub: Hub

    def initialize(self, **kwargs: Any) -> None:
        """Receive the application's :class:`Hub` (``hub=``) from the route."""
        self.hub = kwargs["hub"]

    def prepare(self) -> None:
        """Read the user and the language while the request's cookies are at hand."""
        _ = self.current_user, self.locale

    def get_user_locale(self) -> locale.Locale | None:
        """The language the reader chose (the ``locale`` cookie)."""
        return user_locale(self)

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Join the hub."""
        self.hub.join(self)

    def on_close(self) -> None:
        """Leave the hub."""
        self.hub.leave(self)

    async def on_message(self, message: str | bytes) -> None:
        """Store a posted message and publish it."""
        user = self.current_user
        if not user:
            self._send_error(self.locale.translate("Sign in to post messages."))
            return
        try:
            data = json.loads(to_unicode(message))
        except ValueError:
            self._send_error("bad frame")
            return
        body = data.get("body") if isinstance(data, dict) else None
        problem = check_body(body)
        if problem is not None:
            self._send_error(self.locale.translate(problem))
            return
        assert isinstance(body, str)
        stored = await post_message(self.application, user, body)
        self.hub.publish(stored)

    def send_message(self, message: Message) -> None:
        """Send ``message`` rendered for this reader."""
        html = to_unicode(self.render_string("modules/message.html", message=message))
        self._send({"type": "message", "id": message.id, "html": html})

    def _send_error(self, error: str) -> None:
        self._send({"type": "error", "error": error})

    def _send(self, frame: dict[str, Any]) -> None:
        try:
            self.write_message(frame)
        except WebSocketClosedError:
            app_log.debug("chat socket closed before a message could be sent")
            self.hub.leave(self)


def user_locale(handler: Any) -> locale.Locale | None:
    """The locale named by the ``locale`` cookie, or None to use the browser's."""
    code = handler.get_cookie("locale")
    if not code or code not in locale.get_supported_locales():
        return None
    return locale.get(code)


def check_body(body: object) -> str | None:
    """Why ``body`` cannot be posted (an English source string), or None."""
    if not isinstance(body, str) or not body.strip():
        return "A message cannot be empty."
    if len(body) > MAX_BODY:
        return "A message is limited to 2000 characters."
    return None


async def post_message(application: Any, user: dict[str, Any], body: str) -> Message:
    """Store ``body`` as a message of ``user``."""
    store = store_for(application)
    author_id = f"{user.get('provider', '')}:{user.get('id', '')}"
    name = user.get("name") or user.get("email") or str(user.get("id", "?"))
    return await store.add(author_id, str(name), body.strip())
