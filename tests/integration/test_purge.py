"""The purge against real servers: two workers purging the same store in the background, a
refresh token reused after a purge still revoking its family, and ``ssooidc purge``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import ColumnElement, Table, func, insert, select

from ssooidc.services.at_rest import SecretBox
from ssooidc.services.purge import purge_expired
from ssooidc.store import tables as t
from ssooidc.store.engine import Store
from ssooidc.testing.idp import TestIdentityProvider
from tests import stores
from tests.integration.conftest import (
    Tenant,
    _with_instance_placeholder,
    jwt_claims,
    oidc_error,
    tenant,
)
from tests.integration.test_observability import metric
from tests.serverproc import ServerProcess

HOUR = 3600.0


@pytest.fixture(scope="module")
def purging(
    tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider
) -> Iterator[Tenant]:
    """A server of its own (the tests move its store's time), two workers each purging every
    second or so."""
    data_dir = tmp_path_factory.mktemp("ssooidc-purge")
    server = ServerProcess(
        data_dir,
        tenant=_with_instance_placeholder(tenant(idp.issuer_url)),
        env={"SSL_CERT_FILE": str(idp.ca_path)},
        extra_args=["--purge-interval", "1"],
        workers=2,
    ).start()
    store = Store(server.database_url)
    try:
        admin = server.client("sso-admin")
        instance = admin.list_instances()["Instances"][0]
        apps = {
            a["Name"]: a["ApplicationArn"]
            for a in admin.list_applications(InstanceArn=instance["InstanceArn"])["Applications"]
        }
        issuer_arn = admin.list_trusted_token_issuers(InstanceArn=instance["InstanceArn"])[
            "TrustedTokenIssuers"
        ][0]["TrustedTokenIssuerArn"]
        yield Tenant(
            server,
            idp,
            instance["InstanceArn"],
            apps,
            issuer_arn,
            store,
            SecretBox.load(data_dir / "at-rest.key", create=False),
            instance["IdentityStoreId"],
        )
    finally:
        store.dispose()
        server.stop()


def count(store: Store, table: Table, *where: ColumnElement[bool]) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_two_workers_purge_expired_rows_in_the_background_each_row_once(purging: Tenant) -> None:
    now = time.time()
    rows = 3000
    with purging.store.write_sync() as conn:
        conn.execute(
            insert(t.assertion_replay),
            [
                {"issuer": "https://gone.example.com", "jti": f"j{i}", "expires_at": now - HOUR - i}
                for i in range(rows)
            ]
            + [{"issuer": "https://gone.example.com", "jti": "live", "expires_at": now + HOUR}],
        )
    gone = t.assertion_replay.c.issuer == "https://gone.example.com"
    deadline = time.monotonic() + 60
    while count(purging.store, t.assertion_replay, gone) > 1:
        assert time.monotonic() < deadline, "the background purge did not remove the rows"
        time.sleep(0.5)
    with purging.store.read() as conn:
        left = conn.execute(select(t.assertion_replay.c.jti).where(gone)).scalars().all()
    assert left == ["live"]
    # Both workers purge; their counts add up to each row once (a delete is idempotent). A
    # sweep counts its rows when it ends, just after its last delete: wait for that.
    while True:
        text = httpx.get(f"{purging.server.url}/metrics", timeout=10).text
        purged = metric(text, "ssooidc_purged_rows_total", table="assertion_replay")
        if purged >= rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert purged == rows
    assert metric(text, "ssooidc_maintenance_runs_total", job="purge", outcome="ok") >= 1
    assert metric(text, "ssooidc_maintenance_runs_total", job="purge", outcome="error") == 0
    lines = [json.loads(x) for x in purging.server.log().splitlines() if x.startswith("{")]
    reports = [x for x in lines if x["logger"] == "ssooidc.purge"]
    assert reports and all(x["message"].startswith("purged ") for x in reports)
    assert not [x for x in lines if x["level"] in ("warning", "error")]


def test_a_reused_refresh_token_still_revokes_its_family_after_a_purge(purging: Tenant) -> None:
    oidc = purging.oidc()
    backend = purging.apps["backend"]
    first = oidc.create_token_with_iam(
        clientId=backend,
        grantType="urn:ietf:params:oauth:grant-type:jwt-bearer",
        assertion=purging.assertion(),
    )
    rotated = oidc.create_token_with_iam(
        clientId=backend, grantType="refresh_token", refreshToken=first["refreshToken"]
    )
    family_id = jwt_claims(first["idToken"])["aws:credential_id"]
    in_family = t.tokens.c.family_id == family_id
    assert count(purging.store, t.tokens, in_family) == 4

    # Two hours on: the access tokens have expired and go; the family lives on for hours, so
    # its refresh tokens, the rotated one too, stay.
    report = purge_expired(purging.store, time.time() + 2 * HOUR)
    assert report.removed["tokens"] >= 2
    with purging.store.read() as conn:
        kinds = conn.execute(select(t.tokens.c.kind).where(in_family)).scalars().all()
    assert sorted(kinds) == ["refresh", "refresh"]

    response = oidc_error(
        oidc,
        "InvalidGrantException",
        clientId=backend,
        grantType="refresh_token",
        refreshToken=first["refreshToken"],
    )
    assert "revoked" in response["error_description"]
    oidc_error(
        oidc,
        "InvalidGrantException",
        clientId=backend,
        grantType="refresh_token",
        refreshToken=rotated["refreshToken"],
    )
    with purging.store.read() as conn:
        revoked = conn.execute(
            select(t.token_families.c.revoked_at).where(t.token_families.c.family_id == family_id)
        ).scalar_one()
    assert revoked is not None


def test_the_purge_command_removes_what_expired(tmp_path: Path) -> None:
    url = stores.new_database(tmp_path)
    args = ["--data-dir", str(tmp_path), "--database-url", url]
    subprocess.run([sys.executable, "-m", "ssooidc", "migrate", *args], check=True)
    store = Store(url)
    now = time.time()
    try:
        with store.write_sync() as conn:
            conn.execute(
                insert(t.assertion_replay),
                [
                    {"issuer": "i", "jti": "old", "expires_at": now - HOUR},
                    {"issuer": "i", "jti": "live", "expires_at": now + HOUR},
                ],
            )
        out = subprocess.run(
            [sys.executable, "-m", "ssooidc", "purge", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "purged 1 expired rows (assertion_replay 1)" in out
        with store.read() as conn:
            assert conn.execute(select(t.assertion_replay.c.jti)).scalars().all() == ["live"]
    finally:
        store.dispose()
        stores.release(url)
