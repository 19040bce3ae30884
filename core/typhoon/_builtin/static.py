"""Built-in plugin: serve the ``static_path`` directory under ``static_url_prefix``.

Layer 6 (assembly). Imports ``typhoon.hookimpl``, ``typhoon.routing`` and
``typhoon.web.static``.

With ``static_path`` set, the application answers ``<static_url_prefix><path>``,
``/favicon.ico`` and ``/robots.txt`` from that directory, with ``static_handler_class``
(default :class:`~typhoon.web.static.StaticFileHandler`) given ``static_handler_args``
plus ``path``. The setting ``static_handler_class`` is filled in, since
``RequestHandler.static_url`` and the ``static_hash_cache`` reset read it.

Precedence: like Tornado, the static rules come *before* the application's own
handlers, so a catch-all rule (``r"/(.*)"``) does not hide the static files. The
``register_routes`` hook appends rules after the application's, so this plugin puts
its rules at the front of the application's router while it is configured.
"""

from __future__ import annotations

__all__ = ["configure", "static_rules"]

import os
import re
from typing import Any

from typhoon import hookimpl
from typhoon.routing import URLSpec
from typhoon.web.static import StaticFileHandler


def static_rules(settings: dict[str, Any]) -> list[URLSpec]:
    """The URL rules serving ``settings["static_path"]`` (none when it is unset).

    Also fills in the ``static_handler_class`` setting with the default class.
    """
    path = settings.get("static_path")
    if not path:
        return []
    handler_class = settings.get("static_handler_class")
    if handler_class is None:
        handler_class = settings["static_handler_class"] = StaticFileHandler
    handler_args = dict(settings.get("static_handler_args") or {})
    handler_args["path"] = os.fspath(path)
    prefix = settings.get("static_url_prefix") or "/static/"
    patterns = [re.escape(prefix) + r"(.*)", r"/(favicon\.ico)", r"/(robots\.txt)"]
    return [URLSpec(pattern, handler_class, handler_args) for pattern in patterns]


@hookimpl
def configure(app: Any) -> None:
    """Put the static rules first in the application's router."""
    rules = static_rules(app.settings)
    if not rules:
        return
    router = app.wildcard_router
    router.rules[0:0] = [router.process_rule(rule) for rule in rules]
