"""Core features written as plugins: they use the same hooks as any installed plugin.

Layer 6 (assembly): may import any typhoon module. ``typhoon.web.Application`` registers
these modules by name (``Application.builtin_plugins``) before the installed and the
explicitly passed plugins, so those run first and can take over a feature. Each module
stays inert until the settings ask for its feature:

* :mod:`typhoon._builtin.static` -- the ``static_path`` route (``StaticFileHandler``);
* :mod:`typhoon._builtin.compression` -- ``compress_response`` / ``gzip``;
* :mod:`typhoon._builtin.uimodules` -- the ``linkify``, ``xsrf_form_html`` and
  ``Template`` UI modules;
* :mod:`typhoon._builtin.access_log` -- the default ``log_function`` (the access log).

An ``Application`` subclass can leave one out by overriding ``builtin_plugins``.
"""

from __future__ import annotations

__all__ = ["BUILTIN_PLUGINS"]

#: Module names of the built-in plugins, in registration order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "typhoon._builtin.static",
    "typhoon._builtin.compression",
    "typhoon._builtin.uimodules",
    "typhoon._builtin.access_log",
)
