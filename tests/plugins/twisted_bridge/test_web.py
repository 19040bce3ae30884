"""twisted.web resource trees served by a typhoon Application over real loopback HTTP."""

from __future__ import annotations

import asyncio
import gzip
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from _twisted_helpers import client, make_app, serving
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.resource import EncodingResourceWrapper, Resource
from typhoon.errors import HTTPStreamClosedError
from typhoon.httpclient import HTTPRequest
from typhoon.iostream import IOStream
from typhoon.tcpclient import TCPClient
from typhoon.web import RequestHandler
from typhoon_twisted_bridge import TwistedResourceHandler, ensure_reactor, resource_rule
from zope.interface import implementer

pytestmark = [
    pytest.mark.reactor,
    # twisted.web's own default pages (404 from getChild, 405) call constructors that
    # Twisted itself deprecated; that is Twisted's business, not the bridge's.
    pytest.mark.filterwarnings("ignore:twisted.web.resource._Unsafe:DeprecationWarning"),
]


def text(value: Any) -> bytes:
    return json.dumps(value).encode()


class Describe(Resource):
    """Answers with what twisted.web knows about the request, as JSON."""

    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        address = request.getClientAddress()
        request.setHeader(b"content-type", b"application/json")
        return text(
            {
                "method": request.method.decode(),
                "uri": request.uri.decode(),
                "path": request.path.decode(),
                "prepath": [s.decode() for s in request.prepath or []],
                "postpath": [s.decode() for s in request.postpath or []],
                "args": {k.decode(): [v.decode() for v in vs] for k, vs in request.args.items()},
                "client": [type(address).__name__, address.host],
                "secure": request.isSecure(),
                "pre_path_url": request.prePathURL().decode(),
                "header": (request.getHeader(b"x-probe") or b"").decode(),
                "cookie": (request.getCookie(b"flavour") or b"").decode(),
            }
        )

    def render_POST(self, request: server.Request) -> bytes:
        body = request.content.read()
        return text(
            {
                "args": {k.decode(): [v.decode() for v in vs] for k, vs in request.args.items()},
                "body": body.decode(),
            }
        )


class Home(Resource):
    def render_GET(self, request: server.Request) -> bytes:
        return b"twisted home"


class Status(Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        request.setResponseCode(201, b"Made Here")
        request.setHeader(b"x-custom", b"one")
        request.responseHeaders.addRawHeader(b"x-multi", b"a")
        request.responseHeaders.addRawHeader(b"x-multi", b"b")
        request.addCookie(b"made", b"yes", path=b"/tw")
        return b"created"


class Moved(Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        request.redirect(b"/tw/home")
        request.finish()
        return server.NOT_DONE_YET


class Broken(Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        raise ZeroDivisionError("resource failed")


class Counter(Resource):
    """Counts visits in the twisted.web session."""

    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        session = request.getSession()
        visits = getattr(session, "visits", 0) + 1
        session.visits = visits
        return text({"uid": session.uid.decode(), "visits": visits})


def make_tree(extra: dict[bytes, Resource] | None = None) -> Resource:
    root = Home()
    root.putChild(b"", Home())
    root.putChild(b"home", Home())
    root.putChild(b"describe", Describe())
    root.putChild(b"status", Status())
    root.putChild(b"moved", Moved())
    root.putChild(b"broken", Broken())
    root.putChild(b"counter", Counter())
    for name, child in (extra or {}).items():
        root.putChild(name, child)
    return root


class Native(RequestHandler):
    def get(self) -> None:
        self.write("typhoon handler")


async def test_a_tree_answers_under_its_prefix_beside_typhoon_handlers() -> None:
    app = make_app([resource_rule("/tw", make_tree()), (r"/native", Native)])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/native")
        assert response.body == b"typhoon handler"
        response = await http.fetch(base + "/tw")
        assert response.body == b"twisted home"
        assert response.headers["Server"].startswith("TwistedWeb/")
        response = await http.fetch(base + "/tw/home")
        assert response.body == b"twisted home"
        response = await http.fetch(
            base + "/tw/describe/a/b%20c?x=1&x=2&y=",
            headers={"X-Probe": "seen", "Cookie": "flavour=mint"},
        )
        assert response.headers["Content-Type"] == "application/json"
        port = base.rsplit(":", 1)[1]
        assert json.loads(response.body) == {
            "method": "GET",
            "uri": "/tw/describe/a/b%20c?x=1&x=2&y=",
            "path": "/tw/describe/a/b%20c",
            "prepath": ["tw", "describe"],
            "postpath": ["a", "b c"],
            "args": {"x": ["1", "2"], "y": [""]},
            "client": ["IPv4Address", "127.0.0.1"],
            "secure": False,
            "pre_path_url": f"http://127.0.0.1:{port}/tw/describe",
            "header": "seen",
            "cookie": "mint",
        }
        missing = await http.fetch(base + "/tw/missing", raise_error=False)
        assert missing.code == 404
        assert b"No Such Resource" in missing.body
        outside = await http.fetch(base + "/elsewhere", raise_error=False)
        assert outside.code == 404
        assert b"No Such Resource" not in outside.body
    http.close()


async def test_request_bodies_and_form_arguments() -> None:
    app = make_app([resource_rule("/tw", make_tree())])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(
            base + "/tw/describe",
            method="POST",
            body="name=ada&name=grace",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert json.loads(response.body) == {
            "args": {"name": ["ada", "grace"]},
            "body": "name=ada&name=grace",
        }
        response = await http.fetch(
            base + "/tw/describe",
            method="POST",
            body='{"raw": true}',
            headers={"Content-Type": "application/json"},
        )
        assert json.loads(response.body) == {"args": {}, "body": '{"raw": true}'}
    http.close()


async def test_status_headers_cookies_redirects_and_methods() -> None:
    app = make_app([resource_rule("/tw", make_tree())])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/tw/status")
        assert (response.code, response.reason, response.body) == (201, "Made Here", b"created")
        assert response.headers["X-Custom"] == "one"
        assert response.headers.get_list("X-Multi") == ["a", "b"]
        assert response.headers["Set-Cookie"].startswith("made=yes")
        moved = await http.fetch(base + "/tw/moved", follow_redirects=False, raise_error=False)
        assert moved.code == 302
        assert moved.headers["Location"] == "/tw/home"
        head = await http.fetch(base + "/tw/status", method="HEAD")
        assert head.code == 201
        assert head.body == b""
        assert head.headers["Content-Length"] == "7"
        refused = await http.fetch(base + "/tw/status", method="POST", body="", raise_error=False)
        assert refused.code == 405
        assert sorted(refused.headers["Allow"].split(", ")) == ["GET", "HEAD"]
        # Methods twisted.web's Request does not know at all are its 501, as in Twisted.
        unknown = await http.fetch(base + "/tw/status", method="DELETE", raise_error=False)
        assert unknown.code == 501
    http.close()


async def test_a_failing_resource_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app([resource_rule("/tw", make_tree())])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/tw/broken", raise_error=False)
        assert response.code == 500
        assert b"Processing Failed" in response.body
        assert b"resource failed" not in response.body
    http.close()


async def test_statuses_typhoon_refuses_are_answered_safely() -> None:
    class Odd(Resource):
        isLeaf = True

        def render_GET(self, request: server.Request) -> bytes:
            if request.args.get(b"code") == [b"999"]:
                request.setResponseCode(999)
            else:
                request.setResponseCode(202, b"<b>Accepted</b>")
            return b"odd"

    app = make_app([resource_rule("/tw", make_tree({b"odd": Odd()}))])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/tw/odd?code=999", raise_error=False)
        assert response.code == 500
        response = await http.fetch(base + "/tw/odd")
        # A reason phrase that could inject markup is replaced by the standard one.
        assert (response.code, response.reason, response.body) == (202, "Accepted", b"odd")
    http.close()


async def test_a_body_shorter_than_its_content_length_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Short(Resource):
        isLeaf = True

        def render_GET(self, request: server.Request) -> Any:
            request.setHeader(b"content-length", b"10")
            request.write(b"abc")
            request.finish()
            return server.NOT_DONE_YET

    app = make_app([resource_rule("/tw", make_tree({b"short": Short()}))])
    http = client()
    async with serving(app) as base:
        with pytest.raises(HTTPStreamClosedError):
            await http.fetch(base + "/tw/short", request_timeout=5)
        assert "Cannot finish the twisted.web response" in caplog.text
        # The server is fine afterwards.
        assert (await http.fetch(base + "/tw/home")).body == b"twisted home"
    http.close()


async def test_sessions_live_under_the_mount_point() -> None:
    app = make_app([resource_rule("/tw", make_tree())])
    http = client()
    async with serving(app) as base:
        first = await http.fetch(base + "/tw/counter")
        cookie = first.headers["Set-Cookie"]
        # twisted.web names the session cookie after the site path: the mount point.
        assert cookie.startswith("TWISTED_SESSION_tw=")
        session_cookie = cookie.split(";", 1)[0]
        second = await http.fetch(base + "/tw/counter", headers={"Cookie": session_cookie})
        assert json.loads(second.body) == {
            "uid": json.loads(first.body)["uid"],
            "visits": 2,
        }
    http.close()


async def test_a_not_done_yet_response_streams_as_it_is_written() -> None:
    proceed = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    class Slow(Resource):
        isLeaf = True

        def render_GET(self, request: server.Request) -> Any:
            request.write(b"first;")

            async def rest() -> None:
                await proceed.wait()
                request.write(b"second")
                request.finish()

            tasks.append(asyncio.ensure_future(rest()))
            return server.NOT_DONE_YET

    app = make_app([resource_rule("/tw", make_tree({b"slow": Slow()}))])
    http = client()
    chunks: list[bytes] = []

    def on_chunk(chunk: bytes) -> None:
        chunks.append(chunk)
        # Only a response that streams lets the client see this before the end.
        proceed.set()

    async with serving(app) as base:
        response = await http.fetch(base + "/tw/slow", streaming_callback=on_chunk)
        assert response.code == 200
        assert chunks[0] == b"first;"
        assert b"".join(chunks) == b"first;second"
        assert response.headers["Transfer-Encoding"] == "chunked"
    http.close()


async def test_static_files_stream_through_a_pull_producer(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        # Importing twisted.web.static trips a deprecation inside Twisted itself.
        warnings.simplefilter("ignore", DeprecationWarning)
        from twisted.web import static

    payload = bytes(range(256)) * 2048  # 512 KiB: many producer rounds
    (tmp_path / "blob.bin").write_bytes(payload)
    app = make_app([resource_rule("/files", static.File(str(tmp_path)))])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/files/blob.bin")
        assert response.body == payload
        assert response.headers["Content-Length"] == str(len(payload))
        partial = await http.fetch(base + "/files/blob.bin", headers={"Range": "bytes=10-19"})
        assert partial.code == 206
        assert partial.body == payload[10:20]
    http.close()


async def test_push_producers_are_paused_by_typhoons_flow_control() -> None:
    events: list[str] = []

    @implementer(IPushProducer)
    class Pusher:
        def __init__(self, request: server.Request) -> None:
            self.request = request
            self.paused = False
            self.left = 64

        def start(self) -> None:
            self.request.registerProducer(self, True)
            asyncio.get_running_loop().call_soon(self.produce)

        def produce(self) -> None:
            while self.left and not self.paused:
                self.left -= 1
                self.request.write(b"x" * 16384)
            if not self.left:
                self.request.unregisterProducer()
                self.request.finish()

        def pauseProducing(self) -> None:
            events.append("pause")
            self.paused = True

        def resumeProducing(self) -> None:
            events.append("resume")
            self.paused = False
            asyncio.get_running_loop().call_soon(self.produce)

        def stopProducing(self) -> None:
            events.append("stop")

    class Pushed(Resource):
        isLeaf = True

        def render_GET(self, request: server.Request) -> Any:
            Pusher(request).start()
            return server.NOT_DONE_YET

    app = make_app([resource_rule("/tw", make_tree({b"push": Pushed()}))])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/tw/push")
        assert response.body == b"x" * (64 * 16384)
    assert "pause" in events
    assert "resume" in events
    assert "stop" not in events
    http.close()


async def test_a_client_that_leaves_fails_notify_finish() -> None:
    arrived = asyncio.Event()
    outcome: asyncio.Future[Failure] = asyncio.get_running_loop().create_future()

    class Waiting(Resource):
        isLeaf = True

        def render_GET(self, request: server.Request) -> Any:
            request.notifyFinish().addErrback(outcome.set_result)
            request.write(b"partial")
            arrived.set()
            return server.NOT_DONE_YET

    app = make_app([resource_rule("/tw", make_tree({b"wait": Waiting()}))])
    async with serving(app) as base:
        port = int(base.rsplit(":", 1)[1])
        stream: IOStream = await TCPClient().connect("127.0.0.1", port)
        await stream.write(b"GET /tw/wait HTTP/1.1\r\nHost: test\r\n\r\n")
        await asyncio.wait_for(arrived.wait(), 5)
        head = await stream.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        stream.close()
        failure = await asyncio.wait_for(outcome, 5)
    assert failure.check(ConnectionLost)


async def test_xheaders_give_twisted_the_real_client() -> None:
    app = make_app([resource_rule("/tw", make_tree())])
    http = client()
    async with serving(app, xheaders=True) as base:
        response = await http.fetch(
            base + "/tw/describe",
            headers={"X-Real-Ip": "2001:db8::7", "X-Scheme": "https"},
        )
        described = json.loads(response.body)
        assert described["client"] == ["IPv6Address", "2001:db8::7"]
        assert described["secure"] is True
    http.close()


async def test_encoding_wrappers_still_apply() -> None:
    wrapped = EncodingResourceWrapper(Describe(), [server.GzipEncoderFactory()])
    app = make_app([resource_rule("/tw", make_tree({b"zipped": wrapped}))])
    http = client()
    async with serving(app) as base:
        request = HTTPRequest(
            base + "/tw/zipped", headers={"Accept-Encoding": "gzip"}, decompress_response=False
        )
        response = await http.fetch(request)
        assert response.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(response.body))["method"] == "GET"
    http.close()


async def test_a_site_can_be_mounted_at_the_root() -> None:
    site = server.Site(make_tree(), reactor=ensure_reactor())
    app = make_app([resource_rule("", site=site)])
    http = client()
    async with serving(app) as base:
        response = await http.fetch(base + "/describe/z")
        described = json.loads(response.body)
        assert described["prepath"] == ["describe"]
        assert described["postpath"] == ["z"]
        assert (await http.fetch(base + "/")).body == b"twisted home"
    http.close()


def test_resource_rule_and_the_handler_arguments() -> None:
    home = Home()
    assert resource_rule("/a/", home) == (
        r"/a(?:/.*)?",
        TwistedResourceHandler,
        {"prefix": "/a", "resource": home},
    )
    assert resource_rule("", home)[0] == r"/.*"
    handler = object.__new__(TwistedResourceHandler)
    with pytest.raises(TypeError, match="exactly one"):
        handler.initialize()
    with pytest.raises(TypeError, match="IResource"):
        handler.initialize(resource=1)
    with pytest.raises(ValueError, match="start with"):
        handler.initialize(resource=home, prefix="a")
