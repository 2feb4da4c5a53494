"""Condition blocks: operators, their value families, IfExists and set qualifiers."""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ssooidc.services.iam_policy.context import MalformedPolicy, _Cmp, _Look, _Test
from ssooidc.services.iam_policy.patterns import (
    _arn,
    _constant,
    _glob,
    _has_var,
    _resolve_text,
    _template,
)

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
