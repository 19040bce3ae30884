"""The values a WebSocket codec works with: roles, states, close codes and events.

Private to :mod:`typhoon.wsproto`, which re-exports every name; only the standard
library is imported.
"""

from __future__ import annotations

__all__ = [
    "BinaryMessage",
    "Close",
    "CloseCode",
    "ConnectionState",
    "Event",
    "Ping",
    "Pong",
    "Role",
    "TextMessage",
]

import enum
from dataclasses import dataclass
from typing import TypeAlias


class Role(enum.Enum):
    """Which end of the connection a codec speaks for; it decides masking (section 5.3)."""

    CLIENT = "client"
    SERVER = "server"


class ConnectionState(enum.Enum):
    """Where a codec is in the closing handshake (RFC 6455 section 7)."""

    #: Messages flow both ways.
    OPEN = "open"
    #: We sent a Close frame and wait for the peer's; received messages still arrive.
    CLOSING = "closing"
    #: Both Close frames were exchanged, the connection failed, or the transport ended.
    CLOSED = "closed"


class CloseCode(enum.IntEnum):
    """Close status codes (RFC 6455 section 7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    #: Reported locally when a Close frame had no code; never sent.
    NO_STATUS_RECEIVED = 1005
    #: Reported locally when the transport ended without a Close frame; never sent.
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A text message (opcode 0x1), already validated as UTF-8.

    ``final`` is always true unless the codec delivers fragments, in which case each
    frame is one event and ``final`` marks the last one of the message.
    """

    data: str
    final: bool = True


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A binary message (opcode 0x2); ``final`` as for :class:`TextMessage`."""

    data: bytes
    final: bool = True


@dataclass(frozen=True, slots=True)
class Ping:
    """A Ping frame. With ``auto_pong`` the codec already queued the Pong."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A Pong frame, solicited or not (section 5.5.3)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The peer closed the connection.

    ``code`` is the peer's status code, 1005 when its Close frame had none, or 1006
    when the transport ended without any Close frame. When the peer started the
    closing handshake the codec has already queued the echoing Close frame.
    """

    code: int
    reason: str


#: The events :meth:`WebSocketCodec.next_event` produces.
Event: TypeAlias = TextMessage | BinaryMessage | Ping | Pong | Close
