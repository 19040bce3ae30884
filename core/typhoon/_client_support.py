"""Pure helpers of the HTTP client: URLs, TLS contexts, proxies from the environment, auth.

Layer 4 (private to ``typhoon.simple_httpclient``): imports ``typhoon.errors``,
``typhoon.httputil`` and the standard library; no I/O besides reading certificate
files and the process environment.

* :func:`parse_url` checks a request URL and splits it into what a request needs.
* :class:`TLSContexts` builds and caches client :class:`ssl.SSLContext` objects.
* :func:`proxy_from_environment` reads ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``.
* :func:`basic_credentials` and :class:`DigestChallenge` produce ``Authorization`` and
  ``Proxy-Authorization`` values (RFC 7617, RFC 7616).
"""

from __future__ import annotations

__all__ = [
    "DigestChallenge",
    "ParsedURL",
    "ProxyConfig",
    "TLSContexts",
    "basic_credentials",
    "parse_url",
    "proxy_from_environment",
]

import base64
import functools
import hashlib
import ipaddress
import os
import re
import secrets
import ssl
import unicodedata
import urllib.parse
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from typhoon.errors import HTTPOutputError
from typhoon.httputil import encode_username_password
from typhoon.netutil import ssl_options_to_context

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Controls, space and DEL never belong in a URL sent on the wire. urllib.parse would
# silently drop tab, CR and LF (WHATWG rules), turning "a\r\nX: y" into "aX: y": the
# check runs on the text as given, before any parsing.
_BAD_URL_RE: Final = re.compile(r"[\x00-\x20\x7f]")


# --- URLs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedURL:
    """The parts of a request URL a request needs.

    Attributes:
        scheme: ``"http"`` or ``"https"``.
        host: The host to connect to (IPv6 literals without brackets).
        port: The port, the scheme's default when the URL has none.
        authority: ``host[:port]`` as written in the URL, for the ``Host`` header.
        target: The origin-form request target, ``/path?query``.
        username: Percent-decoded user name from the URL, or ``None``.
        password: Percent-decoded password from the URL, or ``None``.
    """

    scheme: str
    host: str
    port: int
    authority: str
    target: str
    username: str | None
    password: str | None

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)``: what credentials are bound to (RFC 6454)."""
        return (self.scheme, self.host, self.port)

    @property
    def absolute_target(self) -> str:
        """The absolute-form target a plain proxy needs (RFC 9112, section 3.2.2)."""
        return f"{self.scheme}://{self.authority}{self.target}"

    @property
    def connect_target(self) -> str:
        """The authority-form target of a ``CONNECT`` (RFC 9112, section 3.2.3)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@functools.lru_cache(maxsize=512)
def parse_url(url: str) -> ParsedURL:
    """Check ``url`` and split it (results are cached: fetching one URL again is common).

    Raises:
        HTTPOutputError: the URL contains a control character or whitespace.
        ValueError: the scheme is not http or https, the host is missing, or the port
            is invalid.
    """
    bad = _BAD_URL_RE.search(url)
    if bad is not None:
        raise HTTPOutputError(f"invalid character {bad.group()!r} in URL {url[:100]!r}")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise ValueError(f"Unsupported url scheme: {url[:100]}")
    host = parts.hostname
    if not host:
        raise ValueError(f"URL has no host: {url[:100]}")
    port = parts.port  # raises ValueError for a port out of range or not a number
    authority = parts.netloc.rpartition("@")[2]
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    username = parts.username
    password = parts.password
    return ParsedURL(
        scheme=scheme,
        host=host,
        port=default_port if port is None else port,
        authority=authority,
        target=target,
        username=None if username is None else urllib.parse.unquote(username),
        password=None if password is None else urllib.parse.unquote(password),
    )


# --- TLS --------------------------------------------------------------------------------


class TLSContexts:
    """Builds client TLS contexts and keeps them, one per distinct configuration.

    Loading the system's trust store takes milliseconds; a client reuses one context
    per ``(validate_cert, ca_certs, client_cert, client_key)`` and per ``ssl_options``
    dictionary. The key of a context also keys the connection pool, so a connection
    made with one client certificate is never reused by a request made without it.
    """

    def __init__(self) -> None:
        self._contexts: dict[Hashable, ssl.SSLContext] = {}

    def get(
        self,
        ssl_options: ssl.SSLContext | Mapping[str, Any] | None,
        validate_cert: bool,
        ca_certs: str | None,
        client_cert: str | None,
        client_key: str | None,
    ) -> tuple[ssl.SSLContext, Hashable]:
        """Return the context for these options and the key that identifies it.

        ``ssl_options``, when given, wins over the other arguments.
        """
        if isinstance(ssl_options, ssl.SSLContext):
            return ssl_options, ("context", id(ssl_options), ssl_options)
        key: Hashable
        if ssl_options is not None:
            key = ("options", tuple(sorted((k, repr(v)) for k, v in ssl_options.items())))
        else:
            key = ("request", bool(validate_cert), ca_certs, client_cert, client_key)
        context = self._contexts.get(key)
        if context is None:
            if ssl_options is not None:
                context = ssl_options_to_context(dict(ssl_options), server_side=False)
            else:
                context = _request_context(bool(validate_cert), ca_certs, client_cert, client_key)
            context.set_alpn_protocols(["http/1.1"])
            self._contexts[key] = context
        return context, key


def _request_context(
    validate_cert: bool, ca_certs: str | None, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext:
    # The platform's defaults: certificate and host name checks on, no compression,
    # no protocol older than the ssl module allows.
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_certs)
    if not validate_cert:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key)
    return context


# --- proxies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """An HTTP proxy: where it is and the credentials it wants (if any)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    auth_mode: str = "basic"


def _environ_value(environ: Mapping[str, str], name: str) -> str | None:
    # Lower case first, as curl does. HTTP_PROXY in upper case is ignored in a CGI
    # process, where a client could set it through a "Proxy:" request header (httpoxy).
    value = environ.get(name.lower())
    if value is None and not (name.upper() == "HTTP_PROXY" and "REQUEST_METHOD" in environ):
        value = environ.get(name.upper())
    return value.strip() if value else None


def proxy_from_environment(
    scheme: str, host: str, port: int, environ: Mapping[str, str] | None = None
) -> ProxyConfig | None:
    """The proxy the environment assigns to ``scheme://host:port``, or ``None``.

    Reads ``http_proxy`` / ``https_proxy`` (then ``all_proxy``) and ``no_proxy``, each
    in lower or upper case. ``no_proxy`` is a comma-separated list of ``*``, host names
    (matching the name and its subdomains; a leading ``.`` or ``*.`` is ignored),
    IP addresses or networks (``10.0.0.0/8``), each optionally with ``:port``.

    Raises:
        ValueError: the proxy URL is not an ``http://`` URL with a host.
    """
    env = os.environ if environ is None else environ
    if _bypassed(host, port, _environ_value(env, "no_proxy")):
        return None
    value = _environ_value(env, f"{scheme}_proxy") or _environ_value(env, "all_proxy")
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError(f"unsupported proxy URL {value!r}: only http:// proxies are supported")
    username = parts.username
    password = parts.password
    return ProxyConfig(
        host=parts.hostname,
        port=parts.port or 80,
        username=None if username is None else urllib.parse.unquote(username),
        password=None if password is None else urllib.parse.unquote(password),
    )


def _bypassed(host: str, port: int, no_proxy: str | None) -> bool:
    if not no_proxy:
        return False
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_port: int | None = None
        if entry.startswith("["):
            inner, _, rest = entry[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
            entry = inner
        elif entry.count(":") == 1:
            name, _, text = entry.partition(":")
            if text.isdigit():
                entry, entry_port = name, int(text)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.removeprefix("*").lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


# --- authentication ---------------------------------------------------------------------


def basic_credentials(username: str, password: str) -> str:
    """An ``Authorization`` (or ``Proxy-Authorization``) value for Basic auth (RFC 7617).

    The user name and password are normalised to Unicode NFC first (RFC 7617, section
    2.1), so a name typed with combining accents matches the precomposed one.
    """
    username = unicodedata.normalize("NFC", username)
    password = unicodedata.normalize("NFC", password)
    token = base64.b64encode(encode_username_password(username, password)).decode("ascii")
    return "Basic " + token


_TOKEN: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# One auth-param (RFC 9110, section 11.2), preceded by optional list separators.
_PARAM_RE: Final = re.compile(
    r"[ \t,]*(" + _TOKEN + r')[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|' + _TOKEN + r")", re.DOTALL
)
_SCHEME_RE: Final = re.compile(r"[ \t,]*(" + _TOKEN + r")(?:[ \t]+|$|(?=,))")
_QUOTED_PAIR_RE: Final = re.compile(r"\\(.)", re.DOTALL)

_DIGEST_HASHES: Final = {
    "MD5": "md5",
    "SHA-256": "sha256",
    "SHA-512-256": "sha512_256",
}


def _parse_challenges(values: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Split ``WWW-Authenticate`` values into ``(scheme, params)`` pairs, in linear time."""
    challenges: list[tuple[str, dict[str, str]]] = []
    for value in values:
        pos = 0
        end = len(value)
        while pos < end:
            scheme_match = _SCHEME_RE.match(value, pos)
            if scheme_match is None:
                break
            params: dict[str, str] = {}
            pos = scheme_match.end()
            while True:
                param = _PARAM_RE.match(value, pos)
                if param is None:
                    break
                raw = param.group(2)
                if raw.startswith('"'):
                    raw = _QUOTED_PAIR_RE.sub(r"\1", raw[1:-1])
                params.setdefault(param.group(1).lower(), raw)
                pos = param.end()
            challenges.append((scheme_match.group(1).lower(), params))
            if scheme_match.end() == pos and not params:
                # A scheme with a token68 or nothing after it: skip to the next comma.
                comma = value.find(",", pos)
                pos = end if comma < 0 else comma + 1
    return challenges


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DigestChallenge:
    """A Digest challenge from a 401 or 407 response, able to answer itself (RFC 7616).

    Supports the MD5, SHA-256 and SHA-512-256 algorithms and their ``-sess``
    variants, ``qop="auth"`` (and ``auth-int`` when the body is known), ``userhash``
    and the RFC 2069 form without ``qop``.
    """

    def __init__(self, params: dict[str, str]) -> None:
        self.realm = params.get("realm", "")
        self.nonce = params.get("nonce", "")
        self.opaque = params.get("opaque")
        self.algorithm = params.get("algorithm", "MD5")
        self.qop_options = [q.strip().lower() for q in params.get("qop", "").split(",") if q]
        self.stale = params.get("stale", "").lower() == "true"
        self.userhash = params.get("userhash", "").lower() == "true"
        self._nc = 0

    @classmethod
    def from_headers(cls, values: list[str]) -> DigestChallenge | None:
        """The first usable Digest challenge among these header values, or ``None``."""
        for scheme, params in _parse_challenges(values):
            if scheme != "digest" or "nonce" not in params:
                continue
            algorithm = params.get("algorithm", "MD5").upper().removesuffix("-SESS")
            if algorithm in _DIGEST_HASHES:
                return cls(params)
        return None

    def authorization(
        self,
        username: str,
        password: str,
        method: str,
        uri: str,
        body: bytes | None,
        *,
        cnonce: str | None = None,
    ) -> str:
        """The credentials answering this challenge for one request.

        ``uri`` is the request target as sent; ``body`` the request body when it is
        known (needed only for ``qop=auth-int``); ``cnonce`` the client nonce (random
        when omitted).
        """
        algorithm = self.algorithm.upper()
        session = algorithm.endswith("-SESS")
        hash_name = _DIGEST_HASHES[algorithm.removesuffix("-SESS")]

        def digest(data: str | bytes) -> str:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            return hashlib.new(hash_name, raw).hexdigest()

        if cnonce is None:
            cnonce = secrets.token_hex(16)
        a1 = digest(f"{username}:{self.realm}:{password}")
        if session:
            a1 = digest(f"{a1}:{self.nonce}:{cnonce}")
        qop: str | None = None
        if "auth" in self.qop_options:
            qop = "auth"
        elif "auth-int" in self.qop_options and body is not None:
            qop = "auth-int"
        a2 = f"{method}:{uri}"
        if qop == "auth-int":
            a2 += ":" + digest(body or b"")
        if qop is None:
            response = digest(f"{a1}:{self.nonce}:{digest(a2)}")
        else:
            self._nc += 1
            response = digest(f"{a1}:{self.nonce}:{self._nc:08x}:{cnonce}:{qop}:{digest(a2)}")
        if self.userhash:
            user_field = "username=" + _quote(digest(f"{username}:{self.realm}"))
        elif username.isascii():
            user_field = "username=" + _quote(username)
        else:
            # RFC 7616, section 3.4.4: non-ASCII user names use the extended notation.
            user_field = "username*=UTF-8''" + urllib.parse.quote(username, safe="")
        fields = [
            user_field,
            "realm=" + _quote(self.realm),
            "nonce=" + _quote(self.nonce),
            "uri=" + _quote(uri),
            "algorithm=" + self.algorithm,
            "response=" + _quote(response),
        ]
        if qop is not None:
            fields += [f"qop={qop}", f"nc={self._nc:08x}", "cnonce=" + _quote(cnonce)]
        if self.opaque is not None:
            fields.append("opaque=" + _quote(self.opaque))
        if self.userhash:
            fields.append("userhash=true")
        return "Digest " + ", ".join(fields)
