"""NextToken / MaxResults over a stable ordering."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from ssooidc.errors import Validation

T = TypeVar("T")


def page(
    items: Sequence[T], body: dict[str, Any], *, default_max: int = 100
) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token of the next page, if there is one."""
    limit = body.get("MaxResults") or default_max
    start = _decode(body.get("NextToken"))
    chunk = list(items[start : start + limit])
    after = start + len(chunk)
    return chunk, (_encode(after) if after < len(items) else None)


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode(token: object) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(token)))["o"]
    except (ValueError, KeyError, TypeError):
        raise Validation("the NextToken is not valid") from None
    if not isinstance(offset, int) or offset < 0:
        raise Validation("the NextToken is not valid")
    return offset
