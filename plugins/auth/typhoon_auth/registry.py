"""The providers of one application, read from its settings and the environment.

``auth_providers`` maps a provider name to its settings::

    auth_providers = {
        "github": {"client_id": "...", "client_secret": "..."},
        "corp": {"type": "oidc", "issuer": "https://sso.example.com", "client_id": "..."},
    }

Each client id and secret may instead come from ``TYPHOON_AUTH_<NAME>_CLIENT_ID`` and
``TYPHOON_AUTH_<NAME>_CLIENT_SECRET`` (the name upper-cased, ``-`` as ``_``), which win
over the settings so that secrets stay out of source files.
"""

from __future__ import annotations

__all__ = ["ProviderRegistry", "env_prefix"]

import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from typhoon.errors import ConfigurationError

from typhoon_auth.providers import Provider, make_provider


def env_prefix(name: str) -> str:
    """The environment-variable prefix of provider ``name``."""
    return "TYPHOON_AUTH_" + name.upper().replace("-", "_") + "_"


class ProviderRegistry(Mapping[str, Provider]):
    """The configured providers by name, and the record of ``state`` values already used.

    A ``state`` value is accepted once: the callback marks it used here, so a replayed
    callback URL with the same login cookie is refused even within the cookie's life.
    """

    def __init__(self, providers: Mapping[str, Provider], state_lifetime: float = 600.0) -> None:
        self._providers = dict(providers)
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()
        self.state_lifetime = state_lifetime

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
    ) -> ProviderRegistry:
        """Build the registry from ``settings["auth_providers"]`` and the environment.

        Raises:
            ConfigurationError: the setting is not a mapping of mappings, or a provider's
                settings are invalid.
        """
        env = os.environ if environ is None else environ
        configured = settings.get("auth_providers") or {}
        if not isinstance(configured, Mapping):
            raise ConfigurationError("setting 'auth_providers' must be a dict of provider settings")
        timeout = settings.get("auth_timeout")
        providers = {}
        for name, config in configured.items():
            if not isinstance(name, str) or not name or "/" in name:
                raise ConfigurationError(f"auth provider name {name!r} is not a URL segment")
            if not isinstance(config, Mapping):
                raise ConfigurationError(f"auth provider {name!r}: settings must be a dict")
            merged = dict(config)
            prefix = env_prefix(name)
            for key in ("client_id", "client_secret"):
                value = env.get(prefix + key.upper())
                if value:
                    merged[key] = value
            if timeout is not None and "timeout" not in merged:
                merged["timeout"] = float(timeout)
            providers[name] = make_provider(name, merged)
        return cls(providers)

    def __getitem__(self, name: str) -> Provider:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def consume_state(self, state: str) -> bool:
        """Mark ``state`` used; False when it was used already (a replay)."""
        now = time.monotonic()
        with self._lock:
            for old, expiry in list(self._used.items()):
                if expiry < now:
                    del self._used[old]
            if state in self._used:
                return False
            self._used[state] = now + self.state_lifetime
            return True
