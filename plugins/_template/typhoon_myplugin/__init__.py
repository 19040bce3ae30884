"""An example typhoon plugin: adds an ``X-Served-By`` header when enabled.

The hook implementations live in :mod:`typhoon_myplugin.plugin`, the module the
``typhoon`` entry point names.
"""

from __future__ import annotations

__all__ = ["__version__"]

#: The version of the ``typhoon-myplugin`` distribution.
__version__ = "0.1.0"
