"""HTTP calls to providers: bounded in time, failures turned into ``AuthError``.

Every request a provider is sent goes through :func:`fetch` here, so the timeout rule
and the translation of network failures live in one place.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TIMEOUT", "ProviderResponse", "fetch", "fetch_json"]

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from typhoon.errors import AuthError, HTTPClientError
from typhoon.httpclient import AsyncHTTPClient, HTTPRequest

#: Seconds a single provider request may take, connection included.
DEFAULT_TIMEOUT = 10.0
_USER_AGENT = "typhoon-auth"


@dataclass(frozen=True)
class ProviderResponse:
    """Status, headers and body of a provider's answer."""

    code: int
    headers: Mapping[str, str]
    body: bytes


async def fetch(
    url: str,
    *,
    method: str = "GET",
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    client: AsyncHTTPClient | None = None,
) -> ProviderResponse:
    """Send one request to a provider and return its answer, whatever the status.

    ``client`` is the HTTP client to use (the loop's shared one by default).

    Raises:
        AuthError: the provider could not be reached or did not answer within
            ``timeout`` seconds.
    """
    all_headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
    all_headers.update(headers or {})
    request = HTTPRequest(
        url,
        method=method,
        body=body,
        headers=all_headers,
        connect_timeout=timeout,
        request_timeout=timeout,
        follow_redirects=False,
    )
    if client is None:
        client = AsyncHTTPClient()
    try:
        # The client's own timeouts bound each phase; wait_for bounds the whole call.
        response = await asyncio.wait_for(client.fetch(request, raise_error=False), timeout + 1)
    except (HTTPClientError, OSError, TimeoutError) as exc:
        raise AuthError(f"the login provider could not be reached ({type(exc).__name__})") from exc
    if response.code == 599 and response.error is not None:
        # A network failure or deadline reported as a response rather than raised.
        error = response.error
        raise AuthError(
            f"the login provider could not be reached ({type(error).__name__})"
        ) from error
    return ProviderResponse(response.code, dict(response.headers.items()), response.body or b"")


def _decode(response: ProviderResponse, what: str) -> Any:
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise AuthError(f"the login provider sent an unreadable {what}") from exc


async def fetch_json(
    url: str,
    *,
    what: str,
    method: str = "GET",
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Fetch ``url`` and return its JSON object; ``what`` names it in error messages.

    Raises:
        AuthError: unreachable provider, a non-2xx status (with the OAuth ``error``
            code when the provider sent one, RFC 6749 section 5.2) or a body that is
            not a JSON object.
    """
    response = await fetch(url, method=method, body=body, headers=headers, timeout=timeout)
    if not 200 <= response.code < 300:
        detail = ""
        try:
            data = json.loads(response.body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            detail = f": {data['error']}"
        raise AuthError(
            f"the login provider refused the {what} request (HTTP {response.code}{detail})"
        )
    data = _decode(response, what)
    if not isinstance(data, dict):
        raise AuthError(f"the login provider sent an unreadable {what}")
    return data
