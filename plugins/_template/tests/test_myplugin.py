"""Tests of the example plugin through a real typhoon PluginManager."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from typhoon.errors import PluginError
from typhoon.plugins import PluginManager

from typhoon_myplugin import plugin


class FakeApp:
    """What hooks receiving ``app`` rely on: settings and the plugin manager."""

    def __init__(self, pm: PluginManager, **settings: Any) -> None:
        self.settings = settings
        self.plugin_manager = pm


class FakeHandler:
    """The part of a RequestHandler the plugin uses."""

    def __init__(self, app: FakeApp) -> None:
        self.application = app
        self.headers: dict[str, str] = {}

    def set_header(self, name: str, value: str) -> None:
        self.headers[name] = value


@pytest.fixture
def pm() -> PluginManager:
    manager = PluginManager([plugin], load_entrypoints=False)
    manager.check_pending()
    return manager


def test_declares_its_setting(pm: PluginManager) -> None:
    [setting] = pm.collect_settings()
    assert setting.name == "served_by"
    assert setting.env_var == "TYPHOON_SERVED_BY"


def test_adds_the_header_when_enabled(pm: PluginManager) -> None:
    app = FakeApp(pm, served_by="node-1")
    pm.call_each("configure", app=app)
    handler = FakeHandler(app)
    # Per-request hooks may be async, so the application awaits them: do the same.
    asyncio.run(pm.acall_each("prepare_request", handler=handler))
    assert handler.headers == {"X-Served-By": "node-1"}


def test_inert_by_default(pm: PluginManager) -> None:
    app = FakeApp(pm)
    pm.call_each("configure", app=app)
    handler = FakeHandler(app)
    asyncio.run(pm.acall_each("prepare_request", handler=handler))
    assert handler.headers == {}


def test_rejects_a_header_value_with_a_line_break(pm: PluginManager) -> None:
    with pytest.raises(PluginError, match="served_by must be a one-line string"):
        pm.call_each("configure", app=FakeApp(pm, served_by="a\r\nSet-Cookie: x"))
