"""Tests for typhoon.template: syntax, directives, autoescape, whitespace, loaders, errors."""

from __future__ import annotations

import datetime
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from typhoon import errors, escape, template
from typhoon.template import (
    BaseLoader,
    DictLoader,
    Loader,
    ParseError,
    Template,
    filter_whitespace,
)


def render(source: str, /, **kwargs: Any) -> bytes:
    return Template(source).generate(**kwargs)


def render_named(template_name: str, source: str, /, **kwargs: Any) -> bytes:
    return Template(source, name=template_name).generate(**kwargs)


def render_dict(templates: dict[str, str], template_name: str, /, **kwargs: Any) -> bytes:
    return DictLoader(templates).load(template_name).generate(**kwargs)


# --- expressions and output -------------------------------------------------------------------


def test_simple_expression_returns_bytes() -> None:
    assert render("Hello {{ name }}!", name="Ben") == b"Hello Ben!"


def test_expression_value_types() -> None:
    out = render("{{ a }}|{{ b }}|{{ c }}|{{ d }}|{{ e }}", a=1, b=2.5, c=None, d=b"x", e=True)
    assert out == b"1|2.5|None|x|True"


def test_unicode_is_utf8_encoded() -> None:
    assert render("\u00e9{{ x }}", x="\u2603") == "\u00e9\u2603".encode()
    assert Template(b"{{ x }}").generate(x="\u00e9") == "\u00e9".encode()


def test_expressions_are_python() -> None:
    src = "{{ ', '.join(str(i * 2) for i in range(3)) }} {{ x[1:] }} {{ (1, 2) }} {{ 1, 2 }}"
    assert render(src, x="abc") == b"0, 2, 4 bc (1, 2) (1, 2)"


def test_expression_with_trailing_comment() -> None:
    assert render("{{ x # a comment\n }}!", x=5) == b"5!"
    assert render("a{{ x # c }}b{{ x }}", x=5) == b"a5b5"


def test_multiline_expression() -> None:
    assert render("{{ [\n1,\n2] }}") == b"[1, 2]"


def test_template_braces_in_text_are_kept() -> None:
    assert render("a { b } {x} }} c{{ 1 }}") == b"a { b } {x} }} c1"


def test_innermost_curlies_open_the_tag() -> None:
    assert render("{{{ x }}}", x=1) == b"{1}"
    assert render(r"\frac{{{ a }}}{{{ b }}}", a=1, b=2) == rb"\frac{1}{2}"


def test_literal_openers() -> None:
    assert render("{{! x }} {%! if %} {#! c #}") == b"{{ x }} {% if %} {# c #}"


def test_comments_are_dropped() -> None:
    assert render("a{# hidden {{ x }} #}b{% comment also hidden %}c") == b"abc"


def test_generate_twice_is_independent() -> None:
    t = Template("{% set y = x * 2 %}{{ y }}")
    assert t.generate(x=1) == b"2"
    assert t.generate(x=5) == b"10"


def test_template_attributes() -> None:
    t = Template("{{ x }}", name="foo.html")
    assert t.name == "foo.html"
    assert t.autoescape == "xhtml_escape"
    assert "_tt_execute" in t.code
    assert t.loader is None
    compile(t.code, "x", "exec")


# --- autoescape -------------------------------------------------------------------------------


def test_autoescape_default_escapes_html() -> None:
    out = render("{{ x }}", x="<script>alert('x') & \"y\"</script>")
    assert out == b"&lt;script&gt;alert(&#x27;x&#x27;) &amp; &quot;y&quot;&lt;/script&gt;"


def test_autoescape_matches_xhtml_escape_for_all_types() -> None:
    class Weird:
        def __str__(self) -> str:
            return "<weird>"

    class MyStr(str):
        pass

    for value in ["<&>\"'", b"<b>", 42, 1.5, None, Weird(), MyStr("<s>"), False]:
        expected = escape.xhtml_escape(value if isinstance(value, (str, bytes)) else str(value))
        assert render("{{ v }}", v=value) == expected.encode()


def test_raw_directive_skips_escaping() -> None:
    assert render("{% raw x %}|{{ x }}", x="<b>") == b"<b>|&lt;b&gt;"


def test_raw_keeps_undecodable_bytes() -> None:
    assert render("{% raw x %}", x=b"\xff\xfe") == b"\xff\xfe"


def test_autoescape_directive_none() -> None:
    assert render("{% autoescape None %}{{ x }}", x="<b>") == b"<b>"


def test_autoescape_directive_applies_to_whole_file() -> None:
    assert render("{{ x }}{% autoescape None %}{{ x }}", x="<b>") == b"<b><b>"


def test_autoescape_custom_function_gets_bytes() -> None:
    seen: list[object] = []

    def shout(value: bytes) -> str:
        seen.append(value)
        return value.decode().upper()

    out = render("{% autoescape shout %}{{ x }} {{ 5 }}", x="abc", shout=shout)
    assert out == b"ABC 5"
    assert seen == [b"abc", b"5"]


def test_autoescape_custom_function_may_return_bytes() -> None:
    out = render("{% autoescape f %}{{ x }}", x="a", f=lambda v: v + b"!")
    assert out == b"a!"


def test_autoescape_function_bad_return_type() -> None:
    with pytest.raises(TypeError, match="expected str or bytes"):
        render("{% autoescape f %}{{ x }}", x="a", f=lambda v: 3)


def test_template_autoescape_argument() -> None:
    assert Template("{{ x }}", autoescape=None).generate(x="<b>") == b"<b>"
    t = Template("{{ x }}", autoescape="url_escape")
    assert t.generate(x="a b/c") == b"a+b%2Fc"


def test_loader_autoescape_setting() -> None:
    loader = DictLoader(
        {"a.html": "{{ x }}", "b.html": "{% autoescape xhtml_escape %}{{ x }}"}, autoescape=None
    )
    assert loader.load("a.html").generate(x="<b>") == b"<b>"
    assert loader.load("b.html").generate(x="<b>") == b"&lt;b&gt;"


def test_included_template_uses_its_own_autoescape() -> None:
    templates = {
        "outer.html": '{{ x }}|{% include "inner.html" %}',
        "inner.html": "{% autoescape None %}{{ x }}",
    }
    assert render_dict(templates, "outer.html", x="<b>") == b"&lt;b&gt;|<b>"


def test_xss_payloads_are_neutralised() -> None:
    payloads = [
        "<script>alert(1)</script>",
        '" onmouseover="alert(1)',
        "' onfocus='alert(1)",
        "<img src=x onerror=alert(1)>",
    ]
    for payload in payloads:
        out = render("<a title=\"{{ p }}\" data-x='{{ p }}'>{{ p }}</a>", p=payload)
        assert b"<script" not in out
        assert b"<img" not in out
        assert out.count(b'"') == 2
        assert out.count(b"'") == 2


def test_json_encode_in_script_block() -> None:
    out = render("<script>var d = {% raw json_encode(d) %};</script>", d={"x": "</script><b>"})
    assert out.count(b"</script>") == 1


# --- control flow -----------------------------------------------------------------------------


def test_if_elif_else() -> None:
    src = "{% if x > 1 %}big{% elif x == 1 %}one{% else %}small{% end %}"
    assert [render(src, x=v) for v in (5, 1, 0)] == [b"big", b"one", b"small"]


def test_for_loop_and_else() -> None:
    src = "{% for i in items %}[{{ i }}]{% else %}none{% end %}"
    assert render(src, items=[1, 2]) == b"[1][2]none"
    assert render(src, items=[]) == b"none"


def test_for_with_break_and_continue() -> None:
    src = "{% for i in range(10) %}{% if i == 1 %}{% continue %}{% end %}{% if i == 4 %}{% break %}{% end %}{{ i }}{% end %}"
    assert render(src) == b"023"


def test_while_loop() -> None:
    src = "{% set i = 0 %}{% while i < 3 %}{{ i }}{% set i += 1 %}{% end %}"
    assert render(src) == b"012"


def test_set_directive() -> None:
    assert render("{% set x = 'a' * 3 %}{{ x }}") == b"aaa"


def test_import_and_from_import() -> None:
    src = "{% import math %}{% from os import path as p %}{{ math.floor(2.7) }} {{ p.basename('/a/b') }}"
    assert render(src) == b"2 b"


def test_try_except_else_finally() -> None:
    src = (
        "{% try %}a{{ 1 / x }}b{% except ZeroDivisionError as e %}E{% else %}ok"
        "{% finally %}F{% end %}"
    )
    assert render(src, x=1) == b"a1.0bokF"
    # Output written before the exception stays, like Tornado's.
    assert render(src, x=0) == b"aEF"


def test_try_in_loop_keeps_partial_output() -> None:
    src = "{% for v in vals %}{% try %}<{{ 10 // v }}>{% except %}!{% end %}{% end %}"
    assert render(src, vals=[1, 0, 5]) == b"<10><!<2>"


def test_apply_passes_bytes_and_uses_result() -> None:
    seen: list[object] = []

    def upper(value: bytes) -> bytes:
        seen.append(value)
        return value.upper()

    out = render("x{% apply upper %}hello {{ name }}{% end %}y", upper=upper, name="<b>")
    assert out == b"xHELLO &LT;B&GT;y"
    assert seen == [b"hello &lt;b&gt;"]


def test_apply_nested_and_with_statements() -> None:
    src = (
        "{% apply f %}{% set n = 2 %}{% for i in range(n) %}{% apply g %}{{ i }}{% end %}"
        "{% end %}{% end %}"
    )
    out = render(src, f=lambda s: b"[" + s + b"]", g=lambda s: s * 2)
    assert out == b"[0011]"


def test_apply_with_linkify() -> None:
    out = render("{% apply linkify %}see http://example.com/x{% end %}")
    assert out == b'see <a href="http://example.com/x">http://example.com/x</a>'


def test_module_directive_uses_tt_modules() -> None:
    class Modules:
        def Entry(self, value: str) -> str:
            return f"<div>{value}</div>"

    assert render("{% module Entry('x') %}", _tt_modules=Modules()) == b"<div>x</div>"


# --- default namespace ------------------------------------------------------------------------


def test_default_namespace() -> None:
    src = (
        "{% raw escape('<') %}|{% raw xhtml_escape('&') %}|{% raw url_escape('a b') %}|"
        "{% raw json_encode([1]) %}|{{ squeeze(' a  b ') }}|{% raw linkify('www.a.com') %}|"
        "{{ datetime.date(2020, 1, 2).isoformat() }}|{% raw _tt_utf8('x') %}|"
        "{{ isinstance('', _tt_string_types) }}"
    )
    assert render(src) == (
        b'&lt;|&amp;|a+b|[1]|a b|<a href="http://www.a.com">www.a.com</a>|2020-01-02|x|True'
    )


def test_kwargs_override_loader_namespace_which_overrides_defaults() -> None:
    loader = DictLoader(
        {"t": "{{ a }}{{ b }}{% raw escape('<') %}"},
        namespace={"a": 1, "b": 2, "escape": str.upper},
    )
    t = loader.load("t")
    assert t.generate(b=3) == b"13<"
    assert t.namespace == {"a": 1, "b": 2, "escape": str.upper}


# --- whitespace -------------------------------------------------------------------------------


def test_filter_whitespace_modes() -> None:
    text = "a  \t b\n\n   c\t\n d "
    assert filter_whitespace("all", text) == text
    assert filter_whitespace("single", text) == "a b\nc\nd "
    assert filter_whitespace("oneline", text) == "a b c d "
    with pytest.raises(errors.ConfigurationError, match="invalid whitespace mode"):
        filter_whitespace("bogus", text)


def test_default_whitespace_depends_on_name() -> None:
    src = "a   b\n\n  c"
    assert render_named("x.html", src) == b"a b\nc"
    assert render_named("x.js", src) == b"a b\nc"
    assert render_named("x.txt", src) == src.encode()


def test_whitespace_argument_and_compress_whitespace() -> None:
    src = "a   b\n\n  c"
    assert Template(src, whitespace="oneline").generate() == b"a b c"
    assert Template(src, name="x.html", whitespace="all").generate() == src.encode()
    assert Template(src, compress_whitespace=True).generate() == b"a b\nc"
    assert Template(src, name="x.html", compress_whitespace=False).generate() == src.encode()
    with pytest.raises(errors.ConfigurationError, match="both"):
        Template(src, compress_whitespace=True, whitespace="all")
    with pytest.raises(errors.ConfigurationError, match="invalid whitespace mode"):
        Template(src, whitespace="none")


def test_whitespace_directive_changes_rest_of_file() -> None:
    src = "a   b {% whitespace oneline %}c \n\n d"
    assert render_named("x.txt", src) == b"a   b c d"


def test_pre_blocks_keep_whitespace() -> None:
    assert render_named("x.html", "<pre>a   b\n\n c</pre>") == b"<pre>a   b\n\n c</pre>"


def test_loader_whitespace_default() -> None:
    loader = DictLoader({"x.txt": "a   b"}, whitespace="single")
    assert loader.load("x.txt").generate() == b"a b"


# --- inheritance and includes -----------------------------------------------------------------


def test_extends_and_blocks() -> None:
    templates = {
        "base.html": "<title>{% block title %}Default{% end %}</title><body>{% block body %}{% end %}</body>",
        "page.html": '{% extends "base.html" %}ignored{% block body %}Hi {{ name }}{% end %}',
    }
    assert render_dict(templates, "page.html", name="<x>") == (
        b"<title>Default</title><body>Hi &lt;x&gt;</body>"
    )


def test_multi_level_inheritance_and_nested_blocks() -> None:
    templates = {
        "base.html": "[{% block outer %}O{% block inner %}I{% end %}{% end %}]",
        "mid.html": '{% extends "base.html" %}{% block inner %}mid{% end %}',
        "leaf.html": '{% extends "mid.html" %}{% block outer %}<{% block inner %}{% end %}>{% end %}',
        "leaf2.html": '{% extends "mid.html" %}',
    }
    assert render_dict(templates, "mid.html") == b"[Omid]"
    assert render_dict(templates, "leaf.html") == b"[<>]"
    assert render_dict(templates, "leaf2.html") == b"[Omid]"


def test_block_uses_child_autoescape() -> None:
    templates = {
        "base.html": "{{ x }}{% block b %}{% end %}",
        "child.html": '{% autoescape None %}{% extends "base.html" %}{% block b %}{{ x }}{% end %}',
    }
    assert render_dict(templates, "child.html", x="<i>") == b"&lt;i&gt;<i>"


def test_include_shares_variables() -> None:
    templates = {
        "page.html": '{% set greeting = "hi" %}<{% include "part.html" %}>{{ after }}',
        "part.html": "{{ greeting }} {{ name }}{% set after = 'set-in-include' %}",
    }
    assert render_dict(templates, "page.html", name="bob") == b"<hi bob>set-in-include"


def test_relative_paths_in_dict_loader() -> None:
    templates = {
        "a/page.html": '{% include "part.html" %}|{% include "../top.html" %}|{% include "/a/part.html" %}',
        "a/part.html": "part",
        "top.html": "top",
        "/a/part.html": "absolute",
    }
    assert render_dict(templates, "a/page.html") == b"part|top|absolute"


def test_blocks_defined_in_included_templates_participate() -> None:
    templates = {
        "base.html": "[{% block a %}base{% end %}]",
        "child.html": '{% extends "base.html" %}{% include "blocks.html" %}',
        "blocks.html": "{% block a %}from include{% end %}",
    }
    assert render_dict(templates, "child.html") == b"[from include]"


def test_extends_without_loader_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="extends"):
        Template('{% extends "base.html" %}')


def test_include_without_loader_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="include") as info:
        Template('x\n{% include "part.html" %}', name="page.html")
    assert info.value.filename == "page.html"
    assert info.value.lineno == 2


@pytest.mark.parametrize(
    "templates",
    [
        {"a.html": '{% include "a.html" %}'},
        {"a.html": '{% include "b.html" %}', "b.html": '{% include "a.html" %}'},
        {"a.html": '{% extends "a.html" %}'},
        {"a.html": '{% extends "b.html" %}', "b.html": '{% extends "a.html" %}'},
    ],
)
def test_cycles_are_parse_errors(templates: dict[str, str]) -> None:
    loader = DictLoader(templates)
    with pytest.raises(ParseError, match="extends or includes itself"):
        loader.load("a.html")
    assert loader.templates == {}


# --- loaders ----------------------------------------------------------------------------------


def test_dict_loader_caches_and_resets() -> None:
    sources = {"t.html": "v1"}
    loader = DictLoader(sources)
    first = loader.load("t.html")
    assert loader.load("t.html") is first
    sources["t.html"] = "v2"
    assert loader.load("t.html").generate() == b"v1"
    loader.reset()
    assert loader.load("t.html").generate() == b"v2"


def test_dict_loader_missing_template() -> None:
    with pytest.raises(KeyError):
        DictLoader({}).load("nope.html")


def test_file_loader(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "base.html").write_text("<b>{% block c %}{% end %}</b>", encoding="utf-8")
    (tmp_path / "sub" / "page.html").write_text(
        '{% extends "../base.html" %}{% block c %}{% include "part.html" %}{% end %}',
        encoding="utf-8",
    )
    (tmp_path / "sub" / "part.html").write_text("\u00e9 {{ x }}", encoding="utf-8")
    loader = Loader(str(tmp_path))
    page = loader.load("sub/page.html")
    assert page.generate(x=1) == "<b>\u00e9 1</b>".encode()
    assert set(loader.templates) == {"sub/page.html", "base.html", "sub/part.html"}
    assert loader.load("sub/page.html") is page


def test_file_loader_reset_rereads(tmp_path: Path) -> None:
    path = tmp_path / "t.html"
    path.write_text("one", encoding="utf-8")
    loader = Loader(str(tmp_path))
    assert loader.load("t.html").generate() == b"one"
    path.write_text("two", encoding="utf-8")
    assert loader.load("t.html").generate() == b"one"
    loader.reset()
    assert loader.load("t.html").generate() == b"two"


def test_file_loader_relative_path_outside_root_is_not_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    sibling = tmp_path / "templates2"
    root.mkdir()
    sibling.mkdir()
    loader = Loader(str(root))
    # A path leaving the root (even into a sibling whose name shares the prefix) stays as
    # written instead of being turned into a root-relative name.
    assert loader.resolve_path("../templates2/x.html", "page.html") == "../templates2/x.html"
    assert loader.resolve_path("x.html", "sub/page.html") == os.path.join("sub", "x.html")
    assert loader.resolve_path("x.html", "<string>") == "x.html"


def test_file_loader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Loader(str(tmp_path)).load("missing.html")


def test_base_loader_requires_subclass_methods() -> None:
    with pytest.raises(NotImplementedError, match="resolve_path"):
        BaseLoader().load("x")

    class Half(BaseLoader):
        def resolve_path(self, name: str, parent_path: str | None = None) -> str:
            return name

    with pytest.raises(NotImplementedError, match="_create_template"):
        Half().load("x")


def test_custom_loader_subclass() -> None:
    class UpperLoader(BaseLoader):
        def resolve_path(self, name: str, parent_path: str | None = None) -> str:
            return name.lower()

        def _create_template(self, name: str) -> Template:
            return Template(f"<{name}>{{{{ x }}}}", name=name, loader=self)

    loader = UpperLoader(autoescape=None)
    assert loader.load("A.HTML").generate(x="<i>") == b"<a.html><i>"


def test_loader_is_thread_safe() -> None:
    loader = DictLoader({f"t{i}.html": f"{{{{ {i} }}}}" for i in range(20)})
    results: list[Template] = []

    def worker() -> None:
        for i in range(20):
            results.append(loader.load(f"t{i}.html"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 80
    assert len({id(t) for t in results}) == 20


# --- parse errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("a\n{# open", "Missing end comment #}", 2),
        ("a\nb{{ open", "Missing end expression }}", 2),
        ("{% if x", "Missing end block %}", 1),
        ("x\n\n{{ }}", "Empty expression", 3),
        ("{%  %}", "Empty block tag ({% %})", 1),
        ("a\n{% if x %}\nb", "Missing {% end %} block for if", 2),
        ("{% end %}", "Extra {% end %} block", 1),
        ("\n{% else %}", "else outside if/for/while/try block", 2),
        ("{% for x in y %}{% elif z %}{% end %}", "elif block cannot be attached to for block", 1),
        ("{% if x %}{% except %}{% end %}", "except block cannot be attached to if block", 1),
        ("{% break %}", "break outside for/while block", 1),
        ("{% if x %}{% continue %}{% end %}", "continue outside for/while block", 1),
        (
            "{% for x in y %}{% apply f %}{% break %}{% end %}{% end %}",
            "break outside for/while block",
            1,
        ),
        ("{% apply %}{% end %}", "apply missing method name", 1),
        ("{% block %}{% end %}", "block missing name", 1),
        ("{% extends %}", "extends missing file path", 1),
        ("{% include '' %}", "include missing file path", 1),
        ("{% set %}", "set missing statement", 1),
        ("{% import %}", "import missing statement", 1),
        ("{% raw %}", "raw missing expression", 1),
        ("{% module %}", "module missing expression", 1),
        ("{% autoescape %}", "autoescape missing function name", 1),
        ("\n\n{% whitespace fancy %}", "invalid whitespace mode", 3),
        ("{% bogus x %}", "unknown operator: 'bogus'", 1),
    ],
)
def test_parse_errors(source: str, message: str, line: int) -> None:
    with pytest.raises(ParseError) as info:
        Template(source, name="bad.html")
    err = info.value
    assert message in err.message
    assert err.filename == "bad.html"
    assert err.lineno == line
    assert str(err) == f"{err.message} at bad.html:{line}"
    assert isinstance(err, errors.TemplateParseError)
    assert isinstance(err, errors.TyphoonError)


def test_parse_error_alias() -> None:
    assert template.ParseError is errors.TemplateParseError


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("a\nb\n{{ x + }}", 3),
        ("{% if x %}\n{% set y = = 1 %}\n{% end %}", 2),
        ("\n{% for x in %}{% end %}", 2),
        ("{% try %}x{% end %}", 1),
    ],
)
def test_python_syntax_errors_name_template_line(source: str, line: int) -> None:
    with pytest.raises(ParseError, match="invalid Python in template") as info:
        Template(source, name="code.html")
    assert info.value.filename == "code.html"
    assert info.value.lineno == line
    assert isinstance(info.value.__cause__, SyntaxError)


def test_python_syntax_error_in_included_template_names_it() -> None:
    loader = DictLoader({"page.html": '\n{% include "inc.html" %}', "inc.html": "ok\n\n{{ ) }}"})
    with pytest.raises(ParseError) as info:
        loader.load("page.html")
    assert info.value.filename == "inc.html"
    assert info.value.lineno == 3


# --- runtime errors ---------------------------------------------------------------------------


def test_runtime_error_note_names_template_and_line() -> None:
    t = Template("line1\n{{ 1 }}\n{{ 1 / zero }}\n", name="calc.html")
    with pytest.raises(ZeroDivisionError) as info:
        t.generate(zero=0)
    assert info.value.__notes__ == ["in template 'calc.html', line 3"]


def test_runtime_name_error_note() -> None:
    t = Template("a\n\n\n{% if missing %}x{% end %}", name="n.html")
    with pytest.raises(NameError, match="missing") as info:
        t.generate()
    assert info.value.__notes__ == ["in template 'n.html', line 4"]


def test_runtime_error_in_include_and_block_names_chain() -> None:
    loader = DictLoader(
        {
            "base.html": "head\n{% block body %}{% end %}",
            "page.html": '{% extends "base.html" %}\n{% block body %}\n{% include "inc.html" %}{% end %}',
            "inc.html": "a\nb\n{{ boom() }}",
        }
    )

    def boom() -> None:
        raise ValueError("bad value")

    with pytest.raises(ValueError, match="bad value") as info:
        loader.load("page.html").generate(boom=boom)
    assert info.value.__notes__ == [
        "in template 'inc.html', line 3 (via 'page.html', line 3) (via 'base.html', line 2)"
    ]


def test_runtime_error_in_apply_and_multiline_expression() -> None:
    t = Template("{% apply f %}\n\n{{ [1,\n 2,\n x.y] }}{% end %}", name="m.html")
    with pytest.raises(AttributeError) as info:
        t.generate(f=lambda s: s, x=1)
    assert info.value.__notes__ == ["in template 'm.html', line 5"]


def test_runtime_error_in_apply_function_names_apply_line() -> None:
    t = Template("x\n{% apply f %}a{% end %}", name="ap.html")

    def f(value: bytes) -> bytes:
        raise RuntimeError("filter failed")

    with pytest.raises(RuntimeError) as info:
        t.generate(f=f)
    assert info.value.__notes__ == ["in template 'ap.html', line 2"]


def test_nested_template_rendering_gets_two_notes() -> None:
    inner = Template("\n{{ 1 // 0 }}", name="inner.html")
    outer = Template("{% raw inner.generate() %}", name="outer.html")
    with pytest.raises(ZeroDivisionError) as info:
        outer.generate(inner=inner)
    assert info.value.__notes__ == [
        "in template 'inner.html', line 2",
        "in template 'outer.html', line 1",
    ]


def test_traceback_shows_generated_source() -> None:
    import traceback

    t = Template("{{ 1 / 0 }}", name="tb.html")
    with pytest.raises(ZeroDivisionError) as info:
        t.generate()
    text = "".join(traceback.format_exception(info.value))
    assert "tb_html.generated.py" in text
    assert "# tb.html:1" in text
    assert "in template 'tb.html', line 1" in text


# --- Tornado parity ---------------------------------------------------------------------------

PARITY_TEMPLATES = {
    "base.html": "<html>{% block title %}T{% end %}\n   <body>{% block body %}{% end %}</body></html>\n",
    "page.html": (
        '{% extends "base.html" %}{% block title %}{{ title }}{% end %}'
        "{% block body %}\n  <ul>\n  {% for i, item in enumerate(items) %}\n"
        "    <li class=\"{{ 'odd' if i % 2 else 'even' }}\">{{ item }} {% raw item %}</li>\n"
        "  {% end %}\n  </ul>{% include 'foot.html' %}{% end %}"
    ),
    "foot.html": "<p>{{ json_encode(items) }} {{! x }} {% apply squeeze2 %}a   b{% end %}</p>",
}


def test_output_matches_tornado() -> None:
    tornado_template = pytest.importorskip("tornado.template")
    kwargs: dict[str, Any] = {
        "title": "<T&T>",
        "items": ["a", "<b>", "c'd", 3, None, "\u00e9</script>"],
        "squeeze2": lambda s: b" ".join(s.split()),
        "when": datetime.datetime(2020, 1, 2),
    }
    ours = DictLoader(PARITY_TEMPLATES).load("page.html").generate(**kwargs)
    theirs = tornado_template.DictLoader(PARITY_TEMPLATES).load("page.html").generate(**kwargs)
    assert ours == theirs


PARITY_SINGLE = [
    ("a.html", "a   b\n\n  c {% whitespace oneline %} d \n\n e <pre>x  y</pre>"),
    ("a.txt", "{{{ x }}} {{! y }} {%! z %} {#! w #}"),
    (
        "a.txt",
        "{% for v in [1,0,2] %}{% try %}<{{ 2 // v }}>{% except %}!{% else %}e"
        "{% finally %}f{% end %}{% end %}",
    ),
    ("a.txt", "{% autoescape None %}{{ '<b>' }}"),
    (
        "a.txt",
        "{% set i = 0 %}{% while i < 3 %}{{ i }}{% set i += 1 %}"
        "{% if i == 2 %}{% break %}{% end %}{% end %}",
    ),
    ("a.txt", "{% apply f %}X{{ 1 }}{% apply f %}y{% end %}{% end %}"),
    ("a.txt", "{{ None }}{{ b'\\xc3\\xa9' }}{{ 1.5 }}{{ [1,'<'] }}{% raw b'<' %}"),
    ("a.txt", "{% import math %}{% from os import sep %}{{ math.pi }}{{ sep }}{% comment x %}"),
    (
        "a.txt",
        "{% if 0 %}a{% elif 1 %}b{% else %}c{% end %}{% for x in [] %}{% else %}empty{% end %}",
    ),
    ("a.html", "<ul>\n   {% for x in [1, 2] %}\n      <li>{{ x }}</li>\n   {% end %}\n</ul>\n"),
]


@pytest.mark.parametrize(("name", "source"), PARITY_SINGLE)
def test_single_template_output_matches_tornado(name: str, source: str) -> None:
    tornado_template = pytest.importorskip("tornado.template")
    kwargs: dict[str, Any] = {"x": 1, "f": lambda s: s.upper()}
    ours = Template(source, name=name).generate(**kwargs)
    assert ours == tornado_template.Template(source, name=name).generate(**kwargs)


def test_module_exports() -> None:
    for name in template.__all__:
        assert hasattr(template, name)
