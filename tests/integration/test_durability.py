"""A ``serve`` process killed with SIGKILL under load and started again: every token a client
received before the kill still works, and nothing half-written remains in the store."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from ssooidc.testing.idp import TestIdentityProvider
from tests.integration.conftest import (
    ACCESS_TYPE,
    JWT_BEARER,
    TOKEN_EXCHANGE,
    Tenant,
    start_tenant_server,
    stop_tenant_server,
)

CLIENTS = 6


@pytest.fixture
def victim(tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider) -> Any:
    started = start_tenant_server(tmp_path_factory.mktemp("durability"), idp)
    yield started
    stop_tenant_server(started)


def test_tokens_received_before_a_sigkill_work_after_the_restart(victim: Tenant) -> None:
    held: dict[int, dict[str, str]] = {}  # per client: its newest tokens
    access_tokens: list[str] = []
    answered = 0
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        nonlocal answered
        oidc = victim.oidc()
        app = victim.apps["backend"]
        while not stop.is_set():
            try:
                mine = held.get(number)
                if mine is None:
                    got = oidc.create_token_with_iam(
                        clientId=app, grantType=JWT_BEARER, assertion=victim.assertion()
                    )
                else:
                    got = oidc.create_token_with_iam(
                        clientId=app, grantType="refresh_token", refreshToken=mine["refresh"]
                    )
            except Exception:
                if stop.is_set():
                    return
                continue  # the server is gone; this client retries until told to stop
            with lock:
                held[number] = {"refresh": got["refreshToken"], "access": got["accessToken"]}
                access_tokens.append(got["accessToken"])
                answered += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while answered < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.server.stop(signal.SIGKILL) == -signal.SIGKILL
    stop.set()
    for thread in threads:
        thread.join()
    assert answered >= 300

    victim.server.start()
    assert_nothing_half_written(victim)
    # every refresh token a client holds (the newest of its chain) refreshes once more
    for mine in held.values():
        again = victim.oidc().create_token_with_iam(
            clientId=victim.apps["backend"],
            grantType="refresh_token",
            refreshToken=mine["refresh"],
        )
        assert again["accessToken"]
    # every access token answered before the kill is live: another application exchanges it
    for token in access_tokens[-150:]:
        exchanged = victim.oidc().create_token_with_iam(
            clientId=victim.apps["reports"],
            grantType=TOKEN_EXCHANGE,
            subjectToken=token,
            subjectTokenType=ACCESS_TYPE,
        )
        assert exchanged["accessToken"]


def assert_nothing_half_written(tenant: Tenant) -> None:
    """Each issuance is one transaction: a family with its tokens, a consumed refresh token
    with its successor. Any of these queries finding rows would show a torn write."""
    checks = {
        "tokens without a family": """
            SELECT count(*) FROM tokens t
            WHERE NOT EXISTS (SELECT 1 FROM token_families f WHERE f.family_id = t.family_id)""",
        "families without tokens": """
            SELECT count(*) FROM token_families f
            WHERE NOT EXISTS (SELECT 1 FROM tokens t WHERE t.family_id = f.family_id)""",
        "families with two live refresh tokens": """
            SELECT count(*) FROM (
                SELECT family_id FROM tokens WHERE kind = 'refresh' AND consumed_at IS NULL
                GROUP BY family_id HAVING count(*) > 1) AS doubled""",
        "a consumed refresh token without a successor": """
            SELECT count(*) FROM token_families f
            WHERE f.revoked_at IS NULL
              AND EXISTS (SELECT 1 FROM tokens t WHERE t.family_id = f.family_id
                          AND t.kind = 'refresh' AND t.consumed_at IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.family_id = f.family_id
                              AND t.kind = 'refresh' AND t.consumed_at IS NULL)""",
    }
    with tenant.store.read() as conn:
        if tenant.store.is_sqlite:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        families = conn.execute(text("SELECT count(*) FROM token_families")).scalar()
        assert families and families >= CLIENTS
        for what, query in checks.items():
            assert conn.execute(text(query)).scalar() == 0, what
