"""RequestHandler lifecycle and output, run in process through a recording connection."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import pytest
from _webclient import RecordingConnection, fetch, start
from typhoon.errors import Finish, HTTPError
from typhoon.web import Application, RequestHandler, current_handler, current_request


def make_app(*handlers: Any, **settings: Any) -> Application:
    return Application(list(handlers), load_entrypoints=False, **settings)


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


async def test_hello_world_sets_length_type_and_etag() -> None:
    response = await fetch(make_app(("/", Hello)), "/")
    assert response.code == 200
    assert response.reason == "OK"
    assert response.body == b"Hello, world"
    assert response.headers["Content-Length"] == "12"
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Etag"].startswith('"')
    assert "Date" in response.headers
    assert response.headers["Server"].startswith("TyphoonServer/")


async def test_lifecycle_order_with_async_prepare_and_verb() -> None:
    calls: list[str] = []

    class Handler(RequestHandler):
        def initialize(self, tag: str) -> None:
            calls.append(f"initialize:{tag}")

        def set_default_headers(self) -> None:
            calls.append("set_default_headers")
            self.set_header("X-Default", "1")

        async def prepare(self) -> None:
            await asyncio.sleep(0)
            calls.append("prepare")

        async def get(self, first: str, second: str) -> None:
            await asyncio.sleep(0)
            calls.append(f"get:{first}:{second}")
            self.write("ok")

        def on_finish(self) -> None:
            calls.append("on_finish")

    app = make_app((r"/(\w+)/(\w+)", Handler, {"tag": "t"}))
    response = await fetch(app, "/a/b")
    assert response.body == b"ok"
    assert response.headers["X-Default"] == "1"
    assert calls == [
        "set_default_headers",
        "initialize:t",
        "prepare",
        "get:a:b",
        "on_finish",
    ]


async def test_named_groups_become_keyword_arguments_and_are_unquoted() -> None:
    class Handler(RequestHandler):
        def get(self, name: str) -> None:
            self.write(name)

    response = await fetch(make_app((r"/(?P<name>[^/]+)", Handler)), "/caf%C3%A9")
    assert response.body == "café".encode()


async def test_prepare_that_finishes_skips_the_verb() -> None:
    class Handler(RequestHandler):
        def prepare(self) -> None:
            self.finish("from prepare")

        def get(self) -> None:
            raise AssertionError("verb must not run")

    response = await fetch(make_app(("/", Handler)), "/")
    assert response.body == b"from prepare"


async def test_unsupported_and_unimplemented_methods_answer_405_with_allow() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.write("x")

        def post(self) -> None:
            self.write("y")

    app = make_app(("/", Handler))
    response = await fetch(app, "/", method="PUT", body=b"z")
    assert response.code == 405
    assert response.headers["Allow"] == "GET, POST"
    response = await fetch(app, "/", method="BREW")
    assert response.code == 405


async def test_extended_supported_methods() -> None:
    class Handler(RequestHandler):
        SUPPORTED_METHODS = (*RequestHandler.SUPPORTED_METHODS, "PROPFIND")

        def propfind(self) -> None:
            self.write("props")

    response = await fetch(make_app(("/", Handler)), "/", method="PROPFIND")
    assert response.body == b"props"


async def test_unmatched_path_is_404_and_default_handler_class_replaces_it() -> None:
    response = await fetch(make_app(("/", Hello)), "/missing")
    assert response.code == 404
    assert b"404: Not Found" in response.body

    class Custom404(RequestHandler):
        def initialize(self, text: str) -> None:
            self.text = text

        def prepare(self) -> None:
            self.set_status(404)
            self.finish(self.text)

    app = make_app(
        ("/", Hello), default_handler_class=Custom404, default_handler_args={"text": "gone"}
    )
    response = await fetch(app, "/missing", method="POST", body=b"x")
    assert (response.code, response.body) == (404, b"gone")


async def test_write_dict_is_json_and_list_is_refused() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.write({"a": 1, "html": "</script>"})

        def post(self) -> None:
            self.write([1, 2])  # type: ignore[arg-type]

    app = make_app(("/", Handler))
    response = await fetch(app, "/")
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.body == b'{"a": 1, "html": "<\\/script>"}'
    response = await fetch(app, "/", method="POST", body=b"x")
    assert response.code == 500


async def test_write_after_finish_and_double_finish_are_errors() -> None:
    errors: list[str] = []

    class Handler(RequestHandler):
        def get(self) -> None:
            self.finish("done")
            for action in (lambda: self.write("more"), self.finish):
                try:
                    action()
                except RuntimeError as exc:
                    errors.append(str(exc))

    await fetch(make_app(("/", Handler)), "/")
    assert errors == ["Cannot write() after finish()", "finish() called twice"]


async def test_http_error_status_reason_and_log_message(caplog: pytest.LogCaptureFixture) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            raise HTTPError(418, "secret %s", "detail", reason="Short And Stout")

    with caplog.at_level(logging.WARNING, logger="typhoon.general"):
        response = await fetch(make_app(("/", Handler)), "/")
    assert (response.code, response.reason) == (418, "Short And Stout")
    assert b"secret" not in response.body
    assert any("secret detail" in record.getMessage() for record in caplog.records)


async def test_uncaught_exception_is_500_without_traceback_unless_serve_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            raise ZeroDivisionError("boom")

    with caplog.at_level(logging.ERROR, logger="typhoon.application"):
        response = await fetch(make_app(("/", Handler)), "/")
    assert response.code == 500
    assert b"boom" not in response.body
    assert any("Uncaught exception GET /" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.ERROR, logger="typhoon.application"):
        response = await fetch(make_app(("/", Handler), serve_traceback=True), "/")
    assert response.code == 500
    assert response.headers["Content-Type"] == "text/plain"
    assert b"ZeroDivisionError: boom" in response.body


async def test_finish_exception_ends_request_quietly() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_status(202)
            raise Finish("accepted")

    response = await fetch(make_app(("/", Handler)), "/")
    assert (response.code, response.body) == (202, b"accepted")


async def test_send_error_keeps_cookies_but_clears_headers_and_body() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("kept", "yes")
            self.set_header("X-Dropped", "1")
            self.write("partial")
            self.send_error(400)

    response = await fetch(make_app(("/", Handler)), "/")
    assert response.code == 400
    assert "X-Dropped" not in response.headers
    assert b"partial" not in response.body
    assert response.headers.get_list("Set-Cookie") == ["kept=yes; Path=/"]


async def test_custom_write_error_receives_exc_info() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            raise KeyError("k")

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            exc = kwargs["exc_info"][1]
            self.finish({"status": status_code, "error": type(exc).__name__})

    response = await fetch(make_app(("/", Handler)), "/")
    assert response.code == 500
    assert response.body == b'{"status": 500, "error": "KeyError"}'


async def test_set_status_validates_code_and_reason() -> None:
    outcomes: list[str] = []

    class Handler(RequestHandler):
        def get(self) -> None:
            for code, reason in ((99, None), (200, "bad\r\nX: y"), (200, "<b>"), (1000, None)):
                try:
                    self.set_status(code, reason)
                except ValueError:
                    outcomes.append("refused")
            self.set_status(299)
            self.finish()

    response = await fetch(make_app(("/", Handler)), "/")
    assert outcomes == ["refused"] * 4
    assert (response.code, response.reason) == (299, "Unknown")


async def test_headers_are_validated_and_converted() -> None:
    import datetime

    refused: list[type[Exception]] = []

    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_header("X-Int", 5)
            self.set_header("X-Date", datetime.datetime(2020, 1, 2, 3, 4, 5))
            self.add_header("X-Multi", "a")
            self.add_header("X-Multi", b"b")
            self.set_header("X-Gone", "1")
            self.clear_header("X-Gone")
            self.clear_header("Content-Type")
            self.set_header("X-Latin", "caf\u00e9 \u00a0")
            for value in ("a\r\nSet-Cookie: x=y", "nul\x00", "tab\there", "del\x7f", object()):
                try:
                    self.set_header("X-Bad", value)  # type: ignore[arg-type]
                except (ValueError, TypeError) as exc:
                    refused.append(type(exc))

    response = await fetch(make_app(("/", Handler)), "/")
    assert response.headers["X-Int"] == "5"
    assert response.headers["X-Date"] == "Thu, 02 Jan 2020 03:04:05 GMT"
    assert response.headers.get_list("X-Multi") == ["a", "b"]
    assert "X-Gone" not in response.headers
    assert "Content-Type" not in response.headers
    assert "X-Bad" not in response.headers
    assert response.headers["X-Latin"] == "caf\u00e9 \u00a0"
    assert refused == [ValueError, ValueError, ValueError, ValueError, TypeError]


async def test_redirect_statuses_and_control_characters() -> None:
    class Handler(RequestHandler):
        def get(self, kind: str) -> None:
            if kind == "temp":
                self.redirect("/elsewhere")
            elif kind == "perm":
                self.redirect("/elsewhere", permanent=True)
            elif kind == "303":
                self.redirect("/elsewhere", status=303)
            else:
                self.redirect("/x\r\nSet-Cookie: a=b")

    app = make_app((r"/(\w+)", Handler))
    response = await fetch(app, "/temp")
    assert (response.code, response.headers["Location"]) == (302, "/elsewhere")
    assert (await fetch(app, "/perm")).code == 301
    assert (await fetch(app, "/303")).code == 303
    response = await fetch(app, "/bad")
    assert response.code == 500
    assert "Location" not in response.headers


async def test_etag_and_automatic_304() -> None:
    app = make_app(("/", Hello))
    first = await fetch(app, "/")
    etag = first.headers["Etag"]
    for header in (etag, f"W/{etag}", '"other", ' + etag, "*"):
        response = await fetch(app, "/", headers={"If-None-Match": header})
        assert response.code == 304, header
        assert response.body == b""
        assert "Content-Type" not in response.headers
    response = await fetch(app, "/", headers={"If-None-Match": '"other"'})
    assert response.code == 200


async def test_compute_etag_none_disables_etag() -> None:
    class Handler(Hello):
        def compute_etag(self) -> str | None:
            return None

    response = await fetch(make_app(("/", Handler)), "/", headers={"If-None-Match": "*"})
    assert response.code == 200
    assert "Etag" not in response.headers


async def test_head_request_sends_no_body_but_length() -> None:
    class Handler(RequestHandler):
        def head(self) -> None:
            self.write("body")

    response = await fetch(make_app(("/", Handler)), "/", method="HEAD")
    assert response.body == b""
    assert response.headers["Content-Length"] == "4"


async def test_204_with_body_is_an_error() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_status(204)
            self.write("x")

    response = await fetch(make_app(("/", Handler)), "/")
    assert response.code == 500


async def test_flush_streams_chunks_without_content_length() -> None:
    class Handler(RequestHandler):
        async def get(self) -> None:
            self.write("one")
            await self.flush()
            self.write("two")
            await self.flush()
            self.finish("three")

    response = await fetch(make_app(("/", Handler)), "/")
    assert response.body == b"onetwothree"
    assert "Content-Length" not in response.headers
    assert response.connection.writes == 3


async def test_on_connection_close_runs_when_client_leaves() -> None:
    closed = asyncio.Event()
    finished: list[bool] = []

    class Handler(RequestHandler):
        async def get(self) -> None:
            await closed.wait()

        def on_connection_close(self) -> None:
            closed.set()

        def on_finish(self) -> None:
            finished.append(closed.is_set())

    conn = await start(make_app(("/", Handler)), "GET", "/")
    await asyncio.sleep(0)
    assert not closed.is_set()
    conn.close()
    await asyncio.wait_for(conn.done, 1)
    assert finished == [True]


async def test_detach_hands_over_the_connection() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.stream = self.detach()

    conn = await start(make_app(("/", Handler)), "GET", "/")
    assert conn.detached
    assert conn.start_line is None


async def test_current_handler_and_request_are_set_during_the_request() -> None:
    seen: list[Any] = []

    class Handler(RequestHandler):
        async def get(self) -> None:
            await asyncio.sleep(0)
            seen.append((current_handler() is self, current_request() is self.request))

    app = make_app(("/", Handler))
    await fetch(app, "/")
    await fetch(app, "/")
    assert seen == [(True, True), (True, True)]
    assert current_handler() is None
    assert current_request() is None


async def test_access_log_levels(caplog: pytest.LogCaptureFixture) -> None:
    class Handler(RequestHandler):
        def get(self, code: str) -> None:
            self.set_status(int(code))

    app = make_app((r"/(\d+)", Handler))
    with caplog.at_level(logging.INFO, logger="typhoon.access"):
        for code in ("200", "404", "503"):
            await fetch(app, f"/{code}")
    levels = [(r.levelno, r.getMessage().split()[0]) for r in caplog.records]
    assert levels == [(20, "200"), (30, "404"), (40, "503")]


async def test_log_function_setting_replaces_access_log() -> None:
    logged: list[int] = []
    app = make_app(("/", Hello), log_function=lambda handler: logged.append(handler.get_status()))
    await fetch(app, "/")
    assert logged == [200]


async def test_malformed_body_answers_400() -> None:
    class Handler(RequestHandler):
        def post(self) -> None:
            self.write("unreachable")

    response = await fetch(
        make_app(("/", Handler)),
        "/",
        method="POST",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        body=b"garbage without boundaries",
    )
    assert response.code == 400


async def test_require_setting_names_the_feature() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            try:
                self.require_setting("login_url", "logins")
            except Exception as exc:
                self.write(str(exc))

    response = await fetch(make_app(("/", Handler)), "/")
    assert b"'login_url'" in response.body
    assert b"logins" in response.body


def test_recording_connection_is_a_connection() -> None:
    async def check() -> None:
        assert RecordingConnection().context.remote_ip == "127.0.0.1"

    asyncio.run(check())


async def test_optional_group_that_did_not_match_arrives_as_none() -> None:
    class Handler(RequestHandler):
        def get(self, page: str | None) -> None:
            self.write({"page": page})

    app = make_app((r"/list(?:/(\d+))?", Handler))
    assert (await fetch(app, "/list")).body == b'{"page": null}'
    assert (await fetch(app, "/list/3")).body == b'{"page": "3"}'


async def test_initialize_with_unexpected_kwargs_is_an_error() -> None:
    app = make_app(("/", Hello, {"surprise": 1}))
    response = await fetch(app, "/")
    assert response.code == 500


async def test_cooperative_mixins_on_either_side_are_initialised() -> None:
    calls: list[str] = []

    class Before:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append("before")
            super().__init__(*args, **kwargs)

    class After:
        def __init__(self) -> None:
            calls.append("after")
            super().__init__()

    class Handler(Before, RequestHandler, After):
        def get(self) -> None:
            self.write("ok")

    class Plain(RequestHandler):
        def get(self) -> None:
            self.write("plain")

    app = make_app(("/", Handler), ("/plain", Plain))
    assert (await fetch(app, "/")).body == b"ok"
    assert calls == ["before", "after"]
    assert (await fetch(app, "/plain")).body == b"plain"
    assert calls == ["before", "after"]


async def test_custom_reasons_are_sent_and_do_not_accumulate() -> None:
    from typhoon.web import _output as output_module

    class Handler(RequestHandler):
        def get(self, number: str) -> None:
            self.set_status(201, reason=f"Made {number}")

    app = make_app((r"/(\d+)", Handler))
    for number in range(300):
        response = await fetch(app, f"/{number}")
        assert (response.code, response.reason) == (201, f"Made {number}")
        assert len(output_module._START_LINES) <= 256


def test_access_log_is_a_builtin_plugin_that_fills_log_function() -> None:
    from typhoon._builtin import access_log as access_log_plugin

    app = make_app(("/", Hello))
    assert app.settings["log_function"] is access_log_plugin.log_access
    assert "typhoon._builtin.access_log" in {
        info.name for info in app.plugin_manager.list_plugins()
    }

    def mine(handler: Any) -> None:
        return None

    assert make_app(("/", Hello), log_function=mine).settings["log_function"] is mine


_request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")


async def test_plain_handlers_see_the_current_handler_and_keep_context_changes_to_themselves() -> (
    None
):
    seen: list[Any] = []

    class Handler(RequestHandler):
        def prepare(self) -> None:
            seen.append(_request_var.get())
            _request_var.set(self.request.path)

        def get(self) -> None:
            seen.append((current_handler() is self, current_request() is self.request))
            self.write(_request_var.get())

    app = make_app(("/.*", Handler))
    assert (await fetch(app, "/one")).body == b"/one"
    assert (await fetch(app, "/two")).body == b"/two"
    assert seen == ["unset", (True, True), "unset", (True, True)]
    assert _request_var.get() == "unset"
    assert current_handler() is None


async def test_plain_prepare_or_verb_may_return_something_to_await() -> None:
    calls: list[str] = []

    class Handler(RequestHandler):
        def prepare(self) -> asyncio.Future[None] | None:
            if self.get_query_argument("wait", None) != "prepare":
                return None
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.set_result, None)
            calls.append("prepare waits")
            return future

        def get(self) -> asyncio.Future[None] | None:
            calls.append(f"get {current_handler() is self}")
            self.write("done")
            if self.get_query_argument("wait", None) != "get":
                return None
            future = asyncio.get_running_loop().create_future()

            def resolve() -> None:
                # Scheduled from the request, so it runs in the request's context.
                calls.append(f"resolved {current_handler() is not None}")
                future.set_result(None)

            asyncio.get_running_loop().call_soon(resolve)
            return future

    app = make_app(("/", Handler))
    for wait in ("prepare", "get", "no"):
        response = await fetch(app, f"/?wait={wait}")
        assert (response.code, response.body) == (200, b"done")
    assert calls == [
        "prepare waits",
        "get True",
        "get True",
        "resolved True",
        "get True",
    ]


async def test_plain_prepare_errors_and_finish_stop_the_verb() -> None:
    class Handler(RequestHandler):
        def prepare(self) -> None:
            action = self.get_query_argument("action")
            if action == "finish":
                self.finish("early")
            elif action == "raise":
                raise HTTPError(403)

        def get(self) -> None:
            self.write("verb")

    app = make_app(("/", Handler))
    assert (await fetch(app, "/?action=finish")).body == b"early"
    assert (await fetch(app, "/?action=raise")).code == 403
    assert (await fetch(app, "/?action=none")).body == b"verb"


async def test_set_header_names_are_case_insensitive_and_checked() -> None:
    errors: list[str] = []

    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_header("content-type", "text/plain")
            self.set_header("X-Custom-thing", b"bytes")
            self.set_header("X-Number", 5)
            for name, value in (("Bad Name", "x"), ("X-Split", "a\r\nb"), ("X-Nul", "\x00")):
                try:
                    self.set_header(name, value)
                except Exception as exc:
                    errors.append(type(exc).__name__)

    response = await fetch(make_app(("/", Handler)), "/")
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers.get_list("Content-Type") == ["text/plain"]
    assert response.headers["X-Custom-Thing"] == "bytes"
    assert response.headers["X-Number"] == "5"
    assert errors == ["HTTPOutputError", "ValueError", "ValueError"]
