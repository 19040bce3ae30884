"""A small browser for the login tests: a cookie jar and redirects followed by hand."""

from __future__ import annotations

import html.parser
import http.cookies
import urllib.parse
from typing import Any

from typhoon.httpclient import AsyncHTTPClient, HTTPResponse


class FormParser(html.parser.HTMLParser):
    """The fields of the first form on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = values.get("action")
        elif tag == "input" and values.get("name"):
            self.fields[values["name"] or ""] = values.get("value") or ""


class Browser:
    """Keeps cookies per host (path ignored) and follows up to ``max_hops`` redirects."""

    def __init__(self) -> None:
        self.client = AsyncHTTPClient(force_instance=True)
        self.jar: dict[str, dict[str, str]] = {}
        self.visited: list[str] = []

    def close(self) -> None:
        self.client.close()

    def _store(self, url: str, response: HTTPResponse) -> None:
        host = urllib.parse.urlsplit(url).netloc
        jar = self.jar.setdefault(host, {})
        for line in response.headers.get_list("Set-Cookie"):
            cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            cookie.load(line)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"] or not morsel.value:
                    jar.pop(name, None)
                else:
                    jar[name] = morsel.value

    async def request(self, url: str, method: str = "GET", body: str | None = None) -> HTTPResponse:
        """One request with this browser's cookies; no redirect following."""
        host = urllib.parse.urlsplit(url).netloc
        headers = {}
        cookies = self.jar.get(host, {})
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await self.client.fetch(
            url,
            method=method,
            body=body,
            headers=headers,
            follow_redirects=False,
            raise_error=False,
            request_timeout=10,
        )
        self._store(url, response)
        self.visited.append(url)
        return response

    async def go(
        self, url: str, method: str = "GET", body: str | None = None, max_hops: int = 10
    ) -> tuple[str, HTTPResponse]:
        """Request ``url`` and follow redirects; return the final URL and response."""
        for _ in range(max_hops):
            response = await self.request(url, method, body)
            if response.code not in (301, 302, 303, 307, 308):
                return url, response
            url = urllib.parse.urljoin(url, response.headers["Location"])
            method, body = "GET", None
        raise AssertionError(f"more than {max_hops} redirects: {self.visited}")

    async def consent(
        self, page_url: str, page: HTTPResponse, **choice: Any
    ) -> tuple[str, HTTPResponse]:
        """Post the consent form of ``page`` with ``choice`` filled in, following redirects."""
        parser = FormParser()
        parser.feed(page.body.decode())
        assert parser.action is not None, page.body
        fields = {**parser.fields, **choice}
        target = urllib.parse.urljoin(page_url, parser.action)
        return await self.go(target, "POST", urllib.parse.urlencode(fields))
