"""Cost of the sans-IO HTTP/1.1 protocol per request, in CPU microseconds.

One server-side exchange as the HTTP server runs it: ``receive_data`` of a request,
``next_event`` until ``PAUSED``, then one ``send_response(..., end=True)`` with a few
headers. Two requests are timed: wrk's (request line and ``Host``) and a typical
browser GET (a dozen fields). For scale, the same bytes through a bare httptools
parser with do-nothing callbacks (the floor any wrapper starts from) and, when
installed, through h11 (the reference pure-Python sans-IO implementation).

Reported: best of ``--repeat`` batches, in microseconds per request, using
``time.process_time`` (CPU time, steadier than wall time on a shared machine).

Usage (from the repository root)::

    .venv/bin/python bench/http1proto_parse.py --repeat 5 --number 20000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import httptools
from typhoon.http1proto import PAUSED, HTTP1ServerProtocol
from typhoon.httputil import HTTPHeaders

WRK_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\r\n"
BROWSER_REQUEST = (
    b"GET /articles/2024/http-parsing?page=2&sort=new HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=7f3a9c1e; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Priority: u=0, i\r\n"
    b"\r\n"
)
BODY = b"Hello, world"


def typhoon_exchange(request: bytes) -> Callable[[], None]:
    proto = HTTP1ServerProtocol()
    response_headers = HTTPHeaders()
    response_headers["Content-Type"] = "text/plain; charset=UTF-8"
    response_headers["Server"] = "typhoon"
    response_headers["Date"] = "Mon, 01 Jan 2024 00:00:00 GMT"

    def run() -> None:
        proto.receive_data(request)
        while proto.next_event() is not PAUSED:
            pass
        proto.send_response(200, response_headers, body=BODY, end=True)

    return run


class _Floor:
    def on_url(self, url: bytes) -> None:
        pass

    def on_header(self, name: bytes, value: bytes) -> None:
        pass

    def on_headers_complete(self) -> None:
        pass

    def on_message_complete(self) -> None:
        pass


def httptools_floor(request: bytes) -> Callable[[], None]:
    parser = httptools.HttpRequestParser(_Floor())

    def run() -> None:
        parser.feed_data(request)

    return run


def h11_exchange(request: bytes) -> Callable[[], None] | None:
    try:
        import h11
    except ImportError:
        return None
    headers = [
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Server", "h11"),
        ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("Content-Length", str(len(BODY))),
    ]
    conn = h11.Connection(h11.SERVER)

    def run() -> None:
        conn.receive_data(request)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.EndOfMessage):
                break
        conn.send(h11.Response(status_code=200, headers=headers))
        conn.send(h11.Data(data=BODY))
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()

    return run


def best_us(func: Callable[[], None], repeat: int, number: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            func()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    for label, request in (("wrk GET", WRK_REQUEST), ("browser GET", BROWSER_REQUEST)):
        print(f"{label} ({len(request)} bytes):")
        rows = [
            ("typhoon http1proto (parse + respond)", typhoon_exchange(request)),
            ("httptools alone (parse, no-op callbacks)", httptools_floor(request)),
            ("h11 (parse + respond)", h11_exchange(request)),
        ]
        for name, func in rows:
            if func is None:
                print(f"  {name:44} not installed")
                continue
            number = args.number if "h11" not in name else max(args.number // 10, 1)
            print(f"  {name:44} {best_us(func, args.repeat, number):7.2f} us/request")


if __name__ == "__main__":
    main()
