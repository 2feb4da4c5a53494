"""The README's quickstart: --demo, `ssooidc demo assertion`, real tokens, an exchange."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import yaml
from sqlalchemy import select

from ssooidc.services import identity_store, passwords
from ssooidc.store import tables
from ssooidc.store.engine import Store
from tests.serverproc import REGION, ServerProcess


def test_demo_tenant_quickstart_gets_real_tokens(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "demo", extra_args=["--demo"]).start()
    try:
        assert "ssooidc demo tenant" in server.log()
        # The printed demo password is alice's password for the browser pages.
        assert "alice / alice-demo-password" in server.log()
        store = Store(server.database_url)
        try:
            with store.read() as conn:
                instance_store = conn.execute(
                    select(tables.instances.c.identity_store_id)
                ).scalar_one()
                alice = identity_store.find_user_by_name(conn, instance_store, "alice")
                assert alice is not None
                stored = passwords.password_hash_of(conn, alice)
        finally:
            store.dispose()
        assert passwords.verify(stored, "alice-demo-password")
        assert not passwords.verify(stored, "bob-demo-password")
        session = boto3.Session(
            aws_access_key_id="AKIAADMINTESTKEY0001",
            aws_secret_access_key="admin-secret-access-key-for-tests-0001",
            region_name=REGION,
        )
        admin = session.client("sso-admin", endpoint_url=server.url)
        instance = admin.list_instances()["Instances"][0]["InstanceArn"]
        apps = {
            a["Name"]: a["ApplicationArn"]
            for a in admin.list_applications(InstanceArn=instance)["Applications"]
        }
        assertion = subprocess.check_output(
            [
                sys.executable,
                "-m",
                "ssooidc",
                "demo",
                "assertion",
                *server.store_args(),
                "--port",
                str(server.port),
                "--email",
                "alice@example.com",
            ],
            text=True,
        ).strip()
        assert assertion.count(".") == 2
        oidc = session.client("sso-oidc", endpoint_url=server.url)
        tokens = oidc.create_token_with_iam(
            clientId=apps["demo-app"],
            grantType="urn:ietf:params:oauth:grant-type:jwt-bearer",
            assertion=assertion,
        )
        assert "demo:read" in tokens["scope"]
        exchanged = oidc.create_token_with_iam(
            clientId=apps["demo-api"],
            grantType="urn:ietf:params:oauth:grant-type:token-exchange",
            subjectToken=tokens["accessToken"],
            subjectTokenType="urn:ietf:params:oauth:token-type:access_token",
        )
        assert exchanged["issuedTokenType"] == "urn:ietf:params:oauth:token-type:access_token"
        assert "demo:read" in exchanged["scope"]
    finally:
        assert server.stop() == 0
    # A restart with --demo again applies the same tenant without error.
    server.start()
    server.stop()
    # `ssooidc export` writes the live tenant; without --include-secrets, no secret.
    exported = yaml.safe_load(
        subprocess.check_output(
            [sys.executable, "-m", "ssooidc", "export", *server.store_args()],
            text=True,
        )
    )
    names = [a["Name"] for a in exported["ssoadmin"]["Applications"]]
    assert names == ["demo-api", "demo-app"]
    assert "SecretAccessKey" not in yaml.safe_dump(exported)
    assert exported["ssoadmin"]["TrustedTokenIssuers"][0]["Name"] == "demo-idp"
