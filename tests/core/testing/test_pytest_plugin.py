"""The pytest plugin: fixtures used directly here, and whole pytest runs via pytester."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from typhoon import hookimpl
from typhoon.httpclient import AsyncHTTPClient
from typhoon.httpserver import HTTPServer
from typhoon.ioloop import IOLoop
from typhoon.web import Application, RequestHandler

pytest_plugins = ["pytester"]


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("hello from " + self.request.host)


class Events:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def startup(self, app: Any) -> None:
        self.seen.append("startup")

    @hookimpl
    def shutdown(self, app: Any) -> None:
        self.seen.append("shutdown")


EVENTS = Events()


@pytest.fixture
def typhoon_app() -> Application:
    EVENTS.seen.clear()
    return Application([("/", Hello)], plugins=[EVENTS], load_entrypoints=False)


# --- the fixtures in this very suite -------------------------------------------------------


async def test_http_server_and_client(
    http_server: HTTPServer, http_client: AsyncHTTPClient, base_url: str, unused_port: int
) -> None:
    assert base_url == f"http://127.0.0.1:{unused_port}"
    response = await http_client.fetch(base_url + "/")
    assert response.body == f"hello from 127.0.0.1:{unused_port}".encode()
    assert EVENTS.seen == ["startup"]


async def test_the_test_runs_on_the_io_loop_fixture(io_loop: IOLoop) -> None:
    assert asyncio.get_running_loop() is io_loop.asyncio_loop
    assert IOLoop.current() is io_loop


async def test_without_io_loop_runs_on_a_plain_asyncio_loop() -> None:
    # As asyncio.run makes it: no IOLoop has been created for it.
    assert IOLoop.current(instance=False) is None


def test_sync_tests_can_drive_the_loop(
    io_loop: IOLoop, http_server: HTTPServer, http_client: AsyncHTTPClient, base_url: str
) -> None:
    response = io_loop.run_sync(lambda: http_client.fetch(base_url + "/"))
    assert response.code == 200


def test_unused_port_is_free(unused_port: int) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", unused_port))


@pytest.mark.gen_test(timeout=0.2)
async def test_gen_test_marker_sets_the_deadline_of_a_passing_test() -> None:
    await asyncio.sleep(0.01)


# --- whole runs in a scratch directory -----------------------------------------------------


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_scratch=source)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def test_async_tests_pass_and_fail(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import asyncio

        async def test_passes():
            await asyncio.sleep(0)

        async def test_fails():
            await asyncio.sleep(0)
            assert 1 == 2
        """,
    )
    result.assert_outcomes(passed=1, failed=1)


def test_deadline_from_marker_and_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = """
        import asyncio
        import pytest

        @pytest.mark.gen_test(timeout=0.1)
        async def test_marker():
            await asyncio.sleep(30)

        async def test_environment():
            await asyncio.sleep(30)

        async def test_own_timeout_error_is_not_a_deadline():
            raise TimeoutError("mine")
        """
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.1")
    result = run(pytester, source, "--strict-markers")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*async test timed out after 0.1 seconds*"])
    result.stdout.fnmatch_lines(["*TimeoutError: mine*"])
    assert result.stdout.str().count("timed out after 0.1 seconds") >= 2


def test_server_fixtures_in_another_project(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from typhoon.web import Application, RequestHandler

        class Main(RequestHandler):
            def get(self):
                self.write({"ok": True})

        @pytest.fixture
        def typhoon_app():
            return Application([("/", Main)], load_entrypoints=False)

        async def test_fetch(http_server, http_client, base_url):
            response = await http_client.fetch(base_url + "/")
            assert response.code == 200
            assert response.body == b'{"ok": true}'

        async def test_not_found(http_server, http_client, base_url):
            response = await http_client.fetch(base_url + "/x", raise_error=False)
            assert response.code == 404
        """,
    )
    result.assert_outcomes(passed=2)


def test_missing_typhoon_app_is_a_clear_error(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        async def test_needs_app(http_server):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a 'typhoon_app' fixture*"])


def test_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("")
    result = run(
        pytester,
        """
        def test_plain():
            pass

        def test_no_fixture(request):
            request.getfixturevalue("http_server")
        """,
        "-p",
        "no:typhoon",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*fixture 'http_server' not found*"])


def test_unittest_cases_run_under_pytest(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from typhoon.testing import AsyncHTTPTestCase, gen_test
        from typhoon.web import Application, RequestHandler

        class Main(RequestHandler):
            def get(self):
                self.write("hi")

        class Test(AsyncHTTPTestCase):
            def get_app(self):
                return Application([("/", Main)], load_entrypoints=False)

            def test_sync(self):
                self.assertEqual(self.fetch("/").body, b"hi")

            @gen_test
            async def test_async(self):
                response = await self.http_client.fetch(self.get_url("/"))
                self.assertEqual(response.body, b"hi")

            async def test_undecorated(self):
                pass
        """,
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*should be decorated with typhoon.testing.gen_test*"])
