"""Buffered byte streams over asyncio transports: TCP, TLS, Unix sockets and pipes.

Layer 2 (streams). Imports ``_buffers``, ``errors``, ``ioloop``, ``log`` and the standard
library.

A stream offers Tornado's reading interface (``read_until``, ``read_until_regex``,
``read_bytes``, ``read_into``, ``read_until_close``), writes that return a future, a close
callback, and bounded buffers. Underneath, each stream is fed by an asyncio transport
(``loop.connect_accepted_socket``, ``create_connection(sock=...)``, ``connect_read_pipe``,
``connect_write_pipe``, ``loop.start_tls``) rather than by raw descriptor readiness, so
streams run on any asyncio loop, uvloop included.

The implementation is split by concern: ``_core`` (shared state, opening, closing),
``_reading`` (the read buffer and read methods), ``_writing`` (writes and flow control),
``_base`` (:class:`BaseIOStream`: both sides joined to a transport), ``_socket``
(:class:`IOStream`, :class:`SSLIOStream`), ``_pipe`` (:class:`PipeIOStream`).
The exceptions are those of :mod:`typhoon.errors`, re-exported under Tornado's names.
"""

from __future__ import annotations

__all__ = [
    "BaseIOStream",
    "IOStream",
    "IOStreamStatistics",
    "PipeIOStream",
    "SSLIOStream",
    "StreamBufferFullError",
    "StreamBusyError",
    "StreamClosedError",
    "UnsatisfiableReadError",
]

from typhoon.errors import (
    StreamBufferFullError,
    StreamBusyError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from typhoon.iostream._base import BaseIOStream, IOStreamStatistics
from typhoon.iostream._pipe import PipeIOStream
from typhoon.iostream._socket import IOStream, SSLIOStream
