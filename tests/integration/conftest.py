"""One HTTPS test identity provider and one ssooidc server with a tenant that exercises every check."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from sqlalchemy import select, update

from ssooidc.services import identity_store, tokens
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import bump_generation
from ssooidc.store import tables
from ssooidc.store.engine import Store
from ssooidc.testing.idp import TestIdentityProvider
from tests import stores
from tests.serverproc import ACCOUNT, NO_RETRY, REGION, ServerProcess

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
REDIRECT = "https://backend.example.com/callback"

CALLER = ("AKIACALLERTESTKEY001", "caller-secret-access-key-000000000001")
OUTSIDER = ("AKIAOUTSIDERTESTKEY1", "outsider-secret-access-key-0000000001")
DENIED = ("AKIADENIEDTESTKEY001", "denied-secret-access-key-00000000001")
ACCOUNTWIDE = ("AKIAACCOUNTWIDEKEY01", "accountwide-secret-access-key-0000001")


def actor_policy(*principals: str, deny: str | None = None) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": list(principals)},
            "Action": "sso-oauth:CreateTokenWithIAM",
            "Resource": "*",
        }
    ]
    if deny:
        statements.append(
            {"Effect": "Deny", "Principal": {"AWS": deny}, "Action": "sso-oauth:*", "Resource": "*"}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def tenant(issuer_url: str) -> dict[str, Any]:
    allow_all = [
        {
            "PolicyName": "tokens",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sso-oauth:*", "Resource": "*"}],
            },
        }
    ]
    deny_tokens = [
        {
            "PolicyName": "no-tokens",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Deny", "Action": "sso-oauth:CreateTokenWithIAM", "Resource": "*"}
                ],
            },
        }
    ]
    standard_grants = {
        JWT_BEARER: {
            "JwtBearer": {
                "AuthorizedTokenIssuers": [
                    {
                        "TrustedTokenIssuer": "corp-idp",
                        "AuthorizedAudiences": ["backend", "backend-alt"],
                    }
                ]
            }
        },
        "refresh_token": {"RefreshToken": {}},
        "authorization_code": {"AuthorizationCode": {"RedirectUris": [REDIRECT]}},
        TOKEN_EXCHANGE: {"TokenExchange": {}},
    }
    policy = actor_policy(user_arn("caller"), user_arn("denied"), ACCOUNT)
    iam_method = {"IAM": {"Iam": {"ActorPolicy": policy}}}
    return {
        "iam": {
            "Users": [
                {
                    "UserName": "caller",
                    "AccessKeys": [{"AccessKeyId": CALLER[0], "SecretAccessKey": CALLER[1]}],
                },
                {
                    "UserName": "outsider",
                    "AccessKeys": [{"AccessKeyId": OUTSIDER[0], "SecretAccessKey": OUTSIDER[1]}],
                    "Policies": allow_all,
                },
                {
                    "UserName": "denied",
                    "AccessKeys": [{"AccessKeyId": DENIED[0], "SecretAccessKey": DENIED[1]}],
                    "Policies": deny_tokens,
                },
                {
                    "UserName": "accountwide",
                    "AccessKeys": [
                        {"AccessKeyId": ACCOUNTWIDE[0], "SecretAccessKey": ACCOUNTWIDE[1]}
                    ],
                    "Policies": allow_all,
                },
            ]
        },
        "identitystore": {
            "Users": [
                {
                    "UserName": "alice",
                    "DisplayName": "Alice Doe",
                    "Name": {"GivenName": "Alice", "FamilyName": "Doe"},
                    "Emails": [{"Value": "Alice@Example.com", "Type": "work", "Primary": True}],
                },
                {
                    "UserName": "bob",
                    "DisplayName": "Bob Roe",
                    "Name": {"GivenName": "Bob", "FamilyName": "Roe"},
                    "Emails": [{"Value": "bob@example.com"}],
                },
                {
                    "UserName": "carol",
                    "DisplayName": "Carol Disabled",
                    "UserStatus": "DISABLED",
                    "Name": {"GivenName": "Carol", "FamilyName": "Poe"},
                    "Emails": [{"Value": "carol@example.com"}],
                },
                {
                    "UserName": "dave",
                    "DisplayName": "Dave Direct",
                    "Name": {"GivenName": "Dave", "FamilyName": "Loe"},
                    "Emails": [{"Value": "dave@example.com"}],
                },
                {
                    "UserName": "twin1",
                    "DisplayName": "Twin One",
                    "Name": {"GivenName": "T", "FamilyName": "One"},
                    "Emails": [{"Value": "twin@example.com"}],
                },
                {
                    "UserName": "twin2",
                    "DisplayName": "Twin Two",
                    "Name": {"GivenName": "T", "FamilyName": "Two"},
                    "Emails": [{"Value": "twin@example.com"}],
                },
            ],
            "Groups": [
                {"DisplayName": "analysts", "Members": ["alice", "carol", "twin1", "twin2"]}
            ],
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
                    "Grants": standard_grants,
                    "AuthenticationMethods": iam_method,
                    "AccessScopes": [
                        {"Scope": "backend:read", "AuthorizedTargets": ["reports"]},
                        {"Scope": "backend:write"},
                        {"Scope": "backend:all", "AuthorizedTargets": ["arn-of-instance"]},
                    ],
                    "AssignmentRequired": True,
                    "Assignments": [
                        {"PrincipalType": "GROUP", "Principal": "analysts"},
                        {"PrincipalType": "USER", "Principal": "dave"},
                    ],
                },
                {
                    "Name": "reports",
                    "Grants": {
                        TOKEN_EXCHANGE: {"TokenExchange": {}},
                        "refresh_token": {"RefreshToken": {}},
                    },
                    "AuthenticationMethods": iam_method,
                    "AccessScopes": [{"Scope": "backend:read"}, {"Scope": "reports:view"}],
                    "AssignmentRequired": False,
                },
                {
                    "Name": "exchange-only",
                    "Grants": {TOKEN_EXCHANGE: {"TokenExchange": {}}},
                    "AuthenticationMethods": iam_method,
                    "AssignmentRequired": False,
                },
                {
                    "Name": "no-refresh",
                    "Grants": {JWT_BEARER: standard_grants[JWT_BEARER]},
                    "AuthenticationMethods": iam_method,
                    "AssignmentRequired": False,
                },
                {
                    "Name": "disabled-app",
                    "Status": "DISABLED",
                    "Grants": standard_grants,
                    "AuthenticationMethods": iam_method,
                },
                {"Name": "no-iam-method", "Grants": standard_grants, "AssignmentRequired": False},
                {
                    "Name": "deny-in-actor",
                    "Grants": standard_grants,
                    "AssignmentRequired": False,
                    "AuthenticationMethods": {
                        "IAM": {
                            "Iam": {
                                "ActorPolicy": actor_policy(
                                    user_arn("caller"), deny=user_arn("caller")
                                )
                            }
                        }
                    },
                },
            ],
        },
    }


@dataclass
class Tenant:
    server: ServerProcess
    idp: TestIdentityProvider
    instance_arn: str
    apps: dict[str, str]
    issuer_arn: str
    store: Store
    box: SecretBox
    identity_store_id: str

    def oidc(self, creds: tuple[str, str] = CALLER) -> Any:
        return self.server.client("sso-oidc", *creds)

    def assertion(self, email: str = "alice@example.com", **claims: Any) -> str:
        claims.setdefault("audience", "backend")
        return self.idp.mint(subject=email.split("@")[0], email=email, **claims)

    def jwt_tokens(
        self, app: str = "backend", email: str = "alice@example.com", **kwargs: Any
    ) -> dict[str, Any]:
        return self.oidc().create_token_with_iam(  # type: ignore[no-any-return]
            clientId=self.apps[app], grantType=JWT_BEARER, assertion=self.assertion(email), **kwargs
        )

    def user_id(self, user_name: str) -> str:
        with self.store.read() as conn:
            user_id = identity_store.find_user_by_name(conn, self.identity_store_id, user_name)
        assert user_id is not None
        return user_id

    def mint_code(
        self,
        app: str = "backend",
        user: str = "alice",
        *,
        redirect_uri: str = REDIRECT,
        verifier: str | None = None,
        scopes: tuple[str, ...] = ("openid", "backend:read"),
        expired: bool = False,
    ) -> str:
        """A code as the browser sign-in will mint it, through the service function."""
        challenge = None
        if verifier is not None:
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
        now = time.time() - (400 if expired else 0)
        with self.store.write_sync() as conn:
            return tokens.mint_code(
                conn,
                client_id=self.apps[app],
                redirect_uri=redirect_uri,
                user_id=self.user_id(user),
                scopes=scopes,
                code_challenge=challenge,
                code_challenge_method="S256" if challenge else None,
                auth_time=now,
                now=now,
            )


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider(tmp_path_factory.mktemp("idp")) as provider:
        yield provider


@pytest.fixture(scope="session")
def tenant_server(
    tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider
) -> Iterator[Tenant]:
    data_dir = tmp_path_factory.mktemp("ssooidc")
    document = tenant(idp.issuer_url)
    server = ServerProcess(
        data_dir,
        tenant=_with_instance_placeholder(document),
        env={"SSL_CERT_FILE": str(idp.ca_path)},
    )
    server.start()
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
        store = Store(server.database_url)
        box = SecretBox.load(Path(data_dir) / "at-rest.key", create=False)
        yield Tenant(
            server,
            idp,
            instance["InstanceArn"],
            apps,
            issuer_arn,
            store,
            box,
            instance["IdentityStoreId"],
        )
        store.dispose()
    finally:
        server.stop()


def _with_instance_placeholder(document: dict[str, Any]) -> dict[str, Any]:
    """The backend:all scope targets the instance, whose ARN the tenant file cannot know yet:
    drop that target here; the test that needs it adds it through the store."""
    for app in document["ssoadmin"]["Applications"]:
        for scope in app.get("AccessScopes", []):
            scope["AuthorizedTargets"] = [
                t for t in scope.get("AuthorizedTargets", []) if t != "arn-of-instance"
            ]
    return document


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


# -- helpers added for the CreateTokenWithIAM integration tests ----------------------------

UNKNOWN_KEY = ("AKIAUNKNOWNTESTKEY01", "unknown-secret-access-key-000000000001")
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"


def oidc_client(server: ServerProcess, creds: tuple[str, str] = CALLER, **config: Any) -> Any:
    """A boto3 sso-oidc client with extra botocore ``Config`` options (no retries)."""
    return boto3.client(
        "sso-oidc",
        endpoint_url=server.url,
        region_name=config.pop("region_name", REGION),
        aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1],
        config=NO_RETRY.merge(Config(**config)),
    )


def oidc_error(client: Any, name: str, **kwargs: Any) -> dict[str, Any]:
    """Call CreateTokenWithIAM, expect the modelled ``client.exceptions.<name>``, return
    ``e.response`` (with ``error`` and ``error_description`` at its top)."""
    with pytest.raises(getattr(client.exceptions, name)) as info:
        client.create_token_with_iam(**kwargs)
    response: dict[str, Any] = info.value.response
    assert response["Error"]["Code"] == name
    return response


def sigv4_error(client: Any, **kwargs: Any) -> dict[str, Any]:
    """Call CreateTokenWithIAM, expect a SigV4 failure (an unmodelled 403 ClientError)."""
    with pytest.raises(ClientError) as info:
        client.create_token_with_iam(**kwargs)
    response: dict[str, Any] = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return response


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, not verified (for reading ids out of an ID token)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def craft_jwt(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS put together by hand (any header, any claims, any signature bytes)."""

    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), signature]
    return ".".join(segment(p) for p in parts)


class _DatedSigV4Auth(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4Auth with the request date chosen by the test (X-Amz-Date)."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, when: dt.datetime
    ) -> None:
        super().__init__(credentials, service, region)
        self.when = when

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self.when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


def signed_token_request(
    server: ServerProcess,
    body: bytes,
    creds: tuple[str, str] = CALLER,
    *,
    when: dt.datetime | None = None,
    region: str = REGION,
    service: str = "sso-oauth",
) -> httpx.Response:
    """POST /token?aws_iam=t signed by botocore's SigV4Auth at ``when``, sent with httpx."""
    request = AWSRequest(
        method="POST",
        url=f"{server.url}/token?aws_iam=t",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    signer = _DatedSigV4Auth(Credentials(*creds), service, region, when or dt.datetime.now(dt.UTC))
    signer.add_auth(request)
    prepared = request.prepare()
    return httpx.post(
        prepared.url, content=body, headers=dict(prepared.headers.items()), timeout=10
    )


def set_family_expiry(tenant: Tenant, family_id: str, expires_at: float) -> None:
    """Move a token family's end (the store as the server reads it)."""
    with tenant.store.write_sync() as conn:
        result = conn.execute(
            update(tables.token_families)
            .where(tables.token_families.c.family_id == family_id)
            .values(expires_at=expires_at)
        )
        assert result.rowcount == 1


def family_row(tenant: Tenant, family_id: str) -> Any:
    with tenant.store.read() as conn:
        return conn.execute(
            select(tables.token_families).where(tables.token_families.c.family_id == family_id)
        ).one()


@contextlib.contextmanager
def user_status(tenant: Tenant, user_name: str, status: str) -> Iterator[None]:
    """Set an identity-store user's status for the block, then put it back."""
    user_id = tenant.user_id(user_name)
    with tenant.store.read() as conn:
        user = identity_store.get_user(conn, user_id)
    assert user is not None
    with tenant.store.write_sync() as conn:
        identity_store.set_user_status(conn, user_id, status)
    try:
        yield
    finally:
        with tenant.store.write_sync() as conn:
            identity_store.set_user_status(conn, user_id, user.status)


def start_tenant_server(data_dir: Path, provider: TestIdentityProvider) -> Tenant:
    """Another server with the same tenant document, trusting ``provider``; stop with
    ``stop_tenant_server``."""
    document = tenant(provider.issuer_url)
    server = ServerProcess(
        data_dir,
        tenant=_with_instance_placeholder(document),
        env={"SSL_CERT_FILE": str(provider.ca_path)},
    )
    server.start()
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
        store = Store(server.database_url)
        box = SecretBox.load(Path(data_dir) / "at-rest.key", create=False)
    except BaseException:
        server.stop()
        raise
    return Tenant(
        server,
        provider,
        instance["InstanceArn"],
        apps,
        issuer_arn,
        store,
        box,
        instance["IdentityStoreId"],
    )


def stop_tenant_server(tenant_: Tenant) -> None:
    tenant_.store.dispose()
    tenant_.server.stop()


@pytest.fixture(scope="session")
def untrusted_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIdentityProvider]:
    """A second identity provider that no trusted token issuer of ``tenant_server`` names."""
    with TestIdentityProvider(tmp_path_factory.mktemp("untrusted-idp")) as provider:
        yield provider


@pytest.fixture(scope="session")
def rotation_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    """A server of its own, trusting an identity provider of its own, for tests that rotate
    the provider's keys (the key cache allows one refetch per issuer per minute, which the
    shared server's other tests may already have used)."""
    with TestIdentityProvider(tmp_path_factory.mktemp("rotation-idp")) as provider:
        started = start_tenant_server(tmp_path_factory.mktemp("ssooidc-rotation"), provider)
        try:
            yield started
        finally:
            stop_tenant_server(started)


@contextlib.contextmanager
def scope_targets(tenant_: Tenant, app: str, scope: str, targets: list[str]) -> Iterator[None]:
    """Give an access scope of ``app`` these AuthorizedTargets for the block, then put the old
    ones back (through the store, as PutApplicationAccessScope would)."""
    table = tables.application_scopes
    where = (table.c.application_arn == tenant_.apps[app], table.c.scope == scope)
    with tenant_.store.write_sync() as conn:
        old = conn.execute(select(table.c.authorized_targets).where(*where)).scalar_one()
        conn.execute(update(table).where(*where).values(authorized_targets=targets))
        bump_generation(conn)
    try:
        yield
    finally:
        with tenant_.store.write_sync() as conn:
            conn.execute(update(table).where(*where).values(authorized_targets=old))
            bump_generation(conn)


@pytest.fixture(scope="session")
def ssooidc_database_url() -> str | None:
    """The plugin's ``ssooidc_server`` runs on the suite's store too: on the PostgreSQL run it
    gets a new database on that server (the plugin makes and drops it)."""
    return stores.POSTGRES if stores.on_postgresql() else None
