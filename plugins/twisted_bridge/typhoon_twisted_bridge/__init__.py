"""Twisted and typhoon on one event loop."""

from __future__ import annotations

__all__: list[str] = []
