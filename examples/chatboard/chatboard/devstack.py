"""What the board needs on a development machine, started and stopped in one place.

A private MariaDB (``typhoon_database.server.PrivateMariaDB``: its own data directory,
port and socket, removed afterwards) and the auth plugin's development OpenID Connect
provider (``typhoon_auth.devprovider.DevProvider``: users without passwords, for local
use only). ``python -m chatboard demo`` and the board's tests both use these helpers.
"""

from __future__ import annotations

__all__ = ["DEV_USERS", "board_environment", "make_dev_provider", "start_database"]

import secrets
from collections.abc import Iterable

from typhoon_auth.devprovider import DevProvider
from typhoon_database import Connection
from typhoon_database.server import PrivateMariaDB

from chatboard.app import DEV_CLIENT_ID
from chatboard.store import create_schema

#: The people offered by the development provider's sign-in page.
DEV_USERS = {
    "alice": {"name": "Alice Martin", "email": "alice@example.com"},
    "bob": {"name": "Bob Dupont", "email": "bob@example.com"},
    "chloe": {"name": "Chloé Weber", "email": "chloe@example.com"},
}


def start_database() -> PrivateMariaDB:
    """Start a private MariaDB with the board's schema; the caller must ``stop()`` it.

    Raises:
        typhoon_database.server.MariaDBUnavailable: no server installed, or it failed.
    """
    server = PrivateMariaDB(database="chatboard", user="chatboard")
    server.start()
    try:
        with Connection(
            server.address, server.database, user=server.user, password=server.password
        ) as connection:
            create_schema(connection)
    except BaseException:
        server.stop()
        raise
    return server


def make_dev_provider(issuer: str, board_origins: Iterable[str], client_secret: str) -> DevProvider:
    """The development provider, with the board registered as a client of it.

    ``board_origins`` are the ``http://host:port`` forms the board is opened under;
    each gets its callback URL registered (redirect URIs must match exactly,
    RFC 6749 section 3.1.2.3).
    """
    provider = DevProvider(issuer=issuer, users={k: dict(v) for k, v in DEV_USERS.items()})
    callbacks = [origin.rstrip("/") + "/auth/callback/dev" for origin in board_origins]
    provider.add_client(DEV_CLIENT_ID, client_secret, callbacks)
    return provider


def board_environment(
    database: PrivateMariaDB, issuer: str, client_secret: str, *, debug: bool = True
) -> dict[str, str]:
    """The environment variables that point the board at ``database`` and the provider."""
    return {
        "TYPHOON_MYSQL_HOST": database.address,
        "TYPHOON_MYSQL_DATABASE": database.database,
        "TYPHOON_MYSQL_USER": database.user,
        "TYPHOON_MYSQL_PASSWORD": database.password,
        "CHATBOARD_DEV_ISSUER": issuer,
        "CHATBOARD_DEV_CLIENT_SECRET": client_secret,
        "CHATBOARD_COOKIE_SECRET": secrets.token_urlsafe(32),
        "CHATBOARD_DEBUG": "1" if debug else "0",
    }
