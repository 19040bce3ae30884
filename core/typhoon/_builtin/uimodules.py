"""Built-in plugin: the UI modules every application has (``linkify``,
``xsrf_form_html``, ``Template``).

Layer 6 (assembly). Imports ``typhoon.hookimpl`` and ``typhoon.web.uimodules``.

An application's own ``ui_modules`` of the same names win, as with any plugin helper.
"""

from __future__ import annotations

__all__ = ["register_template_helpers"]

from typing import Any

from typhoon import hookimpl
from typhoon.web.uimodules import BUILTIN_UI_MODULES


@hookimpl
def register_template_helpers(app: Any) -> dict[str, Any]:
    """The built-in UI modules."""
    return dict(BUILTIN_UI_MODULES)
