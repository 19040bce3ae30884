"""AsyncPool: coroutine queries on worker threads, transactions, limits, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from typhoon_database import (
    AsyncPool,
    Connection,
    IntegrityError,
    InterfaceError,
    MultipleRowsError,
    OperationalError,
    PoolTimeoutError,
)
from typhoon_database.server import PrivateMariaDB


def make_pool(server: PrivateMariaDB, **kwargs: object) -> AsyncPool:
    return AsyncPool(
        server.address,
        server.database,
        user=server.user,
        password=server.password,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def table(mariadb: PrivateMariaDB) -> str:
    with Connection(
        mariadb.address, mariadb.database, user=mariadb.user, password=mariadb.password
    ) as db:
        db.execute("DROP TABLE IF EXISTS pool_items")
        db.execute(
            "CREATE TABLE pool_items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) UNIQUE, n INT)"
        )
    return "pool_items"


async def test_every_method_as_a_coroutine(mariadb: PrivateMariaDB, table: str) -> None:
    pool = make_pool(mariadb, size=2)
    await pool.open()
    try:
        first = await pool.execute("INSERT INTO pool_items (name, n) VALUES (%s, %s)", "a", 1)
        assert (
            await pool.execute_lastrowid("INSERT INTO pool_items (name, n) VALUES (%s, %s)", "b", 2)
            == first + 1
        )
        assert (
            await pool.executemany(
                "INSERT INTO pool_items (name, n) VALUES (%s, %s)", [("c", 3), ("d", 4)]
            )
            > first
        )
        assert (
            await pool.executemany_lastrowid(
                "INSERT INTO pool_items (name, n) VALUES (%s, %s)", [("e", 5)]
            )
            > first
        )
        assert (
            await pool.executemany_rowcount(
                "UPDATE pool_items SET n = n WHERE name = %s", [("a",), ("zz",)]
            )
            == 0
        )
        assert await pool.execute_rowcount("UPDATE pool_items SET n = n * 10") == 5
        rows = await pool.query("SELECT name, n FROM pool_items ORDER BY id")
        assert [(r.name, r.n) for r in rows] == [
            ("a", 10),
            ("b", 20),
            ("c", 30),
            ("d", 40),
            ("e", 50),
        ]
        assert (await pool.get("SELECT n FROM pool_items WHERE name = %(name)s", name="c")) == {
            "n": 30
        }
        with pytest.raises(MultipleRowsError):
            await pool.get("SELECT * FROM pool_items")
        names = [row.name async for row in pool.iter("SELECT name FROM pool_items ORDER BY id")]
        assert names == ["a", "b", "c", "d", "e"]
    finally:
        await pool.close()
    with pytest.raises(InterfaceError, match="closed"):
        await pool.query("SELECT 1")


async def test_iter_streams_more_than_one_batch(mariadb: PrivateMariaDB, table: str) -> None:
    pool = make_pool(mariadb, size=1)
    try:
        await pool.executemany(
            "INSERT INTO pool_items (name, n) VALUES (%s, %s)", [(f"r{i}", i) for i in range(1234)]
        )
        total = 0
        async for row in pool.iter("SELECT n FROM pool_items ORDER BY n"):
            assert row.n == total
            total += 1
        assert total == 1234
        # The connection is usable again after the stream.
        assert await pool.get("SELECT COUNT(*) AS c FROM pool_items") == {"c": 1234}
    finally:
        await pool.close()


async def test_queries_run_off_the_loop_on_one_thread_per_connection(
    mariadb: PrivateMariaDB,
) -> None:
    pool = make_pool(mariadb, size=8)
    await pool.open()
    loop_thread = threading.get_ident()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        # The loop stays responsive while 100 slow queries run through 8 connections.
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def slow(i: int) -> tuple[int, int]:
        row = await pool.get("SELECT CONNECTION_ID() AS cid, SLEEP(0.02) AS s, %s AS i", i)
        assert row is not None
        return row.cid, row.i

    tick = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(slow(i) for i in range(100)))
    finally:
        stop.set()
        await tick
        await pool.close()
    assert sorted(i for _, i in results) == list(range(100))
    assert len({cid for cid, _ in results}) <= 8
    assert threading.get_ident() == loop_thread
    assert max(gaps) < 0.2, f"event loop blocked for {max(gaps):.3f} s"


async def test_transaction_commits_or_rolls_back(mariadb: PrivateMariaDB, table: str) -> None:
    pool = make_pool(mariadb, size=2)
    try:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO pool_items (name) VALUES (%s)", "kept")
            assert await tx.get("SELECT name FROM pool_items") == {"name": "kept"}
        with pytest.raises(IntegrityError):
            async with pool.transaction() as tx:
                await tx.execute("INSERT INTO pool_items (name) VALUES (%s)", "gone")
                await tx.execute("INSERT INTO pool_items (name) VALUES (%s)", "kept")
        assert [r.name for r in await pool.query("SELECT name FROM pool_items")] == ["kept"]
        with pytest.raises(InterfaceError, match="transaction is over"):
            await tx.query("SELECT 1")
    finally:
        await pool.close()


async def test_cancelled_transaction_rolls_back(mariadb: PrivateMariaDB, table: str) -> None:
    pool = make_pool(mariadb, size=1)
    inserted = asyncio.Event()

    async def work() -> None:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO pool_items (name) VALUES (%s)", "cancelled")
            inserted.set()
            await asyncio.sleep(30)

    try:
        task = asyncio.create_task(work())
        await inserted.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.query("SELECT * FROM pool_items") == []
    finally:
        await pool.close()


async def test_exhausted_pool_times_out_with_a_clear_error(mariadb: PrivateMariaDB) -> None:
    pool = make_pool(mariadb, size=1, acquire_timeout=0.2)
    try:
        holder = asyncio.create_task(pool.get("SELECT SLEEP(1) AS s"))
        await asyncio.sleep(0.05)
        with pytest.raises(
            PoolTimeoutError, match=r"no free database connection within 0.2 s \(pool size 1\)"
        ):
            await pool.get("SELECT 1 AS one")
        assert await holder == {"s": 0}
    finally:
        await pool.close()


async def test_pool_reconnects_after_the_server_kills_its_connection(
    mariadb: PrivateMariaDB,
) -> None:
    pool = make_pool(mariadb, size=1)
    try:
        before = await pool.get("SELECT CONNECTION_ID() AS id")
        assert before is not None
        with mariadb.admin_connection() as admin, admin.cursor() as cursor:
            cursor.execute("KILL %s", (before.id,))
        after = await pool.get("SELECT CONNECTION_ID() AS id")
        assert after is not None
        assert after.id != before.id
    finally:
        await pool.close()


async def test_open_fails_clearly_for_a_wrong_password(mariadb: PrivateMariaDB) -> None:
    pool = AsyncPool(
        mariadb.address, mariadb.database, user=mariadb.user, password="wrong-pass-123", size=2
    )
    try:
        with pytest.raises(OperationalError) as caught:
            await pool.open()
        assert "wrong-pass-123" not in str(caught.value)
    finally:
        await pool.close()


def test_pool_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AsyncPool("127.0.0.1", "db", size=0)
