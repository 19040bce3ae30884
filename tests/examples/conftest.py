"""Fixtures of the demo board's tests: a private MariaDB with the board's schema for the
session, and the board with the development provider for each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from _chatboard_harness import RunningBoard
from chatboard.devstack import start_database
from typhoon_database.server import MariaDBUnavailable, PrivateMariaDB


@pytest.fixture(scope="session")
def chatboard_database() -> Iterator[PrivateMariaDB]:
    """A private MariaDB with the board's schema, for the whole session."""
    try:
        server = start_database()
    except MariaDBUnavailable as error:
        if os.environ.get("TYPHOON_REQUIRE_MARIADB"):
            raise
        pytest.skip(f"CHATBOARD TESTS SKIPPED: {error}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def board(chatboard_database: PrivateMariaDB) -> Iterator[RunningBoard]:
    """The board and the development provider, running, with no messages."""
    running = RunningBoard(chatboard_database)
    running.clear_messages()
    running.start()
    try:
        yield running
    finally:
        running.stop()
