"""Template rendering for handlers: loaders, the template namespace, UI modules' assets.

Layer 5 (web). Imports ``typhoon.template``, ``typhoon.escape``, ``typhoon.util`` and
the standard library; the handler and application types are named for the checker only.

:class:`RenderingMixin` holds ``RequestHandler``'s template methods. Loaders are shared
by every handler of the process, one per template directory, so a template is compiled
once (the ``compiled_template_cache=False`` setting makes each request reload them).
The namespace a template sees is built per render: Tornado's names (``handler``,
``request``, ``current_user``, ``locale``, ``_``, ``static_url``, ``xsrf_form_html``,
``reverse_url``), the application's UI methods and UI modules (``modules.Name``), then
whatever plugins add through ``prepare_template_namespace``, then the keyword
arguments of the call.

UI modules (``typhoon.web.UIModule``) are duck-typed here: a module is a class whose
instances, made with the handler, have ``render`` and the asset methods
(``embedded_javascript``, ``javascript_files``, ``embedded_css``, ``css_files``,
``html_head``, ``html_body``). The assets of the modules a page used are collected,
de-duplicated, and inserted before ``</head>`` and ``</body>`` by :meth:`render`.
"""

from __future__ import annotations

__all__ = ["MultiRootLoader", "RenderingMixin"]

import asyncio
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from typhoon import template
from typhoon.escape import to_unicode, utf8, xhtml_escape
from typhoon.util import ObjectDict
from typhoon.web.identity import IdentityMixin

if TYPE_CHECKING:
    from typhoon.httputil import HTTPServerRequest
    from typhoon.web.application import Application

# Files of this package: frames in them are skipped when looking for the caller's
# directory (the default template path is the directory of the handler's module).
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class MultiRootLoader(template.BaseLoader):
    """Loads templates from the first of several directories that has the file.

    Used when plugins contribute template directories (``register_template_paths``):
    the application's ``template_path`` is searched first, then the plugins' in order.
    Names never leave the roots: absolute names and ``..`` escapes are refused.
    """

    def __init__(self, roots: Sequence[str | os.PathLike[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roots = [os.path.abspath(os.fspath(root)) for root in roots]

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Resolve ``name`` against the directory of ``parent_path`` (a root-relative name)."""
        if parent_path and not parent_path.startswith(("<", "/")) and not name.startswith("/"):
            name = os.path.normpath(os.path.join(os.path.dirname(parent_path), name))
        return name

    def _create_template(self, name: str) -> template.Template:
        for root in self.roots:
            path = os.path.abspath(os.path.join(root, name))
            if not path.startswith(root + os.sep):
                raise template.ParseError(f"template {name!r} is outside the template paths")
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    return template.Template(f.read(), name=name, loader=self)
        raise FileNotFoundError(f"template {name!r} not found in {self.roots}")


class _UIModuleNamespace:
    """``modules.Name(...)`` in templates: renders UI module ``Name`` for the handler."""

    __slots__ = ("_handler", "_modules")

    def __init__(self, handler: RenderingMixin, modules: Mapping[str, type[Any]]) -> None:
        self._handler = handler
        self._modules = modules

    def __getitem__(self, name: str) -> Callable[..., str]:
        return self._handler._ui_module(name, self._modules[name])

    def __getattr__(self, name: str) -> Callable[..., str]:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(str(exc)) from exc


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "http:", "https:"))


class RenderingMixin(IdentityMixin):
    """The template methods of ``RequestHandler``."""

    _template_loaders: ClassVar[dict[str, template.BaseLoader]] = {}
    _template_loader_lock: ClassVar[threading.Lock] = threading.Lock()

    if TYPE_CHECKING:
        application: Application
        request: HTTPServerRequest
        _finished: bool
        _ui: ObjectDict
        _active_modules: dict[str, Any]

        @property
        def settings(self) -> dict[str, Any]: ...

        def finish(
            self, chunk: str | bytes | dict[str, Any] | None = None
        ) -> asyncio.Future[None]: ...

        def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str: ...

        def xsrf_form_html(self) -> str: ...

        def reverse_url(self, name: str, *args: Any) -> str: ...

    @property
    def ui(self) -> ObjectDict:
        """The UI methods (bound to this handler) and ``modules`` for templates."""
        try:
            return self._ui
        except AttributeError:
            pass
        application = self.application
        ui = ObjectDict(
            (name, self._ui_method(method)) for name, method in application.ui_methods.items()
        )
        modules = _UIModuleNamespace(self, application.ui_modules)
        ui["_tt_modules"] = modules
        ui["modules"] = modules
        self._ui = ui
        return ui

    def _ui_method(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def bound(*args: Any, **kwargs: Any) -> Any:
            return method(self, *args, **kwargs)

        return bound

    def _ui_module(self, name: str, module: type[Any]) -> Callable[..., str]:
        def render(*args: Any, **kwargs: Any) -> str:
            try:
                active = self._active_modules
            except AttributeError:
                active = self._active_modules = {}
            instance = active.get(name)
            if instance is None:
                instance = active[name] = module(self)
            rendered: str = instance.render(*args, **kwargs)
            return rendered

        return render

    def get_template_path(self) -> str | None:
        """The directory templates are loaded from (``template_path`` setting).

        ``None`` means the directory of the module that defines the handler.
        """
        path = self.application.settings.get("template_path")
        return None if path is None else os.fspath(path)

    def create_template_loader(self, template_path: str) -> template.BaseLoader:
        """Make the loader for ``template_path``; override for another loader kind.

        The ``template_loader`` setting, when given, is used as is; otherwise the
        ``autoescape`` and ``template_whitespace`` settings configure a file loader
        that also searches the template directories plugins registered.
        """
        settings = self.application.settings
        if settings.get("template_loader") is not None:
            loader: template.BaseLoader = settings["template_loader"]
            return loader
        kwargs: dict[str, Any] = {}
        if "autoescape" in settings:
            kwargs["autoescape"] = settings["autoescape"]
        if "template_whitespace" in settings:
            kwargs["whitespace"] = settings["template_whitespace"]
        extra = self.application.template_paths
        if extra:
            return MultiRootLoader([template_path, *extra], **kwargs)
        return template.Loader(template_path, **kwargs)

    def _caller_directory(self) -> str:
        frame = sys._getframe(1)
        while (
            frame.f_back is not None
            and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR
        ):
            frame = frame.f_back
        return os.path.dirname(os.path.abspath(frame.f_code.co_filename))

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Render template ``template_name`` with ``kwargs`` and return the bytes.

        Use it for fragments (e-mails, parts of a page); :meth:`render` sends a page.
        """
        template_path = self.get_template_path() or self._caller_directory()
        loaders = RenderingMixin._template_loaders
        with RenderingMixin._template_loader_lock:
            loader = loaders.get(template_path)
            if loader is None:
                loader = loaders[template_path] = self.create_template_loader(template_path)
        compiled = loader.load(template_name)
        namespace = self.get_template_namespace()
        hooks = self.application._hooks
        if hooks.prepare_template_namespace:
            self.application.plugin_manager.call_each(
                "prepare_template_namespace", handler=self, ns=namespace
            )
        namespace.update(kwargs)
        return compiled.generate(**namespace)

    def get_template_namespace(self) -> dict[str, Any]:
        """The names every template rendered by this handler sees (override to add)."""
        user_locale = self.locale
        namespace: dict[str, Any] = {
            "handler": self,
            "request": self.request,
            "current_user": self.current_user,
            "locale": user_locale,
            "_": user_locale.translate,
            "pgettext": user_locale.pgettext,
            "static_url": self.static_url,
            "xsrf_form_html": self.xsrf_form_html,
            "reverse_url": self.reverse_url,
        }
        namespace.update(self.ui)
        return namespace

    def render(self, template_name: str, **kwargs: Any) -> asyncio.Future[None]:
        """Render template ``template_name`` and finish the response with it.

        The JavaScript, CSS and head/body fragments of the UI modules the page used
        are inserted before ``</head>`` and ``</body>``.
        """
        if self._finished:
            raise RuntimeError("Cannot render() after finish()")
        html = self.render_string(template_name, **kwargs)
        modules = getattr(self, "_active_modules", None)
        if modules:
            html = self._insert_module_assets(html, modules.values())
        return self.finish(html)

    def _insert_module_assets(self, html: bytes, modules: Iterable[Any]) -> bytes:
        js_embed: list[bytes] = []
        js_files: list[str] = []
        css_embed: list[bytes] = []
        css_files: list[str] = []
        heads: list[bytes] = []
        bodies: list[bytes] = []
        for module in modules:
            _collect_embed(js_embed, module.embedded_javascript())
            _collect_files(js_files, module.javascript_files())
            _collect_embed(css_embed, module.embedded_css())
            _collect_files(css_files, module.css_files())
            _collect_embed(heads, module.html_head())
            _collect_embed(bodies, module.html_body())
        if js_files:
            html = _insert_before(html, b"</body>", utf8(self.render_linked_js(js_files)) + b"\n")
        if js_embed:
            html = _insert_before(html, b"</body>", utf8(self.render_embed_js(js_embed)) + b"\n")
        if css_files:
            html = _insert_before(html, b"</head>", utf8(self.render_linked_css(css_files)) + b"\n")
        if css_embed:
            html = _insert_before(html, b"</head>", utf8(self.render_embed_css(css_embed)) + b"\n")
        if heads:
            html = _insert_before(html, b"</head>", b"".join(heads) + b"\n")
        if bodies:
            html = _insert_before(html, b"</body>", b"".join(bodies) + b"\n")
        return html

    def _unique_urls(self, paths: Iterable[str]) -> list[str]:
        seen: set[str] = set()
        urls = []
        for path in paths:
            url = path if _is_absolute(path) else self.static_url(path)
            if url not in seen:
                seen.add(url)
                urls.append(url)
        return urls

    def render_linked_js(self, js_files: Iterable[str]) -> str:
        """``<script src>`` tags for the UI modules' JavaScript files (override to change)."""
        return "".join(
            f'<script src="{xhtml_escape(url)}" type="text/javascript"></script>'
            for url in self._unique_urls(js_files)
        )

    def render_embed_js(self, js_embed: Iterable[bytes]) -> bytes:
        """One ``<script>`` block with the UI modules' inline JavaScript."""
        return (
            b'<script type="text/javascript">\n//<![CDATA[\n'
            + b"\n".join(js_embed)
            + b"\n//]]>\n</script>"
        )

    def render_linked_css(self, css_files: Iterable[str]) -> str:
        """``<link rel=stylesheet>`` tags for the UI modules' CSS files."""
        return "".join(
            f'<link href="{xhtml_escape(url)}" type="text/css" rel="stylesheet"/>'
            for url in self._unique_urls(css_files)
        )

    def render_embed_css(self, css_embed: Iterable[bytes]) -> bytes:
        """One ``<style>`` block with the UI modules' inline CSS."""
        return b'<style type="text/css">\n' + b"\n".join(css_embed) + b"\n</style>"


def _collect_embed(target: list[bytes], part: str | bytes | None) -> None:
    if part:
        target.append(utf8(part))


def _collect_files(target: list[str], part: str | bytes | Iterable[str] | None) -> None:
    if not part:
        return
    if isinstance(part, str | bytes):
        target.append(to_unicode(part))
    else:
        target.extend(part)


def _insert_before(html: bytes, marker: bytes, fragment: bytes) -> bytes:
    """Insert ``fragment`` before the last ``marker`` (the first for ``</head>``)."""
    index = html.index(marker) if marker == b"</head>" else html.rindex(marker)
    return html[:index] + fragment + html[index:]
