"""The web framework: request handlers, the application, cookies, XSRF, decorators.

Layer 5 (web). This package keeps Tornado's ``tornado.web`` names behind one facade;
the code lives in modules with one responsibility each:

* :mod:`typhoon.web.handler` -- ``RequestHandler`` (lifecycle, output, errors, caching);
* :mod:`typhoon.web.arguments`, :mod:`~typhoon.web.cookies`, :mod:`~typhoon.web.xsrf`,
  :mod:`~typhoon.web.rendering` -- the handler's argument, cookie, XSRF and template
  methods;
* :mod:`typhoon.web.application` -- ``Application`` and the plugin hooks;
* :mod:`typhoon.web.settings` -- the settings the core understands;
* :mod:`typhoon.web.decorators`, :mod:`typhoon.web.handlers` -- ``@authenticated`` and
  friends, ``RedirectHandler``, ``ErrorHandler``, ``FallbackHandler``;
* :mod:`typhoon.web.static` -- ``StaticFileHandler``;
* :mod:`typhoon.web.transforms` -- ``OutputTransform``, ``GZipContentEncoding``;
* :mod:`typhoon.web.uimodules` -- ``UIModule``, ``TemplateModule``.

Exceptions come from :mod:`typhoon.errors` and are re-exported here under Tornado's
names (``HTTPError``, ``Finish``, ``MissingArgumentError``).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "Application",
    "ErrorHandler",
    "FallbackHandler",
    "Finish",
    "GZipContentEncoding",
    "HTTPError",
    "MissingArgumentError",
    "OutputTransform",
    "RedirectHandler",
    "RequestContextFilter",
    "RequestHandler",
    "StaticFileHandler",
    "TemplateModule",
    "UIModule",
    "URLSpec",
    "addslash",
    "authenticated",
    "create_signed_value",
    "current_handler",
    "current_request",
    "decode_signed_value",
    "get_signature_key_version",
    "removeslash",
    "stream_request_body",
    "url",
]

from typhoon.errors import Finish, HTTPError, MissingArgumentError
from typhoon.routing import URLSpec, url
from typhoon.web.application import Application
from typhoon.web.context import RequestContextFilter, current_handler, current_request
from typhoon.web.cookies import (
    DEFAULT_SIGNED_VALUE_MIN_VERSION,
    DEFAULT_SIGNED_VALUE_VERSION,
    create_signed_value,
    decode_signed_value,
    get_signature_key_version,
)
from typhoon.web.decorators import addslash, authenticated, removeslash, stream_request_body
from typhoon.web.handler import RequestHandler
from typhoon.web.handlers import ErrorHandler, FallbackHandler, RedirectHandler
from typhoon.web.static import StaticFileHandler
from typhoon.web.transforms import GZipContentEncoding, OutputTransform
from typhoon.web.uimodules import TemplateModule, UIModule
