"""Request arguments: query and body fields, path captures, and the JSON body.

Layer 5 (web). Imports ``typhoon.errors``, ``typhoon.escape`` and the standard library.

Values arrive as bytes (the HTTP layer cannot know their charset) and are decoded here,
on demand, with :meth:`ArgumentMixin.decode_argument`: UTF-8 by default, overridable per
handler. Text that fails to decode, a missing required argument, a value that fails the
requested type conversion and a body that is not JSON all answer 400, never 500: they
are the client's mistake.
"""

from __future__ import annotations

__all__ = ["ArgumentMixin"]

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from typhoon.errors import HTTPError, MissingArgumentError

if TYPE_CHECKING:
    from typhoon.httputil import HTTPServerRequest

_T = TypeVar("_T")
_D = TypeVar("_D")


class _NoDefault:
    """Marks "no default given": a missing argument is then an error."""

    def __repr__(self) -> str:
        return "<required>"


_ARG_DEFAULT: Any = _NoDefault()

# C0 control characters other than TAB, LF, VT, FF and CR never belong in form text;
# they are replaced by spaces so they cannot reach logs or templates.
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0e-\x1f]")

_NO_JSON: Any = object()


class ArgumentMixin:
    """The argument accessors of ``RequestHandler``."""

    if TYPE_CHECKING:
        request: HTTPServerRequest
        _json_body: Any

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Decode one raw argument value (query, body or path capture) to text.

        The default decodes UTF-8 and answers 400 when that fails. Text is returned
        unchanged: a router may hand path arguments over as ``str``
        (``get_handler_delegate(request, Handler, path_args=[request.path])``).
        Override it for another charset, or to return bytes for a particular argument.
        """
        # Annotated bytes as in Tornado, so overrides typed that way stay compatible.
        given: object = value
        if isinstance(given, str):
            return given
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "Invalid unicode in %s: %r", name or "url", value[:40]) from None

    @overload
    def get_argument(self, name: str, default: str = ..., strip: bool = True) -> str: ...

    @overload
    def get_argument(self, name: str, default: _D, strip: bool = True) -> str | _D: ...

    @overload
    def get_argument(
        self, name: str, default: _D = ..., strip: bool = True, *, type: Callable[[str], _T]
    ) -> _T | _D: ...

    def get_argument(
        self,
        name: str,
        default: Any = _ARG_DEFAULT,
        strip: bool = True,
        *,
        type: Callable[[str], Any] | None = None,
    ) -> Any:
        """Return the last value of argument ``name`` from the query or the body.

        Without ``default``, a missing argument answers 400
        (:class:`~typhoon.errors.MissingArgumentError`). ``strip`` trims surrounding
        whitespace. ``type`` converts the text (``type=int``); a value it rejects with
        ``ValueError`` or ``TypeError`` answers 400. The default is returned as given.
        """
        return self._one(name, self.request.arguments, default, strip, type)

    def get_arguments(
        self, name: str, strip: bool = True, *, type: Callable[[str], Any] | None = None
    ) -> list[Any]:
        """Return every value of argument ``name`` (query then body); ``[]`` if none."""
        return self._all(name, self.request.arguments, strip, type)

    def get_query_argument(
        self,
        name: str,
        default: Any = _ARG_DEFAULT,
        strip: bool = True,
        *,
        type: Callable[[str], Any] | None = None,
    ) -> Any:
        """Like :meth:`get_argument`, reading only the query string."""
        return self._one(name, self.request.query_arguments, default, strip, type)

    def get_query_arguments(
        self, name: str, strip: bool = True, *, type: Callable[[str], Any] | None = None
    ) -> list[Any]:
        """Like :meth:`get_arguments`, reading only the query string."""
        return self._all(name, self.request.query_arguments, strip, type)

    def get_body_argument(
        self,
        name: str,
        default: Any = _ARG_DEFAULT,
        strip: bool = True,
        *,
        type: Callable[[str], Any] | None = None,
    ) -> Any:
        """Like :meth:`get_argument`, reading only the form-encoded body."""
        return self._one(name, self.request.body_arguments, default, strip, type)

    def get_body_arguments(
        self, name: str, strip: bool = True, *, type: Callable[[str], Any] | None = None
    ) -> list[Any]:
        """Like :meth:`get_arguments`, reading only the form-encoded body."""
        return self._all(name, self.request.body_arguments, strip, type)

    @property
    def json_body(self) -> Any:
        """The request body parsed as JSON (parsed once, then cached).

        Answers 400 when the body is empty, not UTF-8, not JSON, or nested too deeply
        to parse. The content type is not checked, so clients that forget it still work.
        """
        try:
            cached = self._json_body
        except AttributeError:
            cached = _NO_JSON
        if cached is not _NO_JSON:
            return cached
        body = self.request.body
        if not body:
            raise HTTPError(400, "request body is empty; a JSON document was expected")
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise HTTPError(400, "request body is not valid JSON: %s", exc) from exc
        self._json_body = parsed
        return parsed

    def _one(
        self,
        name: str,
        source: Mapping[str, Sequence[bytes]],
        default: Any,
        strip: bool,
        convert: Callable[[str], Any] | None,
    ) -> Any:
        values = source.get(name)
        if not values:
            if default is _ARG_DEFAULT:
                raise MissingArgumentError(name)
            return default
        return self._clean(name, values[-1], strip, convert)

    def _all(
        self,
        name: str,
        source: Mapping[str, Sequence[bytes]],
        strip: bool,
        convert: Callable[[str], Any] | None,
    ) -> list[Any]:
        return [self._clean(name, value, strip, convert) for value in source.get(name, ())]

    def _clean(
        self, name: str, raw: bytes, strip: bool, convert: Callable[[str], Any] | None
    ) -> Any:
        value: Any = self.decode_argument(raw, name=name)
        if isinstance(value, str):
            value = _CONTROL_CHARS_RE.sub(" ", value)
            if strip:
                value = value.strip()
        if convert is not None:
            try:
                return convert(value)
            except (ValueError, TypeError) as exc:
                raise HTTPError(
                    400, "Invalid value for argument %s: %r (%s)", name, value[:40], exc
                ) from exc
        return value
