"""Policy documents: strict parsing of statements and principals into immutable matchers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from ssooidc.services.iam_policy.conditions import _Cond, _parse_conditions
from ssooidc.services.iam_policy.context import MalformedPolicy, PolicyKind, RequestContext
from ssooidc.services.iam_policy.patterns import _Arn, _arn, _source

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
