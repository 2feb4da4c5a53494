"""Temporary credentials (role sessions) sign CreateTokenWithIAM; a role ARN in the ActorPolicy
covers every session of the role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ssooidc.services import role_sessions
from ssooidc.services.at_rest import SecretBox
from ssooidc.store.engine import Store
from ssooidc.testing.idp import TestIdentityProvider
from tests.serverproc import ACCOUNT, ServerProcess

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-role"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def role_server(
    tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider
) -> Iterator[tuple[ServerProcess, Store, SecretBox]]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ],
    }
    actor = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "sso-oauth:CreateTokenWithIAM",
                "Resource": "*",
            }
        ],
    }
    tenant: dict[str, Any] = {
        "iam": {"Roles": [{"RoleName": "app-role", "AssumeRolePolicyDocument": trust}]},
        "identitystore": {
            "Users": [
                {
                    "UserName": "alice",
                    "DisplayName": "Alice",
                    "Name": {"GivenName": "A", "FamilyName": "D"},
                    "Emails": [{"Value": "alice@example.com"}],
                }
            ]
        },
        "ssoadmin": {
            "TrustedTokenIssuers": [
                {
                    "Name": "idp",
                    "TrustedTokenIssuerType": "OIDC_JWT",
                    "TrustedTokenIssuerConfiguration": {
                        "OidcJwtConfiguration": {
                            "IssuerUrl": idp.issuer_url,
                            "ClaimAttributePath": "email",
                            "IdentityStoreAttributePath": "emails.value",
                            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                        }
                    },
                }
            ],
            "Applications": [
                {
                    "Name": "app",
                    "AssignmentRequired": False,
                    "Grants": {
                        JWT_BEARER: {
                            "JwtBearer": {
                                "AuthorizedTokenIssuers": [
                                    {"TrustedTokenIssuer": "idp", "AuthorizedAudiences": ["app"]}
                                ]
                            }
                        }
                    },
                    "AuthenticationMethods": {"IAM": {"Iam": {"ActorPolicy": actor}}},
                }
            ],
        },
    }
    data_dir = tmp_path_factory.mktemp("roles")
    server = ServerProcess(data_dir, tenant=tenant, env={"SSL_CERT_FILE": str(idp.ca_path)}).start()
    store = Store(server.database_url)
    box = SecretBox.load(Path(data_dir) / "at-rest.key", create=False)
    yield server, store, box
    store.dispose()
    server.stop()


def _session(store: Store, box: SecretBox, *, lifetime: float) -> tuple[str, str, str]:
    now = time.time()
    with store.write_sync() as conn:
        pair, token = role_sessions.create_session(
            conn, box, role=ROLE, session_name="s1", expires_at=now + lifetime, now=now
        )
    return pair.access_key_id, pair.secret_access_key, token


def _exchange(
    server: ServerProcess, idp: TestIdentityProvider, creds: tuple[str, str, str]
) -> dict[str, Any]:
    admin = server.client("sso-admin")
    instance = admin.list_instances()["Instances"][0]["InstanceArn"]
    app = admin.list_applications(InstanceArn=instance)["Applications"][0]["ApplicationArn"]
    oidc = server.client("sso-oidc", *creds[:2], token=creds[2])
    return oidc.create_token_with_iam(  # type: ignore[no-any-return]
        clientId=app,
        grantType=JWT_BEARER,
        assertion=idp.mint(email="alice@example.com", audience="app"),
    )


def test_a_role_session_named_by_its_role_arn_gets_tokens(
    role_server: tuple[ServerProcess, Store, SecretBox], idp: TestIdentityProvider
) -> None:
    server, store, box = role_server
    result = _exchange(server, idp, _session(store, box, lifetime=900))
    assert result["accessToken"].startswith("aoa")


def test_an_expired_session_is_refused_with_403(
    role_server: tuple[ServerProcess, Store, SecretBox], idp: TestIdentityProvider
) -> None:
    server, store, box = role_server
    with pytest.raises(ClientError) as info:
        _exchange(server, idp, _session(store, box, lifetime=-1))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_a_wrong_session_token_is_refused_like_an_unknown_key(
    role_server: tuple[ServerProcess, Store, SecretBox], idp: TestIdentityProvider
) -> None:
    server, store, box = role_server
    key, secret, _token = _session(store, box, lifetime=900)
    with pytest.raises(ClientError) as info:
        _exchange(server, idp, (key, secret, "IQo" + "x" * 100))
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
