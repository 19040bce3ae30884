"""WebSocket frame primitives (RFC 6455 section 5): opcodes, masking, headers, close codes.

Everything here is pure and allocation-light; :mod:`typhoon.wsproto` builds its
connection state machine on top of it.

Masking strategy: the 4-byte key is XORed over the payload as one big integer per
16 KiB slice (``int.from_bytes`` / ``int.to_bytes``), so the per-byte work happens in C.
Slicing keeps the integers small enough to stay in cache; a single integer over a
16 MiB payload is about twice as slow.
"""

from __future__ import annotations

__all__ = [
    "BINARY_HEADERS",
    "MAX_CLOSE_REASON",
    "MAX_CONTROL_PAYLOAD",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "TEXT_HEADERS",
    "apply_mask",
    "decode_close_payload",
    "encode_close_payload",
    "encode_frame",
    "is_valid_close_code",
    "truncate_reason",
]

import os
import struct

from .errors import WebSocketError, WebSocketOutputError

# RFC 6455 section 5.2: opcodes. 0x3-0x7 and 0xB-0xF are reserved.
OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: RFC 6455 section 5.5: control frames carry at most 125 bytes of payload.
MAX_CONTROL_PAYLOAD = 125
#: A close payload is a 2-byte code plus the reason, so the reason is at most 123 bytes.
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

#: The two header bytes of an unmasked, final text (binary) frame, by payload length
#: 0-125 (section 5.2: lengths under 126 fit in the second byte).
TEXT_HEADERS = tuple(bytes((0x80 | OP_TEXT, n)) for n in range(126))
BINARY_HEADERS = tuple(bytes((0x80 | OP_BINARY, n)) for n in range(126))

_MASK_SLICE = 1 << 14
_PACK_SHORT = struct.Struct("!BBH").pack
_PACK_LONG = struct.Struct("!BBQ").pack

# RFC 6455 section 7.4.1 and the IANA "WebSocket Close Code Number Registry":
# 1000-1003 and 1007-1014 may appear on the wire; 1004 is reserved, 1005, 1006 and
# 1015 are for local reporting only, the rest of 1000-2999 is unassigned and so
# not yet usable; 3000-3999 (registered) and 4000-4999 (private use) are free to use.
_WIRE_CODES = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame on the wire (RFC 6455 section 7.4)."""
    return code in _WIRE_CODES or 3000 <= code <= 4999


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte masking key ``mask`` (RFC 6455 section 5.3).

    Masking is its own inverse, so this both masks and unmasks. ``offset`` is the
    position of ``data[0]`` within the frame payload, so a payload that arrives in
    pieces can be unmasked piece by piece.
    """
    n = len(data)
    if n == 0:
        return b""
    shift = offset & 3
    if shift:
        mask = mask[shift:] + mask[:shift]
    if n <= _MASK_SLICE:
        key = int.from_bytes((mask * ((n + 3) >> 2))[:n], "little")
        return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")
    view = memoryview(data)
    out = bytearray(n)
    full_key = int.from_bytes(mask * (_MASK_SLICE >> 2), "little")
    end = n - n % _MASK_SLICE
    for start in range(0, end, _MASK_SLICE):
        stop = start + _MASK_SLICE
        out[start:stop] = (int.from_bytes(view[start:stop], "little") ^ full_key).to_bytes(
            _MASK_SLICE, "little"
        )
    rest = n - end
    if rest:
        key = full_key & ((1 << (rest << 3)) - 1)
        out[end:] = (int.from_bytes(view[end:], "little") ^ key).to_bytes(rest, "little")
    return bytes(out)


def encode_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = False,
) -> bytes:
    """Serialize one frame: header, optional masking key, payload (RFC 6455 section 5.2).

    The length uses the shortest of the three encodings, as section 5.2 requires.
    ``mask`` draws a fresh key from :func:`os.urandom` for every frame (section 10.3:
    keys must not be predictable).
    """
    first = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    n = len(payload)
    mask_bit = 0x80 if mask else 0
    if n < 126:
        header = bytes((first, mask_bit | n))
    elif n < 65536:
        header = _PACK_SHORT(first, mask_bit | 126, n)
    else:
        header = _PACK_LONG(first, mask_bit | 127, n)
    if mask:
        key = os.urandom(4)
        return header + key + apply_mask(payload, key)
    return header + payload


def encode_close_payload(code: int | None, reason: str) -> bytes:
    """Build a Close frame body (RFC 6455 section 5.5.1), refusing what may not be sent.

    ``code=None`` sends an empty body (allowed only with an empty reason). Codes that
    are reserved or unassigned raise :class:`~typhoon.errors.WebSocketOutputError`, as
    does a reason longer than 123 bytes once encoded as UTF-8.
    """
    if code is None:
        if reason:
            raise WebSocketOutputError("a close reason needs a close code")
        return b""
    if not is_valid_close_code(code):
        raise WebSocketOutputError(f"close code {code} may not be sent (RFC 6455 section 7.4)")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CLOSE_REASON:
        raise WebSocketOutputError(
            f"close reason is {len(encoded)} bytes, the limit is {MAX_CLOSE_REASON}"
        )
    return code.to_bytes(2, "big") + encoded


def decode_close_payload(payload: bytes) -> tuple[int, str]:
    """Parse a received Close frame body into ``(code, reason)``.

    An empty body reports 1005 ("no status received", RFC 6455 section 7.1.5). A body
    of one byte or a code that may not be on the wire raises 1002; a reason that is not
    UTF-8 raises 1007 (section 8.1).
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise WebSocketError("close frame body of one byte", close_code=1002)
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise WebSocketError(f"invalid close code {code}", close_code=1002)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebSocketError("close reason is not valid UTF-8", close_code=1007) from exc
    return code, reason


def truncate_reason(reason: str) -> bytes:
    """Encode a close reason to at most 123 bytes without splitting a character."""
    encoded = reason.encode("utf-8")
    if len(encoded) <= MAX_CLOSE_REASON:
        return encoded
    return encoded[:MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")
