"""The pytest plugin's fixtures and factories, used as an application's test suite uses them:
every object made through the public APIs, isolated by name, deleted after the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from ssooidc.testing import (
    JWT_BEARER,
    MISBEHAVIOURS,
    TOKEN_EXCHANGE,
    Endpoint,
    IsolatedTenant,
    TrustedIssuer,
)
from ssooidc.testing.endpoint import SERVICES, endpoint_variable
from ssooidc.testing.plugin import EndpointEnvironment
from ssooidc.testing.server import LocalServer
from tests import stores

ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def test_the_plugin_server_runs_on_the_suites_store(ssooidc_server: Endpoint) -> None:
    assert isinstance(ssooidc_server, LocalServer)
    on_postgresql = ssooidc_server.database_url.startswith("postgresql")
    assert on_postgresql == stores.on_postgresql()


def test_a_jwt_bearer_flow_in_a_few_lines(
    tip_application: Callable[..., Any],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> None:
    alice = identity_user()
    app = tip_application()
    tokens = app.client("sso-oidc").create_token_with_iam(
        clientId=app.arn,
        grantType=JWT_BEARER,
        assertion=trusted_issuer.mint(email=alice.email, audience=app.audience),
    )
    assert tokens["idToken"] and tokens["refreshToken"]


def test_refreshed_tokens_give_an_identity_enhanced_role_session(
    tip_application: Callable[..., Any],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
    assume_role_with_context: Callable[..., Any],
) -> None:
    alice = identity_user("alice")
    app = tip_application(scopes=["reports:read"])
    oidc = app.client()
    tokens = oidc.create_token_with_iam(
        clientId=app.arn,
        grantType=JWT_BEARER,
        assertion=trusted_issuer.mint(email=alice.email, audience=app.audience),
    )
    assert "reports:read" in tokens["scope"]
    refreshed = oidc.create_token_with_iam(
        clientId=app.arn, grantType="refresh_token", refreshToken=tokens["refreshToken"]
    )
    session = assume_role_with_context(refreshed["idToken"], caller=app, session_name="alice")
    who = session.client("sts").get_caller_identity()
    assert who["Arn"] == session.arn
    assert session.arn.endswith(f"/{session.role_arn.rsplit('/', 1)[1]}/alice")
    # The whole answer and the bare context name the same context.
    again = assume_role_with_context(refreshed)
    assert again.context == session.context


def test_assignment_required_admits_only_assigned_users(
    tip_application: Callable[..., Any],
    identity_user: Callable[..., Any],
    identity_group: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> None:
    member, outsider = identity_user(), identity_user()
    readers = identity_group("readers", members=[member])
    app = tip_application(assignment_required=True, assignments=[readers])
    oidc = app.client()
    tokens = oidc.create_token_with_iam(
        clientId=app.arn,
        grantType=JWT_BEARER,
        assertion=trusted_issuer.mint(email=member.email, audience=app.audience),
    )
    assert tokens["accessToken"]
    with pytest.raises(oidc.exceptions.AccessDeniedException):
        oidc.create_token_with_iam(
            clientId=app.arn,
            grantType=JWT_BEARER,
            assertion=trusted_issuer.mint(email=outsider.email, audience=app.audience),
        )


def test_token_exchange_reaches_only_authorized_targets(
    tip_application: Callable[..., Any],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> None:
    alice = identity_user()
    # The target grants a scope it has itself, when a scope of the subject token authorizes it.
    reports = tip_application("reports", grants=["token-exchange"], scopes=["reports:read"])
    elsewhere = tip_application("elsewhere", grants=["token-exchange"])
    frontend = tip_application("frontend", scopes=["reports:read"], authorized_targets=[reports])
    subject = frontend.client().create_token_with_iam(
        clientId=frontend.arn,
        grantType=JWT_BEARER,
        assertion=trusted_issuer.mint(email=alice.email, audience=frontend.audience),
    )["accessToken"]
    exchanged = reports.client().create_token_with_iam(
        clientId=reports.arn,
        grantType=TOKEN_EXCHANGE,
        subjectToken=subject,
        subjectTokenType=ACCESS_TYPE,
    )
    assert "reports:read" in exchanged["scope"]
    oidc = elsewhere.client()
    with pytest.raises(oidc.exceptions.InvalidGrantException) as refused:
        oidc.create_token_with_iam(
            clientId=elsewhere.arn,
            grantType=TOKEN_EXCHANGE,
            subjectToken=subject,
            subjectTokenType=ACCESS_TYPE,
        )
    assert "authorizes this application" in refused.value.response["error_description"]


@pytest.mark.parametrize("misbehaviour", MISBEHAVIOURS)
def test_every_ready_misbehaviour_is_refused(
    misbehaviour: str,
    tip_application: Callable[..., Any],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> None:
    alice = identity_user()
    app = tip_application(grants=["jwt-bearer"])
    oidc = app.client()
    claims = {"email": alice.email, "audience": app.audience}
    oidc.create_token_with_iam(
        clientId=app.arn, grantType=JWT_BEARER, assertion=trusted_issuer.mint(**claims)
    )
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token_with_iam(
            clientId=app.arn,
            grantType=JWT_BEARER,
            assertion=trusted_issuer.misbehave(misbehaviour, **claims),
        )


def test_rotated_keys_are_fetched_again(
    tip_application: Callable[..., Any],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> None:
    alice = identity_user()
    app = tip_application(grants=["jwt-bearer"])
    oidc = app.client()
    for _ in range(2):
        assert oidc.create_token_with_iam(
            clientId=app.arn,
            grantType=JWT_BEARER,
            assertion=trusted_issuer.mint(email=alice.email, audience=app.audience),
        )["accessToken"]
        trusted_issuer.rotate_keys()


def test_code_that_builds_its_own_clients_reaches_the_server(
    ssooidc_endpoint: EndpointEnvironment,
    tip_application: Callable[..., Any],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> None:
    alice = identity_user()
    app = tip_application()
    ssooidc_endpoint.use(app)
    assert boto3.client("sts").get_caller_identity()["Arn"] == app.caller.arn
    tokens = boto3.client("sso-oidc").create_token_with_iam(
        clientId=app.arn,
        grantType=JWT_BEARER,
        assertion=trusted_issuer.mint(email=alice.email, audience=app.audience),
    )
    assert tokens["accessToken"]
    assert {os.environ[endpoint_variable(name)] for name in SERVICES} == {ssooidc_endpoint.url}


def test_the_aws_cli_reaches_the_server_through_env(
    ssooidc_server: Endpoint, iam_user: Callable[..., Any]
) -> None:
    principal = iam_user()
    answer = subprocess.run(
        [sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--output", "json"],
        env=ssooidc_server.environ(principal.credentials),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(answer.stdout)["Arn"] == principal.arn


def test_everything_made_is_deleted_when_the_test_ends(
    ssooidc_server: Endpoint, ssooidc_issuer_host: Any
) -> None:
    tenant = IsolatedTenant(ssooidc_server, issuer_host=ssooidc_issuer_host)
    user = tenant.identity_user()
    group = tenant.identity_group(members=[user])
    app = tenant.tip_application(scopes=["x:read"], assignments=[group])
    session = tenant.assume_role_with_context(
        app.client().create_token_with_iam(
            clientId=app.arn,
            grantType=JWT_BEARER,
            assertion=tenant.default_issuer.mint(email=user.email, audience=app.audience),
        )
    )
    tenant.close()

    admin = ssooidc_server.client("sso-admin")
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.describe_application(ApplicationArn=app.arn)
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.describe_trusted_token_issuer(TrustedTokenIssuerArn=tenant.default_issuer.arn)
    store = ssooidc_server.client("identitystore")
    with pytest.raises(store.exceptions.ResourceNotFoundException):
        store.describe_user(IdentityStoreId=ssooidc_server.identity_store_id, UserId=user.user_id)
    with pytest.raises(store.exceptions.ResourceNotFoundException):
        store.describe_group(
            IdentityStoreId=ssooidc_server.identity_store_id, GroupId=group.group_id
        )
    iam = ssooidc_server.client("iam")
    for call in (
        lambda: iam.get_user(UserName=app.caller.name),
        lambda: iam.get_role(RoleName=session.role_arn.rsplit("/", 1)[1]),
    ):
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            call()
