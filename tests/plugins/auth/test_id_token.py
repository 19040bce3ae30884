"""ID-token checks through the whole flow: a provider that lies is refused with a 400."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _servers import running
from joserfc.jwk import RSAKey


async def _login_with(overrides: dict[str, Any], other_key: bool = False) -> tuple[int, bytes]:
    async with running(auto_consent=True) as s:
        s.provider.id_token_overrides.update(overrides)
        if other_key:
            key = RSAKey.generate_key(2048, auto_kid=True)
            # Same key id as the published key, different key: only the signature is wrong.
            s.provider.signing_key = RSAKey.import_key(
                key.as_dict(private=True) | {"kid": s.provider.key.kid}
            )
        _, response = await s.browser.go(f"{s.app_url}/auth/login/dev?next=/me")
        return response.code, response.body


async def test_valid_token_logs_in() -> None:
    code, body = await _login_with({})
    assert code == 200, body


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": ["someone-else"]}, b"aud"),
        ({"iss": "http://127.0.0.1:1"}, b"iss"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, b"expired"),
        ({"nonce": "not-the-one-sent"}, b"nonce"),
    ],
)
async def test_bad_claims_are_refused(overrides: dict[str, Any], reason: bytes) -> None:
    code, body = await _login_with(overrides)
    assert code == 400
    assert b"ID token is not valid" in body
    assert reason in body


async def test_bad_signature_is_refused() -> None:
    code, body = await _login_with({}, other_key=True)
    assert code == 400
    assert b"ID token is not valid" in body
