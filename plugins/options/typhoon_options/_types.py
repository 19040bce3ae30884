"""Conversions between option text (command line, environment) and typed values.

Three entry points, from strict to lenient:

* :func:`check_value` — a value assigned in code must already have the option's type.
* :func:`parse_text` — text from the command line or the environment is parsed with the
  formats ``tornado.options`` documents (datetimes, timedeltas such as ``1h 30m``,
  comma-separated lists with integer ranges ``1:3``).
* :func:`coerce_value` — a config-file value or a default may be either the final type
  or text; text goes through :func:`parse_text`.

Every failure raises :class:`ConversionError`, whose message names the expected type
and the rejected value; the caller adds the option's name and where the value came from.
"""

from __future__ import annotations

__all__ = [
    "DATETIME_FORMATS",
    "ConversionError",
    "check_value",
    "coerce_value",
    "describe_type",
    "is_integer_type",
    "parse_text",
]

import datetime
import re
from typing import Any

#: ``strptime`` layouts tried in order for ``datetime`` options (Tornado's list, plus
#: the ISO 8601 forms ``datetime.fromisoformat`` accepts as a last resort).
DATETIME_FORMATS = (
    "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d %H:%M",
    "%Y-%m-%d",
    "%Y%m%d",
    "%H:%M:%S",
    "%H:%M",
)

_TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y", "on"})
_FALSE_WORDS = frozenset({"false", "f", "0", "no", "n", "off"})

# Unit spellings of a timedelta term, mapped to the keyword ``datetime.timedelta`` takes.
_TIMEDELTA_UNITS = {
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "d": "days",
    "day": "days",
    "days": "days",
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "hours": "hours",
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "ms": "milliseconds",
    "millisecond": "milliseconds",
    "milliseconds": "milliseconds",
    "us": "microseconds",
    "microsecond": "microseconds",
    "microseconds": "microseconds",
}

# One term of a timedelta: a decimal number (sign, fraction and exponent allowed), then
# an optional unit; terms follow each other with optional spaces ("1h 30m", "1.5h").
_TIMEDELTA_TERM = re.compile(
    r"\s*(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>[A-Za-z]*)\s*"
)

_TYPE_HINTS: dict[type[Any], str] = {
    bool: "bool (true/false, yes/no, on/off, 1/0)",
    datetime.datetime: "datetime (e.g. 2024-01-31, 2024-01-31 13:45:00, 13:45)",
    datetime.timedelta: "timedelta (e.g. 30s, 5m, 1h 30m, 2d, 250ms)",
}


class ConversionError(ValueError):
    """A value does not fit an option's type; the message says what was expected."""


def is_integer_type(tp: type[Any]) -> bool:
    """Whether ``tp`` is an integer type that accepts ``lo:hi`` ranges in list options."""
    return isinstance(tp, type) and issubclass(tp, int) and not issubclass(tp, bool)


def _type_name(tp: type[Any]) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def describe_type(tp: type[Any], multiple: bool = False) -> str:
    """Name ``tp`` for an error message, with the accepted formats where they are not obvious."""
    name = _TYPE_HINTS.get(tp, _type_name(tp))
    if multiple:
        suffix = ", ranges lo:hi allowed" if is_integer_type(tp) else ""
        return f"a comma-separated list of {name}{suffix}"
    return name


def _expected(tp: type[Any], multiple: bool, value: Any, *, show_type: bool = False) -> str:
    got = f"{value!r} ({type(value).__name__})" if show_type else repr(value)
    return f"expected {describe_type(tp, multiple)}, got {got}"


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(text)


def _parse_datetime(text: str) -> datetime.datetime:
    stripped = text.strip()
    for layout in DATETIME_FORMATS:
        try:
            return datetime.datetime.strptime(stripped, layout)
        except ValueError:
            continue
    return datetime.datetime.fromisoformat(stripped)


def _parse_timedelta(text: str) -> datetime.timedelta:
    if not text.strip():
        raise ValueError(text)
    total = datetime.timedelta()
    position = 0
    while position < len(text):
        match = _TIMEDELTA_TERM.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(text)
        unit = _TIMEDELTA_UNITS.get(match["unit"].lower() or "s")
        if unit is None:
            raise ValueError(text)
        total += datetime.timedelta(**{unit: float(match["number"])})
        position = match.end()
    return total


def _parse_scalar(text: str, tp: type[Any]) -> Any:
    """Parse one value of type ``tp``; any failure becomes a ``ValueError``."""
    if tp is str:
        return text
    if tp is bool:
        return _parse_bool(text)
    if tp is datetime.datetime:
        return _parse_datetime(text)
    if tp is datetime.timedelta:
        return _parse_timedelta(text)
    try:
        return tp(text.strip()) if tp in (int, float) else tp(text)
    except (ValueError, TypeError, ArithmeticError, LookupError) as exc:
        raise ValueError(text) from exc


def _parse_list(text: str, tp: type[Any]) -> list[Any]:
    values: list[Any] = []
    if not text.strip():
        return values
    for part in text.split(","):
        item = part if tp is str else part.strip()
        if is_integer_type(tp) and ":" in item:
            low_text, _, high_text = item.partition(":")
            low, high = _parse_scalar(low_text, tp), _parse_scalar(high_text, tp)
            if high < low:
                raise ValueError(item)
            # Ranges include both ends: "1:3" is 1, 2, 3.
            values.extend(tp(number) for number in range(low, high + 1))
        else:
            values.append(_parse_scalar(item, tp))
    return values


def parse_text(text: str, tp: type[Any], multiple: bool = False) -> Any:
    """Parse command-line or environment ``text`` into a value of ``tp`` (a list if ``multiple``).

    Raises:
        ConversionError: ``text`` is not in a format ``tp`` accepts.
    """
    try:
        if multiple:
            return _parse_list(text, tp)
        return _parse_scalar(text, tp)
    except ValueError as exc:
        raise ConversionError(_expected(tp, multiple, text)) from exc


def _fits(value: Any, tp: Any) -> bool:
    if not isinstance(tp, type):
        # Not a class (a typing construct from a setting): nothing to check against.
        return True
    if isinstance(value, bool) and tp in (int, float):
        # bool is an int subclass, but True is never a meaningful port number.
        return False
    return isinstance(value, tp)


def _check_scalar(value: Any, tp: type[Any]) -> Any:
    if value is None or _fits(value, tp):
        return value
    if tp is float and _fits(value, int):
        return float(value)
    raise ValueError(value)


def check_value(value: Any, tp: type[Any], multiple: bool = False) -> Any:
    """Check that ``value`` (assigned in code) has type ``tp``; return it normalised.

    ``None`` is always allowed, an ``int`` is widened for a ``float`` option and a tuple
    becomes a list for a list option; nothing else is converted.

    Raises:
        ConversionError: ``value`` has another type.
    """
    if multiple:
        if isinstance(value, (list, tuple)):
            try:
                return [_check_scalar(item, tp) for item in value]
            except ValueError:
                pass
        raise ConversionError(_expected(tp, multiple, value, show_type=True))
    try:
        return _check_scalar(value, tp)
    except ValueError:
        raise ConversionError(_expected(tp, multiple, value, show_type=True)) from None


def _coerce_scalar(value: Any, tp: type[Any]) -> Any:
    if isinstance(value, str) and tp is not str:
        return _parse_scalar(value, tp)
    if tp is datetime.timedelta and isinstance(value, (int, float)) and not isinstance(value, bool):
        # A bare number in a config file means seconds, as on the command line.
        return datetime.timedelta(seconds=value)
    if (
        tp is datetime.datetime
        and isinstance(value, datetime.date)
        and not isinstance(value, datetime.datetime)
    ):
        return datetime.datetime.combine(value, datetime.time())
    return _check_scalar(value, tp)


def coerce_value(value: Any, tp: type[Any], multiple: bool = False) -> Any:
    """Accept a config-file value or default that is either of type ``tp`` or text.

    Text is parsed as on the command line (so ``"1:3"`` or ``"a,b"`` work for list
    options); a number is read as seconds for a ``timedelta`` option and a date as
    midnight for a ``datetime`` option.

    Raises:
        ConversionError: ``value`` fits neither form.
    """
    if value is None:
        return [] if multiple else None
    if isinstance(value, str):
        return parse_text(value, tp, multiple)
    try:
        if multiple:
            if not isinstance(value, (list, tuple)):
                raise ValueError(value)
            items: list[Any] = []
            for item in value:
                if isinstance(item, str) and tp is not str:
                    items.extend(_parse_list(item, tp))
                else:
                    items.append(_coerce_scalar(item, tp))
            return items
        return _coerce_scalar(value, tp)
    except ValueError:
        raise ConversionError(_expected(tp, multiple, value, show_type=True)) from None
