"""The demo tenant (``--demo``): two users, a development identity provider built into the
server, and applications with all four grants, so that a newcomer gets real tokens at once."""

from __future__ import annotations

import json
import secrets
import shlex
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from ssooidc.config import Settings
from ssooidc.services import iam, keys
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import load_instance
from ssooidc.store.engine import Store

ISSUER_PATH = "/demo/idp"
AUDIENCE = "demo-app"
USERS = (("alice", "Alice", "Doe", "alice@example.com"), ("bob", "Bob", "Roe", "bob@example.com"))


def demo_password(user_name: str) -> str:
    """The demo users' password: printed by the quickstart, never used outside --demo."""
    return f"{user_name}-demo-password"


def issuer_url(settings: Settings) -> str:
    return settings.public_url + ISSUER_PATH


def tenant(settings: Settings, account_id: str) -> dict[str, Any]:
    admin = iam.user_arn(account_id, iam.ADMIN_USER)
    actor_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": admin},
                "Action": "sso-oauth:CreateTokenWithIAM",
                "Resource": "*",
            }
        ],
    }
    return {
        "identitystore": {
            "Users": [
                {
                    "UserName": name,
                    "DisplayName": f"{given} {family}",
                    "Name": {"GivenName": given, "FamilyName": family},
                    "Emails": [{"Value": email, "Type": "work", "Primary": True}],
                    # Development only: a known password so the browser pages can be tried.
                    "Password": demo_password(name),
                }
                for name, given, family, email in USERS
            ],
            "Groups": [{"DisplayName": "demo-users", "Members": [u[0] for u in USERS]}],
        },
        "ssoadmin": {
            "TrustedTokenIssuers": [
                {
                    "Name": "demo-idp",
                    "TrustedTokenIssuerType": "OIDC_JWT",
                    "TrustedTokenIssuerConfiguration": {
                        "OidcJwtConfiguration": {
                            "IssuerUrl": issuer_url(settings),
                            "ClaimAttributePath": "email",
                            "IdentityStoreAttributePath": "emails.value",
                            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                        }
                    },
                }
            ],
            "Applications": [
                {
                    "Name": "demo-app",
                    "Description": "Demo application with all four grants",
                    "Grants": {
                        "urn:ietf:params:oauth:grant-type:jwt-bearer": {
                            "JwtBearer": {
                                "AuthorizedTokenIssuers": [
                                    {
                                        "TrustedTokenIssuer": "demo-idp",
                                        "AuthorizedAudiences": [AUDIENCE],
                                    }
                                ]
                            }
                        },
                        "refresh_token": {"RefreshToken": {}},
                        "authorization_code": {
                            "AuthorizationCode": {"RedirectUris": ["http://127.0.0.1/callback"]}
                        },
                        "urn:ietf:params:oauth:grant-type:token-exchange": {"TokenExchange": {}},
                    },
                    "AuthenticationMethods": {"IAM": {"Iam": {"ActorPolicy": actor_policy}}},
                    "AccessScopes": [{"Scope": "demo:read", "AuthorizedTargets": ["demo-api"]}],
                    "AssignmentRequired": True,
                    "Assignments": [{"PrincipalType": "GROUP", "Principal": "demo-users"}],
                },
                {
                    "Name": "demo-api",
                    "Description": "Demo downstream API that accepts demo-app's tokens by exchange",
                    "Grants": {
                        "urn:ietf:params:oauth:grant-type:token-exchange": {"TokenExchange": {}},
                        "refresh_token": {"RefreshToken": {}},
                    },
                    "AuthenticationMethods": {"IAM": {"Iam": {"ActorPolicy": actor_policy}}},
                    "AccessScopes": [{"Scope": "demo:read"}],
                    "AssignmentRequired": False,
                },
            ],
        },
    }


def load(settings: Settings, store: Store, box: SecretBox) -> None:
    """Create the demo identity provider's key and apply the demo tenant (idempotent)."""
    from ssooidc.tenant import apply

    with store.write_sync() as conn:
        instance = load_instance(conn, settings.region)
        assert instance is not None
        if keys.current_signing_key(conn, box, keys.DEMO_IDP) is None:
            keys.create_signing_key(conn, box, purpose=keys.DEMO_IDP, alg="RS256", now=time.time())
    apply(
        store, box, tenant(settings, instance.account_id), region=settings.region, development=True
    )


def mint_assertion(
    settings: Settings, *, email: str, audience: str = AUDIENCE, lifetime: int = 300
) -> str:
    """An assertion signed by the demo identity provider's key, for the demo tenant."""
    from ssooidc.app import open_store

    store, box = open_store(settings)
    try:
        with store.read() as conn:
            key = keys.current_signing_key(conn, box, keys.DEMO_IDP)
    finally:
        store.dispose()
    if key is None:
        raise SystemExit(
            "ssooidc: no demo identity provider here: start the server with --demo first"
        )
    assert isinstance(key.key, RSAKey)
    now = int(time.time())
    claims = {
        "iss": issuer_url(settings),
        "sub": email,
        "aud": audience,
        "email": email,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": "JWT"}, claims, key.key)


def quickstart(settings: Settings) -> str:
    url = settings.public_url
    data = json.dumps(settings.data_dir)
    credentials = shlex.quote(str(Path(settings.data_dir) / "credentials"))
    return f"""
ssooidc demo tenant: users alice@example.com and bob@example.com, application demo-app.
Browser sign-in: {url}/start as alice / {demo_password("alice")} (or bob / {demo_password("bob")}).
Try it (another terminal, same directory):

    import boto3, subprocess
    # with AWS_SHARED_CREDENTIALS_FILE={credentials}
    session = boto3.Session(profile_name="ssooidc")
    admin = session.client("sso-admin", endpoint_url="{url}", region_name="{settings.region}")
    instance = admin.list_instances()["Instances"][0]["InstanceArn"]
    app = next(a for a in admin.list_applications(InstanceArn=instance)["Applications"]
               if a["Name"] == "demo-app")["ApplicationArn"]
    assertion = subprocess.check_output(["ssooidc", "demo", "assertion", "--data-dir", {data},
                                         "--email", "alice@example.com"], text=True).strip()
    oidc = session.client("sso-oidc", endpoint_url="{url}", region_name="{settings.region}")
    tokens = oidc.create_token_with_iam(clientId=app, assertion=assertion,
                                        grantType="urn:ietf:params:oauth:grant-type:jwt-bearer")
    print(tokens["idToken"])
"""
