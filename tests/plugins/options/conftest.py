"""Fixtures of the options plugin tests: a clean environment and a restorable global registry."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import typhoon_options
from typhoon_options import OptionParser


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``TYPHOON_*`` variable of the surrounding shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("TYPHOON_"):
            monkeypatch.delenv(name)


@pytest.fixture
def parser() -> OptionParser:
    """A fresh registry that reads ``TYPHOON_*`` variables."""
    return OptionParser()


@pytest.fixture
def global_options() -> Iterator[OptionParser]:
    """The global registry, put back as it was (definitions, values, callbacks) afterwards."""
    registry = typhoon_options.options
    definitions = dict(registry._options)
    snapshots = {name: option.snapshot() for name, option in definitions.items()}
    callbacks = list(registry._parse_callbacks)
    used = registry._used
    try:
        yield registry
    finally:
        registry._options.clear()
        registry._options.update(definitions)
        for name, option in definitions.items():
            layers, environment_text = snapshots[name]
            option._layers = dict(layers)
            option.environment_text = environment_text
        registry._parse_callbacks[:] = callbacks
        object.__setattr__(registry, "_used", used)
