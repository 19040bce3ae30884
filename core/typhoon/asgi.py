"""ASGI 3 interop, both ways: ASGI applications inside typhoon, typhoon under ASGI servers.

Layer 4 (http). Imports the private modules :mod:`typhoon._asgi_common`,
:mod:`typhoon._asgi_container` (with :mod:`typhoon._asgi_wscontainer`) and
:mod:`typhoon._asgi_adapter`; nothing above the HTTP layer. (``WebSocketHandler``
finds the adapter's connection through :mod:`typhoon._wsasgi`, one layer up.)

Beyond Tornado. Two directions:

* :class:`ASGIContainer` mounts an ASGI application (Starlette, FastAPI, Django's
  ASGI handler, ...) on typhoon's HTTP server, with its HTTP, WebSocket and lifespan
  scopes::

      container = ASGIContainer(starlette_app)
      application = Application(
          [(r"/native", NativeHandler), (r"/api/.*", container)],
          plugins=[container],          # lifespan follows the application's startup/shutdown
      )

* :func:`asgi_app` exposes a typhoon ``Application`` as an ASGI application, so that
  uvicorn, hypercorn or any ASGI server can run it, ``WebSocketHandler`` endpoints
  included::

      app = asgi_app(Application([(r"/", MainHandler), (r"/ws", EchoSocket)]))
      # uvicorn mymodule:app

The type aliases (:data:`Scope`, :data:`Message`, :data:`Receive`, :data:`Send`,
:data:`ASGIApp`) describe the ASGI 3 callable interface.
"""

from __future__ import annotations

__all__ = [
    "ASGIAdapter",
    "ASGIApp",
    "ASGIContainer",
    "ASGIError",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "asgi_app",
]

from typhoon._asgi_adapter import ASGIAdapter, asgi_app
from typhoon._asgi_common import ASGIApp, Message, Receive, Scope, Send
from typhoon._asgi_container import ASGIContainer
from typhoon.errors import ASGIError
