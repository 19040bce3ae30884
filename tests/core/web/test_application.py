"""Application: settings, plugin assembly hooks, lifecycle, and per-request hooks."""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from collections.abc import Generator
from typing import Any

import pytest
from _webclient import fetch
from typhoon import hookimpl, httputil
from typhoon.errors import ConfigurationError, HTTPError, PluginError
from typhoon.hookspecs import Setting
from typhoon.web import Application, RequestHandler


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("hello")


def make_app(*handlers: Any, plugins: list[object] | None = None, **settings: Any) -> Application:
    return Application(list(handlers), plugins=plugins, load_entrypoints=False, **settings)


# --- settings -------------------------------------------------------------------------------


def test_debug_implies_its_sub_settings_unless_given() -> None:
    app = make_app(debug=True, static_hash_cache=True)
    assert app.settings["autoreload"] is True
    assert app.settings["compiled_template_cache"] is False
    assert app.settings["serve_traceback"] is True
    assert app.settings["static_hash_cache"] is True
    assert "autoreload" not in make_app().settings


def test_gzip_is_the_old_name_of_compress_response() -> None:
    assert make_app(gzip=True).settings["compress_response"] is True


@pytest.mark.parametrize(
    "settings",
    [
        {"debug": "yes"},
        {"login_url": 5},
        {"xsrf_cookie_version": 3},
        {"trusted_origins": "https://a.example"},
        {"static_url_prefix": "static/"},
        {"template_whitespace": "some"},
        {"websocket_max_message_size": 0},
        {"default_handler_class": "not a class"},
        {"cookie_secret": {"a": "b"}},
    ],
)
def test_bad_core_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(settings))):
        make_app(**settings)


def test_unknown_settings_pass_through() -> None:
    assert make_app(my_own=1).settings["my_own"] == 1


# --- assembly hooks -------------------------------------------------------------------------


class Extra(RequestHandler):
    def get(self) -> None:
        self.write("from plugin")


class UpperTransform:
    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        self.request = request

    def transform_first_chunk(
        self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        headers["X-Transformed"] = "1"
        return status_code, headers, chunk.upper()

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        return chunk.upper()


class Badge:
    """A UI module, duck-typed."""

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler

    def render(self, text: str) -> str:
        return f"<b>{text}</b>"

    def css_files(self) -> None:
        return None

    def html_head(self) -> None:
        return None


class Assembly:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def register_settings(self) -> list[Setting]:
        self.calls.append("register_settings")
        return [Setting("assembly_level", int, 3, "a test setting")]

    @hookimpl
    def configure(self, app: Any) -> None:
        self.calls.append(f"configure:{app.settings['assembly_level']}")

    @hookimpl
    def register_routes(self, app: Any) -> list[Any]:
        return [("/extra", Extra), ("/", Extra)]

    @hookimpl
    def register_output_transforms(self, app: Any) -> list[Any]:
        return [UpperTransform]

    @hookimpl
    def register_template_helpers(self, app: Any) -> dict[str, Any]:
        return {"Badge": Badge, "shout": lambda handler, text: text.upper(), "mine": len}

    @hookimpl
    def register_template_paths(self, app: Any) -> list[str]:
        return ["/plugin/templates"]


def own_helper(handler: RequestHandler) -> str:
    return "app's own"


async def test_assembly_hooks() -> None:
    plugin = Assembly()
    app = make_app(
        ("/", Hello), plugins=[plugin], ui_methods={"mine": own_helper}, assembly_level=5
    )
    assert plugin.calls == ["register_settings", "configure:5"]
    assert app.ui_modules["Badge"] is Badge
    assert app.ui_methods["mine"] is own_helper  # the application's own helper wins
    assert app.ui_methods["shout"](None, "x") == "X"
    assert app.template_paths == ["/plugin/templates"]
    response = await fetch(app, "/extra")
    assert response.body == b"FROM PLUGIN"
    assert response.headers["X-Transformed"] == "1"
    assert (await fetch(app, "/")).body == b"HELLO"  # the application's rule wins


def test_plugin_setting_default_fills_only_when_missing() -> None:
    assert make_app(plugins=[Assembly()]).settings["assembly_level"] == 3


def test_plugin_cannot_declare_a_core_setting() -> None:
    class Clash:
        @hookimpl
        def register_settings(self) -> list[Setting]:
            return [Setting("login_url", str)]

    with pytest.raises(PluginError, match="core setting"):
        make_app(plugins=[Clash()])


def test_misspelled_hook_is_refused() -> None:
    class Typo:
        @hookimpl
        def prepare_requests(self, handler: Any) -> None:
            raise AssertionError("never called")

    with pytest.raises(PluginError, match="prepare_request"):
        make_app(plugins=[Typo()])


def test_template_helper_must_be_callable() -> None:
    class Bad:
        @hookimpl
        def register_template_helpers(self, app: Any) -> dict[str, Any]:
            return {"thing": 42}

    with pytest.raises(PluginError, match="thing"):
        make_app(plugins=[Bad()])


def test_configure_failure_names_the_plugin() -> None:
    class Strict:
        @hookimpl
        def configure(self, app: Any) -> None:
            raise ConfigurationError("bad value")

    with pytest.raises(PluginError, match="bad value"):
        make_app(plugins=[Strict()])


class Deferredish:
    def __init__(self, value: str) -> None:
        self.value = value


async def _resolve(value: Deferredish) -> str:
    await asyncio.sleep(0)
    return value.value


async def test_awaitable_adapters_let_handlers_return_foreign_awaitables() -> None:
    class Adapter:
        @hookimpl
        def register_awaitable_adapters(self, app: Any) -> list[Any]:
            return [(Deferredish, _resolve)]

    class Handler(RequestHandler):
        def get(self) -> Any:
            self.write("adapted")
            return Deferredish("x")

    response = await fetch(make_app(("/", Handler), plugins=[Adapter()]), "/")
    assert response.body == b"adapted"


@pytest.fixture
def builtin_module() -> Generator[types.ModuleType, None, None]:
    module = types.ModuleType("typhoon_test_builtin")
    calls: list[str] = []

    @hookimpl
    def configure(app: Any) -> None:
        calls.append("configured")

    module.configure = configure  # type: ignore[attr-defined]
    module.calls = calls  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_builtin_plugins_are_registered_by_name(builtin_module: types.ModuleType) -> None:
    class WithBuiltins(Application):
        builtin_plugins = ("typhoon_test_builtin",)

    app = WithBuiltins([], load_entrypoints=False)
    assert builtin_module.calls == ["configured"]  # type: ignore[attr-defined]
    assert app.plugin_manager.get_plugin("typhoon_test_builtin") is builtin_module


# --- lifecycle ------------------------------------------------------------------------------


async def test_startup_and_shutdown_run_once_in_order() -> None:
    events: list[str] = []

    class Lifecycle:
        @hookimpl
        def prepare_event_loop(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
            events.append("prepare_event_loop")

        @hookimpl
        async def startup(self, app: Any) -> None:
            await asyncio.sleep(0)
            events.append("startup")

        @hookimpl
        async def shutdown(self, app: Any) -> None:
            events.append("shutdown")

    app = make_app(plugins=[Lifecycle()])
    await app.startup()
    await app.startup()
    await app.shutdown()
    await app.shutdown()
    assert events == ["prepare_event_loop", "startup", "shutdown"]


# --- per-request hooks ----------------------------------------------------------------------


def test_no_plugins_means_no_per_request_hooks() -> None:
    hooks = make_app()._hooks
    assert not any(getattr(hooks, name) for name in hooks.__slots__)


async def test_prepare_request_runs_after_prepare_and_can_finish() -> None:
    order: list[str] = []

    class Gate:
        @hookimpl
        async def prepare_request(self, handler: RequestHandler) -> None:
            order.append("hook")
            if handler.get_argument("block", None):
                handler.set_status(429)
                handler.finish("slow down")

    class Later:
        @hookimpl(trylast=True)
        def prepare_request(self, handler: RequestHandler) -> None:
            order.append("later")

    class Handler(Hello):
        def prepare(self) -> None:
            order.append("prepare")

    app = make_app(("/", Handler), plugins=[Gate(), Later()])
    assert (await fetch(app, "/")).body == b"hello"
    assert order == ["prepare", "hook", "later"]
    order.clear()
    response = await fetch(app, "/?block=1")
    assert (response.code, response.body) == (429, b"slow down")
    assert order == ["prepare", "hook"]


async def test_prepare_request_errors(caplog: pytest.LogCaptureFixture) -> None:
    class Raiser:
        @hookimpl
        def prepare_request(self, handler: RequestHandler) -> None:
            kind = handler.get_argument("kind")
            if kind == "http":
                raise HTTPError(401)
            raise RuntimeError("plugin bug")

    app = make_app(("/", Hello), plugins=[Raiser()])
    assert (await fetch(app, "/?kind=http")).code == 401
    with caplog.at_level(logging.ERROR, logger="typhoon.application"):
        response = await fetch(app, "/?kind=bug")
    assert response.code == 500
    assert "plugin bug" in caplog.text
    assert "PluginError" in caplog.text


class Who(RequestHandler):
    def get(self) -> None:
        self.write({"user": self.current_user})


async def test_resolve_current_user_sync_is_lazy() -> None:
    calls: list[int] = []

    class Users:
        @hookimpl
        def resolve_current_user(self, handler: RequestHandler) -> str | None:
            calls.append(1)
            return handler.request.headers.get("X-User")

    app = make_app(("/", Who), ("/hello", Hello), plugins=[Users()])
    assert app._hooks.resolve_current_user_sync
    assert (await fetch(app, "/", headers={"X-User": "bob"})).body == b'{"user": "bob"}'
    await fetch(app, "/hello")
    assert calls == [1]  # never asked for the request that did not read current_user


async def test_resolve_current_user_async_is_awaited_before_prepare() -> None:
    class Users:
        @hookimpl
        async def resolve_current_user(self, handler: RequestHandler) -> str | None:
            await asyncio.sleep(0)
            return "async-bob"

    class Fallback:
        @hookimpl(trylast=True)
        def resolve_current_user(self, handler: RequestHandler) -> str:
            return "never"

    app = make_app(("/", Who), plugins=[Users(), Fallback()])
    assert app._hooks.resolve_current_user_async
    assert (await fetch(app, "/")).body == b'{"user": "async-bob"}'


async def test_handler_get_current_user_overrides_the_hook() -> None:
    class Users:
        @hookimpl
        async def resolve_current_user(self, handler: RequestHandler) -> str:
            raise AssertionError("must not be called")

    class Own(Who):
        def get_current_user(self) -> str:
            return "own"

    app = make_app(("/", Own), plugins=[Users()])
    assert (await fetch(app, "/")).body == b'{"user": "own"}'


async def test_handle_exception_can_answer_and_can_decline() -> None:
    class Errors:
        @hookimpl
        def handle_exception(self, handler: RequestHandler, exc: BaseException) -> bool | None:
            if isinstance(exc, KeyError):
                handler.set_status(422)
                handler.finish({"error": "missing key"})
                return True
            return None

    class Handler(RequestHandler):
        def get(self, kind: str) -> None:
            if kind == "key":
                raise KeyError("x")
            raise HTTPError(409)

    app = make_app((r"/(\w+)", Handler), plugins=[Errors()])
    response = await fetch(app, "/key")
    assert (response.code, response.body) == (422, b'{"error": "missing key"}')
    assert (await fetch(app, "/http")).code == 409


async def test_failing_handle_exception_falls_back_to_the_error_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        @hookimpl
        def handle_exception(self, handler: RequestHandler, exc: BaseException) -> bool:
            raise ValueError("handler bug")

    class Handler(RequestHandler):
        def get(self) -> None:
            raise KeyError("x")

    with caplog.at_level(logging.ERROR):
        response = await fetch(make_app(("/", Handler), plugins=[Broken()]), "/")
    assert response.code == 500


async def test_request_finished_sync_and_async() -> None:
    seen: list[tuple[str, int]] = []

    class SyncObserver:
        @hookimpl
        def request_finished(self, handler: RequestHandler) -> None:
            seen.append(("sync", handler.get_status()))

    class AsyncObserver:
        @hookimpl
        async def request_finished(self, handler: RequestHandler) -> None:
            await asyncio.sleep(0)
            seen.append(("async", handler.get_status()))

    app = make_app(("/", Hello), plugins=[SyncObserver()])
    await fetch(app, "/")
    await fetch(app, "/missing")
    assert seen == [("sync", 200), ("sync", 404)]
    seen.clear()
    app = make_app(("/", Hello), plugins=[SyncObserver(), AsyncObserver()])
    await fetch(app, "/")
    await app.shutdown()  # waits for the background hook call
    assert sorted(seen) == [("async", 200), ("sync", 200)]


async def test_request_finished_runs_when_the_client_leaves() -> None:
    seen: list[str] = []
    release = asyncio.Event()

    class Observer:
        @hookimpl
        def request_finished(self, handler: RequestHandler) -> None:
            seen.append(handler.request.path)

    class Slow(RequestHandler):
        async def get(self) -> None:
            await release.wait()

    from _webclient import start

    conn = await start(make_app(("/slow", Slow), plugins=[Observer()]), "GET", "/slow")
    conn.close()
    assert seen == ["/slow"]
    release.set()
    await asyncio.wait_for(conn.done, 1)
    assert seen == ["/slow"]  # once only


async def test_request_finished_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        def request_finished(self, handler: RequestHandler) -> None:
            raise RuntimeError("metrics down")

    with caplog.at_level(logging.ERROR, logger="typhoon.application"):
        response = await fetch(make_app(("/", Hello), plugins=[Broken()]), "/")
    assert response.code == 200
    assert any("request_finished" in record.getMessage() for record in caplog.records)


async def test_hook_flags_follow_late_registration() -> None:
    class Late:
        @hookimpl
        def prepare_request(self, handler: RequestHandler) -> None:
            handler.set_header("X-Late", "1")

    app = make_app(("/", Hello))
    app.plugin_manager.register(Late())
    assert "X-Late" not in (await fetch(app, "/")).headers
    app.update_hook_flags()
    assert (await fetch(app, "/")).headers["X-Late"] == "1"


async def test_application_call_runs_a_complete_request() -> None:
    from _webclient import RecordingConnection

    app = make_app(("/", Hello))
    conn = RecordingConnection()
    request = httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("GET", "/", "HTTP/1.1"),
        headers=httputil.HTTPHeaders({"Host": "a"}),
        connection=conn,
    )
    app(request)
    await asyncio.wait_for(conn.done, 1)
    assert conn.chunks == [b"hello"]


async def test_spawned_tasks_are_awaited_at_shutdown() -> None:
    app = make_app()
    done: list[bool] = []

    async def work() -> None:
        await asyncio.sleep(0.01)
        done.append(True)

    app.spawn(work())
    await app.shutdown()
    assert done == [True]


async def test_subclass_routing_overrides_are_honoured() -> None:
    seen: list[str] = []

    class Custom(Application):
        def get_handler_delegate(self, request: Any, target_class: Any, *args: Any) -> Any:
            seen.append(target_class.__name__)
            return super().get_handler_delegate(request, target_class, *args)

    app = Custom([("/", Hello)], load_entrypoints=False)
    assert (await fetch(app, "/")).body == b"hello"
    assert (await fetch(app, "/missing")).code == 404
    assert seen == ["Hello", "ErrorHandler"]


async def test_transforms_argument_and_add_transform_see_every_chunk() -> None:
    class Streamed(RequestHandler):
        async def get(self) -> None:
            self.write("a")
            await self.flush()
            self.write("b")

    app = Application([("/", Streamed)], transforms=[UpperTransform], load_entrypoints=False)
    response = await fetch(app, "/")
    assert (response.body, response.headers["X-Transformed"]) == (b"AB", "1")

    class Suffix(UpperTransform):
        def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
            return chunk + (b"!" if finishing else b"")

    app = Application([("/", Streamed)], load_entrypoints=False)
    app.add_transform(Suffix)
    assert (await fetch(app, "/")).body == b"Ab!"
