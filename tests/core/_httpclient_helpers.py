"""Servers the HTTP client tests talk to, all on loopback.

* :func:`stdlib_server`: the standard library's ``http.server`` in a thread, with the
  routes of :class:`Handler` (echo, redirects, status codes, compression, auth, ...).
* :func:`raw_server`: an asyncio server whose handler writes whatever bytes a test
  wants (malformed or hostile responses).
* :func:`connect_proxy`: a small ``CONNECT``/forwarding proxy with optional Basic auth
  that records what it was asked.
* :func:`nginx`: Debian's nginx as a forwarding proxy.

And :func:`client`, a client of its own for one test, closed when the test is done.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typhoon.simple_httpclient import SimpleAsyncHTTPClient

#: Seconds any single network wait in these tests may take.
WAIT = 10.0

DIGEST_USER = "Mufasa"
DIGEST_PASSWORD = "Circle of Life"
DIGEST_REALM = "http-auth@example.org"
DIGEST_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"


@dataclass
class ServerLog:
    """What a stdlib server saw: one entry per request, and the client ports."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    @property
    def ports(self) -> list[int]:
        with self.lock:
            return [entry["port"] for entry in self.requests]


def _digest_check(header: str, method: str) -> bool:
    """Verify an RFC 7616 Digest ``Authorization`` header (MD5 or SHA-256, qop=auth)."""
    if not header.startswith("Digest "):
        return False
    params: dict[str, str] = {}
    for part in _split_params(header[len("Digest ") :]):
        name, _, value = part.strip().partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    algorithm = params.get("algorithm", "MD5").upper()
    hash_name = {"MD5": "md5", "SHA-256": "sha256"}.get(algorithm)
    if hash_name is None or params.get("nonce") != DIGEST_NONCE:
        return False

    def digest(text: str) -> str:
        return hashlib.new(hash_name, text.encode()).hexdigest()

    a1 = digest(f"{params.get('username')}:{DIGEST_REALM}:{DIGEST_PASSWORD}")
    a2 = digest(f"{method}:{params.get('uri')}")
    if params.get("qop") == "auth":
        expected = digest(
            f"{a1}:{DIGEST_NONCE}:{params.get('nc')}:{params.get('cnonce')}:auth:{a2}"
        )
    else:
        expected = digest(f"{a1}:{DIGEST_NONCE}:{a2}")
    return params.get("username") == DIGEST_USER and params.get("response") == expected


def _split_params(text: str) -> list[str]:
    parts: list[str] = []
    current = ""
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return parts


class Handler(BaseHTTPRequestHandler):
    """Routes of the stdlib test server (HTTP/1.1, keep-alive)."""

    protocol_version = "HTTP/1.1"
    log: ServerLog

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line."""

    # --- plumbing ---------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        code: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        *,
        length: bool = True,
    ) -> None:
        self.send_response(code)
        for name, value in headers or []:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _route(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        body = self._body()
        self.log.add(
            {
                "method": self.command,
                "path": self.path,
                "headers": list(self.headers.items()),
                "body": body,
                "port": self.client_address[1],
            }
        )
        path = parts.path
        route = getattr(self, "route_" + path.strip("/").replace("-", "_"), None)
        if route is None:
            self._send(404, b"no such route")
            return
        route(query, body)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._route
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        if self.path.startswith("/refuse-continue"):
            self._send(417, b"expectation refused", [("Connection", "close")])
            self.close_connection = True
            return False
        return super().handle_expect_100()

    # --- routes -----------------------------------------------------------------------

    def route_hello(self, query: dict[str, str], body: bytes) -> None:
        self._send(200, b"Hello world!", [("Content-Type", "text/plain")])

    def route_echo(self, query: dict[str, str], body: bytes) -> None:
        payload = {
            "method": self.command,
            "path": self.path,
            "headers": list(self.headers.items()),
            "body": body.decode("latin-1"),
        }
        self._send(200, json.dumps(payload).encode(), [("Content-Type", "application/json")])

    route_refuse_continue = route_echo

    def route_port(self, query: dict[str, str], body: bytes) -> None:
        self._send(200, str(self.client_address[1]).encode())

    def route_status(self, query: dict[str, str], body: bytes) -> None:
        code = int(query.get("code", "200"))
        self._send(code, f"status {code}".encode())

    def route_redirect(self, query: dict[str, str], body: bytes) -> None:
        code = int(query.get("code", "302"))
        self._send(code, b"redirecting", [("Location", query["to"])])

    def route_countdown(self, query: dict[str, str], body: bytes) -> None:
        left = int(query["n"])
        if left == 0:
            self._send(200, b"done")
        else:
            self._send(302, b"", [("Location", f"/countdown?n={left - 1}")])

    def route_gzip(self, query: dict[str, str], body: bytes) -> None:
        size = int(query.get("size", "1000"))
        self._send(200, gzip.compress(b"x" * size), [("Content-Encoding", "gzip")])

    def route_deflate(self, query: dict[str, str], body: bytes) -> None:
        size = int(query.get("size", "1000"))
        if query.get("raw"):
            compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            data = compressor.compress(b"y" * size) + compressor.flush()
        else:
            data = zlib.compress(b"y" * size)
        self._send(200, data, [("Content-Encoding", "deflate")])

    def route_chunked(self, query: dict[str, str], body: bytes) -> None:
        pieces = int(query.get("pieces", "3"))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(pieces):
            data = f"piece{i};".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def route_slow(self, query: dict[str, str], body: bytes) -> None:
        time.sleep(float(query.get("delay", "1")))
        self._send(200, b"slow")

    def route_large(self, query: dict[str, str], body: bytes) -> None:
        size = int(query["size"])
        self._send(200, b"z" * size)

    def route_close(self, query: dict[str, str], body: bytes) -> None:
        self.close_connection = True
        self._send(200, b"closing", [("Connection", "close")])

    def route_basic(self, query: dict[str, str], body: bytes) -> None:
        expected = "Basic " + base64.b64encode(b"user:pass word").decode()
        if self.headers.get("Authorization") == expected:
            self._send(200, b"authorized")
        else:
            self._send(401, b"who are you", [("WWW-Authenticate", 'Basic realm="test"')])

    def route_digest(self, query: dict[str, str], body: bytes) -> None:
        algorithm = query.get("algorithm", "MD5")
        authorization = self.headers.get("Authorization", "")
        if _digest_check(authorization, self.command):
            self._send(200, b"digest ok")
            return
        challenge = (
            f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm={algorithm}, '
            f'nonce="{DIGEST_NONCE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
        )
        self._send(401, b"digest needed", [("WWW-Authenticate", challenge)])


class _QuietServer(ThreadingHTTPServer):
    """Does not print the tracebacks of clients that went away (timeouts, cancels)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore connection errors; a real bug still fails the test through the client."""


@contextlib.contextmanager
def stdlib_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, ServerLog]]:
    """Serve :class:`Handler` in a thread; yields the base URL and the request log."""
    log = ServerLog()
    handler = type("BoundHandler", (Handler,), {"log": log})
    server = _QuietServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


# --- raw servers ------------------------------------------------------------------------

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """Read one request head (up to and including the blank line)."""
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)


def fixed_response(*responses: bytes, close: bool = True) -> RawHandler:
    """A handler that answers successive requests with ``responses``, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            try:
                head = await read_head(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            writer.write(response)
            await writer.drain()
        if close:
            writer.close()
        else:
            with contextlib.suppress(ConnectionError):
                await reader.read()

    return handle


@contextlib.asynccontextmanager
async def raw_server(
    handler: RawHandler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """Run ``handler`` for each connection on a loopback port.

    Yields the port and the list of connection openings seen (one ``b""`` per
    connection), so tests can count connections.
    """
    connections: list[bytes] = []
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(b"")
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, connections
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=WAIT)
        await server.wait_closed()


# --- a proxy ----------------------------------------------------------------------------


@dataclass
class ProxyLog:
    """What :func:`connect_proxy` was asked: request lines and their headers."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def connect_proxy(
    credentials: str | None = None,
) -> AsyncIterator[tuple[int, ProxyLog]]:
    """A proxy for ``CONNECT`` tunnels and absolute-form http requests.

    With ``credentials`` (``"user:password"``) every request must carry matching Basic
    ``Proxy-Authorization`` or gets a 407.
    """
    log = ProxyLog()
    expected = None
    if credentials is not None:
        expected = "Basic " + base64.b64encode(credentials.encode()).decode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await read_head(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ")
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            log.requests.append((lines[0], headers))
            if expected is not None and headers.get("proxy-authorization") != expected:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n'
                )
                await writer.drain()
                continue
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                return
            parts = urllib.parse.urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            origin_target = parts.path + ("?" + parts.query if parts.query else "")
            forwarded = [f"{method} {origin_target} HTTP/1.1"]
            forwarded += [
                line
                for line in lines[1:]
                if line and not line.lower().startswith(("proxy-authorization", "connection"))
            ]
            forwarded.append("Connection: close")
            up_writer.write(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1"))
            length = int(headers.get("content-length", "0"))
            if length:
                up_writer.write(await reader.readexactly(length))
            await up_writer.drain()
            response = await asyncio.wait_for(up_reader.read(), WAIT)
            up_writer.close()
            writer.write(response)
            await writer.drain()
            return

    async with raw_server(handle) as (port, _connections):
        yield port, log


# --- nginx ------------------------------------------------------------------------------

NGINX = "/usr/sbin/nginx"

_NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            {auth}
            proxy_pass http://$http_host$request_uri;
            proxy_set_header X-Via-Nginx yes;
        }}
        location /files/ {{
            alias {dir}/files/;
            gzip on;
            gzip_types text/plain;
            gzip_min_length 0;
            add_header X-Connection $connection;
        }}
    }}
}}
"""

_NGINX_AUTH = """
            if ($http_proxy_authorization != "{expected}") {{
                add_header Proxy-Authenticate 'Basic realm="nginx"' always;
                return 407;
            }}
"""


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def nginx(credentials: str | None = None, files: dict[str, bytes] | None = None) -> Iterator[int]:
    """Run nginx as a forwarding proxy on a free port; yields the port.

    With ``credentials`` (``"user:password"``) nginx answers 407 unless the request
    carries them as Basic ``Proxy-Authorization``. ``files`` are served under
    ``/files/`` (gzip for text/plain, an ``X-Connection`` header with nginx's
    connection number).
    """
    directory = tempfile.mkdtemp(prefix="typhoon-nginx-")
    os.mkdir(os.path.join(directory, "files"))
    for name, content in (files or {}).items():
        with open(os.path.join(directory, "files", name), "wb") as f:
            f.write(content)
    port = free_port()
    auth = ""
    if credentials is not None:
        expected = "Basic " + base64.b64encode(credentials.encode()).decode()
        auth = _NGINX_AUTH.format(expected=expected)
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(_NGINX_CONF.format(dir=directory, port=port, auth=auth))
    process = subprocess.Popen(
        [NGINX, "-p", directory, "-c", conf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    assert process.stderr is not None
                    raise RuntimeError(
                        "nginx did not start: " + process.stderr.read().decode()
                    ) from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def client(**kwargs: Any) -> AsyncIterator[SimpleAsyncHTTPClient]:
    """A ``SimpleAsyncHTTPClient`` of its own (not the loop's shared one), closed on exit."""
    instance = SimpleAsyncHTTPClient(force_instance=True, **kwargs)
    try:
        yield instance
    finally:
        await instance.aclose()
