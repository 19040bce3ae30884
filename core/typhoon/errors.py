"""The single exception tree of typhoon.

Every exception typhoon raises on purpose derives from :class:`TyphoonError`. The
public modules re-export the classes under Tornado's names (for example
``typhoon.iostream.StreamClosedError`` is :class:`StreamClosedError` from here), so
ported code keeps working while ``except typhoon.errors.TyphoonError`` catches them all.
Where a class stands for a builtin condition it also derives from the builtin
(:class:`TimeoutError`, :class:`ValueError`, ...), so generic handlers still work.

Layers translate lower-level errors at their boundary with ``raise ... from``; the
original is never swallowed.
"""

from __future__ import annotations

__all__ = [
    "ASGIError",
    "AuthError",
    "BadYieldError",
    "CalledProcessError",
    "ConfigurationError",
    "CookieError",
    "Finish",
    "HTTPClientError",
    "HTTPError",
    "HTTPInputError",
    "HTTPOutputError",
    "HTTPStreamClosedError",
    "HTTPTimeoutError",
    "MissingArgumentError",
    "MissingDependencyError",
    "OptionsError",
    "PluginError",
    "PluginWarning",
    "ProtocolError",
    "QueueEmpty",
    "QueueFull",
    "Return",
    "StreamBufferFullError",
    "StreamBusyError",
    "StreamClosedError",
    "TemplateParseError",
    "TyphoonError",
    "TyphoonTimeoutError",
    "UnsatisfiableReadError",
    "WebSocketClosedError",
    "WebSocketError",
    "WebSocketHandshakeError",
    "WebSocketOutputError",
]

import http.client
import http.cookies
import subprocess
from typing import Any


class TyphoonError(Exception):
    """Base class of every exception typhoon raises on purpose."""


class ConfigurationError(TyphoonError, ValueError):
    """A setting, option or constructor argument has an invalid value."""


class PluginError(TyphoonError):
    """A plugin failed: while loading, validating, or inside one of its hook implementations.

    ``plugin_name`` and ``hook_name`` say where; ``__cause__`` holds the original error.
    """

    def __init__(
        self, message: str, *, plugin_name: str | None = None, hook_name: str | None = None
    ) -> None:
        super().__init__(message)
        self.plugin_name = plugin_name
        self.hook_name = hook_name


class PluginWarning(TyphoonError, UserWarning):
    """An installed plugin was skipped (it failed to import or to register).

    Issued as a warning instead of raised, so one broken distribution does not stop the
    host; the message names the distribution and the cause.
    """


class TyphoonTimeoutError(TyphoonError, TimeoutError):
    """An operation did not finish before its deadline (``typhoon.util.TimeoutError``)."""


class MissingDependencyError(TyphoonError, ImportError):
    """An optional package needed for the requested feature is not installed.

    The message names the package and the extra that installs it (``typhoon[uvloop]``).
    """


# --- event-loop layer -------------------------------------------------------------------


class QueueEmpty(TyphoonError, Exception):
    """Raised by ``Queue.get_nowait`` when the queue holds no items."""


class QueueFull(TyphoonError, Exception):
    """Raised by ``Queue.put_nowait`` when the queue is at its ``maxsize``."""


class BadYieldError(TyphoonError, TypeError):
    """A coroutine yielded or awaited an object ``gen.convert_yielded`` cannot wait on."""


class Return(TyphoonError):
    """Raised inside a legacy ``@gen.coroutine`` generator to give the coroutine its result.

    ``value`` is the result; plain ``return value`` does the same on Python 3 and is
    preferred. Deriving from :class:`TyphoonError` keeps the single tree, but it is
    control flow, not a failure.
    """

    def __init__(self, value: object = None) -> None:
        super().__init__(value)
        self.value = value
        self.args = (value,)


# --- stream layer -----------------------------------------------------------------------


class StreamClosedError(TyphoonError, OSError):
    """The stream was closed (by us or the peer) before the operation could complete.

    ``real_error`` holds the underlying exception that caused the close, if any.
    """

    def __init__(self, real_error: BaseException | None = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error

    def __str__(self) -> str:
        if self.real_error is not None:
            return f"Stream is closed: {self.real_error}"
        return "Stream is closed"


class UnsatisfiableReadError(TyphoonError, Exception):
    """A read can never be satisfied (for example ``read_until`` passed ``max_bytes``)."""


class StreamBusyError(TyphoonError, RuntimeError):
    """A stream operation was started while the previous one of its kind is still pending.

    Raised when a second read is started before the first resolved (a stream serves one
    read at a time) and when ``wait_for_handshake`` is called twice.
    """


class StreamBufferFullError(TyphoonError, Exception):
    """Buffering more data would exceed ``max_buffer_size`` or ``max_write_buffer_size``."""


# --- process layer ----------------------------------------------------------------------


class CalledProcessError(TyphoonError, subprocess.CalledProcessError):
    """A child process exited with a non-zero status (``Subprocess.wait_for_exit``).

    Also a :class:`subprocess.CalledProcessError`, so ``returncode`` and ``cmd`` are set
    and existing handlers for the standard library's error keep working.
    """


# --- protocol layer ---------------------------------------------------------------------


class ProtocolError(TyphoonError, ValueError):
    """Bytes from the peer (or about to be sent) violate the protocol.

    ``status_code`` is the HTTP status (or WebSocket close code) that answers it best.
    """

    def __init__(self, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class HTTPInputError(ProtocolError):
    """Malformed HTTP input from the remote peer (Tornado's ``httputil.HTTPInputError``)."""


class HTTPOutputError(TyphoonError, ValueError):
    """The local application tried to send something HTTP does not allow."""


# --- gateway interfaces -----------------------------------------------------------------


class ASGIError(TyphoonError, RuntimeError):
    """An ASGI application or server broke the ASGI protocol, or reported a failure.

    Raised by the ``send`` callable typhoon gives an ASGI application when a message is
    out of place (a body before ``http.response.start``, anything after the response
    completed) or malformed (a header with CR or LF), and by the lifespan support when
    the application answers ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``.
    """


# --- HTTP client ------------------------------------------------------------------------


class HTTPClientError(TyphoonError):
    """A ``fetch`` failed: a non-2xx response, or a network failure (``code`` 599).

    ``code`` is the HTTP status, ``response`` the ``HTTPResponse`` when there is one.
    """

    def __init__(self, code: int, message: str | None = None, response: Any = None) -> None:
        self.code = code
        self.message = message or http.client.responses.get(code, "Unknown")
        self.response = response
        super().__init__(code, self.message, response)

    def __str__(self) -> str:
        return f"HTTP {self.code}: {self.message}"

    __repr__ = __str__


class HTTPStreamClosedError(HTTPClientError):
    """The connection closed before the response completed (code 599).

    ``str()`` is the message alone (``"Stream closed"``), without the ``HTTP 599:``
    prefix of other :class:`HTTPClientError` instances, as in Tornado.
    """

    def __init__(self, message: str = "Stream closed") -> None:
        super().__init__(599, message)

    def __str__(self) -> str:
        return self.message


class HTTPTimeoutError(HTTPClientError):
    """A client connect or request deadline passed (code 599).

    ``str()`` is the message alone, naming the phase that ran out of time (``"Timeout
    while connecting"``, ``"Timeout in request queue"``, ...), as in Tornado.
    """

    def __init__(self, message: str = "Timeout") -> None:
        super().__init__(599, message)

    def __str__(self) -> str:
        return self.message


# --- web layer --------------------------------------------------------------------------


class HTTPError(TyphoonError):
    """Raised by a handler to answer with an HTTP error status.

    ``log_message`` goes to the log (``%`` formatted with ``args``), never to the client;
    ``reason`` overrides the standard reason phrase.
    """

    def __init__(
        self,
        status_code: int = 500,
        log_message: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.status_code = status_code
        self.log_message = log_message
        self.args = args
        self.reason: str | None = kwargs.get("reason")
        if log_message and not args:
            self.log_message = log_message.replace("%", "%%")

    def __str__(self) -> str:
        message = f"HTTP {self.status_code}: " + (
            self.reason or http.client.responses.get(self.status_code, "Unknown")
        )
        if self.log_message:
            return message + " (" + (self.log_message % self.args) + ")"
        return message


class CookieError(TyphoonError, http.cookies.CookieError, ValueError):
    """A cookie cannot be set as given: a bad name or value, or an invalid attribute.

    It is the standard library's :class:`http.cookies.CookieError` (what Tornado raises
    here) and a :class:`ValueError`, so handlers catching either keep working.
    """


class Finish(TyphoonError):
    """Raised by a handler to end the request without sending an error page."""


class MissingArgumentError(HTTPError):
    """A required request argument is absent: answered with 400."""

    def __init__(self, arg_name: str) -> None:
        super().__init__(400, f"Missing argument {arg_name}")
        self.arg_name = arg_name


# --- WebSocket --------------------------------------------------------------------------


class WebSocketError(ProtocolError):
    """A WebSocket protocol violation; ``status_code`` is the close code to send."""

    def __init__(self, message: str, *, close_code: int = 1002) -> None:
        super().__init__(message, status_code=close_code)
        self.close_code = close_code


class WebSocketClosedError(WebSocketError):
    """An operation was attempted on a closed WebSocket.

    A :class:`WebSocketError`, as in Tornado, so ``except WebSocketError`` catches it;
    ``close_code`` is 1006 (no close frame applies: the connection is already gone).
    """

    def __init__(self, message: str = "the WebSocket connection is closed") -> None:
        super().__init__(message, close_code=1006)


class WebSocketHandshakeError(ProtocolError):
    """A WebSocket opening handshake was refused.

    On the server, ``status_code`` and ``headers`` (name, value pairs) are the error
    response to send, such as 426 with ``Sec-WebSocket-Version: 13``. On the client,
    ``status_code`` is the server's status when it was not 101, otherwise 400.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 400,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.headers = headers


class WebSocketOutputError(TyphoonError, ValueError):
    """The local side tried to send something RFC 6455 forbids.

    For example a close reason over 123 bytes, a reserved close code, a control frame
    payload over 125 bytes, or a text message that is not UTF-8.
    """


# --- leaves -----------------------------------------------------------------------------


class TemplateParseError(TyphoonError):
    """A template has a syntax error; the message names the template and line."""

    def __init__(self, message: str, filename: str | None = None, lineno: int = 0) -> None:
        self.message = message
        self.filename = filename
        self.lineno = lineno
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} at {self.filename}:{self.lineno}"


class AuthError(TyphoonError):
    """Third-party login failed: the provider refused, answered badly or could not be reached.

    Raised by ``typhoon_auth`` (``tornado.auth.AuthError`` in Tornado). The message is safe
    to show the user; it never carries tokens or secrets.
    """


class OptionsError(TyphoonError):
    """A command-line or config-file option is unknown, duplicated or has a bad value."""
