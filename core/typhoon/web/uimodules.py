"""UI modules: reusable page components that bring their own JavaScript, CSS and markup.

Layer 5 (web). Imports ``typhoon.escape`` and the standard library; the handler type is
named for the checker only.

A UI module is a :class:`UIModule` subclass registered through the ``ui_modules``
setting (or a plugin's ``register_template_helpers``). Templates call it as
``{% module Name(args) %}`` (or ``{{ modules.Name(args) }}``); one instance per module
name serves a whole page (``RequestHandler.render`` keeps them in
``handler._active_modules``), and once the page is rendered the assets each used module
declares are inserted into it: files and inline code once each, scripts before
``</body>``, styles and head markup before ``</head>`` (see
``typhoon.web.rendering.RenderingMixin.render``).

Three modules are always available (registered by the built-in UI modules plugin unless
the application defines its own of the same name): ``linkify`` (text with its URLs
turned into links), ``xsrf_form_html`` (the hidden XSRF form field) and ``Template``
(:class:`TemplateModule`: renders another template, which may declare assets with
``set_resources``).
"""

from __future__ import annotations

__all__ = ["BUILTIN_UI_MODULES", "TemplateModule", "UIModule"]

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from typhoon.escape import linkify

if TYPE_CHECKING:
    from typhoon.httputil import HTTPServerRequest
    from typhoon.locale import Locale
    from typhoon.util import ObjectDict
    from typhoon.web.handler import RequestHandler


class UIModule:
    """A component of rendered pages; subclass it and define :meth:`render`.

    The instance is made with the handler rendering the page and lives for that page:
    ``handler``, ``request``, ``ui``, ``locale`` and ``current_user`` are the handler's.
    The asset methods return ``None`` (nothing) unless overridden; file names that are
    not absolute URLs are turned into ``static_url`` URLs.
    """

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler
        self.request: HTTPServerRequest = handler.request
        self.ui: ObjectDict = handler.ui
        self.locale: Locale = handler.locale

    @property
    def current_user(self) -> Any:
        """The handler's ``current_user``."""
        return self.handler.current_user

    def render(self, *args: Any, **kwargs: Any) -> str | bytes:
        """Return the module's markup for one use in a template (override it)."""
        raise NotImplementedError(f"{type(self).__name__} must define render()")

    def embedded_javascript(self) -> str | None:
        """JavaScript code to put in the page once (inside a ``<script>`` block)."""
        return None

    def javascript_files(self) -> Iterable[str] | None:
        """JavaScript file URLs or static paths the page must load (a list or one)."""
        return None

    def embedded_css(self) -> str | None:
        """CSS rules to put in the page once (inside a ``<style>`` block)."""
        return None

    def css_files(self) -> Iterable[str] | None:
        """Stylesheet URLs or static paths the page must link (a list or one)."""
        return None

    def html_head(self) -> str | None:
        """Markup to insert before ``</head>``."""
        return None

    def html_body(self) -> str | None:
        """Markup to insert before ``</body>``."""
        return None

    def render_string(self, path: str, **kwargs: Any) -> bytes:
        """Render template ``path`` with the handler's namespace plus ``kwargs``."""
        return self.handler.render_string(path, **kwargs)


class _LinkifyModule(UIModule):
    """``{% module linkify(text) %}``: :func:`typhoon.escape.linkify` in a template."""

    def render(self, text: str | bytes, **kwargs: Any) -> str:
        return linkify(text, **kwargs)


class _XsrfFormHtmlModule(UIModule):
    """``{% module xsrf_form_html() %}``: the hidden field carrying the XSRF token."""

    def render(self) -> str:
        return self.handler.xsrf_form_html()


class TemplateModule(UIModule):
    """``{% module Template("path.html", **kwargs) %}``: renders another template.

    The template may call ``set_resources(...)`` with any of the asset names
    (``javascript_files="a.js"``, ``embedded_css="..."``, ...): the page then gets
    those assets like those of any UI module. A template rendered several times on a
    page must declare the same resources each time.
    """

    def __init__(self, handler: RequestHandler) -> None:
        super().__init__(handler)
        self._resource_list: list[dict[str, Any]] = []
        self._resource_dict: dict[str, dict[str, Any]] = {}

    def render(self, path: str, **kwargs: Any) -> bytes:
        """Render template ``path``; ``set_resources`` is in its namespace."""
        return self.render_string(path, set_resources=self._resource_setter(path), **kwargs)

    def _resource_setter(self, path: str) -> Callable[..., str]:
        def set_resources(**resources: Any) -> str:
            known = self._resource_dict.get(path)
            if known is None:
                self._resource_list.append(resources)
                self._resource_dict[path] = resources
            elif known != resources:
                raise ValueError(
                    f"set_resources called with different resources for template {path!r}"
                )
            return ""

        return set_resources

    def _get_resources(self, key: str) -> Iterator[Any]:
        return (resources[key] for resources in self._resource_list if key in resources)

    def _files(self, key: str) -> list[str]:
        files: list[str] = []
        for item in self._get_resources(key):
            if isinstance(item, str):
                files.append(item)
            elif isinstance(item, bytes):
                files.append(item.decode("utf-8"))
            else:
                files.extend(item)
        return files

    def embedded_javascript(self) -> str:
        """The ``embedded_javascript`` of every rendered template, joined."""
        return "\n".join(self._get_resources("embedded_javascript"))

    def javascript_files(self) -> list[str]:
        """The ``javascript_files`` of every rendered template."""
        return self._files("javascript_files")

    def embedded_css(self) -> str:
        """The ``embedded_css`` of every rendered template, joined."""
        return "\n".join(self._get_resources("embedded_css"))

    def css_files(self) -> list[str]:
        """The ``css_files`` of every rendered template."""
        return self._files("css_files")

    def html_head(self) -> str:
        """The ``html_head`` of every rendered template."""
        return "".join(self._get_resources("html_head"))

    def html_body(self) -> str:
        """The ``html_body`` of every rendered template."""
        return "".join(self._get_resources("html_body"))


#: The UI modules every application has unless it defines its own of the same name.
BUILTIN_UI_MODULES: dict[str, type[UIModule]] = {
    "linkify": _LinkifyModule,
    "xsrf_form_html": _XsrfFormHtmlModule,
    "Template": TemplateModule,
}
