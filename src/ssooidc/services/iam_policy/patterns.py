"""Policy variables, wildcard patterns and ARN matching."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ssooidc.services.iam_policy.context import MalformedPolicy, _Look

# Policy variables and wildcard patterns.


@dataclass(frozen=True, slots=True)
class _Var:
    key: str
    default: str | None


@dataclass(frozen=True, slots=True)
class _Lit:
    text: str


_Part = str | _Lit | _Var  # str: pattern text whose * and ? are wildcards
_VAR_RE = re.compile(r"\$\{([^}]*)\}")
_VAR_BODY_RE = re.compile(r"\s*([^\s,'${}]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")


class _W(enum.Enum):
    STAR = "*"
    ONE = "?"


def _template(text: str, variables: bool, where: str) -> tuple[_Part, ...]:
    """Split text into pattern text, literals and policy variables."""
    if not variables or "${" not in text:
        return (text,)
    parts: list[_Part] = []
    pos = 0
    for m in _VAR_RE.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        body = m.group(1)
        if body in ("*", "?", "$"):
            parts.append(_Lit(body))
        elif (b := _VAR_BODY_RE.fullmatch(body)) is not None:
            default = None if b.group(2) is None else b.group(2).replace("''", "'")
            parts.append(_Var(b.group(1).lower(), default))
        else:
            raise MalformedPolicy(f"{where} has a malformed policy variable ${{{body}}}")
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return tuple(parts)


def _has_var(parts: Sequence[_Part]) -> bool:
    return any(isinstance(p, _Var) for p in parts)


def _resolve(parts: Sequence[_Part], look: _Look) -> list[tuple[str, bool]] | None:
    """Substitute variables: (text, is_pattern) pieces, or None when a variable has no value."""
    out: list[tuple[str, bool]] = []
    for p in parts:
        if isinstance(p, str):
            out.append((p, True))
        elif isinstance(p, _Lit):
            out.append((p.text, False))
        else:
            values = look.get(p.key)
            if values is not None and len(values) == 1:
                out.append((values[0], False))
            elif p.default is not None:
                out.append((p.default, False))
            else:
                return None
    return out


def _resolve_text(parts: Sequence[_Part], look: _Look) -> str | None:
    pieces = _resolve(parts, look)
    return None if pieces is None else "".join(text for text, _ in pieces)


def _constant(parts: Sequence[_Part]) -> str:
    return "".join(p if isinstance(p, str) else p.text for p in parts if not isinstance(p, _Var))


def _source(parts: Sequence[_Part], colon_free: bool) -> str:
    """Regex source for a variable-free pattern; colon_free keeps wildcards inside one segment."""
    star, one = ("[^:]*", "[^:]") if colon_free else (".*", ".")
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.extend(star if c == "*" else one if c == "?" else re.escape(c) for c in p)
        elif isinstance(p, _Lit):
            out.append(re.escape(p.text))
    return "".join(out)


def _wild_match(pattern: Sequence[str | _W], text: str) -> bool:
    """Glob match without regex: * any run, ? one character."""
    p = i = 0
    star_p, star_i = -1, 0
    while i < len(text):
        if p < len(pattern):
            tok = pattern[p]
            if tok is _W.STAR:
                star_p, star_i = p, i
                p += 1
                continue
            if tok is _W.ONE or tok == text[i]:
                p += 1
                i += 1
                continue
        if star_p < 0:
            return False
        star_i += 1
        p, i = star_p + 1, star_i
    while p < len(pattern) and pattern[p] is _W.STAR:
        p += 1
    return p == len(pattern)


@dataclass(frozen=True, slots=True)
class _Glob:
    parts: tuple[_Part, ...]
    regex: re.Pattern[str] | None

    def match(self, text: str, look: _Look) -> bool:
        """Whether text matches, substituting variables from look."""
        if self.regex is not None:
            return self.regex.fullmatch(text) is not None
        pieces = _resolve(self.parts, look)
        if pieces is None:
            return False
        tokens: list[str | _W] = []
        for piece, is_pattern in pieces:
            if is_pattern:
                tokens.extend(_W.STAR if c == "*" else _W.ONE if c == "?" else c for c in piece)
            else:
                tokens.extend(piece)
        return _wild_match(tokens, text)


def _glob(parts: tuple[_Part, ...]) -> _Glob:
    if _has_var(parts):
        return _Glob(parts, None)
    return _Glob(parts, re.compile(_source(parts, False), re.DOTALL))


def _split_colons(parts: Sequence[_Part], maxsplit: int) -> list[tuple[_Part, ...]]:
    comps: list[list[_Part]] = [[]]
    for p in parts:
        while isinstance(p, str) and ":" in p and len(comps) <= maxsplit:
            head, p = p.split(":", 1)
            if head:
                comps[-1].append(head)
            comps.append([])
        if p:
            comps[-1].append(p)
    return [tuple(c) for c in comps]


@dataclass(frozen=True, slots=True)
class _Arn:
    regex: re.Pattern[str] | None
    comps: tuple[_Glob, ...]

    def match(self, text: str, look: _Look) -> bool:
        """ARN match segment by segment; the last pattern segment takes the rest."""
        if self.regex is not None:
            return self.regex.fullmatch(text) is not None
        pieces = text.split(":", len(self.comps) - 1)
        return len(pieces) == len(self.comps) and all(
            g.match(s, look) for g, s in zip(self.comps, pieces, strict=True)
        )


def _arn(text: str, variables: bool, where: str) -> _Arn:
    parts = _template(text, variables, where)
    comps = _split_colons(parts, 5)
    if _has_var(parts):
        return _Arn(None, tuple(_Glob(c, None) for c in comps))
    last = len(comps) - 1
    source = ":".join(_source(c, i < last) for i, c in enumerate(comps))
    return _Arn(re.compile(source, re.DOTALL), ())


# Conditions.
