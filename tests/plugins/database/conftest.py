"""A private MariaDB server for the database plugin's tests, shared by the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from typhoon_database.server import MariaDBUnavailable, PrivateMariaDB


@pytest.fixture(scope="session")
def mariadb() -> Iterator[PrivateMariaDB]:
    """A running private MariaDB with an empty ``typhoon`` database and user."""
    server = PrivateMariaDB()
    try:
        server.start()
    except MariaDBUnavailable as error:
        if os.environ.get("TYPHOON_REQUIRE_MARIADB"):
            raise
        pytest.skip(f"DATABASE TESTS SKIPPED: {error}")
    try:
        yield server
    finally:
        server.stop()
