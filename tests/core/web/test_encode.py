"""Tests for typhoon.web._encode: the same bytes as the plain spellings, errors too."""

from __future__ import annotations

import hashlib
import math

import pytest
from typhoon.escape import json_encode
from typhoon.web import _encode
from typhoon.web._encode import etag_of, json_body

SAMPLES = [
    {},
    {"message": "Hello, world!"},
    {"a": [1, 2.5, -0.0, 1e300, None, True, False], "b": {"c": "d"}},
    {"html": "</script><script>alert(1)</script>", "x": "<//>"},
    {"unicode": "caf\u00e9 \u2603 \U0001f600", "ctl": "\x00\x1f\u2028"},
    {3: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    {"nan": math.nan, "inf": math.inf, "ninf": -math.inf},
    {"nested": [[[{"deep": [{}]}]]], "tuple": (1, 2)},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_json_body_matches_json_encode(value: dict[object, object]) -> None:
    assert json_body(value) == json_encode(value).encode("utf-8")  # type: ignore[arg-type]


def test_json_body_unsupported_value_raises_like_json_encode() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_body({"value": object()})


def test_json_body_cycle_raises_like_json_encode() -> None:
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    with pytest.raises(ValueError, match="Circular reference"):
        json_body(cyclic)
    # The encoder keeps working after a failure.
    assert json_body({"ok": 1}) == b'{"ok": 1}'


def test_json_body_without_the_c_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_encode, "_encoder", None)
    assert json_body({"a": "</"}) == b'{"a": "<\\/"}'


@pytest.mark.parametrize(
    "size", [0, 13, _encode.ETAG_CACHE_MAX_BODY, _encode.ETAG_CACHE_MAX_BODY + 1]
)
def test_etag_of_is_quoted_sha1(size: int) -> None:
    body = bytes(range(256)) * (size // 256 + 1)
    body = body[:size]
    expected = f'"{hashlib.sha1(body).hexdigest()}"'
    assert etag_of(body) == expected
    assert etag_of(body) == expected  # remembered or not, the same tag


def test_etag_cache_is_bounded() -> None:
    for number in range(_encode.ETAG_CACHE_MAX_ENTRIES * 2 + 5):
        body = str(number).encode()
        assert etag_of(body) == f'"{hashlib.sha1(body).hexdigest()}"'
        assert len(_encode.known_etags) <= _encode.ETAG_CACHE_MAX_ENTRIES
    large = b"x" * (_encode.ETAG_CACHE_MAX_BODY + 1)
    etag_of(large)
    assert large not in _encode.known_etags
