"""Rendering: loaders, the template namespace, UI methods and modules, asset insertion."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from _webclient import fetch
from typhoon import hookimpl, template
from typhoon.web import Application, RequestContextFilter, RequestHandler, current_request
from typhoon.web.rendering import MultiRootLoader, RenderingMixin


@pytest.fixture(autouse=True)
def fresh_loaders() -> Any:
    RenderingMixin._template_loaders.clear()
    yield
    RenderingMixin._template_loaders.clear()


def make_app(*handlers: Any, **settings: Any) -> Application:
    return Application(list(handlers), load_entrypoints=False, **settings)


class Page(RequestHandler):
    def get(self, name: str) -> None:
        self.render(name, title="<Title>")


async def test_render_from_template_path_with_escaping_and_namespace(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(
        "<html><head></head><body>{{ title }} {{ request.path }} "
        "{{ handler.__class__.__name__ }} {{ locale.code }} {{ _('Hi') }} "
        "{{ reverse_url('page', 'page.html') }} {{ current_user }}</body></html>"
    )
    app = make_app((r"/(.+)", Page, {}, "page"), template_path=str(tmp_path))
    response = await fetch(app, "/page.html")
    assert response.code == 200
    assert response.text == (
        "<html><head></head><body>&lt;Title&gt; /page.html Page en_US Hi /page.html None"
        "</body></html>"
    )


async def test_template_path_defaults_to_the_handler_module_directory() -> None:
    class Local(RequestHandler):
        def get(self) -> None:
            self.write(self.render_string("missing-template.html"))

    response = await fetch(make_app(("/", Local)), "/")
    assert response.code == 500  # looked for next to this test file, not found


async def test_autoescape_and_whitespace_settings(tmp_path: Path) -> None:
    (tmp_path / "raw.html").write_text("<p>\n\n   {{ title }}   </p>")
    app = make_app(
        (r"/(.+)", Page),
        template_path=str(tmp_path),
        autoescape=None,
        template_whitespace="all",
    )
    assert (await fetch(app, "/raw.html")).text == "<p>\n\n   <Title>   </p>"


async def test_template_loader_setting_is_used_as_is() -> None:
    loader = template.DictLoader({"t.html": "loaded {{ title }}"})
    app = make_app((r"/(.+)", Page), template_loader=loader)
    assert (await fetch(app, "/t.html")).text == "loaded &lt;Title&gt;"


async def test_compiled_template_cache_off_reloads_each_request(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("one")
    app = make_app((r"/(.+)", Page), template_path=str(tmp_path), compiled_template_cache=False)
    assert (await fetch(app, "/p.html")).text == "one"
    page.write_text("two")
    assert (await fetch(app, "/p.html")).text == "two"


async def test_compiled_templates_are_cached_by_default(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("one")
    app = make_app((r"/(.+)", Page), template_path=str(tmp_path))
    assert (await fetch(app, "/p.html")).text == "one"
    page.write_text("two")
    assert (await fetch(app, "/p.html")).text == "one"


class Assets:
    """A UI module with every kind of asset (duck-typed like typhoon.web.UIModule)."""

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler

    def render(self, label: str) -> str:
        return f"<span>{label}</span>"

    def embedded_javascript(self) -> str:
        return "var x = 1;"

    def javascript_files(self) -> list[str]:
        return ["/js/a.js", "https://cdn.example/b.js", "/js/a.js"]

    def embedded_css(self) -> str:
        return ".x{}"

    def css_files(self) -> str:
        return "/css/a.css"

    def html_head(self) -> str:
        return "<meta name=x>"

    def html_body(self) -> str:
        return "<div id=end></div>"


def shout(handler: RequestHandler, text: str) -> str:
    return text.upper() + handler.request.path


async def test_ui_modules_methods_and_asset_insertion() -> None:
    loader = template.DictLoader(
        {
            "page.html": (
                "<html><head><title>t</title></head><body>"
                "{% module Assets('one') %}{% module Assets('two') %}{{ shout('hi') }}"
                "</body></html>"
            )
        }
    )
    app = make_app(
        (r"/(.+)", Page),
        template_loader=loader,
        ui_modules={"Assets": Assets, "NotAModule": 5},
        ui_methods={"shout": shout, "_hidden": shout},
    )
    assert "NotAModule" not in app.ui_modules
    assert "_hidden" not in app.ui_methods
    html = (await fetch(app, "/page.html")).text
    head, _, body = html.partition("</head>")
    assert '<link href="/css/a.css" type="text/css" rel="stylesheet"/>' in head
    assert '<style type="text/css">\n.x{}\n</style>' in head
    assert "<meta name=x>" in head
    assert body.count('<script src="/js/a.js"') == 1
    assert '<script src="https://cdn.example/b.js"' in body
    assert "var x = 1;" in body
    assert body.index("<span>one</span>") < body.index("<script")
    assert "<div id=end></div>" in body
    assert "HI/page.html" in body


async def test_ui_modules_and_methods_from_a_module_object() -> None:
    import types

    namespace = types.ModuleType("ui")
    namespace.Assets = Assets  # type: ignore[attr-defined]
    namespace.shout = shout  # type: ignore[attr-defined]
    namespace.Capital = shout  # type: ignore[attr-defined]
    app = make_app(ui_modules=[namespace], ui_methods=namespace)
    assert app.ui_modules["Assets"] is Assets
    assert "shout" in app.ui_methods
    assert "Capital" not in app.ui_methods  # UI methods are lowercase functions


async def test_relative_asset_paths_use_static_url() -> None:
    class Versioned:
        @classmethod
        def make_static_url(cls, settings: dict[str, Any], path: str, **kwargs: Any) -> str:
            return settings["static_url_prefix"] + path + "?v=1"

        @classmethod
        def reset(cls) -> None:
            return None

    class Relative(Assets):
        def javascript_files(self) -> list[str]:
            return ["app.js"]

    loader = template.DictLoader({"p.html": "<head></head><body>{% module R('x') %}</body>"})
    app = make_app(
        (r"/(.+)", Page),
        template_loader=loader,
        ui_modules={"R": Relative},
        static_path="/srv/static",
        static_url_prefix="/s/",
        static_handler_class=Versioned,
    )
    assert '<script src="/s/app.js?v=1"' in (await fetch(app, "/p.html")).text


async def test_static_url_needs_static_path_and_a_handler_class() -> None:
    class Urls(RequestHandler):
        def get(self) -> None:
            self.write(self.static_url("a.css", include_host=True))

    assert (await fetch(make_app(("/", Urls)), "/")).code == 500
    response = await fetch(make_app(("/", Urls), static_path="/nonexistent/static"), "/")
    assert response.text.startswith("http://example.com/static/a.css")


async def test_plugin_template_helpers_paths_and_namespace_hook(tmp_path: Path) -> None:
    own = tmp_path / "own"
    extra = tmp_path / "extra"
    own.mkdir()
    extra.mkdir()
    (own / "page.html").write_text("{% include 'partial.html' %}|{{ greet() }}|{{ added }}")
    (extra / "partial.html").write_text("from plugin dir")

    class TemplatePlugin:
        @hookimpl
        def register_template_helpers(self, app: Any) -> dict[str, Any]:
            return {"greet": lambda handler: "hello"}

        @hookimpl
        def register_template_paths(self, app: Any) -> list[Path]:
            return [extra]

        @hookimpl
        def prepare_template_namespace(self, handler: RequestHandler, ns: dict[str, Any]) -> None:
            ns["added"] = "from hook"

    app = Application(
        [(r"/(.+)", Page)],
        plugins=[TemplatePlugin()],
        load_entrypoints=False,
        template_path=str(own),
    )
    assert (await fetch(app, "/page.html")).text == "from plugin dir|hello|from hook"


def test_multi_root_loader_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("a")
    loader = MultiRootLoader([tmp_path / "missing", tmp_path])
    assert loader.load("a.html").generate() == b"a"
    with pytest.raises(template.ParseError, match="outside"):
        loader.load("../etc/passwd")
    with pytest.raises(FileNotFoundError):
        loader.load("nope.html")


async def test_render_after_finish_is_an_error() -> None:
    errors: list[str] = []

    class Twice(RequestHandler):
        def get(self) -> None:
            self.finish("done")
            try:
                self.render("x.html")
            except RuntimeError as exc:
                errors.append(str(exc))

    await fetch(make_app(("/", Twice)), "/")
    assert errors == ["Cannot render() after finish()"]


# --- locale and user --------------------------------------------------------------------------


@pytest.fixture
def translations(tmp_path: Path) -> Any:
    from typhoon import locale

    for code in ("fr_FR", "es_ES", "en_GB", "pt_BR"):
        (tmp_path / f"{code}.csv").write_text('"Hi","Hi"\n')
    locale.load_translations(str(tmp_path))
    yield
    empty = tmp_path / "empty"
    empty.mkdir()
    locale.load_translations(str(empty))


class Lang(RequestHandler):
    def get(self) -> None:
        self.write(self.locale.code)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "en_US"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr_FR"),
        ("de;q=0.2, es-ES;q=0.9", "es_ES"),
        ("xx;q=1, en-GB;q=0.5", "en_GB"),
        ("fr;q=0, en-GB", "en_GB"),
        ("fr-FR;q=bogus, es-ES", "es_ES"),
    ],
)
@pytest.mark.usefixtures("translations")
async def test_browser_locale_from_accept_language(header: str | None, code: str) -> None:
    headers = {"Accept-Language": header} if header else {}
    response = await fetch(make_app(("/", Lang)), "/", headers=headers)
    assert response.text == code


@pytest.mark.usefixtures("translations")
async def test_user_locale_wins_over_browser() -> None:
    from typhoon import locale

    class Chosen(Lang):
        def get_user_locale(self) -> locale.Locale:
            return locale.get("pt_BR")

    response = await fetch(make_app(("/", Chosen)), "/", headers={"Accept-Language": "fr"})
    assert response.text == "pt_BR"


async def test_current_user_can_be_assigned_in_prepare() -> None:
    class Assigned(RequestHandler):
        async def prepare(self) -> None:
            self.current_user = {"name": "dee"}

        def get(self) -> None:
            self.write(self.current_user)

    assert (await fetch(make_app(("/", Assigned)), "/")).text == '{"name": "dee"}'


async def test_request_context_filter(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.requestcontext")

    class Logs(RequestHandler):
        def get(self) -> None:
            assert current_request() is self.request
            logger.warning("inside")

    record_filter = RequestContextFilter()
    caplog.handler.addFilter(record_filter)
    try:
        with caplog.at_level(logging.WARNING, logger="test.requestcontext"):
            await fetch(make_app(("/here", Logs)), "/here")
            logger.warning("outside")
    finally:
        caplog.handler.removeFilter(record_filter)
    inside, outside = (r for r in caplog.records if r.name == "test.requestcontext")
    assert (inside.http_method, inside.http_path, inside.remote_ip) == ("GET", "/here", "127.0.0.1")  # type: ignore[attr-defined]
    assert outside.http_path == "-"  # type: ignore[attr-defined]
