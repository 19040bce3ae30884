"""Template internals: the parser, the syntax tree and the Python code generator.

``typhoon.template`` holds the public classes; this module turns template text into a
tree of nodes and the tree into the source of one Python function, ``_tt_execute``.

Speed comes from the shape of that function. A run of text and ``{{ }}`` expressions
with no statement between them becomes one f-string appended to the output list,
each expression passing through a converter bound to a local variable once per
render; the output is kept as text and encoded to UTF-8 once at the end. The code
writer records, for every generated line, the template name and line it came from
(and the include chain), so compile and runtime errors can name the template line.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_AUTOESCAPE",
    "CodeWriter",
    "ExtendsBlock",
    "FileNode",
    "LoaderLike",
    "NamedBlock",
    "Origin",
    "TemplateLike",
    "filter_whitespace",
    "parse",
]

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from typhoon.errors import ConfigurationError, TemplateParseError

#: Name of the function that escapes ``{{ }}`` output unless a template says otherwise.
DEFAULT_AUTOESCAPE = "xhtml_escape"

# Deeper nesting of includes and blocks than this means a cycle the loader could not see.
_MAX_NESTING = 64

_SPACE_RUN = re.compile(r"[\t ]+")
_NEWLINE_RUN = re.compile(r"\s*\n\s*")
_ANY_SPACE_RUN = re.compile(r"\s+")


def filter_whitespace(mode: str, text: str) -> str:
    """Apply a whitespace mode to literal template text.

    ``"all"`` keeps text unchanged; ``"single"`` collapses runs of spaces and tabs to
    one space and runs of whitespace containing a newline to one newline; ``"oneline"``
    collapses every whitespace run to one space. Any other mode is a
    :class:`~typhoon.errors.ConfigurationError`.
    """
    if mode == "all":
        return text
    if mode == "single":
        return _NEWLINE_RUN.sub("\n", _SPACE_RUN.sub(" ", text))
    if mode == "oneline":
        return _ANY_SPACE_RUN.sub(" ", text)
    raise ConfigurationError(
        f"invalid whitespace mode {mode!r}: expected 'all', 'single' or 'oneline'"
    )


class TemplateLike(Protocol):
    """What the code generator needs from a ``Template``."""

    name: str
    autoescape: str | None
    file: FileNode


class LoaderLike(Protocol):
    """What the code generator needs from a template loader."""

    def load(self, name: str, parent_path: str | None = None) -> TemplateLike:
        """Return the (cached) template called ``name``, resolved against ``parent_path``."""
        ...


#: Where a generated line came from: template name, line, and the include chain
#: (outermost first) as ``(template name, line)`` pairs.
Origin = tuple[str, int, tuple[tuple[str, int], ...]]


def _printable(name: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in name)


class CodeWriter:
    """Accumulates generated Python lines and remembers the template origin of each."""

    def __init__(
        self,
        named_blocks: dict[str, NamedBlock],
        loader: LoaderLike | None,
        current_template: TemplateLike,
    ) -> None:
        self.named_blocks = named_blocks
        self.loader = loader
        self.current_template = current_template
        self.lines: list[str] = []
        self.origins: list[Origin] = []
        self.indent = 0
        self.include_stack: list[tuple[TemplateLike, int]] = []
        self.apply_counter = 0
        self.try_depth = 0
        self.converters: dict[str | None, tuple[str, Origin]] = {}

    def origin(self, line: int) -> Origin:
        """Return the origin of ``line`` of the template being generated now."""
        chain = tuple((t.name, n) for t, n in self.include_stack)
        return (self.current_template.name, line, chain)

    def write_line(self, code: str, line: int, indent: int | None = None) -> None:
        """Append ``code`` (possibly several physical lines) at the current indent."""
        prefix = "    " * (self.indent if indent is None else indent)
        origin = self.origin(line)
        pieces = code.split("\n")
        if len(pieces) == 1:
            self.lines.append(f"{prefix}{code}  # {_printable(origin[0])}:{line}")
            self.origins.append(origin)
            return
        for offset, piece in enumerate(pieces):
            # Continuation lines sit inside brackets: indentation does not matter there,
            # and adding some could change a multi-line string literal.
            self.lines.append(prefix + piece if offset == 0 else piece)
            self.origins.append((origin[0], line + offset, origin[2]))

    @contextmanager
    def indented(self) -> Iterator[None]:
        """Indent lines written inside the ``with`` block by one level."""
        self.indent += 1
        try:
            yield
        finally:
            self.indent -= 1

    @contextmanager
    def include(self, template: TemplateLike, line: int) -> Iterator[None]:
        """Generate code from another template (an include or a block) at ``line``."""
        if len(self.include_stack) >= _MAX_NESTING:
            raise TemplateParseError(
                f"templates nested more than {_MAX_NESTING} deep (an include or block cycle?)",
                self.current_template.name,
                line,
            )
        self.include_stack.append((self.current_template, line))
        self.current_template = template
        try:
            yield
        finally:
            self.current_template = self.include_stack.pop()[0]

    def converter(self, autoescape: str | None, line: int) -> str:
        """Return the local name of the output converter for an autoescape function.

        ``None`` means raw output. Each distinct function is bound once per render in
        the prologue of ``_tt_execute``.
        """
        entry = self.converters.get(autoescape)
        if entry is None:
            name = "_tt_raw" if autoescape is None else f"_tt_esc{len(self.converters)}"
            entry = self.converters[autoescape] = (name, self.origin(line))
        return entry[0]

    def insert_prologue(self, index: int) -> None:
        """Insert the converter bindings collected so far at line ``index``."""
        lines, origins = self.lines, self.origins
        self.lines, self.origins = [], []
        try:
            for autoescape, (name, origin) in self.converters.items():
                value = "_tt_to_str" if autoescape is None else f"_tt_make_escaper({autoescape})"
                self.lines.append(f"    {name} = {value}  # {_printable(origin[0])}:{origin[1]}")
                self.origins.append(origin)
        finally:
            lines[index:index] = self.lines
            origins[index:index] = self.origins
            self.lines, self.origins = lines, origins

    def code(self) -> str:
        """Return the generated module source."""
        return "\n".join(self.lines) + "\n"


# --- syntax tree ----------------------------------------------------------------------------


class _Node:
    """A piece of a parsed template."""

    line = 0

    def children(self) -> tuple[_Node, ...]:
        return ()

    def find_named_blocks(
        self, loader: LoaderLike | None, named_blocks: dict[str, NamedBlock]
    ) -> None:
        for child in self.children():
            child.find_named_blocks(loader, named_blocks)

    def generate(self, writer: CodeWriter) -> None:
        raise NotImplementedError(type(self).__name__ + " must implement generate()")


class _Text(_Node):
    def __init__(self, value: str, line: int) -> None:
        self.value = value
        self.line = line

    def generate(self, writer: CodeWriter) -> None:
        if self.value:
            writer.write_line(f"_tt_append({self.value!r})", self.line)


class _Expression(_Node):
    def __init__(self, expression: str, line: int, raw: bool = False) -> None:
        self.expression = expression
        self.line = line
        self.raw = raw

    def code(self, writer: CodeWriter) -> str:
        autoescape = None if self.raw else writer.current_template.autoescape
        conv = writer.converter(autoescape, self.line)
        # A trailing "# comment" in the expression must not swallow the closing brackets.
        tail = "\n))" if "#" in self.expression else "))"
        return f"{conv}(({self.expression}{tail}"

    def generate(self, writer: CodeWriter) -> None:
        writer.write_line(f"_tt_append({self.code(writer)})", self.line)


class _ChunkList(_Node):
    def __init__(self, chunks: list[_Node]) -> None:
        self.chunks = chunks

    def children(self) -> tuple[_Node, ...]:
        return tuple(self.chunks)

    def generate(self, writer: CodeWriter) -> None:
        run: list[_Node] = []
        for chunk in self.chunks:
            if isinstance(chunk, (_Text, _Expression)) and not writer.try_depth:
                run.append(chunk)
                continue
            _emit_run(writer, run)
            run = []
            chunk.generate(writer)
        _emit_run(writer, run)


def _emit_run(writer: CodeWriter, run: list[_Node]) -> None:
    """Emit consecutive text and expressions as one f-string append.

    Each expression is evaluated (in order) into a temporary first, so expressions of
    any form are allowed; the f-string then only joins locals and literal text.
    """
    if not run:
        return
    if len(run) == 1:
        run[0].generate(writer)
        return
    parts: list[str] = []
    plain: list[str] = []
    temps = 0
    for chunk in run:
        if isinstance(chunk, _Text):
            plain.append(chunk.value)
            parts.append(chunk.value.replace("{", "{{").replace("}", "}}"))
        elif isinstance(chunk, _Expression):
            temp = f"_tt_t{temps}"
            temps += 1
            writer.write_line(f"{temp} = {chunk.code(writer)}", chunk.line)
            parts.append("{" + temp + "}")
    if temps:
        writer.write_line(f"_tt_append(f{''.join(parts)!r})", run[0].line)
    elif any(plain):
        writer.write_line(f"_tt_append({''.join(plain)!r})", run[0].line)


class FileNode(_Node):
    """The root of one template file; generates the ``_tt_execute`` function."""

    def __init__(self, template: TemplateLike, body: _ChunkList) -> None:
        self.template = template
        self.body = body
        self.line = 0

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def generate(self, writer: CodeWriter) -> None:
        writer.write_line("def _tt_execute():", self.line)
        with writer.indented():
            writer.write_line("_tt_buffer = []", self.line)
            writer.write_line("_tt_append = _tt_buffer.append", self.line)
            mark = len(writer.lines)
            self.body.generate(writer)
            writer.write_line("return _tt_finish(_tt_buffer)", self.line)
        writer.insert_prologue(mark)


class NamedBlock(_Node):
    """``{% block name %}``: replaced by the most derived template's block of that name."""

    def __init__(self, name: str, body: _ChunkList, template: TemplateLike, line: int) -> None:
        self.name = name
        self.body = body
        self.template = template
        self.line = line

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def find_named_blocks(
        self, loader: LoaderLike | None, named_blocks: dict[str, NamedBlock]
    ) -> None:
        named_blocks[self.name] = self
        super().find_named_blocks(loader, named_blocks)

    def generate(self, writer: CodeWriter) -> None:
        block = writer.named_blocks[self.name]
        with writer.include(block.template, self.line):
            block.body.generate(writer)


class ExtendsBlock(_Node):
    """``{% extends name %}``: names the parent template."""

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line

    def generate(self, writer: CodeWriter) -> None:
        """Generates nothing: the template's ancestors are resolved before generation."""


def _require_loader(loader: LoaderLike | None, what: str, name: str, line: int) -> LoaderLike:
    if loader is None:
        raise TemplateParseError(f"{{% {what} %}} needs a template loader", name, line)
    return loader


class _IncludeBlock(_Node):
    def __init__(self, name: str, template_name: str, line: int) -> None:
        self.name = name
        self.template_name = template_name
        self.line = line

    def _load(self, loader: LoaderLike | None) -> TemplateLike:
        real = _require_loader(loader, "include", self.template_name, self.line)
        return real.load(self.name, self.template_name)

    def find_named_blocks(
        self, loader: LoaderLike | None, named_blocks: dict[str, NamedBlock]
    ) -> None:
        self._load(loader).file.find_named_blocks(loader, named_blocks)

    def generate(self, writer: CodeWriter) -> None:
        included = self._load(writer.loader)
        with writer.include(included, self.line):
            included.file.body.generate(writer)


class _ApplyBlock(_Node):
    def __init__(self, method: str, line: int, body: _ChunkList) -> None:
        self.method = method
        self.line = line
        self.body = body

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def generate(self, writer: CodeWriter) -> None:
        name = f"_tt_apply{writer.apply_counter}"
        writer.apply_counter += 1
        writer.write_line(f"def {name}():", self.line)
        with writer.indented():
            writer.write_line("_tt_buffer = []", self.line)
            writer.write_line("_tt_append = _tt_buffer.append", self.line)
            self.body.generate(writer)
            writer.write_line("return _tt_finish(_tt_buffer)", self.line)
        writer.write_line(f"_tt_append(_tt_apply_result({self.method}({name}())))", self.line)


class _ControlBlock(_Node):
    def __init__(self, statement: str, line: int, body: _ChunkList, is_try: bool) -> None:
        self.statement = statement
        self.line = line
        self.body = body
        self.is_try = is_try

    def children(self) -> tuple[_Node, ...]:
        return (self.body,)

    def generate(self, writer: CodeWriter) -> None:
        writer.write_line(f"{self.statement}:", self.line)
        # Inside try, output must be appended piece by piece: output written before an
        # exception that the template itself catches has to stay in the page.
        writer.try_depth += self.is_try
        try:
            with writer.indented():
                self.body.generate(writer)
                writer.write_line("pass", self.line)
        finally:
            writer.try_depth -= self.is_try


class _IntermediateControlBlock(_Node):
    def __init__(self, statement: str, line: int) -> None:
        self.statement = statement
        self.line = line

    def generate(self, writer: CodeWriter) -> None:
        writer.write_line("pass", self.line)
        writer.write_line(f"{self.statement}:", self.line, writer.indent - 1)


class _Statement(_Node):
    def __init__(self, statement: str, line: int) -> None:
        self.statement = statement
        self.line = line

    def generate(self, writer: CodeWriter) -> None:
        writer.write_line(self.statement, self.line)


# --- parser ---------------------------------------------------------------------------------

_INTERMEDIATE = {
    "else": ("if", "for", "while", "try"),
    "elif": ("if",),
    "except": ("try",),
    "finally": ("try",),
}
_CLOSERS = {"{#": ("#}", "comment"), "{{": ("}}", "expression"), "{%": ("%}", "block")}
_BLOCK_OPERATORS = frozenset({"apply", "block", "try", "if", "for", "while"})


class _Reader:
    """The template text with a cursor that keeps track of the line number."""

    def __init__(self, name: str, text: str, whitespace: str) -> None:
        self.name = name
        self.text = text
        self.whitespace = whitespace
        self.pos = 0
        self.line = 1

    def consume_to(self, end: int) -> str:
        chunk = self.text[self.pos : end]
        self.line += chunk.count("\n")
        self.pos = end
        return chunk

    def find_tag(self) -> int:
        """Return the index of the next ``{{``, ``{%`` or ``{#``, or -1.

        Of three or more curly braces in a row the innermost pair opens the tag, so
        ``{{{x}}}`` renders ``x`` between literal braces.
        """
        text, i = self.text, self.pos
        n = len(text)
        while True:
            i = text.find("{", i)
            if i == -1 or i + 1 >= n:
                return -1
            nxt = text[i + 1]
            if nxt not in "{%#" or (nxt == "{" and i + 2 < n and text[i + 2] == "{"):
                i += 1
                continue
            return i

    def error(self, message: str, line: int) -> TemplateParseError:
        return TemplateParseError(message, self.name, line)


def _code(text: str) -> str:
    """Normalise line endings of Python code taken from a template."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text_node(reader: _Reader, value: str, line: int) -> _Text:
    # Text containing <pre> keeps its whitespace whatever the mode.
    if "<pre>" not in value:
        value = filter_whitespace(reader.whitespace, value)
    return _Text(value, line)


def parse(name: str, text: str, whitespace: str, template: TemplateLike) -> FileNode:
    """Parse template source into the tree rooted at a :class:`FileNode`."""
    return FileNode(template, _parse(_Reader(name, text, whitespace), template, None, None, 0))


def _parse(
    reader: _Reader,
    template: TemplateLike,
    in_block: str | None,
    in_loop: str | None,
    block_line: int,
) -> _ChunkList:
    body = _ChunkList([])
    chunks = body.chunks
    text = reader.text
    while True:
        start = reader.find_tag()
        if start == -1:
            if in_block is not None:
                raise reader.error(f"Missing {{% end %}} block for {in_block}", block_line)
            line = reader.line
            chunks.append(_text_node(reader, reader.consume_to(len(text)), line))
            return body
        if start > reader.pos:
            line = reader.line
            chunks.append(_text_node(reader, reader.consume_to(start), line))
        line = reader.line
        opener = reader.consume_to(start + 2)
        if text.startswith("!", reader.pos):
            # "{{!", "{%!" and "{#!" stand for the literal opener.
            reader.consume_to(reader.pos + 1)
            chunks.append(_Text(opener, line))
            continue
        closer, kind = _CLOSERS[opener]
        end = text.find(closer, reader.pos)
        if end == -1:
            raise reader.error(f"Missing end {kind} {closer}", line)
        contents = _code(reader.consume_to(end).strip())
        reader.consume_to(end + 2)
        if opener == "{#":
            continue
        if opener == "{{":
            if not contents:
                raise reader.error("Empty expression", line)
            chunks.append(_Expression(contents, line))
            continue
        if not contents:
            raise reader.error("Empty block tag ({% %})", line)
        words = contents.split(None, 1)
        operator = words[0]
        suffix = words[1].strip() if len(words) > 1 else ""

        if operator in _INTERMEDIATE:
            allowed = _INTERMEDIATE[operator]
            if in_block is None:
                raise reader.error(f"{operator} outside {'/'.join(allowed)} block", line)
            if in_block not in allowed:
                raise reader.error(f"{operator} block cannot be attached to {in_block} block", line)
            chunks.append(_IntermediateControlBlock(contents, line))
            continue
        if operator == "end":
            if in_block is None:
                raise reader.error("Extra {% end %} block", line)
            return body
        if operator in _BLOCK_OPERATORS:
            chunks.append(_parse_block(reader, template, operator, suffix, contents, in_loop, line))
            continue
        if operator in ("break", "continue"):
            if in_loop is None:
                raise reader.error(f"{operator} outside for/while block", line)
            chunks.append(_Statement(contents, line))
            continue
        node = _parse_simple(reader, template, operator, suffix, contents, line)
        if node is not None:
            chunks.append(node)


def _parse_block(
    reader: _Reader,
    template: TemplateLike,
    operator: str,
    suffix: str,
    contents: str,
    in_loop: str | None,
    line: int,
) -> _Node:
    """Parse a directive that has a body closed by ``{% end %}``."""
    if operator == "apply" and not suffix:
        raise reader.error("apply missing method name", line)
    if operator == "block" and not suffix:
        raise reader.error("block missing name", line)
    if operator in ("for", "while"):
        child_loop: str | None = operator
    elif operator == "apply":
        # The body of an apply is a function of its own: break/continue cannot leave it.
        child_loop = None
    else:
        child_loop = in_loop
    block_body = _parse(reader, template, operator, child_loop, line)
    if operator == "apply":
        return _ApplyBlock(suffix, line, block_body)
    if operator == "block":
        return NamedBlock(suffix, block_body, template, line)
    return _ControlBlock(contents, line, block_body, is_try=operator == "try")


def _parse_simple(
    reader: _Reader,
    template: TemplateLike,
    operator: str,
    suffix: str,
    contents: str,
    line: int,
) -> _Node | None:
    """Parse a directive without a body; None for those that only change parser state."""
    if operator == "comment":
        return None
    if operator in ("extends", "include"):
        path = suffix.strip('"').strip("'")
        if not path:
            raise reader.error(f"{operator} missing file path", line)
        if operator == "extends":
            return ExtendsBlock(path, line)
        return _IncludeBlock(path, reader.name, line)
    if operator in ("set", "import", "from"):
        if not suffix:
            raise reader.error(f"{operator} missing statement", line)
        return _Statement(suffix if operator == "set" else contents, line)
    if operator in ("raw", "module"):
        if not suffix:
            raise reader.error(f"{operator} missing expression", line)
        if operator == "module":
            suffix = "_tt_modules." + suffix
        return _Expression(suffix, line, raw=True)
    if operator == "autoescape":
        if not suffix:
            raise reader.error("autoescape missing function name (None turns it off)", line)
        # Applies to the whole file, like Tornado's.
        template.autoescape = None if suffix == "None" else suffix
        return None
    if operator == "whitespace":
        try:
            filter_whitespace(suffix, "")
        except ConfigurationError as exc:
            raise reader.error(str(exc), line) from exc
        reader.whitespace = suffix
        return None
    raise reader.error(f"unknown operator: {operator!r}", line)
