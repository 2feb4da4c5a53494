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
    """Half the clients take new tokens by jwt-bearer and keep every answer; the other half
    rotate refresh tokens (writes in flight at the kill, which the torn-write checks look
    at; a refresh whose answer was lost consumed the token the client still holds, so those
    clients' tokens are not among the ones that must work)."""
    received: list[dict[str, str]] = []
    answered = 0
    lock = threading.Lock()
    stop = threading.Event()

    def issuer_client() -> None:
        nonlocal answered
        oidc = victim.oidc()
        while not stop.is_set():
            try:
                got = oidc.create_token_with_iam(
                    clientId=victim.apps["backend"],
                    grantType=JWT_BEARER,
                    assertion=victim.assertion(),
                )
            except Exception:
                continue  # the server is gone; retry until told to stop
            if "refreshToken" not in got or "accessToken" not in got:
                # an answer cut off by the kill: botocore returns what it could parse of it
                continue
            with lock:
                received.append({"refresh": got["refreshToken"], "access": got["accessToken"]})
                answered += 1

    def rotating_client() -> None:
        oidc = victim.oidc()
        refresh: str | None = None
        while not stop.is_set():
            try:
                if refresh is None:
                    got = oidc.create_token_with_iam(
                        clientId=victim.apps["backend"],
                        grantType=JWT_BEARER,
                        assertion=victim.assertion(),
                    )
                else:
                    got = oidc.create_token_with_iam(
                        clientId=victim.apps["backend"],
                        grantType="refresh_token",
                        refreshToken=refresh,
                    )
            except Exception:
                refresh = None  # maybe consumed by the lost request: start a new family
                continue
            refresh = got.get("refreshToken")  # None: an answer cut off by the kill

    threads = [threading.Thread(target=issuer_client) for _ in range(CLIENTS // 2)]
    threads += [threading.Thread(target=rotating_client) for _ in range(CLIENTS - CLIENTS // 2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while answered < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.server.stop(signal.SIGKILL) == -signal.SIGKILL
    stop.set()
    for thread in threads:
        thread.join()
    assert answered >= 150

    victim.server.start()
    assert_nothing_half_written(victim)
    oidc = victim.oidc()
    for tokens in received:
        # the access token is live: another application exchanges it ...
        exchanged = oidc.create_token_with_iam(
            clientId=victim.apps["reports"],
            grantType=TOKEN_EXCHANGE,
            subjectToken=tokens["access"],
            subjectTokenType=ACCESS_TYPE,
        )
        assert exchanged["accessToken"]
        # ... and the refresh token refreshes
        again = oidc.create_token_with_iam(
            clientId=victim.apps["backend"],
            grantType="refresh_token",
            refreshToken=tokens["refresh"],
        )
        assert again["accessToken"]


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
