"""A template language compiled to Python: ``{{ expression }}`` and ``{% directive %}``.

Follows ``tornado.template``: the same syntax, directives, loaders, autoescaping,
whitespace modes and default namespace, so Tornado templates render unchanged.

Expressions are escaped with ``xhtml_escape`` unless autoescaping is changed for the
loader (``autoescape=``), for one file (``{% autoescape fn %}`` or ``None``) or for
one expression (``{% raw expr %}``). Directives: ``apply``, ``autoescape``, ``block``,
``break``, ``comment``, ``continue``, ``extends``, ``for``, ``from ... import``,
``if``/``elif``/``else``, ``import``, ``include``, ``module``, ``raw``, ``set``,
``try``/``except``/``else``/``finally``, ``while``, ``whitespace``, each block closed
by ``{% end %}``; ``{# ... #}`` is a comment; ``{{!``, ``{%!`` and ``{#!`` write the
literal opener.

A template compiles once to one Python function; :meth:`Template.generate` runs it
with the keyword arguments as globals and returns UTF-8 bytes. Syntax errors raise
:class:`ParseError` naming the template and line; an exception raised while rendering
keeps its type and gets a note (:pep:`678`) naming the template and line it came from.
"""

from __future__ import annotations

__all__ = [
    "BaseLoader",
    "DictLoader",
    "Loader",
    "ParseError",
    "Template",
    "filter_whitespace",
]

import builtins
import datetime
import enum
import linecache
import os.path
import posixpath
import threading
import types
from collections.abc import Callable, Mapping
from typing import Any, cast

from typhoon import escape
from typhoon._template_code import (
    DEFAULT_AUTOESCAPE,
    CodeWriter,
    ExtendsBlock,
    FileNode,
    NamedBlock,
    Origin,
    filter_whitespace,
    parse,
)
from typhoon.errors import ConfigurationError, TemplateParseError

#: Raised for template syntax errors (``typhoon.errors.TemplateParseError``).
ParseError = TemplateParseError


class _Unset(enum.Enum):
    TOKEN = 0


_UNSET = _Unset.TOKEN


# --- helpers the generated code calls ---------------------------------------------------------


def _to_str(value: object) -> str:
    """Convert an expression result to text: bytes are UTF-8, anything else ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        # surrogateescape keeps undecodable bytes and restores them in _finish.
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _to_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return _to_str(value).encode("utf-8", "surrogateescape")


def _escape_html(value: object) -> str:
    """The default converter: same output as :func:`typhoon.escape.xhtml_escape`.

    Most values need no escaping, and a containment test is much cheaper than a
    ``replace`` call, so each replacement runs only when its character is present.
    """
    cls = value.__class__
    if cls is str:
        text: str = value  # type: ignore[assignment]  # checked above; cast() costs a call
    elif cls is int:
        return str(value)
    else:
        text = _to_str(value)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "'" in text:
        text = text.replace("'", "&#x27;")
    return text


def _filter_result(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    raise TypeError(f"template filter returned {type(value).__name__}, expected str or bytes")


def _make_escaper(func: Callable[[Any], Any]) -> Callable[[object], str]:
    """Wrap an autoescape function the way Tornado calls it: UTF-8 bytes in, text out."""
    if func is escape.xhtml_escape:
        return _escape_html

    def escaper(value: object) -> str:
        return _filter_result(func(_to_bytes(value)))

    return escaper


def _apply_result(value: object) -> str:
    return _filter_result(value)


def _finish(buffer: list[str]) -> bytes:
    return "".join(buffer).encode("utf-8", "surrogateescape")


class _SourceLoader:
    """Serves the generated source to :mod:`linecache`, so tracebacks can show it."""

    def __init__(self, source: str) -> None:
        self._source = source

    def get_source(self, name: str) -> str:
        """Return the generated Python source (whatever ``name`` is asked for)."""
        return self._source


# --- templates ----------------------------------------------------------------------------------


class Template:
    """A compiled template.

    ``name`` is used in error messages and to resolve relative ``extends`` and
    ``include`` paths through ``loader``. ``whitespace`` is ``"all"``, ``"single"``
    or ``"oneline"`` (default: the loader's, else ``"single"`` for names ending in
    ``.html`` or ``.js`` and ``"all"`` otherwise); ``compress_whitespace`` is the
    older boolean spelling. ``autoescape`` names the escaping function (``None``
    turns escaping off; default: the loader's, else ``"xhtml_escape"``).
    """

    def __init__(
        self,
        template_string: str | bytes,
        name: str = "<string>",
        loader: BaseLoader | None = None,
        compress_whitespace: bool | _Unset = _UNSET,
        autoescape: str | _Unset | None = _UNSET,
        whitespace: str | None = None,
    ) -> None:
        self.name: str = escape.native_str(name)
        if compress_whitespace is not _UNSET:
            if whitespace is not None:
                raise ConfigurationError("cannot set both whitespace and compress_whitespace")
            whitespace = "single" if compress_whitespace else "all"
        if whitespace is None:
            if loader is not None and loader.whitespace:
                whitespace = loader.whitespace
            elif self.name.endswith((".html", ".js")):
                whitespace = "single"
            else:
                whitespace = "all"
        filter_whitespace(whitespace, "")
        if autoescape is not _UNSET:
            self.autoescape: str | None = autoescape
        elif loader is not None:
            self.autoescape = loader.autoescape
        else:
            self.autoescape = DEFAULT_AUTOESCAPE
        self.namespace: dict[str, Any] = loader.namespace if loader is not None else {}
        self.loader = loader
        self.file: FileNode = parse(self.name, escape.native_str(template_string), whitespace, self)
        self.code, self._origins = self._generate_python(loader)
        self._filename = self.name.replace(".", "_") + ".generated.py"
        linecache.cache.pop(self._filename, None)
        try:
            self.compiled = compile(self.code, self._filename, "exec", dont_inherit=True)
        except SyntaxError as exc:
            template_name, line = self._template_line(exc.lineno or 1)[:2]
            raise ParseError(f"invalid Python in template: {exc.msg}", template_name, line) from exc
        self._execute_code = next(
            const
            for const in self.compiled.co_consts
            if isinstance(const, types.CodeType) and const.co_name == "_tt_execute"
        )
        self._own_code = frozenset(_all_code_objects(self._execute_code))
        self._defaults: dict[str, Any] = {
            "__builtins__": builtins,
            "escape": escape.xhtml_escape,
            "xhtml_escape": escape.xhtml_escape,
            "url_escape": escape.url_escape,
            "json_encode": escape.json_encode,
            "squeeze": escape.squeeze,
            "linkify": escape.linkify,
            "datetime": datetime,
            "_tt_utf8": escape.utf8,
            "_tt_string_types": (str, bytes),
            "_tt_to_str": _to_str,
            "_tt_make_escaper": _make_escaper,
            "_tt_apply_result": _apply_result,
            "_tt_finish": _finish,
            "__name__": self.name.replace(".", "_"),
            "__loader__": _SourceLoader(self.code),
        }

    def generate(self, **kwargs: Any) -> bytes:
        """Render the template with ``kwargs`` as variables; return UTF-8 bytes.

        Variables come from the default namespace (``escape``, ``xhtml_escape``,
        ``url_escape``, ``json_encode``, ``squeeze``, ``linkify``, ``datetime``), then
        the loader's ``namespace``, then ``kwargs``. An exception raised while
        rendering propagates unchanged apart from a note naming the template line.
        """
        namespace = self._defaults.copy()
        namespace.update(self.namespace)
        namespace.update(kwargs)
        execute = types.FunctionType(self._execute_code, namespace)
        try:
            return cast(bytes, execute())
        except Exception as exc:
            self._annotate(exc)
            raise

    def _generate_python(self, loader: BaseLoader | None) -> tuple[str, list[Origin]]:
        ancestors = self._get_ancestors(loader)
        ancestors.reverse()
        named_blocks: dict[str, NamedBlock] = {}
        for ancestor in ancestors:
            ancestor.find_named_blocks(loader, named_blocks)
        root = ancestors[0]
        writer = CodeWriter(named_blocks, loader, root.template)
        root.generate(writer)
        return writer.code(), writer.origins

    def _get_ancestors(self, loader: BaseLoader | None) -> list[FileNode]:
        ancestors = [self.file]
        for chunk in self.file.body.chunks:
            if not isinstance(chunk, ExtendsBlock):
                continue
            if loader is None:
                raise ParseError("{% extends %} needs a template loader", self.name, chunk.line)
            ancestors.extend(loader.load(chunk.name, self.name)._get_ancestors(loader))
        return ancestors

    def _template_line(self, generated_line: int) -> Origin:
        index = min(max(generated_line, 1), len(self._origins)) - 1
        # Scaffolding lines (the function header, the final return) have line 0: report
        # the closest template line before them instead.
        while index > 0 and self._origins[index][1] == 0:
            index -= 1
        return self._origins[index]

    def _annotate(self, exc: BaseException) -> None:
        """Add a note naming the template line where ``exc`` was raised."""
        lineno = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in self._own_code:
                lineno = tb.tb_lineno
            tb = tb.tb_next
        if lineno is None:
            return
        name, line, chain = self._template_line(lineno)
        note = f"in template {name!r}, line {line}"
        for outer_name, outer_line in reversed(chain):
            note += f" (via {outer_name!r}, line {outer_line})"
        exc.add_note(note)


def _all_code_objects(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.extend(_all_code_objects(const))
    return found


# --- loaders ------------------------------------------------------------------------------------


class BaseLoader:
    """Loads and caches templates by name; subclasses say where the source comes from.

    ``autoescape``, ``namespace`` and ``whitespace`` become the defaults of every
    template the loader creates. Templates are compiled once and cached until
    :meth:`reset`. Subclasses implement :meth:`resolve_path` and :meth:`_create_template`.
    """

    def __init__(
        self,
        autoescape: str | None = DEFAULT_AUTOESCAPE,
        namespace: dict[str, Any] | None = None,
        whitespace: str | None = None,
    ) -> None:
        self.autoescape = autoescape
        self.namespace: dict[str, Any] = namespace or {}
        self.whitespace = whitespace
        self.templates: dict[str, Template] = {}
        # Reentrant: compiling a template loads the templates it extends or includes.
        self.lock = threading.RLock()
        self._loading: set[str] = set()

    def reset(self) -> None:
        """Forget every compiled template, so the next load reads the source again."""
        with self.lock:
            self.templates = {}

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Turn a name used inside template ``parent_path`` into a loader-wide name."""
        raise NotImplementedError(f"{type(self).__name__} must implement resolve_path()")

    def load(self, name: str, parent_path: str | None = None) -> Template:
        """Return the compiled template ``name`` (relative to ``parent_path``), cached."""
        name = self.resolve_path(name, parent_path=parent_path)
        with self.lock:
            template = self.templates.get(name)
            if template is not None:
                return template
            if name in self._loading:
                raise ParseError(f"template {name!r} extends or includes itself", parent_path, 0)
            self._loading.add(name)
            try:
                template = self._create_template(name)
            finally:
                self._loading.discard(name)
            self.templates[name] = template
            return template

    def _create_template(self, name: str) -> Template:
        raise NotImplementedError(f"{type(self).__name__} must implement _create_template()")


class Loader(BaseLoader):
    """Loads templates from files under ``root_directory``."""

    def __init__(self, root_directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = os.path.abspath(root_directory)

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Resolve ``name`` relative to the directory of ``parent_path`` when inside root."""
        if parent_path and not parent_path.startswith(("<", "/")) and not name.startswith("/"):
            parent_dir = os.path.dirname(os.path.abspath(os.path.join(self.root, parent_path)))
            candidate = os.path.abspath(os.path.join(parent_dir, name))
            if candidate.startswith(self.root + os.sep):
                name = candidate[len(self.root) + 1 :]
        return name

    def _create_template(self, name: str) -> Template:
        with open(os.path.join(self.root, name), "rb") as f:
            return Template(f.read(), name=name, loader=self)


class DictLoader(BaseLoader):
    """Loads templates from a dict of ``{name: source}``; handy in tests."""

    def __init__(self, dict: Mapping[str, str | bytes], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dict = dict

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """Resolve ``name`` relative to the directory part of ``parent_path``."""
        if parent_path and not parent_path.startswith(("<", "/")) and not name.startswith("/"):
            name = posixpath.normpath(posixpath.join(posixpath.dirname(parent_path), name))
        return name

    def _create_template(self, name: str) -> Template:
        return Template(self.dict[name], name=name, loader=self)
