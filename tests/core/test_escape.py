"""Tests for typhoon.escape: HTML/URL/JSON escaping, conversions, linkify, parse_qs_bytes."""

from __future__ import annotations

import random
import time
import tracemalloc
import urllib.parse

import pytest
from typhoon import errors, escape
from typhoon.escape import (
    json_decode,
    json_encode,
    linkify,
    native_str,
    parse_qs_bytes,
    recursive_unicode,
    squeeze,
    to_basestring,
    to_unicode,
    url_escape,
    url_unescape,
    utf8,
    xhtml_escape,
    xhtml_unescape,
)


def elapsed(func: object, *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    func(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start


# --- xhtml ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<foo>", "&lt;foo&gt;"),
        ("a & b", "a &amp; b"),
        ('say "hi"', "say &quot;hi&quot;"),
        ("it's", "it&#x27;s"),
        ("plain", "plain"),
        (b"<bytes>", "&lt;bytes&gt;"),
        ("\u00e9\u2603", "\u00e9\u2603"),
    ],
)
def test_xhtml_escape(raw: str | bytes, escaped: str) -> None:
    assert xhtml_escape(raw) == escaped


@pytest.mark.parametrize(
    ("escaped", "raw"),
    [
        ("&lt;a&gt;", "<a>"),
        ("&amp;amp;", "&amp;"),
        ("&#39;&#x27;&quot;", "''\""),
        ("&#8220;&eacute;&#xe9;", "\u201c\u00e9\u00e9"),
        ("&nosuchentity;", "&nosuchentity;"),
        (b"&lt;", "<"),
    ],
)
def test_xhtml_unescape(escaped: str | bytes, raw: str) -> None:
    assert xhtml_unescape(escaped) == raw


def test_xhtml_round_trip() -> None:
    text = "<p class='x' id=\"y\">Tom & Jerry</p>"
    assert xhtml_unescape(xhtml_escape(text)) == text


# --- url -----------------------------------------------------------------------------------


def test_url_escape_plus_mode_encodes_space_as_plus_and_slash() -> None:
    assert url_escape("a b/c?d=e&f") == "a+b%2Fc%3Fd%3De%26f"


def test_url_escape_path_mode_keeps_slash() -> None:
    assert url_escape("a b/c+d", plus=False) == "a%20b/c%2Bd"


def test_url_escape_encodes_unicode_as_utf8() -> None:
    assert url_escape("\u00e9") == "%C3%A9"
    assert url_escape(b"\xe9") == "%E9"


def test_url_unescape_modes() -> None:
    assert url_unescape("a+b%20c") == "a b c"
    assert url_unescape("a+b%20c", plus=False) == "a+b c"
    assert url_unescape(b"%C3%A9") == "\u00e9"
    assert url_unescape("%E9", encoding="latin1") == "\u00e9"


def test_url_unescape_to_bytes() -> None:
    assert url_unescape("a+%FF", encoding=None) == b"a \xff"
    assert url_unescape("a+%FF", encoding=None, plus=False) == b"a+\xff"


def test_url_round_trip() -> None:
    for plus in (True, False):
        value = "x/y z+\u00e9&=?#"
        assert url_unescape(url_escape(value, plus=plus), plus=plus) == value


def test_url_unescape_is_linear_on_adversarial_percent_runs() -> None:
    small = "%" * 20_000 + "%2" * 20_000
    large = small * 8
    t_small = elapsed(url_unescape, small)
    t_large = elapsed(url_unescape, large)
    assert t_large < max(t_small * 8 * 4, 0.25)


# --- json ----------------------------------------------------------------------------------


def test_json_encode_escapes_script_end_tag() -> None:
    encoded = json_encode({"x": "</script><script>alert(1)</script>"})
    assert "</" not in encoded
    assert json_decode(encoded) == {"x": "</script><script>alert(1)</script>"}


def test_json_encode_decode_round_trip() -> None:
    value = {"a": [1, 2.5, None, True], "b": "\u00e9", "c": {"d": ""}}
    assert json_decode(json_encode(value)) == value
    assert json_decode(utf8(json_encode(value))) == value


def test_json_decode_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        json_decode("{bad")


# --- conversions ---------------------------------------------------------------------------


def test_utf8() -> None:
    assert utf8("\u00e9") == b"\xc3\xa9"
    assert utf8(b"\xff") == b"\xff"
    assert utf8(None) is None
    with pytest.raises(TypeError, match="Expected bytes"):
        utf8(1)  # type: ignore[call-overload]


def test_to_unicode_and_aliases() -> None:
    assert to_unicode(b"\xc3\xa9") == "\u00e9"
    assert to_unicode("x") == "x"
    assert to_unicode(None) is None
    with pytest.raises(TypeError, match="Expected bytes"):
        to_unicode(1.5)  # type: ignore[call-overload]
    with pytest.raises(UnicodeDecodeError):
        to_unicode(b"\xff")
    assert native_str is to_unicode
    assert to_basestring is to_unicode
    assert escape._unicode is to_unicode


def test_recursive_unicode() -> None:
    data = {b"k": [b"a", (b"b", 1)], "s": b"\xc3\xa9", b"n": None}
    assert recursive_unicode(data) == {"k": ["a", ("b", 1)], "s": "\u00e9", "n": None}


def test_squeeze() -> None:
    assert squeeze("  a \t\n b\x00\x01c  ") == "a b c"
    assert squeeze("") == ""


# --- parse_qs_bytes ------------------------------------------------------------------------


def test_parse_qs_bytes_values_stay_bytes() -> None:
    parsed = parse_qs_bytes(b"a=1&b=%FF&a=2&c=%C3%A9+x")
    assert parsed == {"a": [b"1", b"2"], "b": [b"\xff"], "c": [b"\xc3\xa9 x"]}


def test_parse_qs_bytes_accepts_text_and_latin1_names() -> None:
    assert parse_qs_bytes("n%E9=v") == {"n\u00e9": [b"v"]}


def test_parse_qs_bytes_blank_values() -> None:
    assert parse_qs_bytes("a=&b") == {}
    assert parse_qs_bytes("a=&b", keep_blank_values=True) == {"a": [b""], "b": [b""]}


def test_parse_qs_bytes_strict_parsing_error() -> None:
    with pytest.raises(errors.HTTPInputError, match="malformed query string"):
        parse_qs_bytes("a=1&bad", strict_parsing=True)


def test_parse_qs_bytes_field_limit_default() -> None:
    ok = "&".join(f"f{i}=1" for i in range(escape.DEFAULT_MAX_FIELDS))
    assert len(parse_qs_bytes(ok)) == escape.DEFAULT_MAX_FIELDS
    with pytest.raises(errors.HTTPInputError, match="Max number of fields exceeded") as info:
        parse_qs_bytes(ok + "&x=1")
    assert isinstance(info.value, ValueError)
    assert info.value.status_code == 400


def test_parse_qs_bytes_field_limit_custom_and_alias() -> None:
    with pytest.raises(ValueError, match="more than 2"):
        parse_qs_bytes("a&b&c", max_fields=2)
    with pytest.raises(ValueError, match="more than 2"):
        parse_qs_bytes("a&b&c", max_num_fields=2)
    assert parse_qs_bytes("a=1&b=1&c=1", max_fields=None) == {
        "a": [b"1"],
        "b": [b"1"],
        "c": [b"1"],
    }
    assert parse_qs_bytes("", max_fields=0) == {}


def test_parse_qs_bytes_separator_flood_is_refused_fast() -> None:
    # Millions of empty fields: refused by counting, before any splitting (GHSA-mpf4-983q-p7j4).
    flood = b"&" * 5_000_000
    start = time.perf_counter()
    with pytest.raises(errors.HTTPInputError):
        parse_qs_bytes(flood, keep_blank_values=True)
    assert time.perf_counter() - start < 1.0


def _stdlib_parse_qs(data: bytes, keep_blank: bool, strict: bool) -> dict[str, list[bytes]]:
    parsed = urllib.parse.parse_qs(
        data.decode("latin1"), keep_blank, strict, encoding="latin1", errors="strict"
    )
    return {name: [value.encode("latin1") for value in values] for name, values in parsed.items()}


def test_parse_qs_bytes_agrees_with_the_standard_library() -> None:
    # Inputs drawn from the bytes that matter (separators, escapes, hex digits in both
    # cases, "+", high bytes), bounded in count and length.
    alphabet = b"&&==%%%%++aF0f9Zz\xe9\x00 /"
    chosen = random.Random(7)
    cases = [b"", b"&", b"=", b"%", b"%4", b"%4g", b"%%41", b"a=%2", b"+=+", b"a=1&a=2&a"]
    cases += [bytes(chosen.choices(alphabet, k=chosen.randrange(40))) for _ in range(1500)]
    for data in cases:
        for keep_blank in (False, True):
            try:
                expected: object = _stdlib_parse_qs(data, keep_blank, strict=True)
            except ValueError as exc:
                expected = str(exc)
            try:
                got: object = parse_qs_bytes(data, keep_blank, True, max_fields=None)
            except errors.HTTPInputError as exc:
                got = str(exc).removeprefix("malformed query string: ")
            assert got == expected, data
            assert parse_qs_bytes(data, keep_blank, max_fields=None) == _stdlib_parse_qs(
                data, keep_blank, strict=False
            ), data


@pytest.mark.parametrize(
    "value",
    [
        b"%" * 1_000_000,
        b"%41" * 100_000,
        b"%4" * 400_000,
        (b"%C3%A9+" * 50_000) + b"x" * 500_000,
    ],
    ids=["bare-percent", "escapes", "broken-escapes", "mixed"],
)
def test_parse_qs_bytes_memory_stays_near_the_input_size(value: bytes) -> None:
    # Peak allocation while parsing, measured as a multiple of the input size; the
    # text detour through urllib peaked near 190 times the input on these.
    body = b"a=" + value + b"&b=" + value[:1000]
    expected = _stdlib_parse_qs(body, keep_blank=False, strict=False)
    tracemalloc.start()
    try:
        parsed = parse_qs_bytes(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert parsed == expected
    assert peak < 6 * len(body), peak / len(body)


@pytest.mark.parametrize("shift", range(7))
def test_url_unescape_to_bytes_long_inputs_match_the_standard_library(shift: int) -> None:
    # Long inputs are decoded in pieces: escapes must survive every cut position.
    value = "x" * shift + "%41%4%%4142%e9+%" * 5_000
    for plus in (False, True):
        expected = urllib.parse.unquote_to_bytes(value.replace("+", " ") if plus else value)
        assert url_unescape(value, encoding=None, plus=plus) == expected


def test_url_unescape_to_bytes_memory_stays_near_the_input_size() -> None:
    value = "%" * 500_000 + "%41" * 50_000
    tracemalloc.start()
    try:
        decoded = url_unescape(value, encoding=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded == b"%" * 500_000 + b"A" * 50_000
    assert peak < 6 * len(value), peak / len(value)


# --- linkify -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "hello http://world.com/!",
            'hello <a href="http://world.com/">http://world.com/</a>!',
        ),
        (
            "hello http://world.com/with?param=true&stuff=yes",
            'hello <a href="http://world.com/with?param=true&amp;stuff=yes">'
            "http://world.com/with?param=true&amp;stuff=yes</a>",
        ),
        (
            "see www.example.com.",
            'see <a href="http://www.example.com">www.example.com</a>.',
        ),
        (
            "(http://en.wikipedia.org/wiki/Foo_(bar))",
            '(<a href="http://en.wikipedia.org/wiki/Foo_(bar)">'
            "http://en.wikipedia.org/wiki/Foo_(bar)</a>)",
        ),
        ("http://", "http://"),
        ("nothing <here>", "nothing &lt;here&gt;"),
        (
            "https://a.com, https://b.com;",
            '<a href="https://a.com">https://a.com</a>, <a href="https://b.com">https://b.com</a>;',
        ),
        ("xwww.example.com", "xwww.example.com"),
        ("mailto:/x", "mailto:/x"),
    ],
)
def test_linkify_basic(text: str, html: str) -> None:
    assert linkify(text) == html


def test_linkify_require_protocol() -> None:
    assert linkify("www.example.com", require_protocol=True) == "www.example.com"
    assert (
        linkify("http://a.com", require_protocol=True) == '<a href="http://a.com">http://a.com</a>'
    )


def test_linkify_permitted_protocols() -> None:
    assert linkify("ftp://a.b/c") == "ftp://a.b/c"
    assert (
        linkify("ftp://a.b/c", permitted_protocols=["ftp"])
        == '<a href="ftp://a.b/c">ftp://a.b/c</a>'
    )


def test_linkify_extra_params_string_and_callable() -> None:
    assert linkify("http://a.com", extra_params=' rel="nofollow" ') == (
        '<a href="http://a.com" rel="nofollow">http://a.com</a>'
    )

    def params(url: str) -> str:
        return 'class="internal"' if url.startswith("http://a.") else 'class="external"'

    assert linkify("http://a.com http://b.com", extra_params=params) == (
        '<a href="http://a.com" class="internal">http://a.com</a> '
        '<a href="http://b.com" class="external">http://b.com</a>'
    )


def test_linkify_shorten_adds_title() -> None:
    url = "http://www.example.com/averyveryverylongpath/and/more?query=value"
    out = linkify(url, shorten=True)
    assert out == (f'<a href="{url}" title="{url}">http://www.example.com/averyver...</a>')
    assert linkify("http://short.com/x", shorten=True) == (
        '<a href="http://short.com/x">http://short.com/x</a>'
    )


# --- linkify security ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "javascript://%0aalert(document.cookie)",
        "JavaScript://comment%0Aalert(1)",
        "data://text/html,<script>alert(1)</script>",
        "vbscript://x",
    ],
)
def test_linkify_never_links_script_schemes(attack: str) -> None:
    out = linkify(attack)
    assert "<a" not in out
    assert "<script" not in out
    out = linkify(attack, permitted_protocols=["javascript", "data", "vbscript", "http"])
    assert "<a" not in out


def test_linkify_quotes_cannot_break_out_of_href() -> None:
    out = linkify('http://a.com/"onmouseover="alert(1)')
    assert '"onmouseover' not in out
    assert "&quot;onmouseover=&quot;" in out
    out = linkify("http://a.com/'onmouseover='alert(1)")
    assert "onmouseover='" not in out


def test_linkify_escapes_surrounding_html() -> None:
    out = linkify("<img src=x onerror=alert(1)> http://a.com <b>")
    assert out.startswith("&lt;img src=x onerror=alert(1)&gt; ")
    assert out.endswith("&lt;b&gt;")
    assert "<img" not in out


@pytest.mark.parametrize(
    "unit",
    [
        "a-",  # one long scheme-like run before a single ":/"
        "www. ",  # many failing www. candidates
        "(",  # unbalanced parentheses after a scheme
        "(a",
        ":/",
        "a:/ ",
        "http://a.com/" + "!" * 3,
        "&" * 3 + "x",
    ],
)
def test_linkify_is_linear_on_adversarial_input(unit: str) -> None:
    prefix = "http://" if unit.startswith("(") else ""
    small = prefix + unit * 5_000 + ":/"
    large = prefix + unit * 40_000 + ":/"
    t_small = elapsed(linkify, small)
    t_large = elapsed(linkify, large)
    # 8x the input must cost far less than 64x (quadratic); allow generous noise.
    assert t_large < max(t_small * 8 * 4, 0.25)


LINKIFY_PARITY_CASES = [
    "hello http://world.com/!",
    "http://www.example.com/wpstyle/?p=364.",
    "www.foo.com (http://bar.com/x_(y)) and https://a.b/c?d=e&f=g#h",
    'x "http://a.com/q" y',
    "<b>www.x.org</b>",
    "ftp://a.b/c javascript://x",
    "foo-http://bar.com",
    "http://a.com/&amp;x",
    "http://a.com/" + "x" * 50 + "/y?z=1&w=2",
    "http://a.com/(b)c http://a.com/((b))",
    "http:///x http:////x",
    "a www.b. c",
    "http://1.2.3.4:80/x,",
    "http://a.com/x'y",
    "http://\u00e9.com/\u00fc",
]


@pytest.mark.parametrize("text", LINKIFY_PARITY_CASES)
def test_linkify_matches_tornado(text: str) -> None:
    tornado_escape = pytest.importorskip("tornado.escape")
    for kwargs in [{}, {"shorten": True}, {"require_protocol": True}, {"extra_params": 'rel="x"'}]:
        assert linkify(text, **kwargs) == tornado_escape.linkify(text, **kwargs)  # type: ignore[arg-type]


def test_linkify_scheme_is_case_insensitive() -> None:
    # RFC 3986, section 3.1: schemes are case-insensitive (Tornado compares them as typed).
    assert linkify("HTTP://EX.COM") == '<a href="HTTP://EX.COM">HTTP://EX.COM</a>'


def test_module_exports() -> None:
    for name in escape.__all__:
        assert hasattr(escape, name)
