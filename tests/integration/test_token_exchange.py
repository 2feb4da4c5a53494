"""The token-exchange grant (spec section 2): another application's access token, for a scope
whose AuthorizedTargets name the requesting application."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import update

from ssooidc.services.tokens import token_hash
from ssooidc.store import tables
from tests.integration.conftest import (
    ACCESS_TYPE,
    REFRESH_TYPE,
    TOKEN_EXCHANGE,
    Tenant,
    family_row,
    jwt_claims,
    oidc_error,
    scope_targets,
    set_family_expiry,
    user_status,
)

DEFAULTS = {"openid", "aws", "sts:identity_context"}


def exchange(t: Tenant, subject: str, app: str = "reports", **extra: Any) -> dict[str, Any]:
    extra.setdefault("subjectTokenType", ACCESS_TYPE)
    return t.oidc().create_token_with_iam(  # type: ignore[no-any-return]
        clientId=t.apps[app], grantType=TOKEN_EXCHANGE, subjectToken=subject, **extra
    )


def exchange_refused(
    t: Tenant, subject: str, name: str = "InvalidGrantException", app: str = "reports", **extra: Any
) -> str:
    extra.setdefault("subjectTokenType", ACCESS_TYPE)
    response = oidc_error(
        t.oidc(),
        name,
        clientId=t.apps[app],
        grantType=TOKEN_EXCHANGE,
        subjectToken=subject,
        **extra,
    )
    if name == "InvalidGrantException":
        assert response["error"] == "invalid_grant"
    description: str = response["error_description"]
    return description


def backend_tokens(t: Tenant, **kwargs: Any) -> dict[str, Any]:
    return t.jwt_tokens("backend", **kwargs)


def test_backend_token_exchanged_by_reports(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    result = exchange(tenant_server, subject["accessToken"])
    result.pop("ResponseMetadata")
    assert set(result) == {
        "accessToken",
        "tokenType",
        "expiresIn",
        "idToken",
        "issuedTokenType",
        "scope",
        "awsAdditionalDetails",
    }
    assert result["accessToken"].startswith("aoa")
    assert result["accessToken"] != subject["accessToken"]
    assert result["issuedTokenType"] == ACCESS_TYPE
    assert result["tokenType"] == "Bearer"
    assert result["expiresIn"] == 3600
    claims = jwt_claims(result["idToken"])
    assert result["awsAdditionalDetails"]["identityContext"] == claims["sts:identity_context"]


def test_exchanged_tokens_are_for_the_same_user_and_session(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server, email="dave@example.com")
    result = exchange(tenant_server, subject["accessToken"])
    before, after = jwt_claims(subject["idToken"]), jwt_claims(result["idToken"])
    assert after["sub"] == before["sub"] == tenant_server.user_id("dave")
    assert after["auth_time"] == before["auth_time"]
    assert after["aws:application_arn"] == tenant_server.apps["reports"]
    assert after["aud"] != before["aud"]
    assert after["aws:credential_id"] != before["aws:credential_id"]
    old, new = (
        family_row(tenant_server, before["aws:credential_id"]),
        family_row(tenant_server, after["aws:credential_id"]),
    )
    assert new.application_arn == tenant_server.apps["reports"]
    assert new.expires_at <= old.expires_at


def test_refresh_token_requested_by_application_with_refresh_grant(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    result = exchange(tenant_server, subject["accessToken"], requestedTokenType=REFRESH_TYPE)
    assert result["refreshToken"].startswith("aor")
    assert result["issuedTokenType"] == REFRESH_TYPE
    refreshed = tenant_server.oidc().create_token_with_iam(
        clientId=tenant_server.apps["reports"],
        grantType="refresh_token",
        refreshToken=result["refreshToken"],
    )
    assert set(refreshed["scope"]) == set(result["scope"])
    assert jwt_claims(refreshed["idToken"])["sub"] == jwt_claims(subject["idToken"])["sub"]


def test_access_token_requested_explicitly_has_no_refresh_token(tenant_server: Tenant) -> None:
    result = exchange(
        tenant_server, backend_tokens(tenant_server)["accessToken"], requestedTokenType=ACCESS_TYPE
    )
    assert "refreshToken" not in result
    assert result["issuedTokenType"] == ACCESS_TYPE


def test_refresh_token_requested_without_refresh_grant_is_unauthorized_client(
    tenant_server: Tenant,
) -> None:
    subject = backend_tokens(tenant_server)
    description = exchange_refused(
        tenant_server,
        subject["accessToken"],
        "UnauthorizedClientException",
        app="exchange-only",
        requestedTokenType=REFRESH_TYPE,
    )
    assert "RefreshToken grant" in description


@pytest.mark.parametrize(
    "token_type", [REFRESH_TYPE, "urn:ietf:params:oauth:token-type:id_token", "access_token"]
)
def test_bad_subject_token_type_is_invalid_request(tenant_server: Tenant, token_type: str) -> None:
    subject = backend_tokens(tenant_server)
    description = exchange_refused(
        tenant_server,
        subject["accessToken"],
        "InvalidRequestException",
        subjectTokenType=token_type,
    )
    assert "subjectTokenType" in description


@pytest.mark.parametrize(
    "token_type", ["urn:ietf:params:oauth:token-type:id_token", "refresh_token", ""]
)
def test_bad_requested_token_type_is_invalid_request(
    tenant_server: Tenant, token_type: str
) -> None:
    subject = backend_tokens(tenant_server)
    description = exchange_refused(
        tenant_server,
        subject["accessToken"],
        "InvalidRequestException",
        requestedTokenType=token_type,
    )
    assert "requestedTokenType" in description


def test_own_access_token_is_invalid_grant(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    assert "same application" in exchange_refused(
        tenant_server, subject["accessToken"], app="backend"
    )


@pytest.mark.parametrize("token", ["aoa-never-issued", "garbage", ""])
def test_unknown_subject_token_is_invalid_grant(tenant_server: Tenant, token: str) -> None:
    assert "not a live access token" in exchange_refused(tenant_server, token)


def test_subject_token_without_authorizing_scope_is_invalid_grant(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server, scope=["backend:write", "openid"])
    assert "no scope" in exchange_refused(tenant_server, subject["accessToken"])


def test_target_not_named_by_any_scope_is_invalid_grant(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    assert "no scope" in exchange_refused(
        tenant_server, subject["accessToken"], app="exchange-only"
    )


def test_exchanged_scopes_are_authorizing_scopes_within_target_plus_defaults(
    tenant_server: Tenant,
) -> None:
    subject = backend_tokens(tenant_server)
    assert set(subject["scope"]) >= {"backend:read", "backend:write", "backend:all"}
    assert (
        set(exchange(tenant_server, subject["accessToken"])["scope"]) == {"backend:read"} | DEFAULTS
    )


def test_instance_target_authorizes_every_application(tenant_server: Tenant) -> None:
    with scope_targets(tenant_server, "backend", "backend:all", [tenant_server.instance_arn]):
        subject = backend_tokens(tenant_server, scope=["backend:all", "openid"])
        # exchange-only has no access scope of its own: backend:all authorizes it, the
        # intersection is empty, the defaults remain.
        assert (
            set(exchange(tenant_server, subject["accessToken"], app="exchange-only")["scope"])
            == DEFAULTS
        )
        # reports: authorized through the instance, but backend:all is not a scope of reports.
        assert set(exchange(tenant_server, subject["accessToken"])["scope"]) == DEFAULTS
    assert "no scope" in exchange_refused(
        tenant_server, subject["accessToken"], app="exchange-only"
    )


def test_scope_narrows_the_exchange(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    assert exchange(tenant_server, subject["accessToken"], scope=["backend:read"])["scope"] == [
        "backend:read"
    ]
    assert sorted(
        exchange(tenant_server, subject["accessToken"], scope=["openid", "aws"])["scope"]
    ) == ["aws", "openid"]


@pytest.mark.parametrize("scope", ["reports:view", "backend:write", "nope"])
def test_scope_outside_the_exchange_is_invalid_scope(tenant_server: Tenant, scope: str) -> None:
    subject = backend_tokens(tenant_server)
    description = exchange_refused(
        tenant_server,
        subject["accessToken"],
        "InvalidScopeException",
        scope=["backend:read", scope],
    )
    assert scope in description


def test_refresh_token_as_subject_is_invalid_grant(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    assert "not a live access token" in exchange_refused(tenant_server, subject["refreshToken"])


def test_subject_of_revoked_family_is_invalid_grant(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    oidc = tenant_server.oidc()
    request = {
        "clientId": tenant_server.apps["backend"],
        "grantType": "refresh_token",
        "refreshToken": subject["refreshToken"],
    }
    oidc.create_token_with_iam(**request)
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token_with_iam(**request)  # reuse: the family is revoked
    assert "not a live access token" in exchange_refused(tenant_server, subject["accessToken"])


def test_expired_subject_token_is_invalid_grant(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    with tenant_server.store.write_sync() as conn:
        result = conn.execute(
            update(tables.tokens)
            .where(tables.tokens.c.token_hash == token_hash(subject["accessToken"]))
            .values(expires_at=time.time() - 1)
        )
        assert result.rowcount == 1
    assert "not a live access token" in exchange_refused(tenant_server, subject["accessToken"])


def test_subject_token_of_a_disabled_user_is_access_denied(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server, email="dave@example.com")
    with user_status(tenant_server, "dave", "DISABLED"):
        assert "disabled" in exchange_refused(
            tenant_server, subject["accessToken"], "AccessDeniedException"
        )
    assert exchange(tenant_server, subject["accessToken"])["accessToken"].startswith("aoa")


def test_exchanged_family_ends_with_the_subject_family(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    ends = time.time() + 600
    set_family_expiry(tenant_server, jwt_claims(subject["idToken"])["aws:credential_id"], ends)
    result = exchange(tenant_server, subject["accessToken"], requestedTokenType=REFRESH_TYPE)
    row = family_row(tenant_server, jwt_claims(result["idToken"])["aws:credential_id"])
    assert row.expires_at == pytest.approx(ends)


def test_twenty_six_scopes_are_invalid_scope(tenant_server: Tenant) -> None:
    subject = backend_tokens(tenant_server)
    description = exchange_refused(
        tenant_server, subject["accessToken"], "InvalidScopeException", scope=["openid"] * 26
    )
    assert "25" in description
