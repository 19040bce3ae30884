"""Cookies: reading, setting and clearing them, and HMAC-signed values with key rotation.

Layer 5 (web). Imports ``typhoon.errors``, ``typhoon.escape`` and the standard library;
the ``RequestHandler`` type is named for the checker only.

Two halves live here:

* pure functions that sign and verify values (:func:`create_signed_value`,
  :func:`decode_signed_value`, :func:`get_signature_key_version`), usable outside a
  request (for example to mint a cookie in a test or a command-line tool);
* :class:`CookieMixin`, the cookie methods of ``RequestHandler``.

Signed value formats. Version 1 is ``base64(value)|timestamp|hex(HMAC-SHA1)`` and is
only read (and written on request) for compatibility with old cookies. Version 2, the
default, is a run of length-prefixed fields ``2|1:<key version>|<n>:<timestamp>|
<n>:<name>|<n>:<base64 value>|`` followed by ``hex(HMAC-SHA256)`` of everything before
it. Length prefixes make the fields unambiguous, so no value can be crafted whose
signature also covers a different name or timestamp; the key version picks the secret
out of a dict of secrets, which is how keys are rotated without logging everybody out.

Set-Cookie lines are built here rather than with :mod:`http.cookies` so that every
attribute is validated: a name, value or attribute that could end the attribute list
early (``;``), start a new header line (CR, LF) or smuggle other control characters is
refused with :class:`~typhoon.errors.CookieError` (an :class:`http.cookies.CookieError`
and a :class:`ValueError`) instead of being written (RFC 6265, section 4.1.1).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "CookieMixin",
    "create_signed_value",
    "decode_signed_value",
    "format_set_cookie",
    "get_signature_key_version",
]

import base64
import calendar
import datetime
import email.utils
import hashlib
import hmac
import re
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from typhoon.errors import CookieError
from typhoon.escape import utf8

if TYPE_CHECKING:
    from typhoon.httputil import HTTPServerRequest
    from typhoon.web.application import Application

#: The format :func:`create_signed_value` writes unless told otherwise.
DEFAULT_SIGNED_VALUE_VERSION = 2
#: The oldest format :func:`decode_signed_value` accepts unless told otherwise.
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1

#: A secret, or a dict of secrets indexed by key version (for key rotation).
SecretType = str | bytes | Mapping[int, str | bytes]

# Signed values claiming a time further ahead than this are refused: a clock can be a
# little off, but a value from the far future was made to outlive ``max_age_days``.
_MAX_FUTURE_SKEW = 31 * 86400

# RFC 6265, section 4.1.1: a cookie name is an RFC 2616 token.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Tornado has always refused whitespace and control characters in names and values.
_BAD_NAME_VALUE_RE = re.compile(r"[\x00-\x20\x7f]")
# Attribute values end at ";" and must not carry control characters.
_BAD_ATTRIBUTE_RE = re.compile(r"[\x00-\x1f\x7f;]")
# Characters a cookie value may contain without quoting (the set http.cookies uses; an
# empty value is quoted, as http.cookies writes it).
_LEGAL_VALUE_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~:]+")
_SAMESITE_VALUES = {"strict": "Strict", "lax": "Lax", "none": "None"}
# Attributes passed as extra keyword arguments, with the spelling written on the wire.
_EXTRA_ATTRIBUTES = {
    "comment": "Comment",
    "version": "Version",
    "priority": "Priority",
    "partitioned": "Partitioned",
}
_FLAG_ATTRIBUTES = frozenset({"partitioned"})


# --- signed values ------------------------------------------------------------------------


def _secret_for(secret: SecretType, key_version: int | None) -> bytes:
    """The one secret to sign with: ``secret`` itself, or its ``key_version`` entry."""
    if isinstance(secret, Mapping):
        if key_version is None:
            raise ValueError("a dict of cookie secrets needs a key_version to sign with")
        try:
            return utf8(secret[key_version])
        except KeyError:
            raise ValueError(f"no cookie secret with key version {key_version}") from None
    return utf8(secret)


def _field(value: str | bytes) -> bytes:
    data = utf8(value)
    return b"%d:%s" % (len(data), data)


def create_signed_value(
    secret: SecretType,
    name: str,
    value: str | bytes,
    version: int | None = None,
    clock: Callable[[], float] | None = None,
    key_version: int | None = None,
) -> bytes:
    """Sign and timestamp ``value`` so it can be stored client-side and verified later.

    ``name`` is covered by the signature, so a value signed for one cookie is refused
    when presented as another. ``secret`` is a string, or a dict of secrets indexed by
    ``key_version`` (version 2 only). ``clock`` replaces :func:`time.time` (for tests).

    Raises:
        ValueError: unknown ``version``, or a dict secret used without a usable
            ``key_version`` or with version 1.
    """
    if version is None:
        version = DEFAULT_SIGNED_VALUE_VERSION
    timestamp = utf8(str(int((clock or time.time)())))
    encoded = base64.b64encode(utf8(value))
    if version == 1:
        if isinstance(secret, Mapping):
            raise ValueError("signed value version 1 does not support key versions")
        signature = _signature_v1(utf8(secret), name, encoded, timestamp)
        return b"|".join([encoded, timestamp, signature])
    if version == 2:
        signing_key = _secret_for(secret, key_version)
        to_sign = b"|".join(
            [
                b"2",
                _field(str(key_version or 0)),
                _field(timestamp),
                _field(name),
                _field(encoded),
                b"",
            ]
        )
        return to_sign + _signature_v2(signing_key, to_sign)
    raise ValueError(f"unsupported signed value version {version}")


def _signature_v1(secret: bytes, *parts: str | bytes) -> bytes:
    digest = hmac.new(secret, digestmod=hashlib.sha1)
    for part in parts:
        digest.update(utf8(part))
    return utf8(digest.hexdigest())


def _signature_v2(secret: bytes, data: bytes) -> bytes:
    return utf8(hmac.new(secret, data, digestmod=hashlib.sha256).hexdigest())


def _version_of(value: bytes) -> int:
    """The format version of a signed value (1 for the unprefixed legacy format)."""
    prefix, sep, _ = value.partition(b"|")
    # A version-1 value starts with base64, which may be all digits; real version
    # prefixes are short, so anything longer is base64.
    if sep and prefix.isdigit() and len(prefix) <= 3:
        return int(prefix)
    return 1


def decode_signed_value(
    secret: SecretType,
    name: str,
    value: str | bytes | None,
    max_age_days: float = 31,
    clock: Callable[[], float] | None = None,
    min_version: int | None = None,
) -> bytes | None:
    """Return the original value if ``value`` is a valid signature of it, else ``None``.

    A value is refused when its signature does not match, it was signed for another
    ``name``, it is older than ``max_age_days`` or dated in the future, or its format is
    older than ``min_version``. With a dict ``secret``, the key version recorded in the
    value selects the secret, so values signed with any still-listed key verify.
    """
    if value is None:
        return None
    if min_version is None:
        min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION
    if min_version > 2:
        raise ValueError(f"unsupported min_version {min_version}")
    data = utf8(value)
    if not data:
        return None
    version = _version_of(data)
    if version < min_version:
        return None
    now = (clock or time.time)()
    if version == 1:
        if isinstance(secret, Mapping):
            return None
        return _decode_v1(utf8(secret), name, data, max_age_days, now)
    if version == 2:
        return _decode_v2(secret, name, data, max_age_days, now)
    return None


def _fresh(timestamp: int, max_age_days: float, now: float) -> bool:
    return now - max_age_days * 86400 <= timestamp <= now + _MAX_FUTURE_SKEW


def _decode_v1(
    secret: bytes, name: str, data: bytes, max_age_days: float, now: float
) -> bytes | None:
    parts = data.split(b"|")
    if len(parts) != 3:
        return None
    encoded, timestamp, signature = parts
    if not hmac.compare_digest(signature, _signature_v1(secret, name, encoded, timestamp)):
        return None
    # A leading zero would let "0123" and "123" sign the same instant differently.
    if not timestamp.isdigit() or timestamp.startswith(b"0"):
        return None
    if not _fresh(int(timestamp), max_age_days, now):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        return None


def _read_field(data: bytes, start: int) -> tuple[bytes, int]:
    """Read one ``<length>:<bytes>|`` field at ``start``; return it and the next offset."""
    colon = data.index(b":", start)
    length_text = data[start:colon]
    if not length_text.isdigit():
        raise ValueError("bad field length")
    end = colon + 1 + int(length_text)
    if data[end : end + 1] != b"|":
        raise ValueError("field is not followed by a separator")
    return data[colon + 1 : end], end + 1


def _parse_v2(data: bytes) -> tuple[int, bytes, bytes, bytes, bytes, bytes]:
    """Split a version-2 value into key version, timestamp, name, value, signed part, sig."""
    offset = 2  # past "2|"
    key_version, offset = _read_field(data, offset)
    timestamp, offset = _read_field(data, offset)
    name, offset = _read_field(data, offset)
    encoded, offset = _read_field(data, offset)
    if not key_version.isdigit():
        raise ValueError("bad key version")
    return int(key_version), timestamp, name, encoded, data[:offset], data[offset:]


def _decode_v2(
    secret: SecretType, name: str, data: bytes, max_age_days: float, now: float
) -> bytes | None:
    try:
        key_version, timestamp, signed_name, encoded, signed, signature = _parse_v2(data)
    except ValueError:
        return None
    if isinstance(secret, Mapping):
        if key_version not in secret:
            return None
        signing_key = utf8(secret[key_version])
    else:
        signing_key = utf8(secret)
    if not hmac.compare_digest(signature, _signature_v2(signing_key, signed)):
        return None
    if signed_name != utf8(name):
        return None
    if not timestamp.isdigit() or not _fresh(int(timestamp), max_age_days, now):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        return None


def get_signature_key_version(value: str | bytes) -> int | None:
    """The key version recorded in a version-2 signed value; ``None`` for other values.

    The value is not verified: use this to notice values signed with an old key and
    re-sign them, after :func:`decode_signed_value` accepted them.
    """
    data = utf8(value)
    if _version_of(data) != 2:
        return None
    try:
        return _parse_v2(data)[0]
    except ValueError:
        return None


# --- Set-Cookie lines ---------------------------------------------------------------------


def _quote_value(value: str) -> str:
    """Quote a cookie value the way :mod:`http.cookies` does, so old parsers agree."""
    if _LEGAL_VALUE_RE.fullmatch(value):
        return value
    pieces = ['"']
    for char in value:
        if char in '"\\':
            pieces.append("\\" + char)
        elif char in ",;" or not " " <= char <= "~":
            if ord(char) > 0xFF:
                raise CookieError(f"cookie value {value!r} has a character HTTP cannot carry")
            pieces.append(f"\\{ord(char):03o}")
        else:
            pieces.append(char)
    pieces.append('"')
    return "".join(pieces)


def _check_attribute(name: str, value: str) -> str:
    if _BAD_ATTRIBUTE_RE.search(value):
        raise CookieError(f"invalid cookie attribute {name}={value!r}")
    return value


def _format_expires(expires: float | datetime.datetime | str) -> str:
    if isinstance(expires, str):
        return expires
    if isinstance(expires, datetime.datetime):
        if expires.tzinfo is None:
            seconds = float(calendar.timegm(expires.utctimetuple()))
        else:
            seconds = expires.timestamp()
    else:
        seconds = float(expires)
    return email.utils.formatdate(seconds, usegmt=True)


def format_set_cookie(
    name: str,
    value: str | bytes,
    domain: str | None = None,
    expires: float | datetime.datetime | str | None = None,
    path: str | None = "/",
    expires_days: float | None = None,
    *,
    max_age: int | None = None,
    httponly: bool = False,
    secure: bool = False,
    samesite: str | None = None,
    now: float | None = None,
    **kwargs: Any,
) -> str:
    """Build the value of a ``Set-Cookie`` header (RFC 6265, section 4.1), validating it.

    Arguments are those of ``RequestHandler.set_cookie``; extra keyword arguments name
    other attributes (``partitioned=True``, ``priority="High"``; ``_`` may stand for
    ``-``). Attributes are written in the order :mod:`http.cookies` uses. Keywords in
    another case (``HttpOnly=True``, ``Path="/a"``) still work as their lowercase
    spelling, with a :class:`DeprecationWarning`: older releases accepted attribute
    names in any case.

    Raises:
        CookieError: the name is not a token, the name or value contains whitespace or
            control characters, an attribute value contains ``;`` or control
            characters, ``samesite`` is not Strict, Lax or None, or an unknown
            attribute is given. It is also a ``ValueError``.
    """
    if kwargs and any(key != key.lower() for key in kwargs):
        kwargs = _lowercase_keywords(kwargs)
        domain = kwargs.pop("domain", domain)
        expires = kwargs.pop("expires", expires)
        path = kwargs.pop("path", path)
        max_age = kwargs.pop("max_age", max_age)
        httponly = kwargs.pop("httponly", httponly)
        secure = kwargs.pop("secure", secure)
        samesite = kwargs.pop("samesite", samesite)
    text_value = value.decode("latin1") if isinstance(value, bytes) else value
    if not _TOKEN_RE.fullmatch(name) or _BAD_NAME_VALUE_RE.search(name + text_value):
        raise CookieError(f"invalid cookie {name!r}: {text_value!r}")
    attributes: dict[str, str | None] = {}
    if domain:
        attributes["domain"] = "Domain=" + _check_attribute("domain", domain)
    if expires_days is not None and not expires:
        base = time.time() if now is None else now
        expires = base + expires_days * 86400
    if expires:
        attributes["expires"] = "expires=" + _check_attribute("expires", _format_expires(expires))
    if httponly:
        attributes["httponly"] = "HttpOnly"
    if max_age is not None:
        if not isinstance(max_age, int):
            raise CookieError(f"cookie max_age must be an integer, not {max_age!r}")
        attributes["max-age"] = f"Max-Age={int(max_age)}"
    if path:
        attributes["path"] = "Path=" + _check_attribute("path", path)
    if samesite:
        canonical = _SAMESITE_VALUES.get(samesite.lower())
        if canonical is None:
            raise CookieError(f"invalid cookie attribute samesite={samesite!r}")
        attributes["samesite"] = "SameSite=" + canonical
    if secure:
        attributes["secure"] = "Secure"
    for key, attr_value in kwargs.items():
        attr = key.lower().replace("_", "-")
        if attr == "max-age":
            if attr_value is not None:
                attributes["max-age"] = f"Max-Age={int(attr_value)}"
            continue
        spelled = _EXTRA_ATTRIBUTES.get(attr)
        if spelled is None:
            raise CookieError(f"invalid cookie attribute {key!r}")
        if attr in _FLAG_ATTRIBUTES:
            if attr_value:
                attributes[attr] = spelled
        elif attr_value is not None and attr_value is not False:
            attributes[attr] = f"{spelled}={_check_attribute(key, str(attr_value))}"
    parts = [f"{name}={_quote_value(text_value)}"]
    parts.extend(attributes[key] or "" for key in sorted(attributes))
    return "; ".join(parts)


def _lowercase_keywords(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with lowercase names, warning about each name that was not."""
    lowered: dict[str, Any] = {}
    for key, value in kwargs.items():
        attr = key.lower()
        if attr != key:
            warnings.warn(
                f"cookie attribute keyword {key!r} should be spelled {attr!r}",
                DeprecationWarning,
                stacklevel=4,  # the caller of set_cookie
            )
        lowered[attr] = value
    return lowered


# --- the handler side ---------------------------------------------------------------------


class CookieMixin:
    """The cookie methods of ``RequestHandler``: read, set, clear, sign and verify."""

    #: The ``Set-Cookie`` lines of this response by cookie name (None: no cookie set).
    _new_cookie: dict[str, str] | None = None

    if TYPE_CHECKING:
        request: HTTPServerRequest
        application: Application

        def require_setting(self, name: str, feature: str = ...) -> None: ...

    @property
    def cookies(self) -> Mapping[str, Any]:
        """The cookies the request carried (``self.request.cookies``)."""
        return self.request.cookies

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        """Return the value of the request cookie ``name``, or ``default`` if absent.

        The value is the client's, unverified: use :meth:`get_signed_cookie` for
        anything that must not be forged.
        """
        cookies = self.request.cookies
        if name in cookies:
            return _morsel_value(cookies[name])
        return default

    def set_cookie(
        self,
        name: str,
        value: str | bytes,
        domain: str | None = None,
        expires: float | datetime.datetime | str | None = None,
        path: str = "/",
        expires_days: float | None = None,
        *,
        max_age: int | None = None,
        httponly: bool = False,
        secure: bool = False,
        samesite: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Set a response cookie; a later call for the same name replaces this one.

        ``expires`` is a timestamp, an aware or UTC ``datetime`` or an HTTP date;
        ``expires_days`` is an alternative relative to now. Extra keyword arguments set
        other attributes (``partitioned=True``). Every value is validated (see
        :func:`format_set_cookie`), so a cookie can never inject header content: an
        invalid one raises :class:`http.cookies.CookieError` (also a ``ValueError``).
        """
        line = format_set_cookie(
            name,
            value,
            domain,
            expires,
            path,
            expires_days,
            max_age=max_age,
            httponly=httponly,
            secure=secure,
            samesite=samesite,
            **kwargs,
        )
        new_cookies = self._new_cookie
        if new_cookies is None:
            new_cookies = self._new_cookie = {}
        new_cookies.pop(name, None)
        new_cookies[name] = line

    def clear_cookie(self, name: str, **kwargs: Any) -> None:
        """Tell the client to delete cookie ``name``.

        Pass the same ``path`` and ``domain`` (and attributes such as ``secure`` or
        ``samesite``) the cookie was set with, or the browser keeps it.
        """
        for attr in ("expires", "max_age"):
            if attr in kwargs:
                raise TypeError(f"clear_cookie() got an unexpected keyword argument {attr!r}")
        self.set_cookie(name, value="", expires=time.time() - 365 * 86400, **kwargs)

    def clear_all_cookies(self, **kwargs: Any) -> None:
        """Delete every cookie the request carried (deprecated in Tornado: prefer
        :meth:`clear_cookie` with each cookie's own attributes)."""
        for name in list(self.request.cookies):
            self.clear_cookie(name, **kwargs)

    def set_signed_cookie(
        self,
        name: str,
        value: str | bytes,
        expires_days: float | None = 30,
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Sign and timestamp ``value`` and set it as cookie ``name``.

        Needs the ``cookie_secret`` setting. The cookie is readable but not forgeable
        by the client; read it back with :meth:`get_signed_cookie`. ``expires_days``
        defaults to 30; other keyword arguments go to :meth:`set_cookie`.
        """
        self.set_cookie(
            name,
            self.create_signed_value(name, value, version=version),
            expires_days=expires_days,
            **kwargs,
        )

    def create_signed_value(
        self, name: str, value: str | bytes, version: int | None = None
    ) -> bytes:
        """Sign ``value`` with the application's ``cookie_secret`` (and ``key_version``).

        For values carried elsewhere than in a cookie (a query argument, a header);
        verify them with :meth:`get_signed_cookie`'s counterpart
        :func:`decode_signed_value`.
        """
        self.require_setting("cookie_secret", "secure cookies")
        settings = self.application.settings
        secret = settings["cookie_secret"]
        key_version = None
        if isinstance(secret, Mapping):
            if settings.get("key_version") is None:
                raise ValueError("a dict cookie_secret needs the key_version setting")
            key_version = settings["key_version"]
        return create_signed_value(secret, name, value, version=version, key_version=key_version)

    def get_signed_cookie(
        self,
        name: str,
        value: str | None = None,
        max_age_days: float = 31,
        min_version: int | None = None,
    ) -> bytes | None:
        """Return the verified value of signed cookie ``name``, or ``None``.

        ``None`` when the cookie is missing, forged, signed for another name, older than
        ``max_age_days`` or in a format older than ``min_version``. Unlike
        :meth:`get_cookie` the result is bytes (it may have been any bytes when set).
        ``value`` verifies the given string instead of reading the cookie.
        """
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        return decode_signed_value(
            self.application.settings["cookie_secret"],
            name,
            value,
            max_age_days=max_age_days,
            min_version=min_version,
        )

    def get_signed_cookie_key_version(self, name: str, value: str | None = None) -> int | None:
        """The key version of signed cookie ``name`` (unverified), or ``None``."""
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        if value is None:
            return None
        return get_signature_key_version(value)

    # The names these methods had before Tornado 6.3, kept for ported code.
    set_secure_cookie = set_signed_cookie
    get_secure_cookie = get_signed_cookie
    get_secure_cookie_key_version = get_signed_cookie_key_version


def _morsel_value(cookie: Any) -> str:
    """The value of a parsed request cookie, whether stored as text or as a Morsel."""
    if isinstance(cookie, str):
        return cookie
    value: str = cookie.value
    return value
