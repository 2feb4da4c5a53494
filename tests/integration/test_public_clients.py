"""RegisterClient and StartDeviceAuthorization (unsigned), driven by botocore against a real
server, and the per-address limits on them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ssooidc.store import tables
from tests.integration.public_support import (
    CALLBACK,
    DEVICE,
    RATE,
    USER_CODE,
    Public,
    digest,
    refused,
    serve_public,
)
from tests.serverproc import REGION


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Public]:
    yield from serve_public(tmp_path_factory)


# -- RegisterClient -----------------------------------------------------------------------------


def test_register_client_returns_a_public_registration(public: Public) -> None:
    before = int(time.time())
    client = public.register(clientName="aws-cli", scopes=["sso:account:access"])
    assert client["clientId"].endswith(REGION) and len(client["clientId"]) >= 22 + len(REGION)
    assert len(client["clientSecret"]) >= 43
    assert before <= client["clientIdIssuedAt"] <= int(time.time())
    assert client["clientSecretExpiresAt"] == client["clientIdIssuedAt"] + 90 * 24 * 3600
    assert "authorizationEndpoint" not in client and "tokenEndpoint" not in client
    with public.store.read() as conn:
        row = conn.execute(
            select(tables.oidc_clients).where(tables.oidc_clients.c.client_id == client["clientId"])
        ).one()
    assert row.secret_hash == digest(client["clientSecret"])  # only the hash is stored
    assert client["clientSecret"].encode() not in row.secret_hash


def test_register_client_with_grants_names_the_endpoints(public: Public) -> None:
    client = public.register(
        grantTypes=["authorization_code", "refresh_token"],
        redirectUris=[CALLBACK],
        scopes=["sso:account:access"],
        issuerUrl=f"{public.server.url}/start",
    )
    assert client["authorizationEndpoint"] == f"{public.server.url}/authorize"
    assert client["tokenEndpoint"] == f"{public.server.url}/token"


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({"clientType": "confidential"}, "InvalidClientMetadataException"),
        ({"clientName": "x" * 129}, "InvalidClientMetadataException"),
        ({"grantTypes": ["client_credentials"]}, "UnsupportedGrantTypeException"),
        (
            {"grantTypes": ["authorization_code", DEVICE], "redirectUris": [CALLBACK]},
            "InvalidRequestException",
        ),
        ({"grantTypes": ["authorization_code"]}, "InvalidRedirectUriException"),
        ({"redirectUris": ["http://example.com/callback"]}, "InvalidRedirectUriException"),
        ({"redirectUris": ["https://example.com/cb#fragment"]}, "InvalidRedirectUriException"),
        ({"redirectUris": ["ftp://127.0.0.1/callback"]}, "InvalidRedirectUriException"),
        ({"redirectUris": ["http://[::1/callback"]}, "InvalidRedirectUriException"),
        ({"scopes": ["sso:account:access", "s3:everything"]}, "InvalidScopeException"),
        ({"scopes": ["files:read"]}, "InvalidScopeException"),
        (
            {"entitledApplicationArn": "arn:aws:sso::111122223333:application/x/apl-1"},
            "InvalidClientMetadataException",
        ),
    ],
)
def test_register_client_refuses_bad_metadata(
    public: Public, members: dict[str, Any], error: str
) -> None:
    members = {"clientName": "tests", "clientType": "public", **members}
    response = refused(public.oidc().register_client, error, **members)
    assert response["error_description"]


def test_register_client_accepts_https_and_loopback_redirects(public: Public) -> None:
    uris = ["https://app.example.com/cb", "http://localhost/cb", "http://[::1]:8400/cb"]
    assert public.register(redirectUris=uris)["clientId"]


def test_entitled_application_bounds_the_registration(public: Public) -> None:
    entitled = {"entitledApplicationArn": public.files_arn}
    assert public.register(scopes=["files:read", "openid"], **entitled)["clientId"]
    refused(
        public.oidc().register_client,
        "InvalidScopeException",
        clientName="t",
        clientType="public",
        scopes=["files:write"],
        **entitled,
    )
    refused(
        public.oidc().register_client,
        "InvalidRedirectUriException",
        clientName="t",
        clientType="public",
        grantTypes=["authorization_code"],
        redirectUris=["https://elsewhere.example.com/cb"],
        **entitled,
    )


def test_malformed_public_requests_are_invalid_request(public: Public) -> None:
    for path, body in [
        ("/client/register", b"{not json"),
        ("/client/register", json.dumps({"clientName": 5, "clientType": "public"}).encode()),
        ("/client/register", json.dumps({"clientType": "public"}).encode()),
        ("/device_authorization", b"[]"),
        ("/token", json.dumps({"clientId": "a", "clientSecret": "b"}).encode()),
        ("/token", json.dumps({"clientId": "a", "clientSecret": "b", "grantType": 1}).encode()),
    ]:
        answer = httpx.post(f"{public.server.url}{path}", content=body, timeout=10)
        assert answer.status_code == 400, (path, body)
        assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestException"
        assert answer.json()["error"] == "invalid_request"


# -- StartDeviceAuthorization -------------------------------------------------------------------


def test_start_device_authorization_returns_the_codes(public: Public) -> None:
    started = public.start(public.register())
    assert len(started["deviceCode"]) >= 43
    assert re.fullmatch(USER_CODE, started["userCode"])
    assert started["verificationUri"] == f"{public.server.url}/device"
    assert started["verificationUriComplete"] == (
        f"{public.server.url}/device?user_code={started['userCode']}"
    )
    assert started["expiresIn"] == 600
    assert started["interval"] == 1
    with public.store.read() as conn:
        row = conn.execute(
            select(tables.device_authorizations).where(
                tables.device_authorizations.c.device_code_hash == digest(started["deviceCode"])
            )
        ).one()
    assert row.status == "pending" and row.user_code == started["userCode"].replace("-", "")


def test_wrong_or_expired_client_credentials_are_invalid_client(public: Public) -> None:
    client = public.register()
    wrong = {**client, "clientSecret": client["clientSecret"] + "x"}
    response = refused(
        public.oidc().start_device_authorization,
        "InvalidClientException",
        clientId=wrong["clientId"],
        clientSecret=wrong["clientSecret"],
        startUrl="https://example.com/start",
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert response["error"] == "invalid_client"
    started = public.start(client)
    public.set_column(
        tables.oidc_clients,
        tables.oidc_clients.c.client_id == client["clientId"],
        secret_expires_at=time.time() - 1,
    )
    refused(
        public.oidc().start_device_authorization,
        "InvalidClientException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        startUrl="https://example.com/start",
    )
    refused(
        public.oidc().create_token,
        "InvalidClientException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )


def test_device_authorization_needs_the_device_grant(public: Public) -> None:
    client = public.register(grantTypes=["authorization_code"], redirectUris=[CALLBACK])
    refused(
        public.oidc().start_device_authorization,
        "UnauthorizedClientException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        startUrl="https://example.com/start",
    )


# -- limits on unauthenticated work -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "address"),
    [
        ("/client/register", {"clientName": "flood", "clientType": "public"}, "127.0.0.2"),
        (
            "/device_authorization",
            {"clientId": "unknown", "clientSecret": "x", "startUrl": "https://e.example"},
            "127.0.0.3",
        ),
    ],
)
def test_unauthenticated_operations_are_limited_per_address(
    public: Public, path: str, body: dict[str, Any], address: str
) -> None:
    transport = httpx.HTTPTransport(local_address=address)
    statuses: list[int] = []
    with httpx.Client(transport=transport, base_url=public.server.url, timeout=10) as http:
        for _ in range(2 * RATE):
            answer = http.post(path, json=body)
            if answer.headers.get("x-amzn-ErrorType") == "SlowDownException":
                break
            statuses.append(answer.status_code)
        else:
            pytest.fail("never told to slow down")
    assert len(statuses) >= RATE
    assert answer.status_code == 400 and answer.json()["error"] == "slow_down"
    # Another address is not affected.
    assert public.register()["clientId"]
