"""A private, throw-away MariaDB (or MySQL) server for tests and local development.

:class:`PrivateMariaDB` creates a data directory under a temporary directory, starts the
server on 127.0.0.1 (a free port) and a Unix socket, creates a database and a user, and
removes everything again on :meth:`~PrivateMariaDB.stop`. It never touches a system-wide
server or its data.
"""

from __future__ import annotations

__all__ = ["MariaDBUnavailable", "PrivateMariaDB", "find_server_binary"]

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pymysql
from typhoon.errors import TyphoonError

_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/sbin"]
)


class MariaDBUnavailable(TyphoonError):
    """No MariaDB/MySQL server binary is installed, or it failed to start."""


def find_server_binary() -> tuple[str, str]:
    """Return the paths of the server binary and the data-directory initialiser."""
    server = shutil.which("mariadbd", path=_SEARCH_PATH) or shutil.which(
        "mysqld", path=_SEARCH_PATH
    )
    installer = shutil.which("mariadb-install-db", path=_SEARCH_PATH) or shutil.which(
        "mysql_install_db", path=_SEARCH_PATH
    )
    if not server or not installer:
        raise MariaDBUnavailable(
            "no MariaDB server found (install the Debian package 'mariadb-server')"
        )
    return server, installer


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts_connections(path: str) -> bool:
    # A plain socket probe: pymysql leaks its socket when a Unix-socket connect fails.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


class PrivateMariaDB:
    """Start a MariaDB server of our own; use as a context manager or call start/stop.

    After :meth:`start`, ``host``, ``port``, ``unix_socket``, ``database``, ``user`` and
    ``password`` describe how to connect (the user has every privilege on the database).
    """

    def __init__(
        self,
        database: str = "typhoon",
        user: str = "typhoon",
        password: str = "typhoon-secret",
        startup_timeout: float = 60.0,
    ) -> None:
        self.database = database
        self.user = user
        self.password = password
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def unix_socket(self) -> str:
        """Path of the server's Unix socket."""
        assert self._tempdir is not None, "server not started"
        return str(Path(self._tempdir.name) / "mysqld.sock")

    @property
    def address(self) -> str:
        """``host:port`` for :class:`~typhoon_database.Connection`."""
        return f"{self.host}:{self.port}"

    def __enter__(self) -> PrivateMariaDB:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Initialise the data directory, start the server and create database and user."""
        server, installer = find_server_binary()
        self._tempdir = tempfile.TemporaryDirectory(prefix="typhoon-mariadb-")
        root = Path(self._tempdir.name)
        datadir = root / "data"
        run_as = ["--user=root"] if os.geteuid() == 0 else []
        init = subprocess.run(
            [
                installer,
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *run_as,
            ],
            capture_output=True,
            check=False,
            timeout=self.startup_timeout,
        )
        if init.returncode != 0:
            self._cleanup()
            raise MariaDBUnavailable(
                f"initialising the MariaDB data directory failed: {init.stderr.decode(errors='replace')[-2000:]}"
            )
        self.port = _free_port()
        log_path = root / "error.log"
        self._process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={self.unix_socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={root / 'mysqld.pid'}",
                f"--log-error={log_path}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--max-connections=500",
                *run_as,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                log = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                self._cleanup()
                raise MariaDBUnavailable(f"MariaDB exited during startup: {log}")
            if _accepts_connections(self.unix_socket):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise MariaDBUnavailable(
                    f"MariaDB did not accept connections within {self.startup_timeout:g} s"
                )
            time.sleep(0.1)
        admin = self.admin_connection()
        with admin, admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
            for host in ("localhost", "127.0.0.1"):
                cursor.execute(
                    f"CREATE USER '{self.user}'@'{host}' IDENTIFIED BY %s", (self.password,)
                )
                cursor.execute(f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'{host}'")
                # PROCESS lets tests KILL their own connections to simulate a server drop.
                cursor.execute(f"GRANT PROCESS ON *.* TO '{self.user}'@'{host}'")

    def admin_connection(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """A root connection over the Unix socket, for tests that manage the server."""
        return pymysql.connect(unix_socket=self.unix_socket, user="root", autocommit=True)

    def stop(self) -> None:
        """Stop the server (politely, then forcibly) and delete its data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        tempdir, self._tempdir = self._tempdir, None
        if tempdir is not None:
            tempdir.cleanup()
