"""Third-party login for typhoon: OAuth 2.0, OpenID Connect, OAuth 1.0a and Tornado's mixins.

Two ways in. Settings-driven: name providers in ``auth_providers`` and the plugin mounts
``/auth/login/<provider>``, ``/auth/callback/<provider>`` and ``/auth/logout`` and fills
``current_user``. Handler-driven: mix Tornado's :class:`GoogleOAuth2Mixin`,
:class:`FacebookGraphMixin`, :class:`TwitterMixin` (or the generic :class:`OAuth2Mixin`,
:class:`OAuthMixin`, and the deprecated :class:`OpenIdMixin`) into a ``RequestHandler``.

The development providers (:mod:`typhoon_auth.devprovider`,
:mod:`typhoon_auth.devprovider_oauth1`, :mod:`typhoon_auth.devprovider_openid`) are
imported from their own modules: they are for tests and local work only.
"""

from __future__ import annotations

__all__ = [
    "PROVIDER_FACTORIES",
    "AuthError",
    "FacebookGraphMixin",
    "GoogleOAuth2Mixin",
    "OAuth2Mixin",
    "OAuthMixin",
    "OpenIdMixin",
    "Provider",
    "ProviderRegistry",
    "TwitterMixin",
    "auth_state",
    "make_provider",
    "safe_next_url",
]

from typhoon.errors import AuthError

from typhoon_auth.handlers import safe_next_url
from typhoon_auth.mixins import FacebookGraphMixin, GoogleOAuth2Mixin, OAuth2Mixin
from typhoon_auth.oauth1 import OAuthMixin, TwitterMixin
from typhoon_auth.openid import OpenIdMixin
from typhoon_auth.plugin import auth_state
from typhoon_auth.providers import PROVIDER_FACTORIES, Provider, make_provider
from typhoon_auth.registry import ProviderRegistry
