"""``python -m typhoon_autoreload [-m module | script.py] args...``: see :func:`main`."""

from __future__ import annotations

import sys

from typhoon_autoreload import main

if __name__ == "__main__":
    sys.exit(main())
