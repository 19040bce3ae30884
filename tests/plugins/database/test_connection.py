"""The blocking torndb-style Connection against a real MariaDB server."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from typhoon_database import (
    Connection,
    IntegrityError,
    MultipleRowsError,
    OperationalError,
    ProgrammingError,
    Row,
)
from typhoon_database.server import PrivateMariaDB


@pytest.fixture
def db(mariadb: PrivateMariaDB) -> Iterator[Connection]:
    connection = Connection(
        mariadb.address, mariadb.database, user=mariadb.user, password=mariadb.password
    )
    connection.execute("DROP TABLE IF EXISTS items")
    connection.execute(
        "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE,"
        " price INT, created DATETIME NULL)"
    )
    yield connection
    connection.close()


def test_row_is_a_dict_with_attribute_access() -> None:
    row = Row(name="x", id=3)
    assert row.name == "x"
    assert row["id"] == 3
    with pytest.raises(AttributeError):
        _ = row.missing


def test_execute_variants_and_reads(db: Connection) -> None:
    first = db.execute("INSERT INTO items (name, price) VALUES (%s, %s)", "apple", 3)
    second = db.execute_lastrowid("INSERT INTO items (name, price) VALUES (%s, %s)", "pear", 4)
    assert second == first + 1
    assert db.execute_rowcount("UPDATE items SET price = price + 1") == 2
    last = db.executemany(
        "INSERT INTO items (name, price) VALUES (%s, %s)", [("fig", 1), ("kiwi", 2)]
    )
    assert last >= second + 1
    assert (
        db.executemany_lastrowid(
            "INSERT INTO items (name, price) VALUES (%(n)s, %(p)s)", [{"n": "lime", "p": 5}]
        )
        > last
    )
    assert (
        db.executemany_rowcount(
            "UPDATE items SET price = %s WHERE name = %s", [(9, "fig"), (9, "kiwi")]
        )
        == 2
    )

    rows = db.query("SELECT name, price FROM items ORDER BY id")
    assert [(r.name, r.price) for r in rows] == [
        ("apple", 4),
        ("pear", 5),
        ("fig", 9),
        ("kiwi", 9),
        ("lime", 5),
    ]
    assert db.get("SELECT price FROM items WHERE name = %(name)s", name="pear") == {"price": 5}
    assert db.get("SELECT * FROM items WHERE name = %s", "nothing") is None
    with pytest.raises(MultipleRowsError, match="returned 2"):
        db.get("SELECT * FROM items WHERE price = 9")
    assert [
        row.name for row in db.iter("SELECT name FROM items WHERE price > %s ORDER BY id", 4)
    ] == ["pear", "fig", "kiwi", "lime"]


def test_unicode_four_byte_round_trip(db: Connection) -> None:
    text = "naïve 🐍 日本語 \U0001f600"
    db.execute("INSERT INTO items (name) VALUES (%s)", text)
    assert db.get("SELECT name FROM items")["name"] == text  # type: ignore[index]


def test_datetimes_are_stored_in_utc(db: Connection) -> None:
    aware = datetime.datetime(
        2026, 3, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    db.execute("INSERT INTO items (name, created) VALUES (%s, %s)", "a", aware)
    row = db.get("SELECT created, @@session.time_zone AS tz FROM items")
    assert row is not None
    assert row.created == datetime.datetime(2026, 3, 1, 10, 30)
    assert row.tz == "+00:00"


def test_parameters_are_bound_never_interpolated(db: Connection) -> None:
    hostile = "x'); DROP TABLE items; --"
    db.execute("INSERT INTO items (name) VALUES (%s)", hostile)
    assert db.get("SELECT name FROM items WHERE name = %s", hostile) == {"name": hostile}
    assert db.query("SELECT * FROM items WHERE name = %s", "' OR '1'='1") == []
    assert db.get("SELECT COUNT(*) AS n FROM items") == {"n": 1}


def test_errors_are_translated_and_keep_the_original(db: Connection) -> None:
    import pymysql

    db.execute("INSERT INTO items (name) VALUES (%s)", "dup")
    with pytest.raises(IntegrityError) as caught:
        db.execute("INSERT INTO items (name) VALUES (%s)", "dup")
    assert caught.value.code == 1062
    assert isinstance(caught.value.__cause__, pymysql.err.IntegrityError)
    with pytest.raises(ProgrammingError):
        db.query("SELECT * FROM no_such_table")


def test_wrong_password_never_appears_in_the_error(mariadb: PrivateMariaDB) -> None:
    secret = "s3cr3t-passw0rd-value"
    with pytest.raises(OperationalError) as caught:
        Connection(mariadb.address, mariadb.database, user=mariadb.user, password=secret)
    assert caught.value.code == 1045
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)


def test_repr_hides_the_password(db: Connection, mariadb: PrivateMariaDB) -> None:
    assert mariadb.password not in repr(db)


def test_unix_socket_host(mariadb: PrivateMariaDB) -> None:
    with Connection(
        mariadb.unix_socket, mariadb.database, user=mariadb.user, password=mariadb.password
    ) as db:
        assert db.get("SELECT 1 AS one") == {"one": 1}


def test_read_reconnects_after_server_kills_the_connection(
    db: Connection, mariadb: PrivateMariaDB
) -> None:
    thread_id = db.get("SELECT CONNECTION_ID() AS id")["id"]  # type: ignore[index]
    with mariadb.admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute("KILL %s", (thread_id,))
    row = db.get("SELECT CONNECTION_ID() AS id")
    assert row is not None
    assert row.id != thread_id


def test_write_is_not_retried_after_a_drop(db: Connection, mariadb: PrivateMariaDB) -> None:
    thread_id = db.get("SELECT CONNECTION_ID() AS id")["id"]  # type: ignore[index]
    with mariadb.admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute("KILL %s", (thread_id,))
    with pytest.raises(OperationalError):
        db.execute("INSERT INTO items (name) VALUES (%s)", "lost")
    # The next statement runs on a fresh connection; the failed insert did not happen twice.
    assert db.get("SELECT COUNT(*) AS n FROM items") == {"n": 0}


def test_idle_connection_is_replaced_after_max_idle_time(mariadb: PrivateMariaDB) -> None:
    with Connection(
        mariadb.address,
        mariadb.database,
        user=mariadb.user,
        password=mariadb.password,
        max_idle_time=0,
    ) as db:
        first = db.get("SELECT CONNECTION_ID() AS id")
        second = db.get("SELECT CONNECTION_ID() AS id")
        assert first != second


def test_transactions_commit_and_roll_back(db: Connection) -> None:
    db.begin()
    db.execute("INSERT INTO items (name) VALUES (%s)", "kept")
    db.commit()
    db.begin()
    db.execute("INSERT INTO items (name) VALUES (%s)", "dropped")
    db.rollback()
    assert [r.name for r in db.query("SELECT name FROM items")] == ["kept"]


@pytest.mark.parametrize("host", ["host:port", "host:", "a:b:c"])
def test_bad_host_strings_are_refused(host: str) -> None:
    with pytest.raises((ValueError, OperationalError)):
        Connection(host, "db", connect_timeout=1)


def test_time_zone_is_validated() -> None:
    with pytest.raises(ValueError, match="time_zone"):
        Connection("127.0.0.1:1", "db", time_zone="'; DROP DATABASE x; --")
