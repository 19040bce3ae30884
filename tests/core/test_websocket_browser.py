"""A real browser against typhoon's WebSocket server: headless Chromium.

typhoon serves a page whose script opens a WebSocket back to the server, exchanges
text and binary messages (with permessage-deflate, which Chromium always offers),
closes with a code and a reason, and reports what it saw with a plain HTTP request.
The test checks both sides: what the handler received and what the page reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import urllib.parse
from typing import Any

import pytest
from _websocket_net import Log, Recorder, make_app, serve
from typhoon.web import RequestHandler

#: Seconds the whole browser exchange may take (Chromium's start-up dominates).
BROWSER_WAIT = 20.0

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>typhoon websocket</title></head>
<body><p id="out">waiting</p>
<script>
const got = [];
const ws = new WebSocket("ws://" + location.host + "/ws?room=browser");
ws.binaryType = "arraybuffer";
ws.onopen = () => {
  ws.send("hello");
  ws.send("\\u2603 unicode");
  ws.send(new Uint8Array([1, 2, 3, 255]));
  ws.send("x".repeat(100000));
};
ws.onmessage = (event) => {
  if (typeof event.data === "string") {
    got.push("text:" + (event.data.length > 50 ? "long" + event.data.length : event.data));
  } else {
    got.push("binary:" + Array.from(new Uint8Array(event.data)).join(","));
  }
  if (got.length === 5) {
    ws.send("done:" + got.join("|"));
    ws.close(4000, "page finished");
  }
};
ws.onclose = (event) => {
  document.getElementById("out").textContent = "closed";
  const query = "code=" + event.code + "&clean=" + event.wasClean +
    "&reason=" + encodeURIComponent(event.reason) +
    "&extensions=" + encodeURIComponent(ws.extensions) + "&protocol=" + ws.protocol;
  fetch("/report?" + query);
};
</script></body></html>
"""


class Page(RequestHandler):
    def get(self) -> None:
        self.write(PAGE)


class Report(RequestHandler):
    def initialize(self, reports: asyncio.Future[dict[str, str]]) -> None:  # type: ignore[override]
        self.reports = reports

    def get(self) -> None:
        fields = dict(urllib.parse.parse_qsl(self.request.query, keep_blank_values=True))
        if not self.reports.done():
            self.reports.set_result(fields)
        self.write("ok")


class BrowserEcho(Recorder):
    def get_compression_options(self) -> dict[str, Any]:
        return {}

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.log.events.append(("query", self.get_query_argument("room")))
        self.write_message("welcome")

    def on_message(self, message: str | bytes) -> None:
        super().on_message(message)
        if isinstance(message, str) and message.startswith("done:"):
            return
        self.write_message(message, binary=isinstance(message, bytes))


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


async def test_chromium_talks_to_typhoon(tmp_path: Any) -> None:
    browser = chromium_path()
    if browser is None:
        pytest.skip(
            "CHROMIUM IS NOT INSTALLED: the browser interoperability test did not run "
            "(scripts/lib/system-packages.sh installs Debian's chromium)"
        )
    log = Log()
    reports: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    app = make_app(
        [
            ("/", Page),
            ("/ws", BrowserEcho, {"log": log}),
            ("/report", Report, {"reports": reports}),
        ],
        log,
    )
    async with serve(app) as port:
        stderr_path = tmp_path / "chromium.log"
        with stderr_path.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"http://127.0.0.1:{port}/",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                report = await asyncio.wait_for(asyncio.shield(reports), BROWSER_WAIT)
                server_close = await asyncio.wait_for(asyncio.shield(log.closed), 5)
            except TimeoutError:
                pytest.fail(
                    "Chromium did not complete the exchange; its log:\n"
                    + stderr_path.read_text(errors="replace")[-3000:]
                )
            finally:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except TimeoutError:
                    process.kill()
                    await process.wait()

    # What the server received, in order.
    assert log.events[0] == ("open", (), {})
    assert log.events[1] == ("query", "browser")
    assert log.messages() == [
        "hello",
        "☃ unicode",
        b"\x01\x02\x03\xff",
        "x" * 100_000,
        "done:text:welcome|text:hello|text:☃ unicode|binary:1,2,3,255|text:long100000",
    ]
    assert server_close == (4000, "page finished")
    # What the page saw: a clean close with our echo of its code, over deflate.
    assert report["code"] == "4000"
    assert report["clean"] == "true"
    # The server's Close echoes the code only (RFC 6455 section 5.5.1).
    assert report["reason"] == ""
    assert report["extensions"].startswith("permessage-deflate")
