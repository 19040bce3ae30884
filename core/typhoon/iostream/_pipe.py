"""Pipe streams: a stream over a pipe, pty or socket descriptor (Unix only).

Layer 2 (streams), private to :mod:`typhoon.iostream`. Imports ``iostream._base`` and the
standard library.
"""

from __future__ import annotations

__all__ = ["PipeIOStream"]

import errno
import io
import os
import socket as socket_module
import stat
import sys
from typing import Any

from typhoon.iostream._base import BaseIOStream

if sys.platform != "win32":
    import fcntl


class PipeIOStream(BaseIOStream):
    """A stream over a pipe (or other non-socket) file descriptor, Unix only.

    The descriptor's access mode decides the directions: a read end supports reads, a
    write end supports writes, a read-write descriptor (a pty, or a socket such as one
    end of ``socketpair``) both; using the missing direction closes the stream with an
    ``EBADF`` error. The stream owns ``fd`` and closes it when the stream closes. Other
    arguments are those of :class:`BaseIOStream`.
    """

    def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
        if sys.platform == "win32":
            raise OSError(errno.ENOSYS, "PipeIOStream is not available on Windows")
        #: The descriptor this stream wraps.
        self.fd = fd
        super().__init__(*args, **kwargs)
        self._bind_loop()
        mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        self._readable = mode in (os.O_RDONLY, os.O_RDWR)
        self._writable = mode in (os.O_WRONLY, os.O_RDWR)
        self._rfile: io.FileIO | None = None
        self._wfile: io.FileIO | None = None
        self._socket: socket_module.socket | None = None
        if stat.S_ISSOCK(os.fstat(fd).st_mode):
            # A pipe transport would take a socket's incoming data for a hang-up: a
            # socket gets the socket transport, one for both directions.
            self._socket = socket_module.socket(fileno=fd)
            self._begin(self._open_socket(self._socket))
            return
        if self._readable:
            self._rfile = io.FileIO(fd, "rb", closefd=True)
        if self._writable:
            # With both directions each transport needs its own descriptor to close.
            wfd = os.dup(fd) if self._readable else fd
            self._wfile = io.FileIO(wfd, "wb", closefd=True)
        self._begin(self._open_pipes(self._rfile, self._wfile))

    def fileno(self) -> int:
        """Return the wrapped file descriptor."""
        return self.fd

    async def _open_socket(self, sock: socket_module.socket) -> None:
        await self._get_loop().connect_accepted_socket(self.connection_protocol, sock)

    async def _open_pipes(self, rfile: io.FileIO | None, wfile: io.FileIO | None) -> None:
        loop = self._get_loop()
        if rfile is not None:
            await loop.connect_read_pipe(lambda: self.connection_protocol(writes=False), rfile)
        if wfile is not None:
            await loop.connect_write_pipe(lambda: self.connection_protocol(reads=False), wfile)

    def _close_unopened(self) -> None:
        # Files whose transport came up belong to it; close the others.
        if self._socket is not None and self._transport is None:
            self._socket.close()
        if self._transport is None and self._wfile is not None:
            self._wfile.close()
        if self._read_transport is None and self._rfile is not None:
            self._rfile.close()
