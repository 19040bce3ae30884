"""Third-party login for typhoon."""

from __future__ import annotations

__all__: list[str] = []
