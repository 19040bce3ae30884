"""The built-in plugins: registration, inertness, and the settings each one reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _webclient import fetch
from typhoon._builtin import BUILTIN_PLUGINS
from typhoon._builtin.static import static_rules
from typhoon.web import (
    Application,
    GZipContentEncoding,
    RequestHandler,
    StaticFileHandler,
    UIModule,
)


def make_app(*handlers: Any, **settings: Any) -> Application:
    return Application(list(handlers), load_entrypoints=False, **settings)


def test_the_application_registers_every_builtin_plugin() -> None:
    assert Application.builtin_plugins == BUILTIN_PLUGINS
    manager = make_app().plugin_manager
    for name in BUILTIN_PLUGINS:
        assert manager.get_plugin(name) is not None, name


def test_builtins_are_inert_without_their_settings() -> None:
    app = make_app()
    assert app.wildcard_router.rules == []
    assert app.transforms == []
    assert (
        "static_handler_class" not in app.settings or app.settings["static_handler_class"] is None
    )


def test_an_application_subclass_can_leave_a_builtin_out(tmp_path: Path) -> None:
    class NoStatic(Application):
        builtin_plugins = tuple(name for name in BUILTIN_PLUGINS if not name.endswith("static"))

    app = NoStatic(static_path=str(tmp_path), load_entrypoints=False)
    assert app.wildcard_router.rules == []


# --- static ----------------------------------------------------------------------------------


def test_static_rules_follow_the_settings(tmp_path: Path) -> None:
    assert static_rules({}) == []
    settings: dict[str, Any] = {"static_path": tmp_path, "static_url_prefix": "/assets/"}
    rules = static_rules(settings)
    assert [rule.regex.pattern for rule in rules] == [
        r"/assets/(.*)$",
        r"/(favicon\.ico)$",
        r"/(robots\.txt)$",
    ]
    assert settings["static_handler_class"] is StaticFileHandler
    assert all(rule.kwargs == {"path": str(tmp_path)} for rule in rules)


class Recording(StaticFileHandler):
    received: dict[str, Any] = {}  # noqa: RUF012

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        Recording.received = kwargs
        super().initialize(**kwargs)


async def test_static_handler_class_and_args(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "home.html").write_text("home")
    args = {"default_filename": "home.html"}
    app = make_app(
        static_path=str(tmp_path), static_handler_class=Recording, static_handler_args=args
    )
    response = await fetch(app, "/static/sub/")
    assert response.body == b"home"
    assert Recording.received == {"default_filename": "home.html", "path": str(tmp_path)}
    assert args == {"default_filename": "home.html"}  # the setting itself is left alone


async def test_static_route_comes_first(tmp_path: Path) -> None:
    (tmp_path / "robots.txt").write_text("robots")

    class Everything(RequestHandler):
        def get(self, path: str) -> None:
            self.write("app")

    app = make_app((r"/(.*)", Everything), static_path=str(tmp_path))
    assert (await fetch(app, "/robots.txt")).body == b"robots"
    assert (await fetch(app, "/anything")).body == b"app"


async def test_static_url_needs_the_static_path(tmp_path: Path) -> None:
    class Url(RequestHandler):
        def get(self) -> None:
            self.write(self.static_url("x.txt"))

    response = await fetch(make_app(("/", Url)), "/")
    assert response.code == 500


# --- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["compress_response", "gzip"])
def test_compression_settings_install_the_gzip_transform(setting: str) -> None:
    assert make_app(**{setting: True}).transforms == [GZipContentEncoding]
    assert make_app(**{setting: False}).transforms == []


def test_gzip_subclass_given_by_hand_is_not_doubled() -> None:
    class Faster(GZipContentEncoding):
        GZIP_LEVEL = 1

    app = Application(transforms=[Faster], compress_response=True, load_entrypoints=False)
    assert app.transforms == [Faster]


# --- UI modules ------------------------------------------------------------------------------


def test_builtin_ui_modules_yield_to_the_applications() -> None:
    class Own(UIModule):
        def render(self) -> str:
            return "own"

    app = make_app(ui_modules={"Template": Own})
    assert app.ui_modules["Template"] is Own
    assert "linkify" in app.ui_modules
