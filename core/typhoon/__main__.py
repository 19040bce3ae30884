"""``python -m typhoon``: the same as the ``typhoon`` command."""

from __future__ import annotations

__all__: list[str] = []

import sys

from typhoon.cli import main

if __name__ == "__main__":
    sys.exit(main())
