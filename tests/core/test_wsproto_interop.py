"""Interoperability of the WebSocket codec with an independent implementation: the
``websockets`` library's sans-IO protocols, in both directions, with and without
permessage-deflate."""

from __future__ import annotations

import os
from typing import Any

import pytest
from _wshelpers import feed, raw_frame
from typhoon.errors import WebSocketError, WebSocketHandshakeError
from typhoon.wsproto import (
    BinaryMessage,
    ClientHandshake,
    Close,
    ConnectionState,
    DeflateOptions,
    Event,
    Ping,
    Pong,
    Role,
    TextMessage,
    WebSocketCodec,
    accept_client_handshake,
    validate_client_handshake,
)
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

# (our options, the websockets factory keyword arguments) per scenario. None: no
# compression on either side.
SCENARIOS: dict[str, tuple[DeflateOptions | None, dict[str, Any] | None]] = {
    "uncompressed": (None, None),
    "deflate": (DeflateOptions(), {}),
    "server_no_context_takeover": (
        DeflateOptions(server_no_context_takeover=True),
        {"server_no_context_takeover": True},
    ),
    "client_no_context_takeover": (
        DeflateOptions(client_no_context_takeover=True),
        {"client_no_context_takeover": True},
    ),
    "server_max_window_bits": (
        DeflateOptions(server_max_window_bits=10),
        {"server_max_window_bits": 10},
    ),
    "client_max_window_bits": (
        DeflateOptions(client_max_window_bits=9),
        {"client_max_window_bits": 9},
    ),
    "everything": (
        DeflateOptions(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=9,
            client_max_window_bits=11,
            compression_level=9,
        ),
        {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
            "server_max_window_bits": 9,
            "client_max_window_bits": 11,
        },
    ),
}


def payloads() -> list[str | bytes]:
    return [
        "hello ☃ wörld",
        "hello ☃ wörld",
        "",
        b"",
        os.urandom(70_000),
        b"compressible " * 20_000,
        "κόσμε " * 5000,
    ]


def assemble(frames: list[Frame]) -> list[Event]:
    """Turn websockets frames (already decompressed) into our event values."""
    events: list[Event] = []
    parts: list[bytes] = []
    kind: Opcode | None = None
    for frame in frames:
        if frame.opcode is Opcode.PING:
            events.append(Ping(bytes(frame.data)))
        elif frame.opcode is Opcode.PONG:
            events.append(Pong(bytes(frame.data)))
        elif frame.opcode is Opcode.CLOSE:
            code = int.from_bytes(frame.data[:2], "big") if frame.data else 1005
            events.append(Close(code, bytes(frame.data[2:]).decode()))
        else:
            if frame.opcode is not Opcode.CONT:
                kind = frame.opcode
            parts.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(parts)
                parts = []
                events.append(
                    TextMessage(data.decode()) if kind is Opcode.TEXT else BinaryMessage(data)
                )
    return events


def expected_event(payload: str | bytes) -> Event:
    return TextMessage(payload) if isinstance(payload, str) else BinaryMessage(payload)


# --- our client, their server ------------------------------------------------------------


def connect_to_websockets_server(
    options: DeflateOptions | None, factory: dict[str, Any] | None
) -> tuple[WebSocketCodec, ServerProtocol]:
    handshake = ClientHandshake(subprotocols=["chat", "other"], deflate=options)
    request = Request("/chat", Headers([("Host", "localhost"), *handshake.request_headers()]))
    extensions = None if factory is None else [ServerPerMessageDeflateFactory(**factory)]
    theirs = ServerProtocol(extensions=extensions, subprotocols=["chat"], max_size=None)
    theirs.receive_data(request.serialize())
    [parsed] = theirs.events_received()
    assert isinstance(parsed, Request)
    response = theirs.accept(parsed)
    theirs.send_response(response)
    assert response.status_code == 101, response.body
    assert theirs.state is State.OPEN
    theirs.data_to_send()
    accept = handshake.validate_response(response.status_code, list(response.headers.raw_items()))
    assert accept.subprotocol == "chat"
    assert (accept.deflate is None) == (factory is None)
    return WebSocketCodec(Role.CLIENT, deflate=accept.deflate, max_message_size=None), theirs


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_our_client_with_their_server(scenario: str) -> None:
    ours, theirs = connect_to_websockets_server(*SCENARIOS[scenario])
    for payload in payloads():
        wire = ours.send_message(payload)
        theirs.receive_data(wire)
        assert assemble(theirs.events_received()) == [expected_event(payload)]
        if isinstance(payload, str):
            theirs.send_text(payload.encode())
        else:
            theirs.send_binary(payload)
        assert feed(ours, b"".join(theirs.data_to_send())) == [expected_event(payload)]

    # A fragmented message each way, with a ping in the middle.
    wire = ours.send_message("frag", final=False) + ours.send_ping(b"p1")
    wire += ours.send_message("mented")
    theirs.receive_data(wire)
    assert assemble(theirs.events_received()) == [Ping(b"p1"), TextMessage("fragmented")]
    assert feed(ours, b"".join(theirs.data_to_send())) == [Pong(b"p1")]
    theirs.send_binary(b"\x01\x02", fin=False)
    theirs.send_ping(b"p2")
    theirs.send_continuation(b"\x03", fin=True)
    assert feed(ours, b"".join(theirs.data_to_send()), "bytewise") == [
        Ping(b"p2"),
        BinaryMessage(b"\x01\x02\x03"),
    ]
    theirs.receive_data(ours.data_to_send())
    assert assemble(theirs.events_received()) == [Pong(b"p2")]

    # They close; we echo.
    theirs.send_close(1001, "bye")
    assert feed(ours, b"".join(theirs.data_to_send())) == [Close(1001, "bye")]
    theirs.receive_data(ours.data_to_send())
    assert theirs.close_rcvd is not None
    assert theirs.close_rcvd.code == 1001
    assert ours.state is ConnectionState.CLOSED


# --- their client, our server ------------------------------------------------------------


def connect_websockets_client(
    options: DeflateOptions | None, factory: dict[str, Any] | None
) -> tuple[WebSocketCodec, ClientProtocol]:
    extensions = None if factory is None else [ClientPerMessageDeflateFactory(**factory)]
    theirs = ClientProtocol(
        parse_uri("ws://localhost/chat"),
        extensions=extensions,
        subprotocols=["chat", "other"],
        max_size=None,
    )
    request = theirs.connect()
    theirs.send_request(request)
    theirs.data_to_send()
    validated = validate_client_handshake("GET", "HTTP/1.1", list(request.headers.raw_items()))
    assert validated.subprotocols == ("chat", "other")
    accept = accept_client_handshake(validated, subprotocol="other", deflate=options)
    response = Response(101, "Switching Protocols", Headers(list(accept.headers)))
    theirs.receive_data(response.serialize())
    theirs.events_received()
    assert theirs.handshake_exc is None
    assert theirs.state is State.OPEN
    assert theirs.subprotocol == "other"
    assert (accept.deflate is None) == (factory is None)
    assert len(theirs.extensions) == (0 if factory is None else 1)
    return WebSocketCodec(Role.SERVER, deflate=accept.deflate, max_message_size=None), theirs


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_their_client_with_our_server(scenario: str) -> None:
    ours, theirs = connect_websockets_client(*SCENARIOS[scenario])
    for payload in payloads():
        if isinstance(payload, str):
            theirs.send_text(payload.encode())
        else:
            theirs.send_binary(payload)
        assert feed(ours, b"".join(theirs.data_to_send()), "uneven") == [expected_event(payload)]
        theirs.receive_data(ours.send_message(payload))
        assert assemble(theirs.events_received()) == [expected_event(payload)]

    theirs.send_text(b"ab", fin=False)
    theirs.send_continuation("☃".encode(), fin=False)
    theirs.send_continuation(b"", fin=True)
    assert feed(ours, b"".join(theirs.data_to_send())) == [TextMessage("ab☃")]

    # We close; they echo.
    theirs.receive_data(ours.send_close(1000, "done"))
    assert assemble(theirs.events_received()) == [Close(1000, "done")]
    assert feed(ours, b"".join(theirs.data_to_send())) == [Close(1000, "done")]
    assert ours.state is ConnectionState.CLOSED


def test_their_client_understands_our_failure_close() -> None:
    ours, theirs = connect_websockets_client(None, None)
    with pytest.raises(WebSocketError):
        feed(ours, raw_frame(0x1, b"\xff not utf-8"))
    theirs.receive_data(ours.data_to_send())
    assert theirs.close_rcvd is not None
    assert theirs.close_rcvd.code == 1007


def test_their_server_rejects_a_handshake_our_helpers_reject_too() -> None:
    # A wrong version: both implementations refuse; ours answers 426 with the version
    # it supports (RFC 6455 section 4.4), websockets a plain 400.
    handshake = ClientHandshake()
    headers = [
        ("Host", "localhost"),
        *((n, "8" if n == "Sec-WebSocket-Version" else v) for n, v in handshake.request_headers()),
    ]
    theirs = ServerProtocol()
    response = theirs.accept(Request("/", Headers(headers)))
    assert response.status_code in (400, 426)
    with pytest.raises(WebSocketHandshakeError) as info:
        validate_client_handshake("GET", "HTTP/1.1", headers)
    assert info.value.status_code == 426
    assert info.value.headers == (("Sec-WebSocket-Version", "13"),)
