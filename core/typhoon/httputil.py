"""HTTP utilities shared by the server, the client and the web layer.

Layer 4: imports ``typhoon.escape``, ``typhoon.util``, ``typhoon.errors`` and its own
private helpers (``typhoon._headers``, ``typhoon._multipart``); never a stream, a
socket or the event loop. Everything here is pure computation on values already
received, so each parser is written to run in time linear in its input whatever the
input (the algorithmic-complexity advisories of Tornado's history are the test suite).

Contents, with Tornado 6's names:

* :class:`HTTPHeaders`, the header multi-map.
* :class:`HTTPServerRequest`, the request a server hands to its application.
* The seams between HTTP/1.x connections and applications:
  :class:`HTTPServerConnectionDelegate`, :class:`HTTPMessageDelegate`,
  :class:`HTTPConnection`.
* Start lines: :class:`RequestStartLine`, :class:`ResponseStartLine` and their parsers.
* Body parsing: :func:`parse_body_arguments`, :func:`parse_multipart_form_data`,
  :class:`HTTPFile`, the limits in :class:`ParseBodyConfig` and
  :func:`set_parse_body_config`; beyond Tornado, the streaming
  :class:`MultipartParser` and :class:`MultipartForm`, which can spool uploads to disk.
* Helpers: :func:`url_concat`, :func:`format_timestamp`, :func:`parse_cookie`,
  :func:`split_host_and_port`, :func:`qs_to_qsl`, :func:`encode_username_password`,
  ``responses``.
"""

from __future__ import annotations

__all__ = [
    "HTTPConnection",
    "HTTPFile",
    "HTTPHeaders",
    "HTTPInputError",
    "HTTPMessageDelegate",
    "HTTPOutputError",
    "HTTPServerConnectionDelegate",
    "HTTPServerRequest",
    "MultipartDelegate",
    "MultipartForm",
    "MultipartParser",
    "ParseBodyConfig",
    "ParseMultipartConfig",
    "ParseUrlEncodedConfig",
    "RequestStartLine",
    "ResponseStartLine",
    "encode_username_password",
    "format_timestamp",
    "parse_body_arguments",
    "parse_cookie",
    "parse_multipart_form_data",
    "parse_request_start_line",
    "parse_response_start_line",
    "qs_to_qsl",
    "responses",
    "set_parse_body_config",
    "split_host_and_port",
    "url_concat",
]

import calendar
import datetime
import email.utils
import http.client
import http.cookies
import re
import time
import urllib.parse
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, AnyStr, NamedTuple

from typhoon._headers import HTTPHeaders, parse_header_params
from typhoon._multipart import (
    HTTPFile,
    MultipartDelegate,
    MultipartForm,
    MultipartParser,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
)
from typhoon.errors import HTTPInputError, HTTPOutputError
from typhoon.escape import parse_qs_bytes, utf8

if TYPE_CHECKING:
    import asyncio

#: Standard reason phrases by status code (``http.client.responses``).
responses: dict[int, str] = http.client.responses

# The process-wide defaults of set_parse_body_config (Tornado's global default).
_body_config = ParseBodyConfig()


def set_parse_body_config(config: ParseBodyConfig) -> None:
    """Set the limits used when no ``config`` is passed to the body parsers.

    This is a process-wide default, like Tornado's; pass ``config=`` to
    :func:`parse_body_arguments` for a local choice.
    """
    global _body_config
    _body_config = config


# --- start lines ------------------------------------------------------------------------


class RequestStartLine(NamedTuple):
    """A request line: ``method``, ``path`` (the request-target) and ``version``."""

    method: str
    path: str
    version: str


class ResponseStartLine(NamedTuple):
    """A status line: ``version``, ``code`` and ``reason``."""

    version: str
    code: int
    reason: str


_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION_RE = re.compile(r"HTTP/1\.[0-9]")
_TARGET_RE = re.compile(r"[^\x00-\x20\x7f]+")
_STATUS_RE = re.compile(r"(HTTP/1\.[0-9]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")


def parse_request_start_line(line: str) -> RequestStartLine:
    """Parse ``GET /path HTTP/1.1`` (RFC 9112, section 3).

    >>> parse_request_start_line("GET /foo HTTP/1.1")
    RequestStartLine(method='GET', path='/foo', version='HTTP/1.1')

    Raises:
        HTTPInputError: the line is not exactly method SP target SP HTTP/1.x.
    """
    parts = line.split(" ")
    if len(parts) != 3:
        raise HTTPInputError("malformed HTTP request line")
    method, path, version = parts
    if _TOKEN_RE.fullmatch(method) is None or _TARGET_RE.fullmatch(path) is None:
        raise HTTPInputError("malformed HTTP request line")
    if _VERSION_RE.fullmatch(version) is None:
        raise HTTPInputError(f"malformed HTTP version in request line: {version[:16]!r}")
    return RequestStartLine(method, path, version)


def parse_response_start_line(line: str) -> ResponseStartLine:
    """Parse ``HTTP/1.1 200 OK`` (RFC 9112, section 4); the reason may be empty.

    >>> parse_response_start_line("HTTP/1.1 200 OK")
    ResponseStartLine(version='HTTP/1.1', code=200, reason='OK')

    Raises:
        HTTPInputError: the line is not a valid status line.
    """
    match = _STATUS_RE.fullmatch(line)
    if match is None:
        raise HTTPInputError("malformed HTTP response status line")
    return ResponseStartLine(match.group(1), int(match.group(2)), match.group(3) or "")


# --- connection seams -------------------------------------------------------------------


class HTTPServerConnectionDelegate:
    """Implemented by the server-side application: receives each new request.

    ``HTTPServer`` calls :meth:`start_request` once per request on a connection and
    :meth:`on_close` once when the connection closes.
    """

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the delegate that will receive the new request.

        Args:
            server_conn: identifies the connection (opaque; the same object for every
                request on it).
            request_conn: the :class:`HTTPConnection` to write the response to.
        """
        raise NotImplementedError

    def on_close(self, server_conn: object) -> None:
        """The connection ``server_conn`` closed; the default does nothing."""
        return None


class HTTPMessageDelegate:
    """Receives one HTTP message (a request on servers, a response on clients).

    The default methods ignore what they receive; subclasses override the ones they
    need. ``headers_received`` and ``data_received`` may return an awaitable: the
    connection then reads nothing more until it completes (flow control).
    """

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        """The message head arrived."""
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """A piece of the body arrived."""
        return None

    def finish(self) -> None:
        """The message is complete."""
        return None

    def on_connection_close(self) -> None:
        """The connection closed before the message was complete."""
        return None


class HTTPConnection:
    """What an application writes its response (or a client its request) through."""

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Write the message head, and optionally the first piece of the body.

        The returned future resolves when the bytes have been handed to the network.
        """
        raise NotImplementedError

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Write a piece of the body; the future resolves once it is flushed."""
        raise NotImplementedError

    def finish(self) -> None:
        """Mark the message complete."""
        raise NotImplementedError


# --- the server request -----------------------------------------------------------------


def _parse_query(query: str, max_fields: int | None) -> dict[str, list[bytes]]:
    """``parse_qs_bytes(query, keep_blank_values=True)``, quicker for plain queries.

    A query with no ``%`` and no ``+`` needs no decoding, so it is split directly (same
    result, same field limit); anything else goes to :func:`typhoon.escape.parse_qs_bytes`.
    """
    if "%" in query or "+" in query:
        return parse_qs_bytes(query, keep_blank_values=True, max_fields=max_fields)
    if max_fields is not None and query.count("&") + 1 > max_fields:
        raise HTTPInputError(
            f"Max number of fields exceeded: more than {max_fields} in a query string"
        )
    result: dict[str, list[bytes]] = {}
    for field in query.split("&"):
        if field:
            name, _, value = field.partition("=")
            values = result.get(name)
            if values is None:
                result[name] = [value.encode("latin-1")]
            else:
                values.append(value.encode("latin-1"))
    return result


class HTTPServerRequest:
    """A single HTTP request as the server received it.

    Attributes:
        method: the method, e.g. ``"GET"``.
        uri: the request-target in origin form (``/path?query``); an absolute-form
            target (``http://host/path``) is reduced to this, and its authority
            becomes ``host`` (RFC 9112, section 3.2.2).
        version: ``"HTTP/1.0"`` or ``"HTTP/1.1"``.
        headers: the :class:`HTTPHeaders`.
        body: the body bytes (empty until read; streaming handlers never get it).
        remote_ip: the client address (from the connection context).
        protocol: ``"http"`` or ``"https"`` (from the connection context).
        host: the requested host, from the Host header (``127.0.0.1`` if absent).
        host_name: ``host`` without its port, lower-cased.
        files: uploads by form field name, lists of :class:`HTTPFile`.
        connection: the :class:`HTTPConnection` to answer through.
        server_connection: the connection-wide object (see
            :meth:`HTTPServerConnectionDelegate.start_request`).
        path: the part of ``uri`` before ``?``.
        query: the part of ``uri`` after ``?``.
        query_arguments: query string fields, ``{name: [bytes, ...]}``.
        body_arguments: form body fields, filled by :meth:`_parse_body`.
        arguments: both of the above merged.
    """

    # Slots make the twenty-odd attributes set per request cheap; ``__dict__`` keeps
    # the object open to attributes applications attach, as Tornado's is.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_cookies",
        "_finish_time",
        "_start_time",
        "arguments",
        "body",
        "body_arguments",
        "connection",
        "files",
        "headers",
        "host",
        "host_name",
        "method",
        "path",
        "protocol",
        "query",
        "query_arguments",
        "remote_ip",
        "server_connection",
        "uri",
        "version",
    )

    path: str
    query: str

    def __init__(
        self,
        method: str | None = None,
        uri: str | None = None,
        version: str = "HTTP/1.0",
        headers: HTTPHeaders | None = None,
        body: bytes | None = None,
        host: str | None = None,
        files: dict[str, list[HTTPFile]] | None = None,
        connection: HTTPConnection | None = None,
        start_line: RequestStartLine | None = None,
        server_connection: object | None = None,
    ) -> None:
        if start_line is not None:
            method, uri, version = start_line
        self.method = method
        self.version = version
        self.headers = headers if headers is not None else HTTPHeaders()
        self.body = body or b""
        context = getattr(connection, "context", None)
        if context is None:
            self.remote_ip: str | None = None
            self.protocol: str = "http"
        else:
            self.remote_ip = getattr(context, "remote_ip", None)
            self.protocol = getattr(context, "protocol", "http")
        if uri is not None and uri[:1] != "/" and "://" in uri:
            # Absolute form: the target's authority replaces Host (RFC 9112, 3.2.2).
            parts = urllib.parse.urlsplit(uri)
            host = host or parts.netloc or None
            uri = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.uri = uri
        if not host:
            host = self.headers.get("Host") or "127.0.0.1"
        self.host: str = host
        self.host_name = _host_name(host)
        self.files: dict[str, list[HTTPFile]] = files or {}
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = time.time()
        self._finish_time: float | None = None
        self._cookies: http.cookies.SimpleCookie | None = None
        if uri is not None:
            self.path, _, self.query = uri.partition("?")
        else:
            self.path = self.query = ""
        if self.query:
            self.query_arguments: dict[str, list[bytes]] = _parse_query(
                self.query, _body_config.urlencoded.max_arguments
            )
            self.arguments: dict[str, list[bytes]] = {
                name: list(values) for name, values in self.query_arguments.items()
            }
        else:
            self.query_arguments = {}
            self.arguments = {}
        self.body_arguments: dict[str, list[bytes]] = {}

    @property
    def cookies(self) -> http.cookies.SimpleCookie:
        """The request's cookies, as a :class:`http.cookies.SimpleCookie` (parsed once)."""
        cookies = self._cookies
        if cookies is None:
            cookies = http.cookies.SimpleCookie()
            header = self.headers.get("Cookie")
            if header:
                for name, value in parse_cookie(header).items():
                    try:
                        cookies[name] = value
                    except http.cookies.CookieError:
                        # Browsers send names SimpleCookie cannot represent; such a
                        # cookie is left out rather than failing the whole request.
                        continue
            self._cookies = cookies
        return cookies

    def full_url(self) -> str:
        """The full URL: ``protocol://host/uri``."""
        return f"{self.protocol}://{self.host}{self.uri}"

    def request_time(self) -> float:
        """Seconds taken by the request so far, or in total once it has finished."""
        if self._finish_time is None:
            return time.time() - self._start_time
        return self._finish_time - self._start_time

    def get_ssl_certificate(self, binary_form: bool = False) -> Any:
        """The client's TLS certificate, or None (no TLS, or no certificate requested).

        The certificate is the dict of :meth:`ssl.SSLSocket.getpeercert`, or its DER
        bytes with ``binary_form``. It is only available when the server's TLS
        context asked for one (``ssl.CERT_OPTIONAL`` / ``CERT_REQUIRED``).
        """
        stream = getattr(self.connection, "stream", None)
        for holder in (stream, getattr(stream, "socket", None)):
            get_peercert = getattr(holder, "getpeercert", None)
            if get_peercert is not None:
                return get_peercert(binary_form=binary_form)
        get_extra_info = getattr(stream, "get_extra_info", None)
        if get_extra_info is not None:
            ssl_object = get_extra_info("ssl_object")
            if ssl_object is not None:
                return ssl_object.getpeercert(binary_form=binary_form)
        return None

    def _parse_body(self) -> None:
        """Parse ``body`` into ``body_arguments`` and ``files``, and merge ``arguments``.

        Raises:
            HTTPInputError: the body is malformed or breaks a limit.
        """
        parse_body_arguments(
            self.headers.get("Content-Type", ""),
            self.body,
            self.body_arguments,
            self.files,
            self.headers,
        )
        for name, values in self.body_arguments.items():
            self.arguments.setdefault(name, []).extend(values)

    def __repr__(self) -> str:
        fields = ("protocol", "host", "method", "uri", "version", "remote_ip")
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"{type(self).__name__}({args})"


#: Host header values already seen -> their host names. A server sees few distinct
#: values, and this lookup runs once per request; the table is emptied when full, and
#: values longer than a DNS name and a port are not kept.
_host_names: dict[str, str] = {}
_HOST_NAMES_KEPT = 256
_HOST_KEPT_LENGTH = 300


def _host_name(host: str) -> str:
    """``host`` without its port, lower-cased (the port number itself is not needed)."""
    host_name = host.lower()
    if ":" in host_name:
        name, _, port = host_name.rpartition(":")
        if name and port.isdigit() and port.isascii() and (":" not in name or name[-1] == "]"):
            host_name = name
    if len(host) <= _HOST_KEPT_LENGTH:
        if len(_host_names) >= _HOST_NAMES_KEPT:
            _host_names.clear()
        _host_names[host] = host_name
    return host_name


_new_request = object.__new__
_time = time.time


def _server_request(
    method: str,
    uri: str,
    version: str,
    headers: HTTPHeaders,
    connection: Any,
    server_connection: object,
    remote_ip: str = "",
    protocol: str | None = None,
    fields: dict[str, list[str]] | None = None,
) -> HTTPServerRequest:
    """The :class:`HTTPServerRequest` for a request head a server connection parsed.

    The same request ``HTTPServerRequest(start_line=..., headers=..., connection=...,
    server_connection=...)`` builds, made without the general constructor's argument
    handling: this runs once per request (the HTTP server and the web layer use it).
    ``remote_ip`` and ``protocol`` come from ``connection.context`` unless given
    (``protocol`` not None), and ``fields`` is the field table of ``headers`` when the
    caller has it at hand (the compiled server connection passes all three: reading
    them off compiled objects costs more here). A connection without such a context
    gets the general constructor's defaults.
    """
    if protocol is None:
        try:
            context = connection.context
            remote_ip = context.remote_ip
            protocol = context.protocol
        except AttributeError:
            protocol = None  # no connection context: the general constructor decides
    if protocol is None or uri[:1] != "/":
        # Absolute form (or "*"), or an unusual connection: the general constructor
        # knows what to do with them.
        return HTTPServerRequest(
            connection=connection,
            server_connection=server_connection,
            start_line=RequestStartLine(method, uri, version),
            headers=headers,
        )
    request: HTTPServerRequest = _new_request(HTTPServerRequest)
    request.method = method
    request.uri = uri
    request.version = version
    request.headers = headers
    request.body = b""
    request.remote_ip = remote_ip
    request.protocol = protocol
    if fields is None:
        fields = headers._as_list
    hosts = fields.get("Host")
    host = hosts[0] if hosts is not None and hosts[0] else "127.0.0.1"
    request.host = host
    request.host_name = _host_names.get(host) or _host_name(host)
    request.files = {}
    request.connection = connection
    request.server_connection = server_connection
    request._start_time = _time()
    request._finish_time = None
    request._cookies = None
    if "?" in uri:
        path, _, query = uri.partition("?")
        request.path = path
        request.query = query
        if query:
            arguments = _parse_query(query, _body_config.urlencoded.max_arguments)
            request.query_arguments = arguments
            request.arguments = {name: list(values) for name, values in arguments.items()}
        else:
            request.query_arguments = {}
            request.arguments = {}
    else:
        request.path = uri
        request.query = ""
        request.query_arguments = {}
        request.arguments = {}
    request.body_arguments = {}
    return request


# --- body parsing -----------------------------------------------------------------------

_FORM_TYPES = frozenset(("application/x-www-form-urlencoded", "multipart/form-data"))


def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    headers: HTTPHeaders | None = None,
    *,
    config: ParseBodyConfig | None = None,
) -> None:
    """Parse a form body into ``arguments`` and ``files`` (updated in place).

    ``application/x-www-form-urlencoded`` and ``multipart/form-data`` are understood;
    any other content type is left alone. Limits come from ``config`` or the default
    set by :func:`set_parse_body_config`.

    A form body that is still content-coded (``Content-Encoding`` present in
    ``headers``: the server was not asked to decode it) cannot be read as fields, and
    is refused (415) rather than read as a form without fields. Bodies of other types
    are left to the application whatever their coding.

    Raises:
        HTTPInputError: the body is malformed, breaks a limit, or is a content-coded
            form (status 415, RFC 9110 section 15.5.16).
    """
    config = config or _body_config
    main, params = parse_header_params(content_type)
    main = main.lower()
    if main not in _FORM_TYPES:
        return
    if headers is not None and "Content-Encoding" in headers:
        raise HTTPInputError(
            f"Unsupported Content-Encoding: {headers['Content-Encoding']:.64}", status_code=415
        )
    if main == "application/x-www-form-urlencoded":
        try:
            text = body.decode("latin-1")
        except AttributeError as exc:
            raise HTTPInputError("form body must be bytes") from exc
        fields = parse_qs_bytes(
            text, keep_blank_values=True, max_fields=config.urlencoded.max_arguments
        )
        for name, values in fields.items():
            if values:
                arguments.setdefault(name, []).extend(values)
    else:
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPInputError("multipart/form-data without a boundary")
        parse_multipart_form_data(
            boundary.encode("latin-1"), body, arguments, files, config=config.multipart
        )


def parse_multipart_form_data(
    boundary: bytes,
    data: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    *,
    config: ParseMultipartConfig | None = None,
) -> None:
    """Parse a complete ``multipart/form-data`` body into ``arguments`` and ``files``.

    ``boundary`` and ``data`` are bytes. For bodies that arrive in pieces, or uploads
    that should go to disk, use :class:`MultipartParser` with :class:`MultipartForm`.

    Raises:
        HTTPInputError: the body is malformed, breaks a limit of ``config``, or
            multipart parsing is disabled there (415).
    """
    config = config or _body_config.multipart
    if not config.enabled:
        raise HTTPInputError("multipart/form-data bodies are not accepted", status_code=415)
    form = MultipartForm(arguments, files)
    parser = MultipartParser(boundary, form, config=config)
    parser.feed(data)
    parser.finish()


# --- helpers ----------------------------------------------------------------------------


def url_concat(
    url: str,
    args: Mapping[str, str] | Sequence[tuple[str, str]] | None,
) -> str:
    """Append query arguments to ``url``, keeping any query it already has.

    >>> url_concat("http://example.com/foo?a=b", {"c": "d"})
    'http://example.com/foo?a=b&c=d'
    >>> url_concat("http://example.com/foo", [("c", "d"), ("c", "d2")])
    'http://example.com/foo?c=d&c=d2'

    Raises:
        TypeError: ``args`` is neither a mapping, a list or tuple of pairs, nor None.
    """
    if args is None:
        return url
    parsed = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    if isinstance(args, Mapping):
        query.extend(args.items())
    elif isinstance(args, (list, tuple)):
        query.extend(args)
    else:
        raise TypeError(f"'args' must be a mapping or a sequence of pairs, not {type(args)}")
    return urllib.parse.urlunsplit(parsed._replace(query=urllib.parse.urlencode(query)))


def format_timestamp(
    ts: int | float | tuple[int, ...] | time.struct_time | datetime.datetime,
) -> str:
    """Format a time as an HTTP date (RFC 9110, section 5.6.7, IMF-fixdate).

    Accepts a POSIX timestamp, a UTC time tuple or ``struct_time`` (as from
    :func:`time.gmtime`), or a :class:`datetime.datetime` (naive ones are taken as UTC).

    >>> format_timestamp(1359312200)
    'Sun, 27 Jan 2013 18:43:20 GMT'
    """
    if isinstance(ts, (int, float)):
        seconds = float(ts)
    elif isinstance(ts, (tuple, time.struct_time)):
        seconds = float(calendar.timegm(ts))
    elif isinstance(ts, datetime.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=datetime.UTC)
        seconds = ts.timestamp()
    else:
        raise TypeError(f"unknown timestamp type: {ts!r}")
    return email.utils.formatdate(seconds, usegmt=True)


def encode_username_password(username: str | bytes, password: str | bytes) -> bytes:
    """Join credentials as ``username:password`` bytes for HTTP Basic authentication.

    Text is encoded as UTF-8 (RFC 7617, section 2.1, ``charset="UTF-8"``).
    """
    return utf8(username) + b":" + utf8(password)


_PORT_RE = re.compile(r"[0-9]+")


def split_host_and_port(netloc: str) -> tuple[str, int | None]:
    """Split ``host:port`` into ``(host, port)``; ``port`` is None when absent.

    A bracketed IPv6 literal keeps its brackets; a bare IPv6 address (several colons,
    no brackets) is returned whole with no port.

    >>> split_host_and_port("example.com:8080")
    ('example.com', 8080)
    >>> split_host_and_port("[::1]:80")
    ('[::1]', 80)
    """
    host, sep, port = netloc.rpartition(":")
    if sep and host and _PORT_RE.fullmatch(port) and (":" not in host or host.endswith("]")):
        return host, int(port)
    return netloc, None


def qs_to_qsl(qs: Mapping[str, Iterable[AnyStr]]) -> Iterator[tuple[str, AnyStr]]:
    """Flatten ``{name: [value, ...]}`` (as from ``parse_qs``) into ``(name, value)`` pairs."""
    for name, values in qs.items():
        for value in values:
            yield name, value


# Cookie parsing follows what browsers do rather than RFC 6265's stricter grammar, so
# that a cookie set by one side is read back the same way by the other (Tornado 4.4.2).
# Every step is a single pass: split on ";", split once on "=", and undo quoting with
# one regex substitution, so the whole parse is linear in the header length
# (CVE-2024-52804 was quadratic unquoting).
_COOKIE_ESCAPE_RE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.DOTALL)


def _unescape_cookie(match: re.Match[str]) -> str:
    octal = match.group(1)
    if octal is not None:
        return chr(int(octal, 8))
    return match.group(2)


def _unquote_cookie(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE_RE.sub(_unescape_cookie, value[1:-1])


def parse_cookie(cookie: str) -> dict[str, str]:
    """Parse a ``Cookie`` header value into ``{name: value}``, as browsers do.

    A chunk without ``=`` is a value with an empty name; quoted values are unquoted.
    The last of several equal names wins. Time is linear in ``len(cookie)``.

    >>> parse_cookie('a=1; b="two words"; c')
    {'a': '1', 'b': 'two words', '': 'c'}
    """
    result: dict[str, str] = {}
    for chunk in cookie.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            name, value = "", name
        name = name.strip()
        value = value.strip()
        if name or value:
            result[name] = _unquote_cookie(value)
    return result
