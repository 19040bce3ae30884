"""Names typhoon.httpserver offers besides HTTPServer."""

from __future__ import annotations

from typhoon import httpserver, httputil
from typhoon.httpserver import HTTPRequest


def test_http_request_is_the_server_request_class() -> None:
    assert HTTPRequest is httputil.HTTPServerRequest
    assert "HTTPRequest" in httpserver.__all__
    request = HTTPRequest("GET", "/path?a=1")
    assert isinstance(request, httputil.HTTPServerRequest)
    assert request.query_arguments == {"a": [b"1"]}
