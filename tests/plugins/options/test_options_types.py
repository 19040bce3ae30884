"""Value formats of the options plugin: text parsing, strict checks, config coercion."""

from __future__ import annotations

import datetime
import enum
import pathlib

import pytest
from typhoon_options._types import (
    DATETIME_FORMATS,
    ConversionError,
    check_value,
    coerce_value,
    describe_type,
    is_integer_type,
    parse_text,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


# --- scalars from text --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["true", "True", "TRUE", "t", "1", "yes", "y", "on", " on "])
def test_bool_true_words(text: str) -> None:
    assert parse_text(text, bool) is True


@pytest.mark.parametrize("text", ["false", "False", "f", "0", "no", "n", "off"])
def test_bool_false_words(text: str) -> None:
    assert parse_text(text, bool) is False


@pytest.mark.parametrize("text", ["", "2", "maybe", "enabled"])
def test_bool_rejects_other_words(text: str) -> None:
    with pytest.raises(ConversionError, match=r"expected bool \(true/false"):
        parse_text(text, bool)


def test_int_float_str() -> None:
    assert parse_text("42", int) == 42
    assert parse_text(" -7 ", int) == -7
    assert parse_text("2.5", float) == 2.5
    assert parse_text("1e3", float) == 1000.0
    assert parse_text("  spaced  ", str) == "  spaced  "
    assert parse_text("", str) == ""


@pytest.mark.parametrize(("text", "tp"), [("4.5", int), ("x", int), ("", int), ("one", float)])
def test_numbers_reject_bad_text(text: str, tp: type) -> None:
    with pytest.raises(ConversionError, match=rf"expected {tp.__name__}, got {text!r}"):
        parse_text(text, tp)


def test_other_types_are_called_with_the_text() -> None:
    assert parse_text("/tmp/x", pathlib.Path) == pathlib.Path("/tmp/x")
    assert parse_text("red", Color) is Color.RED
    with pytest.raises(ConversionError, match="expected Color, got 'green'"):
        parse_text("green", Color)


# --- datetime -----------------------------------------------------------------------------

_MOMENT = datetime.datetime(2024, 1, 31, 13, 45, 30)


@pytest.mark.parametrize("layout", DATETIME_FORMATS)
def test_datetime_accepts_every_documented_layout(layout: str) -> None:
    text = _MOMENT.strftime(layout)
    expected = datetime.datetime.strptime(text, layout)
    assert parse_text(text, datetime.datetime) == expected


def test_datetime_examples() -> None:
    def parse(text: str) -> datetime.datetime:
        result: datetime.datetime = parse_text(text, datetime.datetime)
        return result

    assert parse("2024-01-31") == datetime.datetime(2024, 1, 31)
    assert parse("2024-01-31 13:45") == datetime.datetime(2024, 1, 31, 13, 45)
    assert parse("20240131 13:45:30") == _MOMENT
    assert parse("Wed Jan 31 13:45:30 2024") == _MOMENT
    assert parse("13:45") == datetime.datetime(1900, 1, 1, 13, 45)
    # ISO 8601 beyond Tornado's list: seconds after "T", fractions, offsets.
    assert parse("2024-01-31T13:45:30") == _MOMENT
    assert parse("2024-01-31T13:45:30.5+00:00") == datetime.datetime(
        2024, 1, 31, 13, 45, 30, 500000, tzinfo=datetime.UTC
    )


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "31/01/2024"])
def test_datetime_rejects_unknown_layouts(text: str) -> None:
    with pytest.raises(ConversionError, match=r"expected datetime \(e\.g\. 2024-01-31"):
        parse_text(text, datetime.datetime)


# --- timedelta ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45", datetime.timedelta(seconds=45)),
        ("45s", datetime.timedelta(seconds=45)),
        ("45 sec", datetime.timedelta(seconds=45)),
        ("1.5", datetime.timedelta(seconds=1.5)),
        ("5m", datetime.timedelta(minutes=5)),
        ("5min", datetime.timedelta(minutes=5)),
        ("1h 30m", datetime.timedelta(hours=1, minutes=30)),
        ("1h30m", datetime.timedelta(hours=1, minutes=30)),
        ("1.5h", datetime.timedelta(hours=1, minutes=30)),
        ("2d", datetime.timedelta(days=2)),
        ("2 days", datetime.timedelta(days=2)),
        ("1 day 1 hour", datetime.timedelta(days=1, hours=1)),
        ("1w", datetime.timedelta(weeks=1)),
        ("250ms", datetime.timedelta(milliseconds=250)),
        ("10us", datetime.timedelta(microseconds=10)),
        ("1e3ms", datetime.timedelta(seconds=1)),
        ("-1h", datetime.timedelta(hours=-1)),
        ("1H", datetime.timedelta(hours=1)),
        (".5s", datetime.timedelta(seconds=0.5)),
    ],
)
def test_timedelta_formats(text: str, expected: datetime.timedelta) -> None:
    assert parse_text(text, datetime.timedelta) == expected


@pytest.mark.parametrize("text", ["", "   ", "abc", "1 fortnight", "1h x", "h", "1h,"])
def test_timedelta_rejects_bad_text(text: str) -> None:
    with pytest.raises(ConversionError, match=r"expected timedelta \(e\.g\. 30s"):
        parse_text(text, datetime.timedelta)


# --- lists and ranges ---------------------------------------------------------------------


def test_lists_split_on_commas() -> None:
    assert parse_text("a,b, c", str, multiple=True) == ["a", "b", " c"]
    assert parse_text("1.5, 2", float, multiple=True) == [1.5, 2.0]
    assert parse_text("true,off", bool, multiple=True) == [True, False]
    assert parse_text("1h,30s", datetime.timedelta, multiple=True) == [
        datetime.timedelta(hours=1),
        datetime.timedelta(seconds=30),
    ]
    assert parse_text("", int, multiple=True) == []


def test_integer_ranges_include_both_ends() -> None:
    assert parse_text("1:3", int, multiple=True) == [1, 2, 3]
    assert parse_text("1,3:5,9", int, multiple=True) == [1, 3, 4, 5, 9]
    assert parse_text("7:7", int, multiple=True) == [7]
    assert parse_text("-2:0", int, multiple=True) == [-2, -1, 0]


def test_ranges_only_for_integers() -> None:
    with pytest.raises(ConversionError, match="a comma-separated list of float"):
        parse_text("1:3", float, multiple=True)
    assert parse_text("a:b", str, multiple=True) == ["a:b"]


@pytest.mark.parametrize("text", ["5:3", "1:x", "1,,2", "x"])
def test_bad_integer_lists(text: str) -> None:
    with pytest.raises(
        ConversionError, match="expected a comma-separated list of int, ranges lo:hi allowed"
    ):
        parse_text(text, int, multiple=True)


def test_integer_type_detection() -> None:
    assert is_integer_type(int)
    assert not is_integer_type(bool)
    assert not is_integer_type(float)
    assert describe_type(str, multiple=True) == "a comma-separated list of str"


# --- strict checks for assignments --------------------------------------------------------


def test_check_value_accepts_the_type_and_none() -> None:
    assert check_value(5, int) == 5
    assert check_value(None, int) is None
    assert check_value("x", str) == "x"
    moment = datetime.datetime(2024, 1, 1)
    assert check_value(moment, datetime.datetime) is moment


def test_check_value_widens_int_to_float_only() -> None:
    widened = check_value(3, float)
    assert widened == 3.0
    assert isinstance(widened, float)
    with pytest.raises(ConversionError, match=r"expected int, got 3\.5 \(float\)"):
        check_value(3.5, int)


def test_check_value_rejects_bool_for_numbers() -> None:
    with pytest.raises(ConversionError, match=r"expected int, got True \(bool\)"):
        check_value(True, int)
    with pytest.raises(ConversionError, match=r"expected float, got False \(bool\)"):
        check_value(False, float)


def test_check_value_does_not_parse_text() -> None:
    with pytest.raises(ConversionError, match=r"expected int, got '5' \(str\)"):
        check_value("5", int)


def test_check_value_lists() -> None:
    assert check_value([1, 2], int, multiple=True) == [1, 2]
    assert check_value((1, 2), int, multiple=True) == [1, 2]
    assert check_value([1, None], int, multiple=True) == [1, None]
    with pytest.raises(ConversionError, match="a comma-separated list of int"):
        check_value([1, "2"], int, multiple=True)
    with pytest.raises(ConversionError, match="a comma-separated list of int"):
        check_value(1, int, multiple=True)


# --- lenient coercion for config files and defaults ---------------------------------------


def test_coerce_parses_text_for_other_types() -> None:
    assert coerce_value("8080", int) == 8080
    assert coerce_value("yes", bool) is True
    assert coerce_value("1:3", int, multiple=True) == [1, 2, 3]
    assert coerce_value("a,b", str, multiple=True) == ["a", "b"]
    assert coerce_value("plain", str) == "plain"


def test_coerce_none_and_lists() -> None:
    assert coerce_value(None, int) is None
    assert coerce_value(None, int, multiple=True) == []
    assert coerce_value([1, "3:4", 9], int, multiple=True) == [1, 3, 4, 9]
    assert coerce_value(("x", "y"), str, multiple=True) == ["x", "y"]


def test_coerce_numbers_and_dates() -> None:
    assert coerce_value(90, datetime.timedelta) == datetime.timedelta(seconds=90)
    assert coerce_value(0.5, datetime.timedelta) == datetime.timedelta(seconds=0.5)
    assert coerce_value(datetime.date(2024, 2, 1), datetime.datetime) == datetime.datetime(
        2024, 2, 1
    )
    assert coerce_value(2, float) == 2.0


@pytest.mark.parametrize(
    ("value", "tp", "multiple", "message"),
    [
        (True, datetime.timedelta, False, r"expected timedelta .*got True \(bool\)"),
        (1.5, int, False, r"expected int, got 1\.5 \(float\)"),
        ("x", int, False, r"expected int, got 'x'"),
        (5, int, True, r"list of int.*got 5 \(int\)"),
        ([1, 2.5], int, True, r"list of int.*got \[1, 2\.5\] \(list\)"),
        ({"a": 1}, str, False, r"expected str, got \{'a': 1\} \(dict\)"),
    ],
)
def test_coerce_errors_name_type_and_value(
    value: object, tp: type, multiple: bool, message: str
) -> None:
    with pytest.raises(ConversionError, match=message):
        coerce_value(value, tp, multiple)
