"""Chatboard: a message board with live chat, the demo application of typhoon.

It shows the whole stack in one small program: sign-in through the ``auth`` plugin,
messages kept in MySQL/MariaDB through the ``database`` plugin, live updates over
WebSocket, templates with a base layout and UI modules, versioned static files, XSRF
protection on every form, two translations with a language switcher, and autoreload
while developing. :func:`~chatboard.app.make_app` builds the application;
``python -m chatboard demo`` runs it with everything it needs on this machine.
"""

from __future__ import annotations

__all__ = ["make_app"]

from chatboard.app import make_app
