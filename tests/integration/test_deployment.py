"""The production set-up of docs/deployment.md, step by step, for real: online backup and
restore of both stores, upgrades from an older schema, nginx with TLS in front of two
instances, and the systemd unit's command line with the sample environment file."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import httpx
import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from botocore import UNSIGNED
from botocore.config import Config
from sqlalchemy import MetaData, Table, insert

from ssooidc.app import ADMIN_POLICY
from ssooidc.services import iam, identity_store, keys
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import create_instance
from ssooidc.store.engine import Store, alembic_config
from ssooidc.testing.databases import sqlite_url
from ssooidc.testing.idp import CertificateAuthority, TestIdentityProvider
from tests import stores
from tests.serverproc import (
    ACCOUNT,
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    NO_RETRY,
    REGION,
    ServerProcess,
    free_port,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PORTAL_SCOPE = "sso:account:access"
SCOPES = ["openid", "backend:read", PORTAL_SCOPE]
CALLER = ("AKIADEPLOYCALLER0001", "deploy-caller-secret-access-key-0000001")
#: a restored or upgraded store must supply the administrator's key itself: blank variables
#: keep bootstrap from making one
NO_ADMIN_FROM_ENV = {"SSOOIDC_ADMIN_ACCESS_KEY_ID": "", "SSOOIDC_ADMIN_SECRET_ACCESS_KEY": ""}
#: the revision an "older" store is made at; later migrations then have data to carry
OLD_REVISION = "0003"


def tenant(issuer_url: str) -> dict[str, Any]:
    """A small production-like tenant: one IAM caller, one user, one trusted issuer, one
    application with jwt-bearer and refresh grants."""
    iam_method = {
        "IAM": {
            "Iam": {
                "ActorPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/caller"},
                            "Action": "sso-oauth:CreateTokenWithIAM",
                            "Resource": "*",
                        }
                    ],
                }
            }
        }
    }
    return {
        "iam": {
            "Users": [
                {
                    "UserName": "caller",
                    "AccessKeys": [{"AccessKeyId": CALLER[0], "SecretAccessKey": CALLER[1]}],
                }
            ]
        },
        "identitystore": {
            "Users": [
                {
                    "UserName": "alice",
                    "DisplayName": "Alice Doe",
                    "Name": {"GivenName": "Alice", "FamilyName": "Doe"},
                    "Emails": [{"Value": "alice@example.com", "Primary": True}],
                }
            ]
        },
        "ssoadmin": {
            "TrustedTokenIssuers": [
                {
                    "Name": "corp-idp",
                    "TrustedTokenIssuerType": "OIDC_JWT",
                    "TrustedTokenIssuerConfiguration": {
                        "OidcJwtConfiguration": {
                            "IssuerUrl": issuer_url,
                            "ClaimAttributePath": "email",
                            "IdentityStoreAttributePath": "emails.value",
                            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                        }
                    },
                }
            ],
            "Applications": [
                {
                    "Name": "backend",
                    "Grants": {
                        JWT_BEARER: {
                            "JwtBearer": {
                                "AuthorizedTokenIssuers": [
                                    {
                                        "TrustedTokenIssuer": "corp-idp",
                                        "AuthorizedAudiences": ["backend"],
                                    }
                                ]
                            }
                        },
                        "refresh_token": {"RefreshToken": {}},
                    },
                    "AuthenticationMethods": iam_method,
                    "AccessScopes": [{"Scope": "backend:read"}, {"Scope": PORTAL_SCOPE}],
                    "AssignmentRequired": False,
                }
            ],
        },
    }


# -- clients -------------------------------------------------------------------------------


def client(
    url: str,
    service: str,
    creds: tuple[str, str] = (ADMIN_KEY_ID, ADMIN_SECRET),
    verify: Path | None = None,
) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1],
        verify=str(verify) if verify else None,
        config=NO_RETRY,
    )


def backend_arn(url: str, verify: Path | None = None) -> str:
    admin = client(url, "sso-admin", verify=verify)
    instance = admin.list_instances()["Instances"][0]["InstanceArn"]
    apps = admin.list_applications(InstanceArn=instance)["Applications"]
    return str(next(a["ApplicationArn"] for a in apps if a["Name"] == "backend"))


def jwt_tokens(
    url: str, app: str, idp: TestIdentityProvider, verify: Path | None = None, oidc: Any = None
) -> dict[str, Any]:
    oidc = oidc or client(url, "sso-oidc", CALLER, verify)
    tokens: dict[str, Any] = oidc.create_token_with_iam(
        clientId=app,
        grantType=JWT_BEARER,
        assertion=idp.mint(subject="alice", email="alice@example.com", audience="backend"),
        scope=SCOPES,
    )
    return tokens


def refreshed(url: str, app: str, refresh_token: str, verify: Path | None = None) -> dict[str, Any]:
    tokens: dict[str, Any] = client(url, "sso-oidc", CALLER, verify).create_token_with_iam(
        clientId=app, grantType="refresh_token", refreshToken=refresh_token
    )
    return tokens


def portal_accounts(url: str, access_token: str, verify: Path | None = None) -> list[Any]:
    """ListAccounts of the access portal: answers only for a live access token."""
    portal = boto3.client(
        "sso",
        endpoint_url=url,
        region_name=REGION,
        verify=str(verify) if verify else None,
        config=NO_RETRY.merge(Config(signature_version=UNSIGNED)),
    )
    accounts: list[Any] = portal.list_accounts(accessToken=access_token)["accountList"]
    return accounts


def jose_header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    header: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return header


def jose_claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return claims


def published_kids(url: str, instance_id: str, verify: Path | None = None) -> set[str]:
    jwks = httpx.get(f"{url}/{instance_id}/keys", verify=trusting(verify), timeout=10).json()
    return {key["kid"] for key in jwks["keys"]}


def trusting(ca: Path | None) -> ssl.SSLContext | bool:
    """httpx's ``verify``: the test CA, or the default trust store."""
    return ssl.create_default_context(cafile=str(ca)) if ca else True


class TokenTraffic:
    """Clients calling CreateTokenWithIAM in a loop on a thread of their own, for as long as
    the block runs: the server is busy writing while a backup is made."""

    def __init__(self, url: str, app: str, idp: TestIdentityProvider) -> None:
        self.url, self.app, self.idp = url, app, idp
        self.issued = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # A session of its own: boto3's default session is not for sharing between threads.
        oidc = boto3.session.Session().client(
            "sso-oidc",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=CALLER[0],
            aws_secret_access_key=CALLER[1],
            config=NO_RETRY,
        )
        while not self._stop.is_set():
            try:
                jwt_tokens(self.url, self.app, self.idp, oidc=oidc)
            except Exception as exc:
                self.errors.append(repr(exc))
                return
            self.issued += 1

    def __enter__(self) -> TokenTraffic:
        self._thread.start()
        deadline = time.monotonic() + 30
        while self.issued < 3 and not self.errors and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# -- commands ------------------------------------------------------------------------------


def ssooidc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The ``ssooidc`` command as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ssooidc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{shlex.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as pg_dump and pg_restore take it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def new_at_rest_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def postgres_databases() -> Iterator[list[str]]:
    """New PostgreSQL databases the test asks for (append the URL), dropped at its end."""
    made: list[str] = []
    yield made
    for url in made:
        stores.drop_postgres_database(url)


def new_postgres(made: list[str]) -> str:
    url = stores.new_postgres_database()
    made.append(url)
    return url


# -- backup and restore ----------------------------------------------------------------------


def test_sqlite_backup_of_a_serving_instance_restores_tokens_and_the_admin_key(
    tmp_path: Path, idp: TestIdentityProvider
) -> None:
    live_dir = tmp_path / "live"
    live = ServerProcess(
        live_dir,
        tenant=tenant(idp.issuer_url),
        env={"SSL_CERT_FILE": str(idp.ca_path)},
        database_url=sqlite_url(live_dir),
    ).start()
    backup = tmp_path / "backups" / "ssooidc-backup.db"
    backup.parent.mkdir()
    try:
        app = backend_arn(live.url)
        instance = client(live.url, "sso-admin").list_instances()["Instances"][0]
        before = jwt_tokens(live.url, app, idp)
        with TokenTraffic(live.url, app, idp) as traffic:
            issued_before = traffic.issued
            result = ssooidc("backup", "--data-dir", str(live_dir), "--output", str(backup))
            issued_during = traffic.issued - issued_before
        assert traffic.errors == []
        assert issued_during > 0, "the server went on issuing tokens while the backup ran"
    finally:
        live.stop()
    assert result.returncode == 0, result.stderr
    assert "the at-rest key opens the copy's signing key" in result.stdout
    assert "the at-rest key is not in the copy" in result.stdout
    assert backup.stat().st_mode & 0o777 == 0o600

    # The restore of docs/deployment.md, into a new data directory.
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    shutil.copyfile(backup, restored_dir / "ssooidc.db")
    os.chmod(restored_dir / "ssooidc.db", 0o600)
    for stale in ("ssooidc.db-wal", "ssooidc.db-shm"):
        (restored_dir / stale).unlink(missing_ok=True)
    shutil.copyfile(live_dir / "at-rest.key", restored_dir / "at-rest.key")
    os.chmod(restored_dir / "at-rest.key", 0o600)
    restored = ServerProcess(
        restored_dir,
        env={"SSL_CERT_FILE": str(idp.ca_path), **NO_ADMIN_FROM_ENV},
        database_url=sqlite_url(restored_dir),
    ).start()
    try:
        # The administrator's key (its secret sealed with the at-rest key) signs again.
        assert client(restored.url, "sso-admin").list_instances()["Instances"] == [instance]
        # The access token issued before the backup is live; its refresh token redeems.
        assert portal_accounts(restored.url, before["accessToken"]) == []
        again = refreshed(restored.url, app, before["refreshToken"])
        assert again["refreshToken"] != before["refreshToken"]
        # The signing key came along: old and new ID tokens carry a kid the JWKS publishes.
        kid = jose_header(before["idToken"])["kid"]
        assert jose_header(again["idToken"])["kid"] == kid
        assert kid in published_kids(restored.url, instance["InstanceArn"].split("/")[-1])
    finally:
        restored.stop()


def test_postgres_dump_of_a_live_store_restores_into_a_new_database(
    tmp_path: Path, idp: TestIdentityProvider, postgres_databases: list[str]
) -> None:
    at_rest_key = new_at_rest_key()
    env = {"SSL_CERT_FILE": str(idp.ca_path), "SSOOIDC_AT_REST_KEY": at_rest_key}
    live_url = new_postgres(postgres_databases)
    live = ServerProcess(
        tmp_path / "live", tenant=tenant(idp.issuer_url), env=env, database_url=live_url
    ).start()
    dump = tmp_path / "ssooidc.dump"
    try:
        app = backend_arn(live.url)
        instance = client(live.url, "sso-admin").list_instances()["Instances"][0]
        before = jwt_tokens(live.url, app, idp)
        with TokenTraffic(live.url, app, idp) as traffic:
            run("pg_dump", "--format=custom", f"--file={dump}", libpq(live_url))
        assert traffic.errors == []
        assert traffic.issued > 0
        refused = ssooidc("backup", "--database-url", live_url, "--output", str(tmp_path / "x"))
        assert refused.returncode != 0
        assert "pg_dump" in refused.stderr
    finally:
        live.stop()

    restored_url = new_postgres(postgres_databases)
    run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq(restored_url)}", str(dump))
    # A new host: an empty data directory, the key from the environment.
    restored = ServerProcess(
        tmp_path / "restored", env={**env, **NO_ADMIN_FROM_ENV}, database_url=restored_url
    ).start()
    try:
        assert client(restored.url, "sso-admin").list_instances()["Instances"] == [instance]
        assert portal_accounts(restored.url, before["accessToken"]) == []
        again = refreshed(restored.url, app, before["refreshToken"])
        assert jose_header(again["idToken"])["kid"] == jose_header(before["idToken"])["kid"]
    finally:
        restored.stop()

    # An instance given another at-rest key cannot open the store's secrets: it never serves.
    stranger = ServerProcess(
        tmp_path / "stranger",
        env={**env, **NO_ADMIN_FROM_ENV, "SSOOIDC_AT_REST_KEY": new_at_rest_key()},
        database_url=restored_url,
    )
    with pytest.raises(RuntimeError, match="exited with 2") as refused:
        stranger.start()
    assert "the at-rest key does not open this store's secrets" in str(refused.value)
    assert "Traceback" not in str(refused.value)


# -- upgrades ------------------------------------------------------------------------------


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def store_revision(url: str) -> str | None:
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        store.dispose()


def make_old_store(url: str, data_dir: Path) -> dict[str, str]:
    """A store at OLD_REVISION with what an instance of that time held: the instance, the
    administrator with an access key, an identity-store user and an ID-token signing key.
    Returns their ids."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            command.upgrade(alembic_config(conn), OLD_REVISION)
            conn.commit()
        box = SecretBox.load(data_dir / "at-rest.key")
        now = time.time() - 3600
        with store.write_sync() as conn:
            # The service functions below touch only tables as they were at OLD_REVISION.
            instance = create_instance(conn, account_id=ACCOUNT, region=REGION, now=now)
            admin = iam.create_principal(
                conn, kind="user", account_id=ACCOUNT, name=iam.ADMIN_USER, now=now
            )
            iam.put_policy(conn, admin, "AdministratorAccess", ADMIN_POLICY)
            iam.create_access_key(
                conn, box, admin, now, pair=iam.AccessKeyPair(ADMIN_KEY_ID, ADMIN_SECRET)
            )
            user_id = identity_store.create_user(
                conn,
                instance.identity_store_id,
                {
                    "UserName": "legacy",
                    "DisplayName": "Legacy User",
                    "Name": {"GivenName": "Legacy", "FamilyName": "User"},
                    "Emails": [{"Value": "legacy@example.com", "Primary": True}],
                },
                now,
            )
            # The signing key as that revision stored it (the schedule columns came later).
            key = keys.generate("ES256")
            kid = secrets.token_hex(16)
            signing_keys = Table("signing_keys", MetaData(), autoload_with=conn)
            conn.execute(
                insert(signing_keys).values(
                    kid=kid,
                    purpose=keys.ID_TOKEN,
                    alg="ES256",
                    private_enc=box.seal(key.as_pem(private=True), f"signing-key:{kid}"),
                    public_jwk={
                        **key.as_dict(private=False),
                        "kid": kid,
                        "alg": "ES256",
                        "use": "sig",
                    },
                    created_at=now,
                )
            )
    finally:
        store.dispose()
    return {
        "instance_arn": instance.arn,
        "instance_id": instance.instance_id,
        "identity_store_id": instance.identity_store_id,
        "user_id": user_id,
        "kid": kid,
    }


@pytest.mark.parametrize("how", ["migrate", "serve"])
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_store_at_an_older_schema_is_upgraded_with_its_data(
    kind: str,
    how: str,
    tmp_path: Path,
    idp: TestIdentityProvider,
    postgres_databases: list[str],
) -> None:
    data_dir = tmp_path / "data"
    url = sqlite_url(data_dir) if kind == "sqlite" else new_postgres(postgres_databases)
    old = make_old_store(url, data_dir)
    assert store_revision(url) == OLD_REVISION != head_revision()

    if how == "migrate":
        result = ssooidc("migrate", "--data-dir", str(data_dir), "--database-url", url)
        assert result.returncode == 0, result.stderr
        assert "the store is at the newest schema" in result.stdout
        assert store_revision(url) == head_revision()

    # `serve` migrates on start (a no-op after `ssooidc migrate`), then serves the old data.
    server = ServerProcess(
        data_dir,
        tenant=tenant(idp.issuer_url),
        env={"SSL_CERT_FILE": str(idp.ca_path), **NO_ADMIN_FROM_ENV},
        database_url=url,
    ).start()
    try:
        assert store_revision(url) == head_revision()
        instances = client(server.url, "sso-admin").list_instances()["Instances"]
        assert [i["InstanceArn"] for i in instances] == [old["instance_arn"]]
        user = client(server.url, "identitystore").describe_user(
            IdentityStoreId=old["identity_store_id"], UserId=old["user_id"]
        )
        assert (user["UserName"], user["DisplayName"]) == ("legacy", "Legacy User")
        # The key of the old revision still signs: bootstrap made no new one.
        tokens = jwt_tokens(server.url, backend_arn(server.url), idp)
        assert jose_header(tokens["idToken"])["kid"] == old["kid"]
        assert published_kids(server.url, old["instance_id"]) == {old["kid"]}
    finally:
        server.stop()


# -- nginx with TLS in front of two instances ------------------------------------------------


def require_nginx() -> str:
    """Debian's nginx (scripts/setup installs it); missing, it skips, except under CI=true."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    message = "nginx is not installed (apt-get install nginx)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class Nginx:
    """nginx run by the test in the foreground, with the site file of deploy/nginx.conf
    (ports, certificate and log paths substituted) inside a main configuration of its own."""

    def __init__(self, binary: str, directory: Path, site: str) -> None:
        self.binary = binary
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "site.conf").write_text(site)
        # Started as root, nginx would hand its workers to an unprivileged account that cannot
        # reach the test's files; the test keeps them as its own user instead.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"    {name}_temp_path {directory / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.config = directory / "nginx.conf"
        self.config.write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'main-error.log'};\n"
            "events { worker_connections 64; }\n"
            f"http {{\n{temp}\n    include {directory / 'site.conf'};\n}}\n"
        )

    def args(self, *extra: str) -> list[str]:
        return [
            self.binary,
            "-p",
            str(self.directory),
            "-e",
            str(self.directory / "main-error.log"),
            "-c",
            str(self.config),
            *extra,
        ]

    def start(self, port: int) -> None:
        run(*self.args("-t"))
        self.proc = subprocess.Popen(self.args(), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                errors = (self.directory / "main-error.log").read_text(errors="replace")
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{errors}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGQUIT)  # graceful shutdown
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def site_config(replacements: dict[str, str]) -> str:
    """deploy/nginx.conf with each example value replaced; each must be there exactly once."""
    text = (DEPLOY / "nginx.conf").read_text()
    for example, value in replacements.items():
        assert text.count(example) == 1, f"deploy/nginx.conf: {example!r}"
        text = text.replace(example, value)
    return text


def test_nginx_with_tls_in_front_of_two_instances(
    tmp_path: Path, idp: TestIdentityProvider, postgres_databases: list[str]
) -> None:
    binary = require_nginx()
    ca = CertificateAuthority.create(tmp_path / "ca")
    cert, key = ca.issue_server_cert(tmp_path / "tls")
    https_port, http_port = free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}"
    # Two instances as docs/deployment.md sets them up: one database, one at-rest key, the
    # public URL as issuer URL, each with a data directory of its own.
    url = new_postgres(postgres_databases)
    env = {"SSL_CERT_FILE": str(idp.ca_path), "SSOOIDC_AT_REST_KEY": new_at_rest_key()}
    args = ["--issuer-url", public, "--public-client-rate", "5"]
    first = ServerProcess(
        tmp_path / "a", tenant=tenant(idp.issuer_url), env=env, database_url=url, extra_args=args
    )
    second = ServerProcess(tmp_path / "b", env=env, database_url=url, extra_args=args)
    logs = tmp_path / "nginx"
    nginx = Nginx(
        binary,
        logs,
        site_config(
            {
                "server 10.0.0.11:8080;": f"server 127.0.0.1:{first.port};",
                "server 10.0.0.12:8080;": f"server 127.0.0.1:{second.port};",
                "listen 80;": f"listen 127.0.0.1:{http_port};",
                "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
                "/etc/ssl/certs/sso.example.com.pem": str(cert),
                "/etc/ssl/private/sso.example.com.key": str(key),
                "/var/log/nginx/ssooidc.access.log": str(logs / "access.log"),
                "/var/log/nginx/ssooidc.error.log": str(logs / "error.log"),
            }
        ),
    )
    try:
        first.start()
        second.start()
        nginx.start(https_port)
        verify = ca.ca_path

        # Discovery through the proxy names the public HTTPS URL.
        discovery = httpx.get(f"{public}/.well-known/openid-configuration", verify=trusting(verify))
        admin = client(public, "sso-admin", verify=verify)
        instance = admin.list_instances()["Instances"][0]
        instance_id = instance["InstanceArn"].split("/")[-1]
        issuer = f"{public}/{instance_id}"
        assert discovery.json()["issuer"] == issuer
        assert discovery.json()["jwks_uri"] == f"{issuer}/keys"

        # SigV4-signed calls verify through the proxy: sso-admin, identitystore, sso-oidc.
        app = backend_arn(public, verify)
        users = client(public, "identitystore", verify=verify).list_users(
            IdentityStoreId=instance["IdentityStoreId"]
        )["Users"]
        assert [u["UserName"] for u in users] == ["alice"]
        tokens = jwt_tokens(public, app, idp, verify)
        assert jose_claims(tokens["idToken"])["iss"] == issuer
        assert jose_header(tokens["idToken"])["kid"] in published_kids(public, instance_id, verify)
        # Round robin, no stickiness: each refresh may land on the other instance.
        for _ in range(4):
            tokens = refreshed(public, app, tokens["refreshToken"], verify)
        # The portal's token header (x-amz-sso_bearer_token) has an underscore.
        assert portal_accounts(public, tokens["accessToken"], verify) == []

        # A client cannot choose its address through the proxy: a made-up X-Forwarded-For
        # still counts against its own per-address limit (5 a minute on each instance).
        answers = [
            httpx.post(
                f"{public}/client/register",
                json={"clientName": "cli", "clientType": "public"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
                verify=trusting(verify),
            )
            for n in range(16)
        ]
        assert [a.status_code for a in answers].count(200) <= 12
        assert any(a.status_code == 400 and "slow_down" in a.text for a in answers)

        # Plain HTTP is sent to HTTPS.
        redirect = httpx.get(f"http://127.0.0.1:{http_port}/healthz")
        assert redirect.status_code == 301
        assert redirect.headers["location"] == "https://127.0.0.1/healthz"
    finally:
        nginx.stop()
        first.stop()
        second.stop()
    access_log = (logs / "access.log").read_text()
    assert f"upstream=127.0.0.1:{first.port}" in access_log
    assert f"upstream=127.0.0.1:{second.port}" in access_log
    assert "?" not in access_log, "no query string is logged"


# -- systemd ---------------------------------------------------------------------------------


def require_systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    message = "systemd-analyze is missing (Debian package systemd)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def unit_exec_start() -> list[str]:
    lines = re.findall(r"^ExecStart=(.+)$", (DEPLOY / "ssooidc.service").read_text(), re.MULTILINE)
    assert len(lines) == 1
    return shlex.split(lines[0])


def installed_command() -> str:
    """The ``ssooidc`` console script beside the interpreter running the tests."""
    script = Path(sys.executable).parent / "ssooidc"
    assert script.exists(), script
    return str(script)


def environment_file() -> dict[str, str]:
    """deploy/ssooidc.env read as systemd reads an EnvironmentFile of plain NAME=value lines."""
    values: dict[str, str] = {}
    for line in (DEPLOY / "ssooidc.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def test_the_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    analyze = require_systemd_analyze()
    text = (DEPLOY / "ssooidc.service").read_text()
    argv = unit_exec_start()
    # verify checks that ExecStart's program exists: here it is the test's own installation.
    unit = tmp_path / "ssooidc.service"
    unit.write_text(text.replace(f"ExecStart={argv[0]}", f"ExecStart={installed_command()}"))
    checked = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""
    rated = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rated.returncode == 0, rated.stderr
    score = re.search(r"Overall exposure level for ssooidc\.service: ([0-9.]+) (\w+)", rated.stdout)
    assert score is not None, rated.stdout
    assert float(score.group(1)) <= 2.0, rated.stdout


def test_the_units_command_serves_with_the_sample_environment(tmp_path: Path) -> None:
    argv = unit_exec_start()
    assert argv[0] == "/opt/ssooidc/bin/ssooidc"
    assert argv[1:] == ["serve"]
    env = environment_file()
    port = free_port()
    # The unit's state directory and port, moved to where this test may write.
    env.update(SSOOIDC_DATA_DIR=str(tmp_path / "state"), SSOOIDC_PORT=str(port))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SSOOIDC_")}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [installed_command(), *argv[1:]],
        env={**inherited, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        umask=0o077,  # the unit's UMask=
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the unit's command did not become ready"
            time.sleep(0.1)
        discovery = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
        assert discovery.json()["issuer"].startswith("https://sso.example.com/ssoins-")
        state = tmp_path / "state"
        for name in ("at-rest.key", "credentials", "ssooidc.db"):
            assert (state / name).stat().st_mode & 0o777 == 0o600, name
    finally:
        # systemctl stop: SIGTERM to the main process; it must exit 0 within TimeoutStopSec.
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()
