"""Where messages live: one MySQL/MariaDB table, reached through the database plugin.

The queries run on the application's :class:`~typhoon_database.AsyncPool`
(``application.db``), so a slow database never blocks the event loop.
"""

from __future__ import annotations

__all__ = ["MAX_BODY", "SCHEMA", "Message", "MessageStore", "create_schema", "store_for"]

import datetime
from dataclasses import dataclass
from typing import Any

from typhoon_database import AsyncPool, Connection

#: The longest message accepted, in characters.
MAX_BODY = 2000

#: The table the board needs; safe to run again on an existing database.
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    author_id VARCHAR(255) NOT NULL,
    author_name VARCHAR(255) NOT NULL,
    body TEXT NOT NULL,
    created DATETIME(6) NOT NULL,
    KEY created_idx (created)
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
"""


def create_schema(connection: Connection) -> None:
    """Create the board's table on ``connection`` unless it exists."""
    connection.execute(SCHEMA)


@dataclass(frozen=True)
class Message:
    """One posted message."""

    id: int
    author_id: str
    author_name: str
    body: str
    created: datetime.datetime

    @classmethod
    def from_row(cls, row: Any) -> Message:
        """Build a message from a database row."""
        return cls(
            id=int(row["id"]),
            author_id=str(row["author_id"]),
            author_name=str(row["author_name"]),
            body=str(row["body"]),
            created=row["created"],
        )

    def as_json(self) -> dict[str, Any]:
        """The message as JSON-ready values (times in UTC, ISO 8601)."""
        return {
            "id": self.id,
            "author_id": self.author_id,
            "author_name": self.author_name,
            "body": self.body,
            "created": self.created.replace(tzinfo=datetime.UTC).isoformat(),
        }


class MessageStore:
    """The board's queries on one pool."""

    def __init__(self, db: AsyncPool) -> None:
        self.db = db

    async def recent(self, limit: int = 50) -> list[Message]:
        """The last ``limit`` messages, oldest first."""
        rows = await self.db.query(
            "SELECT id, author_id, author_name, body, created FROM messages"
            " ORDER BY id DESC LIMIT %s",
            limit,
        )
        return [Message.from_row(row) for row in reversed(rows)]

    async def add(self, author_id: str, author_name: str, body: str) -> Message:
        """Store a message (times are kept in UTC) and return it with its id."""
        created = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        message_id = await self.db.execute_lastrowid(
            "INSERT INTO messages (author_id, author_name, body, created) VALUES (%s, %s, %s, %s)",
            author_id,
            author_name,
            body,
            created,
        )
        return Message(message_id, author_id, author_name, body, created)


def store_for(application: Any) -> MessageStore:
    """The store on ``application.db``, the pool the database plugin opened at startup."""
    pool = application.db
    if not isinstance(pool, AsyncPool):
        raise TypeError("the board needs the database plugin: set mysql_host (TYPHOON_MYSQL_HOST)")
    return MessageStore(pool)
