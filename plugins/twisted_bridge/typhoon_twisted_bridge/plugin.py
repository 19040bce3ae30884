"""The ``typhoon`` entry point of the Twisted bridge."""

from __future__ import annotations

__all__: list[str] = []
