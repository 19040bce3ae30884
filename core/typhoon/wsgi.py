"""Run WSGI applications (PEP 3333) on typhoon's HTTP server: :class:`WSGIContainer`.

Layer 4 (http). Imports :mod:`typhoon.httputil`, :mod:`typhoon.errors`,
:mod:`typhoon.log` and the standard library.

WSGI is a blocking interface, so the application never runs on the event loop: each
request is one job on an executor (by default a bounded pool of threads owned by the
container). The job calls the application and iterates over its response there; the
pieces it produces are handed to the loop as they come and written at once, so a
streamed response streams. When the client reads more slowly than the application
writes, the job waits (see ``_HIGH_WATER``) instead of piling the response up in
memory, and when the client goes away the next write in the job fails, the iteration
stops and the iterable's ``close()`` runs.

Mount a WSGI application next to typhoon handlers with ``FallbackHandler``, or serve it
alone with ``HTTPServer``::

    container = WSGIContainer(flask_app)
    application = Application([
        (r"/ws", EchoWebSocket),
        (r".*", FallbackHandler, {"fallback": container}),
    ])
    # or: HTTPServer(container).listen(8888)

Request bodies are read in full by the server before the application starts (the
server's ``max_body_size`` bounds them); ``wsgi.input`` reads from that buffer.
"""

from __future__ import annotations

__all__ = ["WSGIContainer"]

import asyncio
import concurrent.futures
import io
import logging
import os
import re
import sys
import threading
import urllib.parse
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeAlias
from wsgiref.types import WSGIApplication, WSGIEnvironment

from typhoon.errors import HTTPOutputError, StreamClosedError
from typhoon.httputil import (
    HTTPHeaders,
    HTTPServerRequest,
    ResponseStartLine,
    responses,
    split_host_and_port,
)
from typhoon.log import access_log, app_log

_ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
)
_Head: TypeAlias = tuple[int, str, list[tuple[str, str]]]

#: Bytes a job may have handed to the loop that are not yet flushed to the network
#: before it waits: bounds the memory a fast application uses for a slow client.
_HIGH_WATER = 256 * 1024
#: A waiting job wakes this often to notice an event loop that stopped for good.
_WAIT_SLICE = 0.5
#: Default size of the container's own thread pool.
_DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)

# PEP 3333 "Other HTTP Features": hop-by-hop fields belong to the server, never to the
# application (RFC 9110, section 7.6.1 lists them).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# RFC 9110, section 5.1 (field names are tokens) and 5.5 (field values: visible
# characters, obs-text, spaces and tabs; never CR, LF or NUL).
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# PEP 3333: "999 Message here"; RFC 9112, section 4: reason-phrase characters.
_STATUS_RE = re.compile(r"([1-9][0-9]{2}) ([\t\x20-\x7e\x80-\xff]*)")

_ERROR_BODY = (
    b"<html><title>500: Internal Server Error</title><body>500: Internal Server Error</body></html>"
)


def _parse_status(status: object) -> tuple[int, str]:
    if not isinstance(status, str):
        raise HTTPOutputError(f"WSGI status must be a str, not {type(status).__name__}")
    match = _STATUS_RE.fullmatch(status)
    if match is None:
        raise HTTPOutputError(f"malformed WSGI status {status[:64]!r} (want '200 OK')")
    return int(match.group(1)), match.group(2)


def _check_headers(headers: object) -> list[tuple[str, str]]:
    """Validate the application's header list (PEP 3333 ``start_response``)."""
    if not isinstance(headers, list):
        raise HTTPOutputError(f"WSGI headers must be a list, not {type(headers).__name__}")
    checked: list[tuple[str, str]] = []
    for item in headers:
        if not isinstance(item, tuple) or len(item) != 2:
            raise HTTPOutputError(f"WSGI header must be a (name, value) tuple: {item!r:.80}")
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise HTTPOutputError(f"WSGI header name and value must be str: {item!r:.80}")
        if _TOKEN_RE.fullmatch(name) is None:
            raise HTTPOutputError(f"invalid header name {name[:64]!r}")
        if _FIELD_VALUE_RE.fullmatch(value) is None:
            # CR or LF here would let the application split the response.
            raise HTTPOutputError(f"invalid characters in the value of header {name}")
        if name.lower() in _HOP_BY_HOP:
            raise HTTPOutputError(f"hop-by-hop header {name} is set by the server, not by WSGI")
        checked.append((name, value))
    return checked


def _may_have_content(code: int) -> bool:
    """RFC 9110, sections 8.6, 15.3.5 and 15.4.5: no Content-Length on 1xx, 204, 304."""
    return code >= 200 and code not in (204, 304)


def _has_header(headers: list[tuple[str, str]], name: str) -> bool:
    return any(field.lower() == name for field, _ in headers)


class WSGIContainer:
    """Makes a WSGI application servable by typhoon's :class:`~typhoon.httpserver.HTTPServer`.

    The container is a request callback: pass it to ``HTTPServer``, use it as the
    ``fallback`` of a ``FallbackHandler``, or as the target of a routing rule.

    Args:
        wsgi_application: the PEP 3333 application callable.
        executor: where the application runs (a :class:`concurrent.futures.Executor`
            running threads). By default the container starts its own pool of
            ``min(32, cpu_count + 4)`` threads on first use; :meth:`close` stops it.
            The event loop itself never runs application code.

    The environment follows PEP 3333: ``PATH_INFO`` is the percent-decoded path as
    "bytes in a str" (each byte one latin-1 character), ``SCRIPT_NAME`` is empty,
    ``wsgi.input`` holds the whole body and ``CONTENT_LENGTH`` its length, and every
    request header appears as ``HTTP_<NAME>`` except names that contain ``_`` (they
    would be indistinguishable from the ``-`` spelling, a known way to smuggle
    ``X-Forwarded-For``-style headers past a proxy, so they are left out).

    Response rules enforced: the status is ``"NNN reason"``; header names are tokens,
    values have no CR, LF or NUL, hop-by-hop headers are refused; body pieces are
    bytes; ``start_response`` is called once, or again only with ``exc_info`` (which
    re-raises if the headers already went out). Headers are sent with the first
    non-empty body piece. A failure before that is answered with a 500 page; after
    it, the connection is closed so the client sees an incomplete response.
    """

    def __init__(
        self,
        wsgi_application: WSGIApplication,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.executor = executor
        self._own_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._jobs: set[asyncio.Future[None]] = set()

    def _get_executor(self) -> concurrent.futures.Executor:
        if self.executor is not None:
            return self.executor
        own = self._own_executor
        if own is None:
            own = self._own_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=_DEFAULT_WORKERS, thread_name_prefix="typhoon-wsgi"
            )
        return own

    def close(self) -> None:
        """Stop the container's own thread pool once the requests in progress end.

        An executor passed to the constructor is left alone. Requests arriving after
        this are answered with a 500 page.
        """
        own = self._own_executor
        if own is not None:
            own.shutdown(wait=False)

    def __call__(self, request: HTTPServerRequest) -> None:
        """Serve ``request`` (complete, body included) with the WSGI application.

        Returns at once; the application runs on the executor and the response is
        written through ``request.connection`` as it is produced.
        """
        loop = asyncio.get_running_loop()
        exchange = _Exchange(self, request, loop)
        connection: Any = request.connection
        connection.set_close_callback(exchange.connection_lost)
        environ = self.environ(request)
        try:
            job = loop.run_in_executor(self._get_executor(), exchange.run, environ)
        except RuntimeError:
            # The executor was shut down.
            exchange.failed(sys.exc_info())
            return
        self._jobs.add(job)
        job.add_done_callback(self._job_done)

    def _job_done(self, job: asyncio.Future[None]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            # Only a BaseException that is not an Exception gets here (run() reports
            # the others itself).
            app_log.error("WSGI worker ended abnormally", exc_info=job.exception())

    def environ(self, request: HTTPServerRequest) -> WSGIEnvironment:
        """Build the PEP 3333 environment for ``request``."""
        context = getattr(request.connection, "context", None)
        body = request.body
        server_name, server_port = _server_address(request)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method or "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": _path_info(request.path),
            "QUERY_STRING": request.query,
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "SERVER_PROTOCOL": request.version,
            "REMOTE_ADDR": request.remote_ip or "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.protocol,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            # The body is complete: reading wsgi.input to its end is safe (an
            # extension honoured by Werkzeug for chunked requests).
            "wsgi.input_terminated": True,
        }
        address = getattr(context, "address", None)
        if isinstance(address, tuple) and len(address) >= 2 and request.remote_ip == address[0]:
            environ["REMOTE_PORT"] = str(address[1])
        headers = request.headers
        content_type = headers.get("Content-Type")
        if content_type is not None:
            environ["CONTENT_TYPE"] = content_type
        if body or "Content-Length" in headers:
            # What wsgi.input holds, even when the client sent the body chunked.
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in headers.get_all():
            if "_" in name:
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            previous = environ.get(key)
            if previous is None:
                environ[key] = value
            else:
                # RFC 9110, section 5.3: repeated fields combine with commas; cookies
                # with "; " (RFC 6265, section 5.4).
                environ[key] = previous + ("; " if key == "HTTP_COOKIE" else ",") + value
        return environ


def _path_info(path: str) -> str:
    """Percent-decode ``path`` to bytes and give each byte as one character (PEP 3333)."""
    try:
        raw = path.encode("latin-1")
    except UnicodeEncodeError:
        raw = path.encode("utf-8")
    return urllib.parse.unquote_to_bytes(raw).decode("latin-1")


def _server_address(request: HTTPServerRequest) -> tuple[str, int]:
    """``SERVER_NAME`` and ``SERVER_PORT``: the Host header's, else the local socket's."""
    default_port = 443 if request.protocol == "https" else 80
    if "Host" in request.headers:
        host, port = split_host_and_port(request.host)
        return host, port if port is not None else default_port
    stream = getattr(request.connection, "stream", None)
    get_extra_info = getattr(stream, "get_extra_info", None)
    sockname = get_extra_info("sockname") if get_extra_info is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host = str(sockname[0])
        return (f"[{host}]" if ":" in host else host), int(sockname[1])
    host, port = split_host_and_port(request.host)
    return host, port if port is not None else default_port


class _Exchange:
    """One request's response: produced by a worker thread, written on the event loop.

    Worker side: :meth:`run`, :meth:`start_response`, :meth:`write`. They hand work to
    the loop with ``call_soon_threadsafe`` (which keeps it in order) and wait on
    ``cond`` while more than ``_HIGH_WATER`` bytes are in flight. Loop side: the
    methods those posts call, which drive ``request.connection``. ``unsent`` and
    ``gone`` are shared and guarded by ``cond``.
    """

    __slots__ = (
        "cond",
        "connection",
        "container",
        "finished",
        "gone",
        "head",
        "head_posted",
        "head_written",
        "loop",
        "request",
        "status",
        "unsent",
    )

    def __init__(
        self, container: WSGIContainer, request: HTTPServerRequest, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.container = container
        self.request = request
        self.connection: Any = request.connection
        self.loop = loop
        self.cond = threading.Condition()
        # Shared (guarded by cond).
        self.unsent = 0
        self.gone: BaseException | None = None
        # Worker side.
        self.head: _Head | None = None
        self.head_posted = False
        # Loop side.
        self.head_written = False
        self.finished = False
        self.status = 500

    # --- worker thread --------------------------------------------------------------

    def run(self, environ: WSGIEnvironment) -> None:
        """Run the application and stream its response (in the executor)."""
        try:
            self._run_application(environ)
        except StreamClosedError:
            if self._is_gone():
                # The client left, or the response broke on the loop side, which has
                # already ended the exchange.
                return
            self._post_failure()
        except Exception:
            self._post_failure()
        except BaseException:
            self._post_failure()
            raise

    def _run_application(self, environ: WSGIEnvironment) -> None:
        result = self.container.wsgi_application(environ, self.start_response)
        try:
            head = self.head
            if (
                isinstance(result, list | tuple)
                and head is not None
                and not self.head_posted
                and _may_have_content(head[0])
                and all(isinstance(chunk, bytes) for chunk in result)
                and not _has_header(head[2], "content-length")
            ):
                # The whole body is known: send its length instead of chunking it.
                head[2].append(("Content-Length", str(sum(map(len, result)))))
            for chunk in result:
                self.write(chunk)
        finally:
            close: Callable[[], object] | None = getattr(result, "close", None)
            if close is not None:
                close()
        if self.head is None:
            raise HTTPOutputError("the WSGI application returned without calling start_response")
        self._post(self.ended, None if self.head_posted else self.head)

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: _ExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        """PEP 3333 ``start_response``: record the status and headers to send."""
        if exc_info is not None:
            try:
                if self.head_posted and exc_info[1] is not None:
                    # Too late to change the response: re-raise the application's error.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.head is not None:
            raise HTTPOutputError("start_response called a second time without exc_info")
        code, reason = _parse_status(status)
        self.head = (code, reason, _check_headers(headers))
        return self.write

    def write(self, data: bytes) -> None:
        """Send a piece of the body (PEP 3333's ``write`` callable, and each iterated piece).

        Returns once the piece is on its way; waits while too much is in flight.
        """
        if not isinstance(data, bytes):
            raise HTTPOutputError(f"WSGI body pieces must be bytes, not {type(data).__name__}")
        if not data:
            return
        head = self.head
        if head is None:
            raise HTTPOutputError("the WSGI application sent a body before start_response")
        cond = self.cond
        with cond:
            if self.gone is not None:
                raise StreamClosedError(self.gone)
            self.unsent += len(data)
        if self.head_posted:
            self._post(self.write_body, data)
        else:
            self.head_posted = True
            self._post(self.write_head, head, data)
        with cond:
            while self.unsent > _HIGH_WATER and self.gone is None:
                if self.loop.is_closed():
                    self.gone = StreamClosedError()
                    break
                cond.wait(_WAIT_SLICE)
            if self.gone is not None:
                raise StreamClosedError(self.gone)

    def _is_gone(self) -> bool:
        with self.cond:
            return self.gone is not None

    def _post(self, callback: Callable[..., object], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError as exc:
            # The event loop is closed: nobody will ever send this response.
            with self.cond:
                self.gone = exc
            raise StreamClosedError(exc) from exc

    def _post_failure(self) -> None:
        exc_info = sys.exc_info()
        try:
            self._post(self.failed, exc_info)
        except StreamClosedError:
            app_log.error("Uncaught exception in WSGI application", exc_info=exc_info)

    # --- event loop -----------------------------------------------------------------

    def write_head(self, head: _Head, chunk: bytes) -> None:
        """Send the status line, the headers and the first piece of the body."""
        if self.finished:
            return
        code, reason, fields = head
        headers = HTTPHeaders()
        for name, value in fields:
            headers.add(name, value)
        try:
            future = self.connection.write_headers(
                ResponseStartLine("HTTP/1.1", code, reason), headers, chunk
            )
        except HTTPOutputError as exc:
            self._broken(exc)
            return
        self.head_written = True
        self.status = code
        self._track(future, len(chunk))

    def write_body(self, chunk: bytes) -> None:
        """Send a further piece of the body."""
        if self.finished:
            return
        try:
            future = self.connection.write(chunk)
        except HTTPOutputError as exc:
            self._broken(exc)
            return
        self._track(future, len(chunk))

    def _track(self, future: asyncio.Future[None], size: int) -> None:
        if future.done():
            self._flushed(size, future)
        else:
            future.add_done_callback(lambda done: self._flushed(size, done))

    def _flushed(self, size: int, future: asyncio.Future[None]) -> None:
        error = StreamClosedError() if future.cancelled() else future.exception()
        with self.cond:
            self.unsent -= size
            if error is not None and self.gone is None:
                self.gone = error
            self.cond.notify_all()

    def ended(self, head: _Head | None) -> None:
        """The body is complete: send the head if nothing was sent yet, then finish."""
        if self.finished:
            return
        connection = self.connection
        if head is not None:
            code, reason, fields = head
            headers = HTTPHeaders()
            for name, value in fields:
                headers.add(name, value)
            if (
                "Content-Length" not in headers
                and self.request.method != "HEAD"
                and _may_have_content(code)
            ):
                headers["Content-Length"] = "0"
            try:
                connection.write_headers(ResponseStartLine("HTTP/1.1", code, reason), headers)
            except HTTPOutputError as exc:
                self._broken(exc)
                return
            self.head_written = True
            self.status = code
        self.finished = True
        connection.set_close_callback(None)
        try:
            connection.finish()
        except HTTPOutputError as exc:
            # Fewer bytes than the declared Content-Length.
            self.finished = False
            self._broken(exc)
            return
        self._log(self.status)

    def failed(self, exc_info: _ExcInfo) -> None:
        """The application raised: a 500 page if nothing was sent, else cut the response."""
        request = self.request
        app_log.error(
            "Uncaught exception in WSGI application: %s %s (%s)",
            request.method,
            request.uri,
            request.remote_ip,
            exc_info=exc_info,
        )
        if self.finished:
            return
        if self.head_written:
            self._abort()
            return
        headers = HTTPHeaders()
        headers["Content-Type"] = "text/html; charset=UTF-8"
        headers["Content-Length"] = str(len(_ERROR_BODY))
        self.finished = True
        connection = self.connection
        connection.set_close_callback(None)
        connection.write_headers(
            ResponseStartLine("HTTP/1.1", 500, responses[500]), headers, _ERROR_BODY
        )
        connection.finish()
        self._log(500)

    def _broken(self, exc: HTTPOutputError) -> None:
        """The response the application produced breaks HTTP framing: cut it."""
        request = self.request
        app_log.error(
            "WSGI application sent an invalid response to %s %s: %s",
            request.method,
            request.uri,
            exc,
        )
        self._abort(exc)

    def _abort(self, exc: BaseException | None = None) -> None:
        self.finished = True
        with self.cond:
            if self.gone is None:
                self.gone = exc or StreamClosedError()
            self.cond.notify_all()
        connection = self.connection
        connection.set_close_callback(None)
        connection.close()
        self._log(getattr(self, "_status", 500))

    def connection_lost(self) -> None:
        """The client closed the connection before the response was complete."""
        if self.finished:
            return
        self.finished = True
        with self.cond:
            if self.gone is None:
                self.gone = StreamClosedError()
            self.cond.notify_all()
        request = self.request
        app_log.info(
            "Client %s left during WSGI response to %s %s",
            request.remote_ip,
            request.method,
            request.uri,
        )
        if self.head_written:
            # The client may have read a complete, sized response before the job
            # reported the end of it; either way the request was answered.
            self._log(self.status)

    def _log(self, status: int) -> None:
        if status < 400:
            level = logging.INFO
        elif status < 500:
            level = logging.WARNING
        else:
            level = logging.ERROR
        if access_log.isEnabledFor(level):
            request = self.request
            access_log.log(
                level,
                "%d %s %s (%s) %.2fms",
                status,
                request.method,
                request.uri,
                request.remote_ip,
                1000.0 * request.request_time(),
            )
