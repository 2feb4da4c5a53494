"""The serve contract: bootstrap, credentials, restarts, SIGTERM, keep-alive latency, sso-admin
reads through boto3, and hostile input that never yields a 500."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import CALLER, OUTSIDER, Tenant
from tests.serverproc import ADMIN_KEY_ID, ADMIN_SECRET, REGION, ServerProcess


def test_bootstrap_writes_the_administrator_key_0600_and_restarts_keep_state(
    tmp_path: Path,
) -> None:
    server = ServerProcess(
        tmp_path / "d",
        env={"SSOOIDC_ADMIN_ACCESS_KEY_ID": "", "SSOOIDC_ADMIN_SECRET_ACCESS_KEY": ""},
    )
    server.start()
    try:
        creds = tmp_path / "d" / "credentials"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "d" / "at-rest.key").stat().st_mode) == 0o600
        text = creds.read_text()
        key_id = text.split("aws_access_key_id = ")[1].split()[0]
        secret = text.split("aws_secret_access_key = ")[1].split()[0]
        assert key_id.startswith("AKIA") and len(secret) >= 30
        assert "[ssooidc]" in text
        admin = server.client("sso-admin", key_id, secret)
        first = admin.list_instances()["Instances"][0]["InstanceArn"]
        assert server.log().count(secret) == 1  # printed once, at the first start
    finally:
        assert server.stop() == 0
    server.start()
    try:
        assert (
            server.client("sso-admin", key_id, secret).list_instances()["Instances"][0][
                "InstanceArn"
            ]
            == first
        )
        assert server.log().count(secret) == 1  # not printed again
    finally:
        server.stop()


def test_sigterm_drains_and_exits_zero(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d").start()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0


def _keepalive_median_ms(port: int, path: str, count: int = 60) -> float:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    samples = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(request)
            data = b""
            while b"\r\n\r\nok" not in data:
                chunk = sock.recv(4096)
                assert chunk, "connection closed"
                data += chunk
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples[5:])


def test_keep_alive_requests_do_not_stall_with_several_workers(tmp_path: Path) -> None:
    """Guards against the ~44 ms Nagle/delayed-ACK stall of uvicorn workers without TCP_NODELAY."""
    server = ServerProcess(tmp_path / "d", workers=2).start()
    try:
        assert _keepalive_median_ms(server.port, "/healthz") < 10
    finally:
        server.stop()


def test_sso_admin_reads_work_through_boto3_and_paginate(tenant_server: Tenant) -> None:
    admin = tenant_server.server.client("sso-admin")
    instance = admin.describe_instance(InstanceArn=tenant_server.instance_arn)
    assert instance["IdentityStoreId"].startswith("d-")
    assert instance["Status"] == "ACTIVE"
    seen: list[str] = []
    kwargs: dict[str, Any] = {"InstanceArn": tenant_server.instance_arn, "MaxResults": 2}
    pages = 0
    while True:
        page = admin.list_applications(**kwargs)
        pages += 1
        seen += [a["Name"] for a in page["Applications"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages >= 3
    assert sorted(seen) == sorted(tenant_server.apps)
    paginated = [
        a["Name"]
        for p in admin.get_paginator("list_applications").paginate(
            InstanceArn=tenant_server.instance_arn, PaginationConfig={"PageSize": 3}
        )
        for a in p["Applications"]
    ]
    assert sorted(paginated) == sorted(tenant_server.apps)
    app = admin.describe_application(ApplicationArn=tenant_server.apps["backend"])
    assert app["Name"] == "backend"
    assert app["ApplicationProviderArn"] == "arn:aws:sso::aws:applicationProvider/custom"
    issuer = admin.describe_trusted_token_issuer(TrustedTokenIssuerArn=tenant_server.issuer_arn)
    assert (
        issuer["TrustedTokenIssuerConfiguration"]["OidcJwtConfiguration"]["ClaimAttributePath"]
        == "email"
    )


def test_sso_admin_errors_are_the_modelled_exceptions(tenant_server: Tenant) -> None:
    admin = tenant_server.server.client("sso-admin")
    missing = tenant_server.apps["backend"][:-16] + "0" * 16
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.describe_application(ApplicationArn=missing)
    with pytest.raises(admin.exceptions.ValidationException, match="pattern"):
        admin.describe_application(ApplicationArn="arn:aws:sso::1:application/nope")
    with pytest.raises(admin.exceptions.ValidationException):
        admin.list_applications(InstanceArn=tenant_server.instance_arn, NextToken="not-a-token")
    with pytest.raises(admin.exceptions.AccessDeniedException):
        tenant_server.server.client("sso-admin", *CALLER).list_instances()
    with pytest.raises(ClientError) as info:
        tenant_server.server.client("sso-admin", "AKIANOSUCHKEY0000000", "x" * 40).list_instances()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # An identity-policy Allow of sso-oauth:* does not reach sso-admin.
    with pytest.raises(admin.exceptions.AccessDeniedException):
        tenant_server.server.client("sso-admin", *OUTSIDER).list_instances()


def test_discovery_documents_and_keys(tenant_server: Tenant) -> None:
    url = tenant_server.server.url
    instance_id = tenant_server.instance_arn.rsplit("/", 1)[1]
    root = httpx.get(f"{url}/.well-known/openid-configuration").json()
    scoped = httpx.get(f"{url}/{instance_id}/.well-known/openid-configuration").json()
    assert root == scoped
    assert scoped["issuer"] == f"{url}/{instance_id}"
    assert scoped["token_endpoint"] == f"{url}/token"
    for member in (
        "jwks_uri",
        "authorization_endpoint",
        "id_token_signing_alg_values_supported",
        "grant_types_supported",
        "scopes_supported",
    ):
        assert member in scoped
    jwks = httpx.get(scoped["jwks_uri"]).json()
    assert jwks["keys"] and all("d" not in k for k in jwks["keys"])
    assert (
        httpx.get(f"{url}/ssoins-0000000000000000/.well-known/openid-configuration").status_code
        == 404
    )


def _signed(server: ServerProcess, body: bytes, key: tuple[str, str] = CALLER) -> httpx.Response:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url=f"{server.url}/token?aws_iam=t",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(*key), "sso-oauth", REGION).add_auth(request)
    prepared = request.prepare()
    return httpx.post(prepared.url, content=body, headers=dict(prepared.headers))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'"text"',
        b"{",
        b"\xff\xfe\x00garbage",
        b'{"clientId": 5, "grantType": "refresh_token"}',
        b'{"clientId": "x", "grantType": ["a"]}',
        b'{"clientId": "x", "grantType": "refresh_token", "scope": "openid"}',
        b'{"clientId": "x", "grantType": "refresh_token", "scope": [1, 2]}',
        b'{"clientId": "x", "grantType": "refresh_token", "refreshToken": {"a": 1}}',
        b'{"clientId": "x"}',
        b'{"clientId": NaN, "grantType": "x"}',
        b"[" * 5000 + b"]" * 5000,
        json.dumps({"clientId": "x" * 60000, "grantType": "refresh_token"}).encode(),
        json.dumps({"clientId": "\ud800", "grantType": "refresh_token"}).encode(),
    ],
)
def test_malformed_bodies_get_a_4xx_aws_error(tenant_server: Tenant, body: bytes) -> None:
    response = _signed(tenant_server.server, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["x-amzn-ErrorType"] in (
        "InvalidRequestException",
        "InvalidClientException",
    )
    assert "Traceback" not in response.text
    assert response.headers["x-amzn-RequestId"]


def test_oversized_bodies_are_refused_before_reading(tenant_server: Tenant) -> None:
    response = _signed(tenant_server.server, b'{"clientId": "' + b"x" * 70000 + b'"}')
    assert response.status_code == 413
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("GET", "/nothing-here", {}, b""),
        ("POST", "/", {}, b"Action=GetCallerIdentity"),
        ("POST", "/", {"X-Amz-Target": "Nope.Operation"}, b"{}"),
        ("POST", "/", {"X-Amz-Target": "SWBExternalService.ListInstances"}, b"{}"),
        ("DELETE", "/token", {}, b""),
        ("POST", "/token", {"Authorization": "AWS4-HMAC-SHA256 garbage"}, b"{}"),
        (
            "POST",
            "/token?aws_iam=t",
            {
                "Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00"
            },
            b"{}",
        ),
    ],
)
def test_odd_requests_never_yield_a_500(
    tenant_server: Tenant, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    response = httpx.request(method, tenant_server.server.url + path, headers=headers, content=body)
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text


def test_unsigned_operations_serve_a_client_that_has_credentials(tenant_server: Tenant) -> None:
    # botocore sends RegisterClient unsigned even when it holds credentials.
    oidc = boto3.client(
        "sso-oidc",
        endpoint_url=tenant_server.server.url,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET,
    )
    assert oidc.register_client(clientName="cli", clientType="public")["clientId"]


def store_contents(url: str) -> tuple[bytes, str]:
    """Every byte of the store's files (SQLite) and a plain-text dump of every row."""
    if url.startswith("sqlite"):
        db = Path(url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        connection = sqlite3.connect(db)
        try:
            return raw, "\n".join(connection.iterdump())
        finally:
            connection.close()
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    dump = subprocess.run(
        ["pg_dump", "--data-only", "--inserts", dsn], capture_output=True, check=True, text=True
    ).stdout
    assert "INSERT INTO" in dump
    return dump.encode(), dump


def test_no_secret_reaches_the_store_in_the_clear_or_the_log(tenant_server: Tenant) -> None:
    tokens = tenant_server.jwt_tokens()
    refreshed = tenant_server.oidc().create_token_with_iam(
        clientId=tenant_server.apps["backend"],
        grantType="refresh_token",
        refreshToken=tokens["refreshToken"],
    )
    code = tenant_server.mint_code()
    secrets_seen = [
        tokens["accessToken"],
        tokens["refreshToken"],
        refreshed["accessToken"],
        refreshed["refreshToken"],
        code,
        CALLER[1],
        ADMIN_SECRET,
        OUTSIDER[1],
    ]
    raw, dump = store_contents(tenant_server.server.database_url)
    log = tenant_server.server.log()
    for secret in secrets_seen:
        assert secret.encode() not in raw
        assert secret not in dump
        assert secret not in log
    for token in tokens.values():
        if isinstance(token, str) and len(token) > 30:
            assert token not in log
    assert os.environ.get("SSOOIDC_AT_REST_KEY") is None
