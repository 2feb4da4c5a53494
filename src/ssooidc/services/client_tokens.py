"""ClientToken idempotency: a retried Create* with the same token and the same members gets the
first answer again; the same token with other members is refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from ssooidc.errors import Conflict
from ssooidc.store import tables as t

#: How long a token is remembered [decide: AWS does not publish the window for sso-admin].
TOKEN_LIFETIME = 24 * 3600


def recall(
    conn: Connection, operation: str, token: str, digest: str, now: float
) -> dict[str, Any] | None:
    """The stored answer to an earlier request with this token (within its lifetime), or None.

    AWS documents the mismatch as an IdempotentParameterMismatch error, a shape the sso-admin
    model does not have; ssooidc answers the model's ConflictException, naming it."""
    table = t.client_tokens
    row = conn.execute(
        select(table.c.request_digest, table.c.response).where(
            table.c.operation == operation,
            table.c.token == token,
            table.c.created_at >= now - TOKEN_LIFETIME,
        )
    ).first()
    if row is None:
        return None
    if row.request_digest != digest:
        raise Conflict(
            f"IdempotentParameterMismatch: ClientToken {token} was used with other parameters"
        )
    return dict(row.response)


def remember(
    conn: Connection,
    operation: str,
    token: str,
    digest: str,
    response: dict[str, Any],
    now: float,
) -> None:
    """Store the answer for retries, and forget tokens older than the lifetime."""
    table = t.client_tokens
    conn.execute(delete(table).where(table.c.created_at < now - TOKEN_LIFETIME))
    conn.execute(
        insert(table).values(
            operation=operation,
            token=token,
            request_digest=digest,
            response=response,
            created_at=now,
        )
    )
