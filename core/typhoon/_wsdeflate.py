"""permessage-deflate (RFC 7692): extension header syntax, negotiation, message codecs.

Three parts:

* ``Sec-WebSocket-Extensions`` syntax (RFC 6455 section 9.1): :func:`parse_extensions`
  and :func:`format_extension`.
* Negotiation (RFC 7692 section 7.1): :class:`DeflateOptions` is what one side wants,
  :class:`DeflateParams` what both sides agreed. The server picks the first offer it
  can honour and declines (skips) offers with unknown, duplicate or invalid
  parameters (section 5); the client fails the handshake on any response it did not
  ask for.
* Message codecs: :class:`MessageDeflater` and :class:`MessageInflater` compress one
  message (possibly in fragments) and decompress one, with the ``00 00 ff ff`` tail
  stripped and re-appended (section 7.2) and decompressed output bounded so a small
  frame cannot expand into a large allocation.

zlib cannot compress with an 8-bit window in raw mode. When a peer limits us to 8 bits
we compress with a 9-bit window and the Huffman-only strategy: it emits no
back-references at all, so the window size never matters to the peer.
"""

from __future__ import annotations

__all__ = [
    "DeflateOptions",
    "DeflateParams",
    "Extension",
    "MessageDeflater",
    "MessageInflater",
    "client_deflate_params",
    "format_extension",
    "message_compressors",
    "parse_extensions",
    "server_negotiate_deflate",
]

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import ConfigurationError, WebSocketError, WebSocketHandshakeError

EXTENSION_NAME = "permessage-deflate"

# RFC 7692 section 7.2.1: the empty stored block that ends each flushed message.
_TAIL = b"\x00\x00\xff\xff"

# RFC 7230 section 3.2.6 token and quoted-string, used by RFC 6455 section 9.1.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED_RE = re.compile(r'"((?:[\t !#-\[\]-~\x80-\xff]|\\[\t !-~\x80-\xff])*)"')
_OWS_RE = re.compile(r"[ \t]*")
_ESCAPE_RE = re.compile(r"\\(.)")
# RFC 7692 section 7.1.2: window bits are 8-15, decimal, without leading zeros.
_WINDOW_BITS_RE = re.compile(r"(?:8|9|1[0-5])\Z")


class Extension(NamedTuple):
    """One element of a ``Sec-WebSocket-Extensions`` header.

    ``name`` and parameter names are lowercased; a parameter without ``=value`` has
    the value ``None``. Quoted values are unescaped.
    """

    name: str
    params: tuple[tuple[str, str | None], ...]


def parse_extensions(values: Iterable[str]) -> list[Extension]:
    """Parse every ``Sec-WebSocket-Extensions`` header value, in order.

    Raises :class:`~typhoon.errors.WebSocketHandshakeError` (status 400) on a syntax
    error: a bad token, an unterminated quote, a quoted value that is not a token after
    unescaping (RFC 6455 section 9.1), or stray characters.
    """
    result: list[Extension] = []
    for value in values:
        _parse_extension_value(value, result)
    return result


def _syntax_error(value: str, pos: int) -> WebSocketHandshakeError:
    return WebSocketHandshakeError(
        f"malformed Sec-WebSocket-Extensions header at offset {pos}: {value!r}"
    )


def _parse_extension_value(value: str, out: list[Extension]) -> None:
    pos = 0
    end = len(value)
    while True:
        pos = _OWS_RE.match(value, pos).end()  # type: ignore[union-attr]
        if pos < end and value[pos] == ",":
            # RFC 7230 section 7: empty list elements are ignored.
            pos += 1
            continue
        if pos >= end:
            return
        match = _TOKEN_RE.match(value, pos)
        if match is None:
            raise _syntax_error(value, pos)
        name = match.group().lower()
        pos = _OWS_RE.match(value, match.end()).end()  # type: ignore[union-attr]
        params: list[tuple[str, str | None]] = []
        while pos < end and value[pos] == ";":
            pos = _OWS_RE.match(value, pos + 1).end()  # type: ignore[union-attr]
            match = _TOKEN_RE.match(value, pos)
            if match is None:
                raise _syntax_error(value, pos)
            param = match.group().lower()
            pos = _OWS_RE.match(value, match.end()).end()  # type: ignore[union-attr]
            param_value: str | None = None
            if pos < end and value[pos] == "=":
                pos = _OWS_RE.match(value, pos + 1).end()  # type: ignore[union-attr]
                token = _TOKEN_RE.match(value, pos)
                if token is not None:
                    param_value = token.group()
                    pos = token.end()
                else:
                    quoted = _QUOTED_RE.match(value, pos)
                    if quoted is None:
                        raise _syntax_error(value, pos)
                    param_value = _ESCAPE_RE.sub(r"\1", quoted.group(1))
                    # RFC 6455 section 9.1: an unescaped quoted value must be a token.
                    if _TOKEN_RE.fullmatch(param_value) is None:
                        raise _syntax_error(value, pos)
                    pos = quoted.end()
                pos = _OWS_RE.match(value, pos).end()  # type: ignore[union-attr]
            params.append((param, param_value))
        out.append(Extension(name, tuple(params)))
        if pos >= end:
            return
        if value[pos] != ",":
            raise _syntax_error(value, pos)
        pos += 1


def format_extension(extension: Extension) -> str:
    """Serialize one extension element (values are tokens, so no quoting is needed)."""
    parts = [extension.name]
    for name, value in extension.params:
        parts.append(name if value is None else f"{name}={value}")
    return "; ".join(parts)


def _check_window_bits(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not 8 <= value <= 15):
        raise ConfigurationError(f"{name} must be an integer from 8 to 15, got {value!r}")


@dataclass(frozen=True, slots=True)
class DeflateOptions:
    """What this endpoint wants from permessage-deflate; the input to negotiation.

    ``compression_level`` (0-9, or -1 for zlib's default) and ``mem_level`` (1-9) tune
    our compressor only and are never sent. The four RFC 7692 parameters mean, as a
    server: insist on them in the response; as a client: request them in the offer.
    ``None`` window bits leave the choice to the peer (15 at most).
    """

    compression_level: int = zlib.Z_DEFAULT_COMPRESSION
    mem_level: int = 8
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.compression_level, bool) or not -1 <= self.compression_level <= 9:
            raise ConfigurationError(
                f"compression_level must be -1 or 0-9, got {self.compression_level!r}"
            )
        if isinstance(self.mem_level, bool) or not 1 <= self.mem_level <= 9:
            raise ConfigurationError(f"mem_level must be 1-9, got {self.mem_level!r}")
        _check_window_bits("server_max_window_bits", self.server_max_window_bits)
        _check_window_bits("client_max_window_bits", self.client_max_window_bits)

    @classmethod
    def from_compression_options(cls, options: Mapping[str, Any] | None) -> DeflateOptions | None:
        """Translate Tornado's ``compression_options`` dict; ``None`` means no compression.

        Recognised keys: ``compression_level``, ``mem_level`` and the four RFC 7692
        parameter names. Unknown keys raise :class:`~typhoon.errors.ConfigurationError`
        so a typo does not silently change behaviour.
        """
        if options is None:
            return None
        known = {
            "compression_level",
            "mem_level",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        }
        unknown = set(options) - known
        if unknown:
            raise ConfigurationError(f"unknown compression options: {sorted(unknown)}")
        return cls(**dict(options))

    def client_offer(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value a client sends to offer these options.

        ``client_max_window_bits`` is always offered, bare when unset, to tell the
        server we can honour a smaller window (RFC 7692 section 7.1.2.2).
        """
        params: list[tuple[str, str | None]] = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        bits = self.client_max_window_bits
        params.append(("client_max_window_bits", None if bits is None else str(bits)))
        return format_extension(Extension(EXTENSION_NAME, tuple(params)))


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """The permessage-deflate parameters both endpoints agreed on.

    Produced by the handshake helpers and passed to
    :class:`typhoon.wsproto.WebSocketCodec`, which reads the ``server_*`` or
    ``client_*`` half according to its role. ``compression_level`` and ``mem_level``
    carry over from the local :class:`DeflateOptions`.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15
    compression_level: int = zlib.Z_DEFAULT_COMPRESSION
    mem_level: int = 8

    def __post_init__(self) -> None:
        _check_window_bits("server_max_window_bits", self.server_max_window_bits)
        _check_window_bits("client_max_window_bits", self.client_max_window_bits)


class _Declined(Exception):
    """An offer or response carries a parameter set RFC 7692 section 7 does not allow."""


def _read_params(
    params: Sequence[tuple[str, str | None]], *, response: bool
) -> dict[str, int | bool | None]:
    """Validate RFC 7692 parameters; raise :class:`_Declined` with the reason."""
    seen: dict[str, int | bool | None] = {}
    for name, value in params:
        if name in seen:
            raise _Declined(f"duplicate parameter {name}")
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise _Declined(f"{name} takes no value")
            seen[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            if value is None:
                # Only a client's offer may leave client_max_window_bits bare.
                if name == "server_max_window_bits" or response:
                    raise _Declined(f"{name} needs a value")
                seen[name] = None
            elif _WINDOW_BITS_RE.match(value) is None:
                raise _Declined(f"invalid {name} value {value!r}")
            else:
                seen[name] = int(value)
        else:
            raise _Declined(f"unknown parameter {name}")
    return seen


def server_negotiate_deflate(
    offers: Sequence[Extension], options: DeflateOptions
) -> tuple[DeflateParams, str] | None:
    """As a server, accept the first acceptable permessage-deflate offer.

    Returns the agreed parameters and the response header value, or ``None`` when the
    client offered nothing usable (the connection then runs uncompressed).
    """
    for offer in offers:
        if offer.name != EXTENSION_NAME:
            continue
        try:
            params = _read_params(offer.params, response=False)
        except _Declined:
            continue
        response: list[tuple[str, str | None]] = []
        # Section 7.1.1: either side's request for no context takeover is honoured.
        server_nct = bool(params.get("server_no_context_takeover")) or (
            options.server_no_context_takeover
        )
        client_nct = bool(params.get("client_no_context_takeover")) or (
            options.client_no_context_takeover
        )
        if server_nct:
            response.append(("server_no_context_takeover", None))
        if client_nct:
            response.append(("client_no_context_takeover", None))
        # Section 7.1.2.1: answer a server_max_window_bits request with an equal or
        # smaller value; without a request we may still announce our own limit.
        server_bits = 15
        offered_server = params.get("server_max_window_bits")
        if isinstance(offered_server, int):
            server_bits = offered_server
            if options.server_max_window_bits is not None:
                server_bits = min(server_bits, options.server_max_window_bits)
            response.append(("server_max_window_bits", str(server_bits)))
        elif options.server_max_window_bits is not None:
            server_bits = options.server_max_window_bits
            response.append(("server_max_window_bits", str(server_bits)))
        # Section 7.1.2.2: client_max_window_bits may be sent only if it was offered.
        client_bits = 15
        if "client_max_window_bits" in params:
            offered_client = params["client_max_window_bits"]
            limit = offered_client if isinstance(offered_client, int) else 15
            if options.client_max_window_bits is not None:
                client_bits = min(limit, options.client_max_window_bits)
                response.append(("client_max_window_bits", str(client_bits)))
            else:
                client_bits = limit
                if isinstance(offered_client, int):
                    response.append(("client_max_window_bits", str(client_bits)))
        agreed = DeflateParams(
            server_no_context_takeover=server_nct,
            client_no_context_takeover=client_nct,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
            compression_level=options.compression_level,
            mem_level=options.mem_level,
        )
        return agreed, format_extension(Extension(EXTENSION_NAME, tuple(response)))
    return None


def client_deflate_params(
    responses: Sequence[Extension], options: DeflateOptions | None
) -> DeflateParams | None:
    """As a client, check the server's extension response against what we offered.

    Returns the agreed parameters, or ``None`` when the server declined compression.
    Raises :class:`~typhoon.errors.WebSocketHandshakeError` for an extension we did not
    offer, a repeated permessage-deflate, or parameters RFC 7692 section 7.1 forbids
    in this response (RFC 6455 section 4.1: the client must then fail the connection).
    """
    agreed: DeflateParams | None = None
    for response in responses:
        if response.name != EXTENSION_NAME or options is None:
            raise WebSocketHandshakeError(
                f"server accepted an extension not offered: {response.name}"
            )
        if agreed is not None:
            raise WebSocketHandshakeError("server accepted permessage-deflate twice")
        try:
            params = _read_params(response.params, response=True)
        except _Declined as exc:
            raise WebSocketHandshakeError(f"invalid permessage-deflate response: {exc}") from None
        server_nct = bool(params.get("server_no_context_takeover"))
        if options.server_no_context_takeover and not server_nct:
            raise WebSocketHandshakeError("server ignored server_no_context_takeover")
        server_bits = params.get("server_max_window_bits")
        if options.server_max_window_bits is not None:
            if not isinstance(server_bits, int):
                raise WebSocketHandshakeError("server ignored server_max_window_bits")
            if server_bits > options.server_max_window_bits:
                raise WebSocketHandshakeError("server_max_window_bits larger than offered")
        client_bits = params.get("client_max_window_bits")
        if (
            isinstance(client_bits, int)
            and options.client_max_window_bits is not None
            and client_bits > options.client_max_window_bits
        ):
            raise WebSocketHandshakeError("client_max_window_bits larger than offered")
        agreed = DeflateParams(
            server_no_context_takeover=server_nct,
            client_no_context_takeover=bool(params.get("client_no_context_takeover"))
            or options.client_no_context_takeover,
            server_max_window_bits=server_bits if isinstance(server_bits, int) else 15,
            client_max_window_bits=(
                client_bits
                if isinstance(client_bits, int)
                else (options.client_max_window_bits or 15)
            ),
            compression_level=options.compression_level,
            mem_level=options.mem_level,
        )
    return agreed


class MessageDeflater:
    """Compresses outgoing messages for one connection (RFC 7692 section 7.2.1).

    With context takeover the LZ77 window carries over between messages; without it
    each message ends with a full flush, which resets the window while keeping the
    zlib object (and its allocation) for the next message.
    """

    __slots__ = ("_level", "_mem_level", "_no_context_takeover", "_obj", "_strategy", "_wbits")

    def __init__(
        self, *, window_bits: int, no_context_takeover: bool, level: int, mem_level: int
    ) -> None:
        self._level = level
        self._mem_level = mem_level
        self._no_context_takeover = no_context_takeover
        if window_bits == 8:
            self._wbits = -9
            self._strategy = zlib.Z_HUFFMAN_ONLY
        else:
            self._wbits = -window_bits
            self._strategy = zlib.Z_DEFAULT_STRATEGY
        self._obj: Any = None

    def compress(self, data: bytes, final: bool) -> bytes:
        """Compress one fragment; ``final`` ends the message and strips the tail."""
        obj = self._obj
        if obj is None:
            obj = self._obj = zlib.compressobj(
                self._level, zlib.DEFLATED, self._wbits, self._mem_level, self._strategy
            )
        mode = zlib.Z_FULL_FLUSH if final and self._no_context_takeover else zlib.Z_SYNC_FLUSH
        out: bytes = obj.compress(data) + obj.flush(mode)
        if not final:
            return out
        if out.endswith(_TAIL):
            out = out[:-4]
        # An empty result would leave the peer's inflater inside a stored-block header
        # once it appends the tail; a lone zero byte completes an empty stored block.
        return out or b"\x00"


class MessageInflater:
    """Decompresses incoming messages for one connection (RFC 7692 section 7.2.2).

    Every call is bounded: output beyond the caller's budget raises 1009 before it is
    kept. Without context takeover the zlib object is dropped after each message, so
    an idle connection holds no window.
    """

    __slots__ = ("_no_context_takeover", "_obj", "_wbits")

    def __init__(self, *, window_bits: int, no_context_takeover: bool) -> None:
        # Some zlib builds compress "8-bit" windows with 9 bits; inflating with at least
        # 9 accepts their output, and a larger inflate window is always safe.
        self._wbits = -max(window_bits, 9)
        self._no_context_takeover = no_context_takeover
        self._obj: Any = None

    def decompress(self, data: bytes, budget: int | None) -> bytes:
        """Decompress a piece of a message, producing at most ``budget`` bytes."""
        obj = self._obj
        if obj is None:
            obj = self._obj = zlib.decompressobj(self._wbits)
        if obj.eof:
            # A block with BFINAL set ended the stream (RFC 7692 section 7.2.3.5); more
            # data in the same message cannot be decoded.
            if data:
                raise WebSocketError("data after the end of a deflate stream", close_code=1007)
            return b""
        try:
            out: bytes = obj.decompress(data, 0 if budget is None else budget + 1)
        except zlib.error as exc:
            raise WebSocketError(f"invalid compressed data: {exc}", close_code=1007) from exc
        if budget is not None and len(out) > budget:
            raise WebSocketError("message too big after decompression", close_code=1009)
        return out

    def finish(self, budget: int | None) -> bytes:
        """End the message: feed the stripped tail back, flush, apply context rules."""
        obj = self._obj
        if obj is None or obj.eof:
            # The stream ended with a BFINAL block: nothing is left to flush and the
            # next message needs a fresh stream.
            self._obj = None
            return b""
        out = self.decompress(_TAIL, budget)
        if self._no_context_takeover:
            self._obj = None
        return out


def message_compressors(
    params: DeflateParams, *, server: bool
) -> tuple[MessageDeflater, MessageInflater]:
    """The compressor for what this endpoint sends and the decompressor for what it
    receives, under the agreed ``params``.

    RFC 7692 section 7.1: the ``server_*`` parameters govern what the server
    compresses, the ``client_*`` ones what the client compresses.
    """
    if server:
        send_bits, send_nct = params.server_max_window_bits, params.server_no_context_takeover
        recv_bits, recv_nct = params.client_max_window_bits, params.client_no_context_takeover
    else:
        send_bits, send_nct = params.client_max_window_bits, params.client_no_context_takeover
        recv_bits, recv_nct = params.server_max_window_bits, params.server_no_context_takeover
    deflater = MessageDeflater(
        window_bits=send_bits,
        no_context_takeover=send_nct,
        level=params.compression_level,
        mem_level=params.mem_level,
    )
    return deflater, MessageInflater(window_bits=recv_bits, no_context_takeover=recv_nct)
