"""The database plugin inside a real Application served over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import typhoon_database.plugin as database_plugin
from typhoon.errors import ConfigurationError, PluginError
from typhoon.httpclient import AsyncHTTPClient
from typhoon.netutil import bind_sockets
from typhoon.web import Application, HTTPError, RequestHandler
from typhoon_database import AsyncPool, Connection, OperationalError
from typhoon_database.server import PrivateMariaDB


class ItemHandler(RequestHandler):
    async def get(self, item_id: str) -> None:
        row = await self.db.get(
            "SELECT id, name, SLEEP(%s) AS s FROM plugin_items WHERE id = %s",
            float(self.get_argument("sleep", "0")),
            int(item_id),
        )
        if row is None:
            raise HTTPError(404)
        self.write({"id": row.id, "name": row.name})

    async def post(self, item_id: str) -> None:
        async with self.application.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO plugin_items (id, name) VALUES (%s, %s)",
                int(item_id),
                self.get_body_argument("name"),
            )
            if self.get_body_argument("fail", None):
                raise ValueError("rolled back on purpose")
        self.set_status(201)


class PingHandler(RequestHandler):
    def get(self) -> None:
        self.write("pong")


def db_settings(server: PrivateMariaDB, **extra: Any) -> dict[str, Any]:
    return {
        "mysql_host": server.address,
        "mysql_database": server.database,
        "mysql_user": server.user,
        "mysql_password": server.password,
        **extra,
    }


@pytest.fixture
def items_table(mariadb: PrivateMariaDB) -> None:
    with Connection(
        mariadb.address, mariadb.database, user=mariadb.user, password=mariadb.password
    ) as db:
        db.execute("DROP TABLE IF EXISTS plugin_items")
        db.execute("CREATE TABLE plugin_items (id INT PRIMARY KEY, name VARCHAR(50))")
        db.executemany(
            "INSERT INTO plugin_items (id, name) VALUES (%s, %s)",
            [(i, f"item-{i}") for i in range(1, 11)],
        )


def make_app(**settings: Any) -> Application:
    return Application(
        [(r"/item/(\d+)", ItemHandler), (r"/ping", PingHandler)],
        plugins=[database_plugin],
        load_entrypoints=False,
        **settings,
    )


def test_plugin_is_inert_without_mysql_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TYPHOON_MYSQL_HOST", raising=False)
    app = make_app()
    assert not app.plugin_manager.has_implementations("prepare_request")
    assert app.settings["mysql_pool_size"] == 8
    assert not hasattr(app, "db")


def test_settings_are_validated() -> None:
    with pytest.raises(Exception, match="mysql_database") as caught:
        make_app(mysql_host="127.0.0.1")
    assert isinstance(caught.value, ConfigurationError) or isinstance(
        caught.value.__cause__, ConfigurationError
    )
    with pytest.raises(Exception, match="mysql_pool_size"):
        make_app(mysql_host="127.0.0.1", mysql_database="x", mysql_pool_size="lots")


def test_settings_repr_hides_the_password(mariadb: PrivateMariaDB) -> None:
    app = make_app(**db_settings(mariadb))
    settings = database_plugin.read_settings(app)
    assert settings is not None
    assert mariadb.password not in repr(settings)


async def test_environment_variables_configure_the_pool(
    mariadb: PrivateMariaDB, items_table: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TYPHOON_MYSQL_HOST", mariadb.host)
    monkeypatch.setenv("TYPHOON_MYSQL_PORT", str(mariadb.port))
    monkeypatch.setenv("TYPHOON_MYSQL_DATABASE", mariadb.database)
    monkeypatch.setenv("TYPHOON_MYSQL_USER", mariadb.user)
    monkeypatch.setenv("TYPHOON_MYSQL_PASSWORD", mariadb.password)
    monkeypatch.setenv("TYPHOON_MYSQL_POOL_SIZE", "3")
    app = make_app()
    await app.startup()
    try:
        assert isinstance(app.db, AsyncPool)
        assert app.db.size == 3
        assert await app.db.get("SELECT name FROM plugin_items WHERE id = %s", 2) == {
            "name": "item-2"
        }
    finally:
        await app.shutdown()
    with pytest.raises(Exception, match="closed"):
        await app.db.query("SELECT 1")


async def test_startup_fails_clearly_on_a_wrong_password(mariadb: PrivateMariaDB) -> None:
    app = make_app(**db_settings(mariadb, mysql_password="not-the-password-42"))
    with pytest.raises(PluginError, match="1045") as caught:
        await app.startup()
    assert "not-the-password-42" not in str(caught.value)
    assert isinstance(caught.value.__cause__, OperationalError)


async def test_handlers_use_the_pool_and_a_parallel_ping_stays_fast(
    mariadb: PrivateMariaDB, items_table: None
) -> None:
    app = make_app(**db_settings(mariadb, mysql_pool_size=8))
    [sock] = bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    sock.close()
    server = app.listen(port, "127.0.0.1")
    await app.startup()
    client = AsyncHTTPClient(force_instance=True, max_clients=200)
    try:
        base = f"http://127.0.0.1:{port}"
        response = await client.fetch(f"{base}/item/3")
        assert json.loads(response.body) == {"id": 3, "name": "item-3"}
        missing = await client.fetch(f"{base}/item/999", raise_error=False)
        assert missing.code == 404

        # 100 concurrent requests, each holding a connection for 50 ms, through 8 connections.
        slow = [
            client.fetch(f"{base}/item/{1 + i % 10}?sleep=0.05", request_timeout=30)
            for i in range(100)
        ]
        slow_all = asyncio.gather(*slow)
        await asyncio.sleep(0.05)
        ping_times = []
        for _ in range(5):
            started = time.monotonic()
            pong = await client.fetch(f"{base}/ping")
            ping_times.append(time.monotonic() - started)
            assert pong.body == b"pong"
        results = await slow_all
        assert all(r.code == 200 for r in results)
        # Queries of ~0.6 s in total are still running; the loop answers pings at once.
        assert min(ping_times) < 0.1, ping_times

        created = await client.fetch(f"{base}/item/50", method="POST", body="name=new")
        assert created.code == 201
        failed = await client.fetch(
            f"{base}/item/51", method="POST", body="name=x&fail=1", raise_error=False
        )
        assert failed.code == 500
        assert await app.db.get("SELECT COUNT(*) AS n FROM plugin_items WHERE id >= 50") == {"n": 1}
        hostile = await client.fetch(f"{base}/item/1%20OR%201=1", raise_error=False)
        assert hostile.code == 404
    finally:
        client.close()
        server.stop()
        await app.shutdown()
