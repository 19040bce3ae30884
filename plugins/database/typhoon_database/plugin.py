"""The ``database`` plugin: an :class:`~typhoon_database.AsyncPool` owned by the application.

Inert until ``mysql_host`` is set (in the application settings or ``TYPHOON_MYSQL_HOST``).
Then ``startup`` opens the pool as ``application.db``, every request handler sees it as
``handler.db``, and ``shutdown`` closes it.
"""

from __future__ import annotations

__all__ = [
    "SETTINGS",
    "DatabaseSettings",
    "configure",
    "register_settings",
    "shutdown",
    "startup",
]

import os
import weakref
from dataclasses import dataclass
from typing import Any

from typhoon import hookimpl
from typhoon.errors import ConfigurationError
from typhoon.plugins import Setting

from typhoon_database.pool import AsyncPool

#: The settings this plugin declares; each may also come from ``TYPHOON_<NAME>``.
SETTINGS = [
    Setting(
        "mysql_host", str, None, "MySQL/MariaDB host, host:port or Unix socket path", "database"
    ),
    Setting("mysql_port", int, 3306, "MySQL/MariaDB TCP port", "database"),
    Setting("mysql_database", str, None, "database name", "database"),
    Setting("mysql_user", str, None, "database user", "database"),
    Setting("mysql_password", str, None, "database password", "database"),
    Setting("mysql_pool_size", int, 8, "connections (worker threads) in the pool", "database"),
]


@dataclass(frozen=True)
class DatabaseSettings:
    """The validated connection settings of one application."""

    host: str
    port: int
    database: str
    user: str | None
    password: str | None
    pool_size: int

    def __repr__(self) -> str:
        return (
            f"DatabaseSettings(host={self.host!r}, port={self.port}, database={self.database!r}, "
            f"user={self.user!r}, password={'***' if self.password else None}, "
            f"pool_size={self.pool_size})"
        )


_configured: weakref.WeakKeyDictionary[Any, DatabaseSettings] = weakref.WeakKeyDictionary()


def _value(app: Any, setting: Setting) -> Any:
    # The application fills in declared defaults, so a value equal to the default counts
    # as "not set" and the environment may override it.
    value = app.settings.get(setting.name)
    if value is None or value == setting.default:
        value = os.environ.get(setting.env_var, setting.default)
    if setting.type is int and not isinstance(value, int):
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(
                f"setting {setting.name} must be an integer, not {value!r}"
            ) from None
    return value


def read_settings(app: Any) -> DatabaseSettings | None:
    """The application's database settings, or ``None`` when ``mysql_host`` is unset."""
    values = {setting.name: _value(app, setting) for setting in SETTINGS}
    if not values["mysql_host"]:
        return None
    if not values["mysql_database"]:
        raise ConfigurationError("mysql_host is set but mysql_database is not")
    if values["mysql_pool_size"] < 1:
        raise ConfigurationError("mysql_pool_size must be at least 1")
    return DatabaseSettings(
        host=values["mysql_host"],
        port=values["mysql_port"],
        database=values["mysql_database"],
        user=values["mysql_user"],
        password=values["mysql_password"],
        pool_size=values["mysql_pool_size"],
    )


class _HandlerBinding:
    """Registered only for configured applications, so idle installs cost nothing per request."""

    def __init__(self, app: Any) -> None:
        self._app = weakref.ref(app)

    @hookimpl
    def prepare_request(self, handler: Any) -> None:
        """Expose the application's pool as ``handler.db``."""
        app = self._app()
        if app is not None and handler.application is app:
            handler.db = app.db


@hookimpl
def register_settings() -> list[Setting]:
    """Declare the ``mysql_*`` settings."""
    return list(SETTINGS)


@hookimpl
def configure(app: Any) -> None:
    """Validate the settings; when the plugin is enabled, bind ``handler.db``."""
    settings = read_settings(app)
    if settings is None:
        return
    _configured[app] = settings
    app.plugin_manager.register(_HandlerBinding(app), name=f"database-handlers-{id(app)}")


@hookimpl
async def startup(app: Any) -> None:
    """Open the pool as ``application.db`` (a bad address or password fails here)."""
    settings = _configured.get(app)
    if settings is None:
        return
    host = settings.host
    if "/" not in host and ":" not in host:
        host = f"{host}:{settings.port}"
    pool = AsyncPool(
        host,
        settings.database,
        user=settings.user,
        password=settings.password,
        size=settings.pool_size,
    )
    try:
        await pool.open()
    except BaseException:
        await pool.close()
        raise
    app.db = pool


@hookimpl
async def shutdown(app: Any) -> None:
    """Close the pool."""
    pool = getattr(app, "db", None)
    if app in _configured and isinstance(pool, AsyncPool):
        await pool.close()
