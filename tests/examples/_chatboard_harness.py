"""The demo board for its tests: the development provider and the board itself, served
from a thread of their own so that blocking clients (requests, selenium, a browser)
can talk to them."""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
import threading
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chatboard"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from chatboard.app import make_app  # noqa: E402
from chatboard.devstack import make_dev_provider  # noqa: E402
from chatboard.live import Hub  # noqa: E402
from typhoon_database import Connection  # noqa: E402
from typhoon_database.server import PrivateMariaDB  # noqa: E402

#: Seconds the servers may take to start or stop.
START_WAIT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RunningBoard:
    """The provider and the board on one event loop in a background thread."""

    def __init__(self, database: PrivateMariaDB) -> None:
        self.database = database
        self.port = free_port()
        self.provider_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = f"http://127.0.0.1:{self.provider_port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="chatboard", daemon=True)
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.app: Any = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        secret = secrets.token_urlsafe(16)
        provider = make_dev_provider(self.issuer, [self.url], secret)
        provider_app = provider.application()
        provider_server = provider_app.listen(self.provider_port, "127.0.0.1")
        db = self.database
        self.app = make_app(
            environ={
                "CHATBOARD_DEV_ISSUER": self.issuer,
                "CHATBOARD_DEV_CLIENT_SECRET": secret,
                "CHATBOARD_COOKIE_SECRET": secrets.token_urlsafe(32),
            },
            mysql_host=db.address,
            mysql_database=db.database,
            mysql_user=db.user,
            mysql_password=db.password,
            mysql_pool_size=4,
        )
        await self.app.startup()
        board_server = self.app.listen(self.port, "127.0.0.1")
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            hub = self.app.settings["chatboard_hub"]
            assert isinstance(hub, Hub)
            hub.close_all()
            board_server.stop()
            provider_server.stop()
            await board_server.close_all_connections()
            await provider_server.close_all_connections()
            await self.app.shutdown()

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(START_WAIT):
            raise TimeoutError("the board did not start")
        if self.failure is not None:
            raise self.failure

    def stop(self) -> None:
        if self._stop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(START_WAIT)
        assert not self.thread.is_alive(), "the board did not stop"
        if self.failure is not None:
            raise self.failure

    def clear_messages(self) -> None:
        db = self.database
        with Connection(db.address, db.database, user=db.user, password=db.password) as conn:
            conn.execute("DELETE FROM messages")
