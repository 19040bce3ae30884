"""Request routing: matching requests to the delegates that handle them.

A :class:`Router` is an :class:`~typhoon.httputil.HTTPServerConnectionDelegate`, so any router
can be given straight to :class:`~typhoon.httpserver.HTTPServer`. :class:`RuleRouter` holds an
ordered list of :class:`Rule` objects, each a :class:`Matcher` plus a target; the first rule
whose matcher accepts the request and whose target yields a delegate wins. Targets may be:

* another :class:`Router` (nested routing; the matcher's parameters are passed on),
* an :class:`~typhoon.httputil.HTTPServerConnectionDelegate` (for example an ``Application``),
* a callable taking an :class:`~typhoon.httputil.HTTPServerRequest` (it answers through
  ``request.connection``),
* a list of rules, which becomes a nested :class:`RuleRouter`.

``Application`` is a :class:`ReversibleRuleRouter` whose targets are ``RequestHandler``
classes.
"""

from __future__ import annotations

__all__ = [
    "AnyMatches",
    "DefaultHostMatches",
    "HostMatches",
    "Matcher",
    "PathMatches",
    "ReversibleRouter",
    "ReversibleRuleRouter",
    "Router",
    "Rule",
    "RuleRouter",
    "URLSpec",
    "url",
]

import re
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from typhoon import httputil
from typhoon.escape import url_escape, url_unescape, utf8
from typhoon.log import app_log
from typhoon.util import import_object, re_unescape


class Router(httputil.HTTPServerConnectionDelegate):
    """Chooses the message delegate that handles each request."""

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Return the delegate for ``request``, or ``None`` when nothing matches.

        ``kwargs`` carry parameters from an enclosing router (``path_args``,
        ``path_kwargs``, ``target_kwargs``).
        """
        raise NotImplementedError()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        """Begin a request: routing happens once its headers have arrived."""
        return _RoutingDelegate(self, server_conn, request_conn)


class ReversibleRouter(Router):
    """A router that can build the URL of a named rule."""

    def reverse_url(self, name: str, *args: Any) -> str | None:
        """Return the path of the rule called ``name`` filled with ``args``, or ``None``."""
        raise NotImplementedError()


class _RoutingDelegate(httputil.HTTPMessageDelegate):
    """Waits for the request head, asks the router for a delegate, then forwards to it."""

    __slots__ = ("delegate", "request_conn", "router", "server_conn")

    def __init__(
        self, router: Router, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> None:
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.router = router
        self.delegate: httputil.HTTPMessageDelegate | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, httputil.RequestStartLine)
        method, uri, version = start_line
        request = httputil._server_request(
            method, uri, version, headers, self.request_conn, self.server_conn
        )
        self.delegate = self.router.find_handler(request)
        if self.delegate is None:
            app_log.debug("no route for %s %s", request.method, request.path)
            self.delegate = _NotFoundDelegate(self.request_conn)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        assert self.delegate is not None
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()


class _NotFoundDelegate(httputil.HTTPMessageDelegate):
    """Answers an empty error response (404 unless told otherwise) once the request ends."""

    def __init__(self, connection: httputil.HTTPConnection, status: int = 404) -> None:
        self.connection = connection
        self.status = status

    def finish(self) -> None:
        headers = httputil.HTTPHeaders()
        headers["Content-Length"] = "0"
        reason = httputil.responses.get(self.status, "Unknown")
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", self.status, reason), headers
        )
        self.connection.finish()


class _CallableAdapter(httputil.HTTPMessageDelegate):
    """Collects a whole request and hands it to a plain ``callback(request)``."""

    def __init__(
        self,
        request_callback: Callable[[httputil.HTTPServerRequest], None],
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self.connection = request_conn
        self.request_callback = request_callback
        self.request: httputil.HTTPServerRequest | None = None
        self._chunks: list[bytes] = []

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.request = httputil.HTTPServerRequest(
            connection=self.connection, start_line=start_line, headers=headers
        )
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self._chunks.append(chunk)
        return None

    def finish(self) -> None:
        assert self.request is not None
        self.request.body = b"".join(self._chunks)
        try:
            self.request._parse_body()
        except httputil.HTTPInputError as exc:
            app_log.warning("malformed request body: %s", exc)
            _NotFoundDelegate(self.connection, exc.status_code).finish()
            return
        self.request_callback(self.request)

    def on_connection_close(self) -> None:
        self._chunks.clear()


class Matcher:
    """Decides whether a rule applies to a request."""

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        """Return the parameters to pass to the target (possibly ``{}``), or ``None``."""
        raise NotImplementedError()

    def reverse(self, *args: Any) -> str | None:
        """Rebuild a URL from ``args``; ``None`` when this matcher cannot."""
        return None


class AnyMatches(Matcher):
    """Matches every request."""

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        return {}


class HostMatches(Matcher):
    """Matches requests whose host name (no port) matches ``host_pattern``."""

    def __init__(self, host_pattern: str | re.Pattern[str]) -> None:
        if isinstance(host_pattern, str):
            if not host_pattern.endswith("$"):
                host_pattern += "$"
            self.host_pattern = re.compile(host_pattern)
        else:
            self.host_pattern = host_pattern

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if self.host_pattern.match(request.host_name):
            return {}
        return None


class DefaultHostMatches(Matcher):
    """Matches when the application's ``default_host`` matches ``host_pattern``.

    Requests that came through a proxy setting ``X-Real-Ip`` never match: the default host
    is for direct access only.
    """

    def __init__(self, application: Any, host_pattern: re.Pattern[str]) -> None:
        self.application = application
        self.host_pattern = host_pattern

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if "X-Real-Ip" not in request.headers and self.host_pattern.match(
            self.application.default_host
        ):
            return {}
        return None


def _unquote_or_none(value: str | None) -> bytes | None:
    # Path captures are %-decoded to bytes; the handler decodes them (decode_argument).
    if value is None:
        return None
    return url_unescape(value, encoding=None, plus=False)


#: How many attributes of :class:`Rule` and :class:`PathMatches` objects have been set
#: (construction included). Routing tables derived from rules (the web layer's exact-path
#: table) are rebuilt when it moves, so a rule edited in place takes effect.
_rule_edits = 0


def _count_rule_edit() -> None:
    global _rule_edits
    _rule_edits += 1


class PathMatches(Matcher):
    """Matches the request path against a regular expression (anchored at both ends).

    Groups become positional arguments of the handler; when the pattern has named
    groups, only those are passed, as keyword arguments.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        _count_rule_edit()

    def __init__(self, path_pattern: str | re.Pattern[str]) -> None:
        if isinstance(path_pattern, str):
            if not path_pattern.endswith("$"):
                path_pattern += "$"
            self.regex = re.compile(path_pattern)
        else:
            self.regex = path_pattern
        self._path, self._group_count = self._reverse_template()

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        found = self.match_path(request.path)
        if found is None:
            return None
        if not self.regex.groups:
            return {}
        return {"path_args": found[0], "path_kwargs": found[1]}

    def match_path(self, path: str) -> tuple[list[bytes | None], dict[str, bytes | None]] | None:
        """Match ``path`` alone: ``(path_args, path_kwargs)``, or ``None`` if no match.

        The captures are %-decoded bytes (``None`` for a group that did not take part).
        """
        found = self.regex.match(path)
        if found is None:
            return None
        if not self.regex.groups:
            return [], {}
        if self.regex.groupindex:
            return [], {name: _unquote_or_none(value) for name, value in found.groupdict().items()}
        return [_unquote_or_none(value) for value in found.groups()], {}

    def reverse(self, *args: Any) -> str | None:
        if self._path is None:
            raise ValueError(f"cannot reverse the URL of complex pattern {self.regex.pattern!r}")
        if len(args) != self._group_count:
            raise ValueError(
                f"pattern {self.regex.pattern!r} takes {self._group_count} arguments, got {len(args)}"
            )
        if not args:
            return self._path
        quoted = [
            url_escape(arg if isinstance(arg, bytes) else utf8(str(arg)), plus=False)
            for arg in args
        ]
        return self._path % tuple(quoted)

    def _reverse_template(self) -> tuple[str | None, int]:
        """Turn a simple pattern like ``/user/(\\d+)/`` into ``/user/%s/``.

        Simple means: literal text (with ``\\`` escapes and ``.``) around capturing
        groups that contain no groups themselves. Returns ``(None, 0)`` for anything
        else (alternation or quantifiers outside groups, nested or non-capturing
        groups), which cannot be rebuilt from arguments.
        """
        pattern = self.regex.pattern
        if pattern.startswith("^"):
            pattern = pattern[1:]
        if pattern.endswith("$") and not pattern.endswith("\\$"):
            pattern = pattern[:-1]
        pieces: list[str] = []
        literal: list[str] = []
        depth = 0
        groups = 0
        index = 0
        while index < len(pattern):
            char = pattern[index]
            if char == "\\":
                if depth == 0:
                    literal.append(pattern[index : index + 2])
                index += 2
                continue
            if char == "(":
                if depth or pattern.startswith("(?", index):
                    return None, 0
                depth = 1
                groups += 1
            elif char == ")":
                if not depth:
                    return None, 0
                depth = 0
                try:
                    pieces.append(re_unescape("".join(literal)).replace("%", "%%") + "%s")
                except ValueError:
                    return None, 0
                literal = []
            elif depth == 0:
                if char in "|*+?[]{}^$":
                    return None, 0
                literal.append(char)
            index += 1
        if depth or groups != self.regex.groups:
            return None, 0
        try:
            pieces.append(re_unescape("".join(literal)).replace("%", "%%"))
        except ValueError:
            return None, 0
        return "".join(pieces), groups


class Rule:
    """A matcher, the target it routes to, keyword arguments for the target, and a name."""

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        _count_rule_edit()

    def __init__(
        self,
        matcher: Matcher,
        target: Any,
        target_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(target, str):
            # Targets may be given as "package.module.Class" and imported lazily here.
            target = import_object(target)
        self.matcher = matcher
        self.target = target
        self.target_kwargs = target_kwargs or {}
        self.name = name

    def reverse(self, *args: Any) -> str | None:
        """Rebuild the URL of this rule from ``args``."""
        return self.matcher.reverse(*args)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.matcher!r}, {self.target!r}, "
            f"kwargs={self.target_kwargs!r}, name={self.name!r})"
        )


#: A rule may be given as a ``Rule`` or as a tuple: ``(pattern or matcher, target[, kwargs[, name]])``.
RuleSpec = Rule | Sequence[Any]


class RuleRouter(Router):
    """Routes by an ordered list of rules; the first rule that yields a delegate wins."""

    def __init__(self, rules: Sequence[RuleSpec] | None = None) -> None:
        self.rules: list[Rule] = []
        if rules:
            self.add_rules(rules)

    def add_rules(self, rules: Sequence[RuleSpec]) -> None:
        """Append rules, given as :class:`Rule` objects or tuples."""
        for rule in rules:
            if isinstance(rule, (tuple, list)):
                if not 2 <= len(rule) <= 4:
                    raise ValueError(f"a rule tuple has 2 to 4 items, not {len(rule)}: {rule!r}")
                if isinstance(rule[0], (str, re.Pattern)):
                    rule = Rule(PathMatches(rule[0]), *rule[1:])
                else:
                    rule = Rule(*rule)
            elif not isinstance(rule, Rule):
                raise TypeError(f"expected a Rule or a tuple, not {rule!r}")
            self.add_rule(rule)

    def add_rule(self, rule: Rule) -> None:
        """Append one rule."""
        self.rules.append(self.process_rule(rule))

    def process_rule(self, rule: Rule) -> Rule:
        """Adjust a rule before it is stored; a list target becomes a nested router."""
        if isinstance(rule.target, (list, tuple)):
            rule.target = ReversibleRuleRouter(rule.target)
        return rule

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        for rule in self.rules:
            target_params = rule.matcher.match(request)
            if target_params is None:
                continue
            if rule.target_kwargs:
                target_params["target_kwargs"] = rule.target_kwargs
            delegate = self.get_target_delegate(rule.target, request, **target_params)
            if delegate is not None:
                return delegate
        return None

    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """Return the delegate ``target`` offers for ``request`` (``None`` to keep looking)."""
        if isinstance(target, Router):
            return target.find_handler(request, **target_params)
        if isinstance(target, httputil.HTTPServerConnectionDelegate):
            assert request.connection is not None
            return target.start_request(request.server_connection, request.connection)
        if callable(target):
            assert request.connection is not None
            return _CallableAdapter(partial(target, **target_params), request.connection)
        return None


class ReversibleRuleRouter(ReversibleRouter, RuleRouter):
    """A rule router that also builds URLs from rule names (nested routers included)."""

    def __init__(self, rules: Sequence[RuleSpec] | None = None) -> None:
        self.named_rules: dict[str, Rule] = {}
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        rule = super().process_rule(rule)
        if rule.name:
            if rule.name in self.named_rules:
                app_log.warning("several rules are named %s; the last one wins", rule.name)
            self.named_rules[rule.name] = rule
        return rule

    def reverse_url(self, name: str, *args: Any) -> str | None:
        if name in self.named_rules:
            return self.named_rules[name].matcher.reverse(*args)
        for rule in self.rules:
            if isinstance(rule.target, ReversibleRouter):
                found = rule.target.reverse_url(name, *args)
                if found is not None:
                    return found
        return None


class URLSpec(Rule):
    """A path rule for a ``RequestHandler`` class (what ``Application`` handler tuples become).

    ``regex`` is the compiled pattern, ``handler_class`` the handler, ``kwargs`` the
    arguments for its ``initialize``.
    """

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        handler: Any,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        matcher = PathMatches(pattern)
        super().__init__(matcher, handler, kwargs, name)
        self.regex = matcher.regex
        self.handler_class = self.target
        self.kwargs = kwargs or {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.regex.pattern!r}, {self.handler_class!r}, "
            f"kwargs={self.kwargs!r}, name={self.name!r})"
        )


#: Tornado's short alias for :class:`URLSpec`.
url = URLSpec
