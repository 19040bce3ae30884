"""Template rendering: typhoon.template against tornado.template on a 100-row table.

Both engines compile the same template source once and render it with the same data
(100 rows of five escaped columns, a conditional and a loop counter, inside a layout
reached through ``{% extends %}``). Reported: best-of-``--repeat`` microseconds per
render for each engine (timing batches of the two engines alternate) and the ratio (Tornado time / typhoon time; higher is better
for typhoon). The outputs are checked to be identical before timing, so both do the
same work.

Usage (from the repository root; needs the ``bench`` dependency group for Tornado)::

    python3 -m uv run --no-sync python bench/template_render.py [--rows 100] [--repeat 15]
"""

from __future__ import annotations

import argparse
import datetime
import timeit
from collections.abc import Callable
from typing import Any

import tornado.template
import typhoon.template

LAYOUT = """<!DOCTYPE html>
<html>
<head><title>{% block title %}Report{% end %}</title></head>
<body>
{% block body %}{% end %}
</body>
</html>
"""

TABLE = """{% extends "layout.html" %}
{% block title %}{{ title }}{% end %}
{% block body %}
<h1>{{ title }}</h1>
<table class="report">
  <tr><th>#</th><th>Name</th><th>Email</th><th>Score</th><th>Joined</th><th>Status</th></tr>
  {% for i, row in enumerate(rows) %}
  <tr class="{{ 'odd' if i % 2 else 'even' }}">
    <td>{{ row['id'] }}</td>
    <td><a href="/users/{{ url_escape(row['name']) }}">{{ row['name'] }}</a></td>
    <td>{{ row['email'] }}</td>
    <td>{{ '%.1f' % row['score'] }}</td>
    <td>{{ row['joined'].strftime('%Y-%m-%d') }}</td>
    <td>{% if row['active'] %}active{% else %}<em>inactive</em>{% end %}</td>
  </tr>
  {% end %}
</table>
<p>{{ len(rows) }} rows, {{ footer }}</p>
{% end %}
"""


def make_rows(count: int) -> list[dict[str, Any]]:
    """Rows with a mix of plain text and characters that need escaping."""
    base = datetime.date(2020, 1, 1)
    return [
        {
            "id": i,
            "name": f"User <{i}> & Co" if i % 7 == 0 else f"user{i}",
            "email": f"user{i}@example.com",
            "score": i * 1.5,
            "joined": base + datetime.timedelta(days=i),
            "active": i % 3 != 0,
        }
        for i in range(count)
    ]


def best_us_interleaved(funcs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best microseconds per call of each function.

    Batches of the engines alternate (``repeat`` rounds), so load from other
    processes on a shared machine hits both alike.
    """
    timers = {name: timeit.Timer(func) for name, func in funcs.items()}
    numbers = {name: max(1, timer.autorange()[0]) for name, timer in timers.items()}
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeat):
        for name, timer in timers.items():
            per_call = timer.timeit(number=numbers[name]) / numbers[name]
            best[name] = min(best[name], per_call * 1e6)
    return best


def main() -> None:
    """Render with both engines, check the outputs agree, print times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    sources = {"layout.html": LAYOUT, "table.html": TABLE}
    kwargs = {"title": "Users & <friends>", "rows": make_rows(args.rows), "footer": "ok"}
    ours = typhoon.template.DictLoader(sources).load("table.html")
    theirs = tornado.template.DictLoader(sources).load("table.html")
    if ours.generate(**kwargs) != theirs.generate(**kwargs):
        raise SystemExit("outputs differ: the comparison would not be fair")

    best = best_us_interleaved(
        {"typhoon": lambda: ours.generate(**kwargs), "tornado": lambda: theirs.generate(**kwargs)},
        args.repeat,
    )
    typhoon_us, tornado_us = best["typhoon"], best["tornado"]
    size = len(ours.generate(**kwargs))
    print(f"template render, {args.rows} rows, {size} bytes of output")
    print(f"  typhoon.template  {typhoon_us:9.1f} us/render")
    print(f"  tornado.template  {tornado_us:9.1f} us/render  (tornado {tornado.version})")
    print(f"  ratio (tornado / typhoon): {tornado_us / typhoon_us:.2f}x")


if __name__ == "__main__":
    main()
