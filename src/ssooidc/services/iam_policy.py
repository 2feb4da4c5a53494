"""IAM policy documents: strict parsing into immutable matchers, and evaluation as IAM does it."""

from __future__ import annotations

import enum
import ipaddress
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

PolicyKind = Literal["identity", "resource"]
_Look = Mapping[str, tuple[str, ...]]
_Test = Callable[[str, _Look], bool]
_Cmp = Callable[[float, float], bool]


class MalformedPolicy(ValueError):
    """A policy document IAM would refuse; the message says what is wrong."""


class Decision(enum.Enum):
    """The outcome of an evaluation."""

    ALLOW = "allow"
    DENY = "deny"
    IMPLICIT_DENY = "implicit_deny"


@dataclass(frozen=True)
class RequestContext:
    """One request as policies see it; condition key names are case-insensitive."""

    principal_arn: str
    account: str
    action: str
    resource: str
    role_arn: str | None = None
    keys: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    resource_account: str | None = None
    _look: _Look = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index the condition keys by lower-cased name, defaulting the principal keys."""
        look: dict[str, tuple[str, ...]] = {
            "aws:principalarn": (self.role_arn or self.principal_arn,),
            "aws:principalaccount": (self.account,),
        }
        for name, value in self.keys.items():
            values = (value,) if isinstance(value, str) else tuple(value)
            if values:
                look[name.lower()] = values
            else:
                look.pop(name.lower(), None)
        object.__setattr__(self, "_look", look)


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

_SET_OPS: dict[str, Literal["any", "all"]] = {"ForAnyValue": "any", "ForAllValues": "all"}
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")
_KEY_RE = re.compile(r"[^\s:]+:\S+")
_CMPS: dict[str, _Cmp] = {
    "Equals": operator.eq,
    "NotEquals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}
# operator name -> (family, negated, comparison)
_OPS: dict[str, tuple[str, bool, _Cmp]] = {
    "StringEquals": ("str", False, operator.eq),
    "StringNotEquals": ("str", True, operator.eq),
    "StringEqualsIgnoreCase": ("stri", False, operator.eq),
    "StringNotEqualsIgnoreCase": ("stri", True, operator.eq),
    "StringLike": ("like", False, operator.eq),
    "StringNotLike": ("like", True, operator.eq),
    "ArnEquals": ("arn", False, operator.eq),
    "ArnLike": ("arn", False, operator.eq),
    "ArnNotEquals": ("arn", True, operator.eq),
    "ArnNotLike": ("arn", True, operator.eq),
    "Bool": ("bool", False, operator.eq),
    "BinaryEquals": ("bin", False, operator.eq),
    "IpAddress": ("ip", False, operator.eq),
    "NotIpAddress": ("ip", True, operator.eq),
    **{f"Numeric{k}": ("num", k == "NotEquals", c) for k, c in _CMPS.items()},
    **{f"Date{k}": ("date", k == "NotEquals", c) for k, c in _CMPS.items()},
}


def _number(text: str) -> float | None:
    if _NUM_RE.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _date(text: str) -> float | None:
    """Seconds since the epoch from ISO 8601 or epoch text; naive times are UTC."""
    if _NUM_RE.fullmatch(text) is not None:
        return _number(text)
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


def _parse_all(
    values: Sequence[str], parse: Callable[[str], float | None], where: str
) -> list[float]:
    out: list[float] = []
    for v in values:
        if (n := parse(v)) is None:
            raise MalformedPolicy(f"{where} has an invalid value {v!r}")
        out.append(n)
    return out


def _build_test(family: str, cmp: _Cmp, values: Sequence[str], var: bool, where: str) -> _Test:
    """The positive test of one operator against one key's policy values (OR across values)."""
    if family in ("str", "stri", "bin"):
        fold = family == "stri"
        tmpls = [_template(v, var and family != "bin", where) for v in values]
        if not any(_has_var(t) for t in tmpls):
            consts = frozenset(_constant(t).casefold() if fold else _constant(t) for t in tmpls)
            return lambda v, _: (v.casefold() if fold else v) in consts

        def test(v: str, look: _Look) -> bool:
            x = v.casefold() if fold else v
            for t in tmpls:
                r = _resolve_text(t, look)
                if r is not None and (r.casefold() if fold else r) == x:
                    return True
            return False

        return test
    if family == "like":
        globs = [_glob(_template(v, var, where)) for v in values]
        return lambda v, look: any(g.match(v, look) for g in globs)
    if family == "arn":
        arns = [_arn(v, var, where) for v in values]
        return lambda v, look: any(a.match(v, look) for a in arns)
    if family in ("num", "date"):
        parse = _number if family == "num" else _date
        bounds = _parse_all(values, parse, where)

        def compare(v: str, _: _Look) -> bool:
            x = parse(v)
            return x is not None and any(cmp(x, b) for b in bounds)

        return compare
    if family == "bool":
        flags = frozenset(v.lower() for v in values)
        if not flags <= {"true", "false"}:
            raise MalformedPolicy(f"{where} must be true or false")
        return lambda v, _: v.lower() in flags
    try:
        nets = [ipaddress.ip_network(v, strict=False) for v in values]
    except ValueError:
        raise MalformedPolicy(f"{where} must be IP addresses or CIDR ranges") from None

    def in_nets(v: str, _: _Look) -> bool:
        try:
            address = ipaddress.ip_address(v)
        except ValueError:
            return False
        return any(address in n for n in nets)

    return in_nets


@dataclass(frozen=True, slots=True)
class _Cond:
    key: str
    set_op: Literal["", "any", "all"]
    if_exists: bool
    negated: bool
    null: frozenset[bool] | None
    test: _Test

    def holds(self, look: _Look) -> bool:
        """IAM's reading: missing keys, IfExists, Null, set operators, negation as NOR."""
        values = look.get(self.key)
        if self.null is not None:
            return (values is None) in self.null
        if values is None:
            if self.if_exists or self.set_op == "all":
                return True
            return self.negated and self.set_op == ""
        if self.set_op == "all":
            return all(self.test(v, look) != self.negated for v in values)
        if self.set_op == "any":
            return any(self.test(v, look) != self.negated for v in values)
        return any(self.test(v, look) for v in values) != self.negated


def _scalars(value: object, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise MalformedPolicy(f"{where} must not be an empty list")
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, int):
            try:
                out.append(str(item))
            except ValueError:
                raise MalformedPolicy(f"{where} has a number too large") from None
        elif isinstance(item, float) and math.isfinite(item):
            out.append(str(item))
        else:
            raise MalformedPolicy(f"{where} values must be strings, numbers or booleans")
    return out


def _parse_conditions(raw: object, where: str, var: bool) -> tuple[_Cond, ...]:
    if not isinstance(raw, dict):
        raise MalformedPolicy(f"{where} must be an object")
    conds: list[_Cond] = []
    for name, block in raw.items():
        if not isinstance(name, str):
            raise MalformedPolicy(f"{where} has a non-string operator")
        prefix, _, base = name.rpartition(":")
        set_op = _SET_OPS.get(prefix) if prefix else ""
        if_exists = base.endswith("IfExists")
        base = base.removesuffix("IfExists")
        null_ok = base == "Null" and not (set_op or if_exists)
        if set_op is None or not (base in _OPS or null_ok):
            raise MalformedPolicy(f"{where} has an unknown condition operator {name!r}")
        if not isinstance(block, dict) or not block:
            raise MalformedPolicy(f"{where}.{name} must be a non-empty object")
        for key, value in block.items():
            if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None:
                raise MalformedPolicy(f"{where}.{name} has an invalid condition key {key!r}")
            at = f"{where}.{name}.{key}"
            values = _scalars(value, at)
            if base == "Null":
                flags = {v.lower() for v in values}
                if not flags <= {"true", "false"}:
                    raise MalformedPolicy(f"{at} must be true or false")
                null = frozenset(f == "true" for f in flags)
                conds.append(_Cond(key.lower(), "", False, False, null, lambda v, _: False))
                continue
            family, negated, cmp = _OPS[base]
            test = _build_test(family, cmp, values, var, at)
            conds.append(_Cond(key.lower(), set_op, if_exists, negated, None, test))
    return tuple(conds)


# Principals, statements, policies.

_ACCOUNT_RE = re.compile(r"\d{12}")
_ROOT_RE = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root")
_PRINCIPAL_ARN_RE = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::\d{12}:[^*?\s]+")
_ACTION_RE = re.compile(r"\*|[A-Za-z0-9*?-]+:\S+")
_PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction"}
    | {"Resource", "NotResource", "Condition"}
)
_VERSIONS = ("2012-10-17", "2008-10-17")


@dataclass(frozen=True, slots=True)
class _Principals:
    wildcard: bool
    accounts: frozenset[str]
    arns: frozenset[str]

    def match(self, ctx: RequestContext) -> Literal["direct", "account"] | None:
        """How the caller is named: directly (ARN, its role, or "*"), by account, or not."""
        if self.wildcard or ctx.principal_arn in self.arns:
            return "direct"
        if ctx.role_arn is not None and ctx.role_arn in self.arns:
            return "direct"
        return "account" if ctx.account in self.accounts else None


def _strings(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        strings = [v for v in value if isinstance(v, str)]
        if len(strings) == len(value):
            return strings
    raise MalformedPolicy(f"{where} must be a string or a non-empty list of strings")


def _parse_principals(value: object, where: str) -> _Principals:
    if value == "*":
        return _Principals(True, frozenset(), frozenset())
    if not isinstance(value, dict) or not value:
        raise MalformedPolicy(f'{where} must be "*" or a non-empty object')
    wildcard, accounts, arns = False, set[str](), set[str]()
    for kind, names in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise MalformedPolicy(f"{where} has an unknown principal type {kind!r}")
        for name in _strings(names, f"{where}.{kind}"):
            if kind != "AWS":
                continue
            if name == "*":
                wildcard = True
            elif _ACCOUNT_RE.fullmatch(name):
                accounts.add(name)
            elif m := _ROOT_RE.fullmatch(name):
                accounts.add(m.group(1))
            elif _PRINCIPAL_ARN_RE.fullmatch(name):
                arns.add(name)
            else:
                raise MalformedPolicy(f"{where}.AWS has an invalid principal {name!r}")
    return _Principals(wildcard, frozenset(accounts), frozenset(arns))


@dataclass(frozen=True, slots=True)
class _Statement:
    allow: bool
    actions: re.Pattern[str]
    not_action: bool
    resources: tuple[_Arn, ...] | None
    not_resource: bool
    principals: _Principals | None
    not_principal: bool
    conditions: tuple[_Cond, ...]

    def matches(self, ctx: RequestContext) -> bool:
        """Action, resource and conditions all match (the principal is checked apart)."""
        if (self.actions.fullmatch(ctx.action) is not None) == self.not_action:
            return False
        look = ctx._look
        if self.resources is not None:
            hit = any(r.match(ctx.resource, look) for r in self.resources)
            if hit == self.not_resource:
                return False
        return all(c.holds(look) for c in self.conditions)

    def principal(self, ctx: RequestContext) -> Literal["direct", "account"] | None:
        """How this statement's Principal or NotPrincipal names the caller."""
        if self.principals is None:
            return None
        named = self.principals.match(ctx)
        if self.not_principal:
            return None if named else "direct"
        return named


def _one_of(raw: dict[str, object], name: str, where: str) -> tuple[object, bool] | None:
    present = [k for k in (name, f"Not{name}") if k in raw]
    if len(present) > 1:
        raise MalformedPolicy(f"{where} must not have both {name} and Not{name}")
    return (raw[present[0]], present[0] != name) if present else None


def _parse_statement(raw: object, where: str, kind: PolicyKind, var: bool) -> _Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicy(f"{where} must be an object")
    for key in raw:
        if key not in _STATEMENT_KEYS:
            raise MalformedPolicy(f"{where} has an unknown element {key!r}")
    if "Sid" in raw and not isinstance(raw["Sid"], str):
        raise MalformedPolicy(f"{where}.Sid must be a string")
    if raw.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicy(f"{where}.Effect must be Allow or Deny")
    if (action := _one_of(raw, "Action", where)) is None:
        raise MalformedPolicy(f"{where} must have Action or NotAction")
    action_where = f"{where}.{'NotAction' if action[1] else 'Action'}"
    patterns = _strings(action[0], action_where)
    for p in patterns:
        if _ACTION_RE.fullmatch(p) is None:
            raise MalformedPolicy(f"{action_where} {p!r} must be * or service:action")
    source = "|".join(_source((p,), False) for p in patterns)
    actions = re.compile(f"(?:{source})", re.IGNORECASE | re.DOTALL)
    resources: tuple[_Arn, ...] | None = None
    not_resource = False
    if (resource := _one_of(raw, "Resource", where)) is not None:
        res_where = f"{where}.{'NotResource' if resource[1] else 'Resource'}"
        values = _strings(resource[0], res_where)
        for v in values:
            if v != "*" and not v.startswith("arn:"):
                raise MalformedPolicy(f"{res_where} {v!r} must be an ARN or *")
        resources = tuple(_arn(v, var, res_where) for v in values)
        not_resource = resource[1]
    elif kind == "identity":
        raise MalformedPolicy(f"{where} must have Resource or NotResource")
    principal = _one_of(raw, "Principal", where)
    if kind == "identity" and principal is not None:
        raise MalformedPolicy(f"{where} must not have Principal in an identity policy")
    if kind == "resource" and principal is None:
        raise MalformedPolicy(f"{where} must have Principal or NotPrincipal")
    principals, not_principal = None, False
    if principal is not None:
        p_where = f"{where}.{'NotPrincipal' if principal[1] else 'Principal'}"
        principals, not_principal = _parse_principals(principal[0], p_where), principal[1]
    conditions = (
        _parse_conditions(raw["Condition"], f"{where}.Condition", var) if "Condition" in raw else ()
    )
    return _Statement(
        allow=raw["Effect"] == "Allow",
        actions=actions,
        not_action=action[1],
        resources=resources,
        not_resource=not_resource,
        principals=principals,
        not_principal=not_principal,
        conditions=conditions,
    )


@dataclass(frozen=True)
class Policy:
    """A parsed, validated and immutable policy document."""

    kind: PolicyKind
    version: str | None
    statements: tuple[_Statement, ...] = field(repr=False)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedPolicy(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_policy(document: object, kind: PolicyKind = "identity") -> Policy:
    """Validate a policy (a dict or JSON text) strictly and compile it; MalformedPolicy if bad."""
    if kind not in ("identity", "resource"):
        raise ValueError(f"unknown policy kind {kind!r}")
    if isinstance(document, str):
        try:
            document = json.loads(document, object_pairs_hook=_no_duplicates)
        except MalformedPolicy:
            raise
        except (ValueError, RecursionError) as exc:
            raise MalformedPolicy(f"policy is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedPolicy("policy must be a JSON object")
    for key in document:
        if key not in ("Version", "Id", "Statement"):
            raise MalformedPolicy(f"policy has an unknown element {key!r}")
    version = document.get("Version")
    if "Version" in document and version not in _VERSIONS:
        raise MalformedPolicy("Version must be 2012-10-17 or 2008-10-17")
    if "Id" in document and not isinstance(document["Id"], str):
        raise MalformedPolicy("Id must be a string")
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise MalformedPolicy("Statement must be an object or a non-empty list of objects")
    var = version == "2012-10-17"
    statements = tuple(
        _parse_statement(s, f"Statement[{i}]", kind, var) for i, s in enumerate(items)
    )
    sids = [s["Sid"] for s in items if "Sid" in s]
    if len(sids) != len(set(sids)):
        raise MalformedPolicy("Statement Sid values must be unique")
    return Policy(kind, version if isinstance(version, str) else None, statements)


# Evaluation.


def _require(policy: Policy, kind: PolicyKind) -> None:
    if policy.kind != kind:
        raise ValueError(f"expected a {kind} policy, got a {policy.kind} policy")


def evaluate_identity(policies: Sequence[Policy], ctx: RequestContext) -> Decision:
    """Identity policies: any matching Deny denies, else any matching Allow allows."""
    allowed = False
    for policy in policies:
        _require(policy, "identity")
        for st in policy.statements:
            if st.matches(ctx):
                if not st.allow:
                    return Decision.DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def evaluate_resource(policy: Policy, ctx: RequestContext) -> tuple[Decision, bool]:
    """A resource policy: the decision, and whether the Allow named only the caller's account."""
    _require(policy, "resource")
    allowed = direct = False
    for st in policy.statements:
        named = st.principal(ctx)
        if named is None or not st.matches(ctx):
            continue
        if not st.allow:
            return Decision.DENY, False
        allowed = True
        direct = direct or named == "direct"
    if allowed:
        return Decision.ALLOW, not direct
    return Decision.IMPLICIT_DENY, False


def authorize_with_resource_policy(
    resource_policy: Policy | None, identity_policies: Sequence[Policy], ctx: RequestContext
) -> Decision:
    """Row 4: the resource policy must name the caller; any explicit Deny wins."""
    # A "*" principal names the caller directly, as a user or role ARN does; naming the
    # account (or a caller from another account than the resource's) also needs an identity Allow.
    if resource_policy is None:
        return Decision.IMPLICIT_DENY
    identity = evaluate_identity(identity_policies, ctx)
    resource, via_account = evaluate_resource(resource_policy, ctx)
    if Decision.DENY in (identity, resource):
        return Decision.DENY
    if resource is not Decision.ALLOW:
        return Decision.IMPLICIT_DENY
    cross_account = ctx.resource_account is not None and ctx.resource_account != ctx.account
    if (via_account or cross_account) and identity is not Decision.ALLOW:
        return Decision.IMPLICIT_DENY
    return Decision.ALLOW
