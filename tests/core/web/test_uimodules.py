"""UI modules: rendering, asset injection into pages, the built-in modules, overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _webclient import fetch
from typhoon.web import Application, RequestHandler, TemplateModule, UIModule

PAGE = (
    "<html><head><title>t</title></head><body>"
    "{% module Entry('one') %}{% module Entry('two') %}"
    "</body></html>"
)


class Entry(UIModule):
    """Uses every asset kind; rendered twice on a page, its assets appear once."""

    def render(self, name: str) -> str:
        return f"<div class=entry>{name} for {self.current_user}</div>"

    def embedded_javascript(self) -> str:
        return "var entries = 1;"

    def javascript_files(self) -> list[str]:
        return ["entry.js", "https://cdn.example/lib.js"]

    def embedded_css(self) -> str:
        return ".entry { color: red }"

    def css_files(self) -> str:
        return "entry.css"

    def html_head(self) -> str:
        return '<meta name="entry">'

    def html_body(self) -> str:
        return "<!-- entry footer -->"


class Render(RequestHandler):
    def get_current_user(self) -> str:
        return "ann"

    def get(self, name: str) -> None:
        self.render(name)


def make_app(templates: dict[str, str], tmp_path: Path, **settings: Any) -> Application:
    """An application rendering ``templates`` from a directory of its own.

    Loaders are cached per template directory for the whole process (as in Tornado),
    so every test gets its own directory.
    """
    (tmp_path / "entry.js").write_text("js")
    (tmp_path / "entry.css").write_text("css")
    template_dir = tmp_path / "templates"
    template_dir.mkdir()
    for name, text in templates.items():
        (template_dir / name).write_text(text)
    settings.setdefault("ui_modules", {"Entry": Entry})
    return Application(
        [(r"/(.+)", Render)],
        template_path=str(template_dir),
        static_path=str(tmp_path),
        load_entrypoints=False,
        **settings,
    )


async def test_assets_are_injected_once_in_tornados_places(tmp_path: Path) -> None:
    response = await fetch(make_app({"page.html": PAGE}, tmp_path), "/page.html")
    html = response.text
    head, body = html.split("</head>")
    assert html.count("<div class=entry>") == 2
    assert "<div class=entry>one for ann</div>" in body
    # Styles and head markup before </head>; scripts and body markup before </body>.
    assert head.count('<link href="/static/entry.css?v=') == 1
    assert '<style type="text/css">\n.entry { color: red }\n</style>' in head
    assert '<meta name="entry">' in head
    assert body.count('<script src="/static/entry.js?v=') == 1
    assert body.count('<script src="https://cdn.example/lib.js"') == 1
    assert "var entries = 1;" in body
    assert body.count("var entries = 1;") == 1
    assert body.index("<!-- entry footer -->") < body.index("</body>")
    assert body.index("entry.js") < body.index("var entries")


async def test_render_string_does_not_inject(tmp_path: Path) -> None:
    class Fragment(RequestHandler):
        def get(self) -> None:
            self.finish(self.render_string("page.html"))

    app = make_app({"page.html": PAGE}, tmp_path)
    app.wildcard_router.add_rules([("/fragment", Fragment)])
    app.wildcard_router.rules.insert(0, app.wildcard_router.rules.pop())
    html = (await fetch(app, "/fragment")).text
    assert "<div class=entry>" in html
    assert "entry.js" not in html


class Attributes(UIModule):
    def render(self) -> str:
        handler = self.handler
        assert self.request is handler.request
        assert self.locale is handler.locale
        assert self.ui is handler.ui
        return (
            f"{self.current_user}|{self.locale.code}|"
            + self.render_string("inner.html", word="hi").decode()
        )


async def test_module_attributes_and_render_string(tmp_path: Path) -> None:
    app = make_app(
        {"page.html": "{% module Attributes() %}", "inner.html": "[{{ word }}]"},
        tmp_path,
        ui_modules={"Attributes": Attributes, "Entry": Entry},
    )
    assert (await fetch(app, "/page.html")).text == "ann|en_US|[hi]"


async def test_base_render_must_be_overridden(tmp_path: Path) -> None:
    class Empty(UIModule):
        pass

    app = make_app({"page.html": "{% module Empty() %}"}, tmp_path, ui_modules={"Empty": Empty})
    response = await fetch(app, "/page.html")
    assert response.code == 500


# --- built-in modules ----------------------------------------------------------------------


async def test_builtin_linkify(tmp_path: Path) -> None:
    app = make_app({"page.html": "{% module linkify('see http://example.com <b>') %}"}, tmp_path)
    html = (await fetch(app, "/page.html")).text
    assert html == 'see <a href="http://example.com">http://example.com</a> &lt;b&gt;'


async def test_builtin_xsrf_form_html(tmp_path: Path) -> None:
    app = make_app({"page.html": "{% module xsrf_form_html() %}"}, tmp_path, xsrf_cookies=True)
    response = await fetch(app, "/page.html")
    assert response.text.startswith('<input type="hidden" name="_xsrf" value="')
    assert "_xsrf=" in response.headers["Set-Cookie"]


TEMPLATES = {
    "page.html": (
        "<html><head></head><body>"
        "{% module Template('widget.html', label='a') %}"
        "{% module Template('widget.html', label='b') %}"
        "{% module Template('other.html') %}"
        "</body></html>"
    ),
    "widget.html": (
        "{{ set_resources(javascript_files=['w.js'], css_files='w.css',"
        " embedded_css='.w{}', embedded_javascript='w();', html_head='<w-head>',"
        " html_body='<w-body>') }}<w>{{ label }}</w>"
    ),
    "other.html": (
        "{{ set_resources(javascript_files='https://x.example/o.js', embedded_javascript='o();') }}"
        "<o/>"
    ),
    "conflict.html": (
        "<html><head></head><body>"
        "{% module Template('varying.html', n=1) %}{% module Template('varying.html', n=2) %}"
        "</body></html>"
    ),
    "varying.html": "{{ set_resources(embedded_css='.n' + str(n) + '{}') }}{{ n }}",
}


async def test_template_module_collects_resources_once_per_template(tmp_path: Path) -> None:
    (tmp_path / "w.js").write_text("")
    (tmp_path / "w.css").write_text("")
    html = (await fetch(make_app(TEMPLATES, tmp_path), "/page.html")).text
    head, body = html.split("</head>")
    assert "<w>a</w><w>b</w><o/>" in body
    assert head.count("w.css?v=") == 1
    assert head.count(".w{}") == 1
    assert head.count("<w-head>") == 1
    assert body.count('src="/static/w.js?v=') == 1
    assert 'src="https://x.example/o.js"' in body
    assert "w();\no();" in body
    assert body.count("<w-body>") == 1


async def test_template_module_refuses_different_resources_for_one_template(
    tmp_path: Path,
) -> None:
    response = await fetch(make_app(TEMPLATES, tmp_path), "/conflict.html")
    assert response.code == 500


def test_template_module_resources_directly() -> None:
    class FakeHandler:
        request = None
        ui: dict[str, Any] = {}  # noqa: RUF012
        locale = None

        def render_string(self, path: str, **kwargs: Any) -> bytes:
            kwargs["set_resources"](javascript_files=["a.js", "b.js"], html_body="<x>")
            return path.encode()

    module = TemplateModule(FakeHandler())  # type: ignore[arg-type]
    assert module.render("t.html") == b"t.html"
    assert module.render("t.html") == b"t.html"
    assert module.javascript_files() == ["a.js", "b.js"]
    assert module.html_body() == "<x>"
    assert module.css_files() == []
    assert module.embedded_css() == ""


async def test_application_modules_override_builtins(tmp_path: Path) -> None:
    class MyLinkify(UIModule):
        def render(self, text: str) -> str:
            return "mine:" + text

    app = make_app(
        {"page.html": "{% module linkify('x') %}"}, tmp_path, ui_modules={"linkify": MyLinkify}
    )
    assert (await fetch(app, "/page.html")).text == "mine:x"


def test_builtin_modules_are_registered(tmp_path: Path) -> None:
    app = Application(load_entrypoints=False)
    assert {"linkify", "xsrf_form_html", "Template"} <= set(app.ui_modules)
    assert app.ui_modules["Template"] is TemplateModule
