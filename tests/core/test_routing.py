"""typhoon.routing: matchers, rule routers, nesting, reversing, and non-handler targets."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "web"))

from _webclient import RecordingConnection, fetch
from typhoon import httputil
from typhoon.routing import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    Matcher,
    PathMatches,
    ReversibleRuleRouter,
    Rule,
    RuleRouter,
    URLSpec,
    url,
)
from typhoon.web import Application, RequestHandler


def request(path: str = "/", host: str = "example.com", **headers: str) -> Any:
    hdrs = httputil.HTTPHeaders({"Host": host, **headers})
    return httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine("GET", path, "HTTP/1.1"), headers=hdrs
    )


class Named(RequestHandler):
    def get(self, *args: str, **kwargs: str) -> None:
        self.write({"handler": type(self).__name__, "args": list(args), "kwargs": kwargs})


class Other(Named):
    pass


# --- matchers -------------------------------------------------------------------------------


def test_path_matches_is_anchored_and_unquotes_groups() -> None:
    matcher = PathMatches(r"/user/([^/]+)")
    assert matcher.match(request("/user/a%20b")) == {"path_args": [b"a b"], "path_kwargs": {}}
    assert matcher.match(request("/user/a/extra")) is None
    assert matcher.match(request("/prefix/user/a")) is None
    assert PathMatches("/plain").match(request("/plain")) == {}


def test_path_matches_named_groups_win_over_unnamed() -> None:
    matcher = PathMatches(r"/(?P<year>\d+)/(\d+)")
    assert matcher.match(request("/2024/07")) == {"path_args": [], "path_kwargs": {"year": b"2024"}}


def test_optional_group_that_did_not_match_is_none() -> None:
    matcher = PathMatches(r"/a(/\d+)?")
    assert matcher.match(request("/a")) == {"path_args": [None], "path_kwargs": {}}


def test_path_matches_accepts_compiled_pattern() -> None:
    matcher = PathMatches(re.compile(r"/x/(\d+)$"))
    assert matcher.match(request("/x/1")) == {"path_args": [b"1"], "path_kwargs": {}}


def test_reverse_simple_patterns() -> None:
    assert PathMatches(r"/user/(\d+)/post/([^/]+)").reverse(5, "a b/c") == "/user/5/post/a%20b/c"
    assert PathMatches(r"/files/(.*)").reverse(b"x y") == "/files/x%20y"
    assert PathMatches(r"^/literal\.html$").reverse() == "/literal.html"
    assert PathMatches(r"/100%/(\d+)").reverse(1) == "/100%/1"


def test_reverse_refuses_wrong_arity_and_complex_patterns() -> None:
    with pytest.raises(ValueError, match="takes 1 arguments"):
        PathMatches(r"/user/(\d+)").reverse()
    with pytest.raises(ValueError, match="cannot reverse"):
        PathMatches(r"/(a|(b))").reverse("a")
    with pytest.raises(ValueError, match="cannot reverse"):
        PathMatches(r"/a\d+/(x)").reverse("x")


def test_host_matches_uses_host_name_without_port() -> None:
    matcher = HostMatches(r"(www\.)?example\.com")
    assert matcher.match(request(host="www.example.com:8080")) == {}
    assert matcher.match(request(host="EXAMPLE.com")) == {}
    assert matcher.match(request(host="example.com.evil")) is None


def test_default_host_matches_only_direct_requests() -> None:
    class App:
        default_host = "main.example"

    matcher = DefaultHostMatches(App(), re.compile(r"main\.example$"))
    assert matcher.match(request(host="unknown")) == {}
    assert matcher.match(request(host="unknown", **{"X-Real-Ip": "1.2.3.4"})) is None


def test_any_matches_and_base_matcher() -> None:
    assert AnyMatches().match(request()) == {}
    assert Matcher().reverse() is None
    with pytest.raises(NotImplementedError):
        Matcher().match(request())


# --- rules and routers ----------------------------------------------------------------------


def test_rule_tuples_and_validation() -> None:
    router = ReversibleRuleRouter([("/a", Named), ("/b", Named, {}, "b")])
    assert [type(rule.matcher).__name__ for rule in router.rules] == ["PathMatches"] * 2
    assert router.reverse_url("b") == "/b"
    assert router.reverse_url("missing") is None
    with pytest.raises(ValueError, match="2 to 4 items"):
        RuleRouter([("/a",)])
    with pytest.raises(TypeError, match="expected a Rule"):
        RuleRouter(["/a"])  # type: ignore[list-item]


def test_string_target_is_imported() -> None:
    rule = Rule(AnyMatches(), "typhoon.web.ErrorHandler")
    from typhoon.web import ErrorHandler

    assert rule.target is ErrorHandler
    assert "AnyMatches" in repr(rule)


def test_urlspec_exposes_tornado_attributes() -> None:
    spec = url(r"/u/(\d+)", Named, {"a": 1}, name="user")
    assert isinstance(spec, URLSpec)
    assert spec.regex.pattern == r"/u/(\d+)$"
    assert spec.handler_class is Named
    assert spec.kwargs == {"a": 1}
    assert spec.reverse(3) == "/u/3"
    assert "URLSpec" in repr(spec)


async def test_application_routes_nested_lists_and_reverses_through_them() -> None:
    app = Application(
        [
            ("/top", Named),
            (PathMatches("/nested/.*"), [("/nested/a", Other, {}, "nested_a")]),
        ],
        load_entrypoints=False,
    )
    assert app.reverse_url("nested_a") == "/nested/a"
    response = await fetch(app, "/nested/a")
    assert b'"Other"' in response.body
    assert (await fetch(app, "/nested/b")).code == 404
    with pytest.raises(KeyError):
        app.reverse_url("nope")


async def test_virtual_hosts_and_default_host() -> None:
    app = Application([("/", Named)], default_host="main.example", load_entrypoints=False)
    app.add_handlers(r"main\.example", [("/host", Other)])
    app.add_handlers(r"api\.example", [("/", Other)])
    assert b'"Other"' in (await fetch(app, "/host", headers={"Host": "main.example"})).body
    # Unknown host: the default host's rules still answer.
    assert b'"Other"' in (await fetch(app, "/host", headers={"Host": "unknown"})).body
    # Behind a proxy (X-Real-Ip), the default-host fallback is not used.
    proxied = await fetch(app, "/host", headers={"Host": "unknown", "X-Real-Ip": "10.0.0.1"})
    assert proxied.code == 404
    # Host rules come before the wildcard rules.
    assert b'"Other"' in (await fetch(app, "/", headers={"Host": "api.example"})).body
    assert b'"Named"' in (await fetch(app, "/", headers={"Host": "www.example"})).body


async def test_rule_router_with_application_and_callable_targets() -> None:
    app = Application([("/app/(.*)", Named)], load_entrypoints=False)
    seen: list[Any] = []

    def plain(req: httputil.HTTPServerRequest, **params: Any) -> None:
        seen.append((req.body_arguments, params))
        headers = httputil.HTTPHeaders({"Content-Length": "5"})
        assert req.connection is not None
        req.connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
        req.connection.write(b"plain")
        req.connection.finish()

    router = RuleRouter(
        [
            Rule(PathMatches("/app/.*"), app),
            Rule(PathMatches(r"/fn/(\w+)"), plain, {"extra": 1}),
        ]
    )
    response = await fetch(router, "/app/x")
    assert b'"args": ["x"]' in response.body
    response = await fetch(
        router,
        "/fn/abc",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"k=v",
    )
    assert response.body == b"plain"
    assert seen == [
        ({"k": [b"v"]}, {"path_args": [b"abc"], "path_kwargs": {}, "target_kwargs": {"extra": 1}})
    ]
    response = await fetch(router, "/nothing")
    assert (response.code, response.body) == (404, b"")


async def test_callable_target_with_malformed_body_answers_400() -> None:
    router = RuleRouter([Rule(AnyMatches(), lambda req, **kw: None)])
    response = await fetch(
        router,
        "/",
        method="POST",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        body=b"not multipart",
    )
    assert response.code == 400


def test_router_start_request_returns_a_delegate() -> None:
    import asyncio

    async def check() -> None:
        router = RuleRouter()
        delegate = router.start_request(object(), RecordingConnection())
        assert isinstance(delegate, httputil.HTTPMessageDelegate)
        delegate.on_connection_close()

    asyncio.run(check())


async def test_exact_paths_keep_rule_order_and_follow_rule_changes() -> None:
    class Named(RequestHandler):
        def initialize(self, name: str) -> None:
            self.name = name

        def get(self, *args: str) -> None:
            self.write(self.name)

    app = Application(
        [
            (r"/a", Named, {"name": "first a"}),
            (r"/(b|c)", Named, {"name": "pattern"}),
            (r"/b", Named, {"name": "exact b"}),
            (r"/c.d", Named, {"name": "dot"}),
            (r"/a", Named, {"name": "second a"}),
        ],
        load_entrypoints=False,
    )
    assert (await fetch(app, "/a")).body == b"first a"
    # An earlier pattern rule wins over a later exact path.
    assert (await fetch(app, "/b")).body == b"pattern"
    # "." is a pattern, not a literal dot.
    assert (await fetch(app, "/cxd")).body == b"dot"
    assert (await fetch(app, "/a/")).code == 404
    # Rules added, inserted or removed later are routed too.
    app.wildcard_router.add_rules([(r"/late", Named, {"name": "late"})])
    assert (await fetch(app, "/late")).body == b"late"
    app.wildcard_router.rules.insert(0, app.wildcard_router.rules.pop())
    app.wildcard_router.rules[0].target_kwargs["name"] = "moved"
    assert (await fetch(app, "/late")).body == b"moved"
    del app.wildcard_router.rules[0]
    assert (await fetch(app, "/late")).code == 404


async def test_exact_path_rules_edited_in_place_take_effect() -> None:
    class Named(RequestHandler):
        def initialize(self, name: str) -> None:
            self.name = name

        def get(self) -> None:
            self.write(self.name)

    class Other(Named):
        def get(self) -> None:
            self.write("other " + self.name)

    app = Application([(r"/a", Named, {"name": "a"})], load_entrypoints=False)
    [rule] = app.wildcard_router.rules
    assert (await fetch(app, "/a")).body == b"a"
    rule.target = Other
    assert (await fetch(app, "/a")).body == b"other a"
    rule.target_kwargs = {"name": "new"}
    assert (await fetch(app, "/a")).body == b"other new"
    rule.matcher = PathMatches(r"/b")
    assert (await fetch(app, "/a")).code == 404
    assert (await fetch(app, "/b")).body == b"other new"
    rule.matcher.regex = re.compile(r"/c$")
    assert (await fetch(app, "/b")).code == 404
    assert (await fetch(app, "/c")).body == b"other new"


def test_exact_path_matches_what_the_pattern_matches() -> None:
    class Plain(RequestHandler):
        pass

    app = Application([(r"/x", Plain), (r"/y$", Plain)], load_entrypoints=False)
    router = app.wildcard_router
    for path in ("/x", "/x\n", "/y", "/y\n", "/x/", "/X", "x", "/x\n\n"):
        pattern_rule = next((rule for rule in router.rules if rule.matcher.regex.match(path)), None)
        route = router.match_route(request(path))
        if pattern_rule is None:
            assert route is None, path
        else:
            assert route is not None, path
