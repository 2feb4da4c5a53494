"""The token path's reads and writes: families, tokens, codes, assertion replay markers, the
control-plane generation and user lookups. Plain SQL on the driver's cursor (see ``hot``)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection

from ssooidc.store.hot import HotStatements, Row
from ssooidc.store.steps import Result, Statement, Steps, drive

T = TypeVar("T")


@functools.cache
def _hot(dialect: str) -> HotStatements:
    return HotStatements(dialect)


def hot(conn: Connection) -> HotStatements:
    return _hot(conn.dialect.name)


def run_steps(conn: Connection, steps: Steps[T]) -> T:
    """A step work (``steps``) run to its end on ``conn``, statement by statement."""
    statements = hot(conn)
    return drive(steps, lambda statement: statements.execute(conn, statement))


def generation(conn: Connection) -> int:
    row = hot(conn).one(conn, "SELECT generation FROM state WHERE id = 1", ())
    assert row is not None, "the store has not been migrated"
    return int(row[0])


# -- families and tokens ------------------------------------------------------------------

FAMILY_COLUMNS = "family_id, application_arn, user_id, origin, issuer_arn, auth_time, expires_at"


INSERT_FAMILY = f"INSERT INTO token_families ({FAMILY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"


def insert_family(conn: Connection, values: Sequence[Any]) -> None:
    hot(conn).run(conn, INSERT_FAMILY, values)


def revoke_family(conn: Connection, family_id: str, now: float) -> None:
    hot(conn).run(
        conn,
        "UPDATE token_families SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        (now, family_id),
    )


def insert_tokens(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Rows of (token_hash, kind, family_id, application_arn, scopes, issued_at, expires_at),
    in one statement (an access and a refresh token: one round trip on PostgreSQL)."""
    hot(conn).run(conn, _insert_tokens_sql(len(rows)), [value for row in rows for value in row])


def _insert_tokens_sql(count: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * count)
    return (
        "INSERT INTO tokens (token_hash, kind, family_id, application_arn, scopes, issued_at, "
        f"expires_at) VALUES {values}"
    )


def find_token(conn: Connection, digest: bytes, kind: str) -> Row | None:
    """(kind, family_id, application_arn, scopes, issued_at, expires_at, consumed_at,
    family application_arn, user_id, origin, issuer_arn, auth_time, family expires_at,
    revoked_at) of the token with this hash."""
    return hot(conn).one(
        conn,
        "SELECT t.kind, t.family_id, t.application_arn, t.scopes, t.issued_at, t.expires_at, "
        "t.consumed_at, f.application_arn, f.user_id, f.origin, f.issuer_arn, f.auth_time, "
        "f.expires_at, f.revoked_at "
        "FROM tokens t JOIN token_families f ON f.family_id = t.family_id "
        "WHERE t.token_hash = ? AND t.kind = ?",
        (digest, kind),
    )


def consume_token(conn: Connection, digest: bytes, kind: str, now: float) -> bool:
    """Mark a token consumed: a conditional update that only one request can win."""
    return (
        hot(conn).run(
            conn,
            "UPDATE tokens SET consumed_at = ? WHERE token_hash = ? AND kind = ? AND consumed_at IS NULL",
            (now, digest, kind),
        )
        == 1
    )


def token_consumed_at(conn: Connection, digest: bytes) -> float | None:
    row = hot(conn).one(conn, "SELECT consumed_at FROM tokens WHERE token_hash = ?", (digest,))
    return None if row is None else row[0]


# -- authorization codes ------------------------------------------------------------------

CODE_COLUMNS = (
    "client_id, redirect_uri, user_id, scopes, code_challenge, code_challenge_method, "
    "auth_time, expires_at, consumed_at, family_id"
)


def insert_code(conn: Connection, digest: bytes, values: Sequence[Any]) -> None:
    """``values`` in CODE_COLUMNS order, up to expires_at."""
    hot(conn).run(
        conn,
        "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, user_id, scopes, "
        "code_challenge, code_challenge_method, auth_time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (digest, *values),
    )


def find_code(conn: Connection, digest: bytes) -> Row | None:
    return hot(conn).one(
        conn, f"SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = ?", (digest,)
    )


def consume_code(conn: Connection, digest: bytes, family_id: str, now: float) -> bool:
    return (
        hot(conn).run(
            conn,
            "UPDATE authorization_codes SET consumed_at = ?, family_id = ? "
            "WHERE code_hash = ? AND consumed_at IS NULL",
            (now, family_id, digest),
        )
        == 1
    )


# -- assertion replay ---------------------------------------------------------------------


REMEMBER_ASSERTION = (
    "INSERT INTO assertion_replay (issuer, jti, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (issuer, jti) DO NOTHING"
)


def start_family_once(
    sqlite: bool,
    marker: Sequence[Any],
    family: Sequence[Any],
    tokens: Sequence[Sequence[Any]],
) -> Steps[bool]:
    """The replay marker (issuer, jti, expires_at), then the family (``FAMILY_COLUMNS``) and
    its tokens (as ``insert_tokens`` without the family id), only when the marker is new:
    False, with nothing written, when (iss, jti) was recorded already. On PostgreSQL it is
    one statement, so a refusal leaves the transaction as it was."""
    if sqlite:
        recorded = yield Statement(REMEMBER_ASSERTION, marker)
        if recorded.rowcount != 1:
            return False
        family_id = family[0]
        yield Statement(INSERT_FAMILY, family)
        rows = [(t[0], t[1], family_id, *t[2:]) for t in tokens]
        yield Statement(_insert_tokens_sql(len(rows)), [v for row in rows for v in row])
        return True
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(tokens))
    sql = (
        "WITH r AS (INSERT INTO assertion_replay (issuer, jti, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (issuer, jti) DO NOTHING RETURNING 1), "
        f"f AS (INSERT INTO token_families ({FAMILY_COLUMNS}) "
        "SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM r) RETURNING family_id) "
        "INSERT INTO tokens (token_hash, kind, family_id, application_arn, scopes, issued_at, "
        "expires_at) SELECT v.h, v.k, f.family_id, v.a, v.s, v.i, v.e "
        f"FROM f CROSS JOIN (VALUES {values}) AS v (h, k, a, s, i, e)"
    )
    params = [*marker, *family, *(value for token in tokens for value in token)]
    written = yield Statement(sql, params)
    return written.rowcount == len(tokens)


def assertion_and_users(issuer: str, jti: str, path: str, value: str, limit: int) -> Statement:
    """Whether (iss, jti) was exchanged, and the enabled users whose attribute at ``path``
    is ``value``, in one read: rows of (seen, user_id, user_name, status), one row with a
    null user when there is none (``seen_and_users``)."""
    return Statement(
        "SELECT r.seen, u.user_id, u.user_name, u.status FROM (SELECT EXISTS "
        "(SELECT 1 FROM assertion_replay WHERE issuer = ? AND jti = ?) AS seen) r "
        f"LEFT JOIN ({ENABLED_USERS_WITH_ATTRIBUTE} LIMIT {int(limit)}) u ON 1 = 1",
        (issuer, jti, path, value),
    )


def seen_and_users(result: Result) -> tuple[bool, list[Row]]:
    seen = bool(result.rows and result.rows[0][0])
    return seen, [row[1:] for row in result.rows if row[1] is not None]


# -- identity store lookups ---------------------------------------------------------------

USER_COLUMNS = "u.user_id, u.user_name, u.status"
ENABLED_USERS_WITH_ATTRIBUTE = (
    f"SELECT {USER_COLUMNS} FROM identity_users u WHERE u.status = 'ENABLED' AND u.user_id IN "
    "(SELECT a.user_id FROM identity_user_attributes a WHERE a.path = ? AND a.value = ?)"
)


def user_statement(user_id: str) -> Statement:
    """The user (``USER_COLUMNS``) with this id."""
    return Statement(f"SELECT {USER_COLUMNS} FROM identity_users u WHERE u.user_id = ?", (user_id,))


def group_ids_statement(user_id: str) -> Statement:
    """The ids of the groups ``user_id`` is a member of, a row each."""
    return Statement("SELECT group_id FROM identity_memberships WHERE user_id = ?", (user_id,))


def user(conn: Connection, user_id: str) -> Row | None:
    return hot(conn).execute(conn, user_statement(user_id)).one()


def enabled_users_with_attribute(conn: Connection, path: str, value: str, limit: int) -> list[Row]:
    return hot(conn).all(conn, f"{ENABLED_USERS_WITH_ATTRIBUTE} LIMIT {int(limit)}", (path, value))


def group_ids_of(conn: Connection, user_id: str) -> set[str]:
    return {r[0] for r in hot(conn).execute(conn, group_ids_statement(user_id)).rows}
