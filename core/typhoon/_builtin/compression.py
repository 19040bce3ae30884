"""Built-in plugin: gzip responses when the ``compress_response`` setting is on.

Layer 6 (assembly). Imports ``typhoon.hookimpl`` and ``typhoon.web.transforms``.

``compress_response=True`` (or its old name ``gzip=True``) adds
:class:`~typhoon.web.transforms.GZipContentEncoding` to the application's output
transforms, unless the application already has it.
"""

from __future__ import annotations

__all__ = ["register_output_transforms"]

from typing import Any

from typhoon import hookimpl
from typhoon.web.transforms import GZipContentEncoding


@hookimpl
def register_output_transforms(app: Any) -> list[Any] | None:
    """The gzip transform, when the settings ask for compression."""
    settings = app.settings
    if not (settings.get("compress_response") or settings.get("gzip")):
        return None
    if any(
        isinstance(transform, type) and issubclass(transform, GZipContentEncoding)
        for transform in app.transforms
    ):
        return None
    return [GZipContentEncoding]
