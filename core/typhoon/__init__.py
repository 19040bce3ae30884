"""typhoon: an async web framework and networking library.

The public API follows Tornado 6's module layout: import the submodules
(``typhoon.ioloop``, ``typhoon.web``, ...) rather than names from this package.
"""

from __future__ import annotations

__all__ = ["__version__", "hookimpl", "version", "version_info"]

import pluggy

#: The version of the ``typhoon`` distribution.
__version__ = "0.1.0"
#: Tornado-compatible alias of :data:`__version__`.
version = __version__
#: The version as a tuple of ints (plus a trailing zero), like Tornado's ``version_info``.
version_info = (0, 1, 0, 0)

#: Marks a function or method as an implementation of a typhoon hook.
hookimpl = pluggy.HookimplMarker("typhoon")
