"""Path templates of `google.api.http` and the route table, compiled once at start.

Paths are matched on the raw (still percent-encoded) request path and variables are unescaped after
matching, so '%2F' inside an email never splits a segment and '+' stays a plus sign. Literal paths are
one dictionary lookup; templated paths are tried in order, each one precompiled regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote_to_bytes

T = TypeVar("T")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_FIELD_PATH = re.compile(rf"^{_IDENT}(?:\.{_IDENT})*$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=@-]+$")


class TemplateError(ValueError):
    """A path template the gateway cannot compile."""


class InvalidPathVariable(ValueError):
    """A path variable that does not decode to UTF-8 text."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: is not valid percent-encoded UTF-8")
        self.field = field


@dataclass(frozen=True)
class _Variable:
    field: str
    multi_segment: bool  # `{name=**}` or a pattern spanning segments: '%2F' stays encoded


class PathTemplate:
    """'/api/unsubscribe/status/{email}' compiled to a regular expression over the raw path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.variables: tuple[_Variable, ...]
        self.literal: bytes | None  # the whole path when the template has no variables or wildcards
        pattern, variables, literal = _compile(text)
        self.variables = tuple(variables)
        self.literal = literal.encode() if literal is not None else None
        self._regex = re.compile(pattern.encode())

    @property
    def field_paths(self) -> tuple[str, ...]:
        return tuple(v.field for v in self.variables)

    @property
    def openapi_path(self) -> str:
        """'/api/x/{name=**}' -> '/api/x/{name}' (OpenAPI has no wildcards)."""
        return re.sub(r"\{([^}=]+)(?:=[^}]*)?\}", r"{\1}", self.text)

    def match(self, raw_path: bytes) -> dict[str, str] | None:
        """The unescaped variables when `raw_path` matches; raises InvalidPathVariable."""
        if self.literal is not None:
            return {} if raw_path == self.literal else None
        found = self._regex.match(raw_path)
        if found is None:
            return None
        values = {}
        for index, variable in enumerate(self.variables):
            raw = found.group(f"v{index}")
            if variable.multi_segment:
                # Reserved expansion: a '/' that was encoded stays encoded.
                raw = raw.replace(b"%2F", b"%252F").replace(b"%2f", b"%252f")
            try:
                values[variable.field] = unquote_to_bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidPathVariable(variable.field) from None
        return values


def _compile(text: str) -> tuple[str, list[_Variable], str | None]:
    if not text.startswith("/"):
        raise TemplateError(f"{text!r}: a path template starts with '/'")
    body, verb = text[1:], ""
    last = body.rsplit("/", 1)[-1]
    if ":" in last and "}" not in last.split(":", 1)[1]:
        body, verb = body[: len(body) - len(last)] + last.split(":", 1)[0], ":" + last.split(":", 1)[1]
    segments = _split_segments(text, body)
    parts: list[str] = []
    variables: list[_Variable] = []
    for position, segment in enumerate(segments):
        last_segment = position == len(segments) - 1
        if segment.startswith("{"):
            inner = segment[1:-1]
            field, _, sub = inner.partition("=")
            if not _FIELD_PATH.match(field):
                raise TemplateError(f"{text!r}: {field!r} is not a field path")
            sub_segments = sub.split("/") if sub else ["*"]
            sub_pattern = "/".join(_segment_pattern(text, s, last_segment) for s in sub_segments)
            multi = len(sub_segments) > 1 or "**" in sub_segments
            parts.append(f"(?P<v{len(variables)}>{sub_pattern})")
            variables.append(_Variable(field, multi))
        else:
            parts.append(_segment_pattern(text, segment, last_segment))
    if verb and not _LITERAL.match(verb[1:]):
        raise TemplateError(f"{text!r}: {verb!r} is not a literal verb")
    pattern = "/" + "/".join(parts) + re.escape(verb)
    literal = None
    if not variables and "*" not in body:
        literal = text
    return f"^{pattern}$", variables, literal


def _split_segments(text: str, body: str) -> list[str]:
    """Splits on '/' outside braces."""
    segments, depth, current = [], 0, ""
    for char in body:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if depth not in (0, 1):
            raise TemplateError(f"{text!r}: unbalanced braces")
        if char == "/" and depth == 0:
            segments.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise TemplateError(f"{text!r}: unbalanced braces")
    segments.append(current)
    if any(not s for s in segments):
        raise TemplateError(f"{text!r}: empty path segment")
    return segments


def _segment_pattern(text: str, segment: str, last_segment: bool) -> str:
    if segment == "*":
        return "[^/]+"
    if segment == "**":
        if not last_segment:
            raise TemplateError(f"{text!r}: '**' must be the last segment")
        return ".+"
    if not _LITERAL.match(segment):
        raise TemplateError(f"{text!r}: {segment!r} is not a literal segment")
    return re.escape(segment)


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    target: T
    template: PathTemplate
    variables: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


class RouteTable(Generic[T]):
    """(HTTP method, path template) -> target. Literal paths win over templated ones."""

    def __init__(self, entries: Iterable[tuple[str, str, T]]) -> None:
        self._literal: dict[bytes, tuple[PathTemplate, dict[str, T]]] = {}
        self._templated: list[tuple[PathTemplate, dict[str, T]]] = []
        by_text: dict[str, tuple[PathTemplate, dict[str, T]]] = {}
        for method, text, target in entries:
            if text not in by_text:
                template = PathTemplate(text)
                by_text[text] = (template, {})
                if template.literal is not None:
                    self._literal[template.literal] = by_text[text]
                else:
                    self._templated.append(by_text[text])
            methods = by_text[text][1]
            if method in methods:
                raise TemplateError(f"{method} {text} is declared twice")
            methods[method] = target
        self.templates = tuple(template for template, _ in by_text.values())

    def entries(self) -> list[tuple[str, PathTemplate, T]]:
        found = [(m, t, target) for t, methods in self._literal.values() for m, target in methods.items()]
        found += [(m, t, target) for t, methods in self._templated for m, target in methods.items()]
        return found

    def match(self, method: str, raw_path: bytes) -> RouteMatch[T] | MethodNotAllowed | None:
        """The route for `method` and `raw_path`; MethodNotAllowed when only the method is wrong; None
        when no route has this path. Raises InvalidPathVariable."""
        literal = self._literal.get(raw_path)
        if literal is not None:
            template, methods = literal
            target = methods.get(method)
            if target is None:
                return MethodNotAllowed(tuple(methods))
            return RouteMatch(target, template, {})
        allowed: list[str] = []
        for template, methods in self._templated:
            variables = template.match(raw_path)
            if variables is None:
                continue
            target = methods.get(method)
            if target is not None:
                return RouteMatch(target, template, variables)
            allowed.extend(m for m in methods if m not in allowed)
        return MethodNotAllowed(tuple(allowed)) if allowed else None
