"""The purge of expired rows on a real store, SQLite and PostgreSQL: what has expired goes,
what a live family, a reuse check or an "expired" answer still needs stays, in small batches."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import Table, event, insert, select

from ssooidc.api.sts import EXPIRED_SESSION_GRACE
from ssooidc.services import client_tokens, devices
from ssooidc.services.clock import FrozenClock
from ssooidc.services.purge import (
    KEEP_EXPIRED,
    SKEW,
    SWEEPS,
    PurgeJob,
    PurgeReport,
    purge_expired,
)
from ssooidc.store import tables as t
from ssooidc.store.engine import Store
from tests import stores

NOW = 1_900_000_000.0
HOUR = 3600.0
DAY = 24 * HOUR
USER = "u-1"
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: the test never depends on whether the test
    process's main thread already runs an event loop (a browser test's may)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'purge.db'}"
    else:
        try:
            stores.check_postgres()
        except psycopg.Error:
            if os.environ.get("CI") == "true":
                raise
            pytest.skip("no PostgreSQL server answers")
        url = stores.new_postgres_database()
    s = Store(url)
    s.migrate()
    with s.write_sync() as conn:
        conn.execute(
            insert(t.identity_users).values(
                user_id=USER,
                identity_store_id="d-1",
                user_name="alice",
                status="ENABLED",
                document={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
    try:
        yield s
    finally:
        s.dispose()
        stores.release(url)


def add(store: Store, table: Table, *rows: dict[str, Any]) -> None:
    with store.write_sync() as conn:
        conn.execute(insert(table), list(rows))


def keys(store: Store, table: Table, column: str) -> set[Any]:
    with store.read() as conn:
        return set(conn.execute(select(table.c[column])).scalars())


def family(family_id: str, expires_at: float) -> dict[str, Any]:
    return {
        "family_id": family_id,
        "application_arn": "app",
        "user_id": USER,
        "origin": "jwt_bearer",
        "issuer_arn": None,
        "auth_time": expires_at - 8 * HOUR,
        "expires_at": expires_at,
    }


def token(name: str, kind: str, family_id: str, expires_at: float, **extra: Any) -> dict[str, Any]:
    return {
        "token_hash": name.encode(),
        "kind": kind,
        "family_id": family_id,
        "application_arn": "app",
        "scopes": "openid",
        "issued_at": expires_at - HOUR,
        "expires_at": expires_at,
        "consumed_at": extra.get("consumed_at"),
    }


def code(name: str, expires_at: float, *, family_id: str | None = None) -> dict[str, Any]:
    return {
        "code_hash": name.encode(),
        "client_id": "app",
        "redirect_uri": "https://app.example.com/cb",
        "user_id": USER,
        "scopes": "openid",
        "code_challenge": None,
        "code_challenge_method": None,
        "auth_time": expires_at - 300,
        "expires_at": expires_at,
        "consumed_at": None if family_id is None else expires_at - 200,
        "family_id": family_id,
    }


def test_tokens_families_and_codes_go_when_nothing_needs_them(store: Store) -> None:
    add(
        store,
        t.token_families,
        family("live", NOW + 4 * HOUR),
        family("ended-hours-ago", NOW - 2 * HOUR),
        family("ended-days-ago", NOW - 2 * DAY),
    )
    add(
        store,
        t.tokens,
        token("access-expired", "access", "live", NOW - SKEW - 60),
        token("access-just-expired", "access", "live", NOW - 60),  # within the clock skew
        token("access-live", "access", "live", NOW + HOUR),
        # A rotated refresh token of a live family: needed to detect its reuse.
        token("refresh-rotated", "refresh", "live", NOW + 4 * HOUR, consumed_at=NOW - HOUR),
        token("refresh-live", "refresh", "live", NOW + 4 * HOUR),
        # A family that ended lately still answers ExpiredTokenException.
        token("refresh-ended", "refresh", "ended-hours-ago", NOW - 2 * HOUR),
        token("refresh-old", "refresh", "ended-days-ago", NOW - 2 * DAY),
        token("access-old", "access", "ended-days-ago", NOW - 2 * DAY - HOUR),
    )
    add(
        store,
        t.authorization_codes,
        code("unused-expired", NOW - SKEW - 60),
        code("unused-live", NOW + 200),
        # Used codes stay while the family their redemption started is kept: a second
        # redemption must still revoke it.
        code("used-family-kept", NOW - 3 * HOUR, family_id="ended-hours-ago"),
        code("used-family-live", NOW - 3 * HOUR, family_id="live"),
        code("used-family-gone", NOW - 3 * DAY, family_id="ended-days-ago"),
        code("used-family-never-stored", NOW - 3 * DAY, family_id="no-such-family"),
    )

    report = purge_expired(store, NOW)

    assert keys(store, t.tokens, "token_hash") == {
        b"access-just-expired",
        b"access-live",
        b"refresh-rotated",
        b"refresh-live",
        b"refresh-ended",
    }
    assert keys(store, t.token_families, "family_id") == {"live", "ended-hours-ago"}
    assert keys(store, t.authorization_codes, "code_hash") == {
        b"unused-live",
        b"used-family-kept",
        b"used-family-live",
    }
    assert report.removed["tokens"] == 3
    assert report.removed["token_families"] == 1
    assert report.removed["authorization_codes"] == 3
    assert report.total == 7
    # Idempotent: a second purge (another worker's, say) finds nothing more.
    assert purge_expired(store, NOW).total == 0


def test_credentials_that_answer_expired_for_a_day_stay_that_day(store: Store) -> None:
    add(
        store,
        t.assertion_replay,
        {"issuer": "https://idp", "jti": "old", "expires_at": NOW - SKEW - 1},
        {"issuer": "https://idp", "jti": "live", "expires_at": NOW + 60},
    )
    device = {
        "client_id": "c",
        "scopes": "",
        "status": "pending",
        "interval": 1,
    }
    add(
        store,
        t.device_authorizations,
        {
            **device,
            "device_code_hash": b"d-old",
            "user_code": "BCDFGHJK",
            "created_at": NOW - 2 * DAY,
            "expires_at": NOW - 2 * DAY + 600,
        },
        {
            **device,
            "device_code_hash": b"d-recent",
            "user_code": "BCDFGHJL",
            "created_at": NOW - HOUR,
            "expires_at": NOW - HOUR + 600,
        },
    )
    client = {
        "secret_hash": b"h",
        "client_name": "cli",
        "client_type": "public",
        "scopes": [],
        "redirect_uris": [],
        "grant_types": [],
        "issued_at": NOW - 100 * DAY,
    }
    add(
        store,
        t.oidc_clients,
        {**client, "client_id": "c-old", "secret_expires_at": NOW - 2 * DAY},
        {**client, "client_id": "c-recent", "secret_expires_at": NOW - HOUR},
        {**client, "client_id": "c-live", "secret_expires_at": NOW + DAY},
    )
    add(
        store,
        t.browser_sessions,
        {
            "session_hash": b"s-old",
            "user_id": USER,
            "auth_time": NOW - DAY,
            "expires_at": NOW - SKEW - 1,
        },
        {"session_hash": b"s-live", "user_id": USER, "auth_time": NOW, "expires_at": NOW + HOUR},
    )
    session = {"token_hash": b"h", "secret_enc": b"e", "role_arn": "r", "session_name": "s"}
    add(
        store,
        t.iam_sessions,
        {
            **session,
            "access_key_id": "ASIAOLD",
            "created_at": NOW - 3 * DAY,
            "expires_at": NOW - 2 * DAY,
        },
        {
            **session,
            "access_key_id": "ASIARECENT",
            "created_at": NOW - 2 * HOUR,
            "expires_at": NOW - HOUR,
        },
    )
    idem = {"request_digest": "x", "response": {}}
    add(
        store,
        t.client_tokens,
        {**idem, "operation": "CreateApplication", "token": "old", "created_at": NOW - 2 * DAY},
        {**idem, "operation": "CreateApplication", "token": "new", "created_at": NOW - HOUR},
    )

    purge_expired(store, NOW)

    assert keys(store, t.assertion_replay, "jti") == {"live"}
    assert keys(store, t.device_authorizations, "device_code_hash") == {b"d-recent"}
    assert keys(store, t.oidc_clients, "client_id") == {"c-recent", "c-live"}
    assert keys(store, t.browser_sessions, "session_hash") == {b"s-live"}
    assert keys(store, t.iam_sessions, "access_key_id") == {"ASIARECENT"}
    assert keys(store, t.client_tokens, "token") == {"new"}


def test_the_retentions_are_the_ones_the_other_rules_promise() -> None:
    assert KEEP_EXPIRED == EXPIRED_SESSION_GRACE == devices.KEEP_EXPIRED
    by_table = {s.name: s for s in SWEEPS}
    assert by_table["client_tokens"].keep >= client_tokens.TOKEN_LIFETIME
    assert by_table["iam_sessions"].keep >= EXPIRED_SESSION_GRACE
    assert by_table["device_authorizations"].keep >= devices.KEEP_EXPIRED
    assert by_table["token_families"].keep >= KEEP_EXPIRED
    # Every table that holds expiring credentials is swept.
    assert set(by_table) >= {
        "tokens",
        "token_families",
        "authorization_codes",
        "assertion_replay",
        "device_authorizations",
        "oidc_clients",
        "browser_sessions",
        "iam_sessions",
        "client_tokens",
    }


def test_many_rows_go_in_small_batches(store: Store) -> None:
    count = 1234
    add(
        store,
        t.assertion_replay,
        *(
            {"issuer": "https://idp", "jti": f"j{i}", "expires_at": NOW - HOUR - i}
            for i in range(count)
        ),
        {"issuer": "https://idp", "jti": "live", "expires_at": NOW + HOUR},
    )
    rests: list[float] = []
    deleted: list[int] = []

    def on_statement(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deleted.append(cursor.rowcount)

    event.listen(store.engine, "after_cursor_execute", on_statement)
    try:
        report = purge_expired(store, NOW, batch=100, rest=rests.append, sweeps=(SWEEPS[3],))
    finally:
        event.remove(store.engine, "after_cursor_execute", on_statement)
    assert report.removed == {"assertion_replay": count}
    assert keys(store, t.assertion_replay, "jti") == {"live"}
    assert max(deleted) == 100 and sum(deleted) == count
    assert len(deleted) == 13  # twelve full batches and the rest
    assert len(rests) == 12 and all(r > 0 for r in rests)


def test_a_stopped_purge_ends_between_batches(store: Store) -> None:
    add(
        store,
        t.assertion_replay,
        *({"issuer": "i", "jti": f"j{i}", "expires_at": NOW - HOUR - i} for i in range(30)),
    )
    stop = threading.Event()
    report = purge_expired(store, NOW, batch=10, stop=stop, rest=lambda _s: stop.set())
    assert report.removed["assertion_replay"] == 10
    assert len(keys(store, t.assertion_replay, "jti")) == 20


def test_the_purge_job_runs_on_a_thread_with_the_clock_s_time(store: Store) -> None:
    add(
        store,
        t.assertion_replay,
        {"issuer": "i", "jti": "old", "expires_at": NOW - HOUR},
        {"issuer": "i", "jti": "later", "expires_at": NOW + HOUR},
    )
    clock = FrozenClock(NOW)
    job = PurgeJob(store, clock)
    seen: list[int] = []
    real = store.read

    def read() -> Any:
        seen.append(threading.get_ident())
        return real()

    async def purge() -> PurgeReport:
        """The job, checking that its reads ran on another thread than the event loop's."""
        seen.clear()
        report = await job()
        assert seen and threading.get_ident() not in seen
        return report

    store.read = read  # type: ignore[method-assign]
    try:
        assert run(purge()).removed["assertion_replay"] == 1
        clock.advance(2 * HOUR + SKEW)
        assert run(purge()).removed["assertion_replay"] == 1
    finally:
        store.read = real  # type: ignore[method-assign]
    assert keys(store, t.assertion_replay, "jti") == set()
