"""The request as policies see it, and the outcome of an evaluation."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
