"""The values exchanged with the sans-IO HTTP/1.1 protocol: events, signals, states.

Layer 4 (private to ``typhoon.http1proto``, which re-exports every name): imports
``typhoon.httputil`` for the start-line tuples and header type.

Events are small slotted objects built once per message on the hot path, so they use
plain attribute assignment; treat them as read-only. :class:`EndOfMessage` and
:class:`ConnectionClosed` refuse assignment outright, because the protocol hands out
one shared instance of each when there is nothing to carry.
"""

from __future__ import annotations

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "AnyEvent",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "InformationalResponse",
    "Request",
    "Response",
    "Signal",
    "State",
]

import enum
from typing import Any, ClassVar, Final

from typhoon.httputil import HTTPHeaders, RequestStartLine, ResponseStartLine


class Signal(enum.Enum):
    """What ``next_event`` returns when it has no event to give."""

    #: More bytes are needed: read from the peer and call ``receive_data``.
    NEED_DATA = "NEED_DATA"
    #: Nothing more is parsed until our side finishes its message (or after a protocol
    #: switch); received bytes stay buffered, pipelined requests included.
    PAUSED = "PAUSED"


NEED_DATA: Final = Signal.NEED_DATA
PAUSED: Final = Signal.PAUSED


class State(enum.Enum):
    """Where one side of the connection stands (``our_state`` / ``their_state``)."""

    #: Waiting for (or about to send) the head of the next message.
    IDLE = "IDLE"
    #: The head is done and the body is in progress.
    SEND_BODY = "SEND_BODY"
    #: The message is complete; waiting for the other side to finish its message.
    DONE = "DONE"
    #: The message is complete and the connection will not be reused.
    MUST_CLOSE = "MUST_CLOSE"
    #: The peer closed its side; nothing more will arrive.
    CLOSED = "CLOSED"
    #: The connection now carries another protocol (a 101, or a 2xx to CONNECT).
    SWITCHED_PROTOCOL = "SWITCHED_PROTOCOL"
    #: A protocol violation happened; the connection must be closed.
    ERROR = "ERROR"


class Event:
    """Base class of the values ``next_event`` returns."""

    __slots__: tuple[str, ...] = ()
    #: The attributes equality compares and ``repr`` shows (``__slots__`` is not
    #: visible on instances when the module is compiled).
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Event)
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


_REQUEST_FIELDS: Final = (
    "expect_continue",
    "headers",
    "keep_alive",
    "method",
    "target",
    "upgrade",
    "version",
)


class Request(Event):
    """The head of a request (server side).

    Attributes:
        method: the method token, e.g. ``"GET"`` (case-sensitive, RFC 9110 section 9.1).
        target: the request-target as sent: origin-form ``/a?b``, absolute-form
            ``http://h/a``, authority-form ``h:443`` (CONNECT) or ``*``.
        version: ``"HTTP/1.1"`` or ``"HTTP/1.0"``.
        headers: the header fields.
        keep_alive: the client asked to keep the connection open afterwards.
        expect_continue: an HTTP/1.1 ``Expect: 100-continue``: the client may wait for
            ``100 Continue`` before sending the body.
        upgrade: the request asks to switch protocols (``Connection: upgrade`` and
            ``Upgrade``) or is a CONNECT; a 101 (a 2xx for CONNECT) switches.
    """

    __slots__ = _REQUEST_FIELDS
    _fields = _REQUEST_FIELDS

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: HTTPHeaders,
        keep_alive: bool = True,
        expect_continue: bool = False,
        upgrade: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade

    @property
    def start_line(self) -> RequestStartLine:
        """The request line as ``httputil.RequestStartLine`` (what delegates receive)."""
        return RequestStartLine(self.method, self.target, self.version)


class InformationalResponse(Event):
    """A 1xx response head other than 101 (client side); the final response follows."""

    __slots__ = ("headers", "reason", "status_code", "version")
    _fields = ("headers", "reason", "status_code", "version")

    def __init__(self, status_code: int, reason: str, version: str, headers: HTTPHeaders) -> None:
        self.status_code = status_code
        self.reason = reason
        self.version = version
        self.headers = headers

    @property
    def start_line(self) -> ResponseStartLine:
        """The status line as ``httputil.ResponseStartLine``."""
        return ResponseStartLine(self.version, self.status_code, self.reason)


class Response(Event):
    """The head of a final response, or of a 101 (client side).

    ``keep_alive`` says whether the connection can carry another request once this
    response and our request are complete.
    """

    __slots__ = ("headers", "keep_alive", "reason", "status_code", "version")
    _fields = ("headers", "keep_alive", "reason", "status_code", "version")

    def __init__(
        self,
        status_code: int,
        reason: str,
        version: str,
        headers: HTTPHeaders,
        keep_alive: bool = True,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive

    @property
    def start_line(self) -> ResponseStartLine:
        """The status line as ``httputil.ResponseStartLine``."""
        return ResponseStartLine(self.version, self.status_code, self.reason)


class Data(Event):
    """A piece of message body, de-chunked; never longer than the ``chunk_size``."""

    __slots__ = ("data",)
    _fields = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class EndOfMessage(Event):
    """The message is complete; ``trailers`` holds a chunked body's trailer fields.

    Immutable: the protocol shares one instance for messages without trailers.
    """

    __slots__ = ("trailers",)
    _fields = ("trailers",)

    trailers: HTTPHeaders | None

    def __init__(self, trailers: HTTPHeaders | None = None) -> None:
        object.__setattr__(self, "trailers", trailers)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


class ConnectionClosed(Event):
    """The peer closed the connection cleanly, between messages."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


#: Any event ``next_event`` can return.
AnyEvent = Request | InformationalResponse | Response | Data | EndOfMessage | ConnectionClosed
