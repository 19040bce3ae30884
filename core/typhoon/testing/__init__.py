"""Test helpers for code built on typhoon.

Layer 6 (assembly): may import any typhoon module. Submodules:

* :mod:`typhoon.testing.streams`: in-memory stream pairs, loopback stream pairs, and the
  conformance checks every stream implementation passes.
"""

from __future__ import annotations

__all__: list[str] = []
