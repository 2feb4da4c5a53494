"""The refresh_token and authorization_code grants, and what racing requests get."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.integration.conftest import (
    JWT_BEARER,
    REDIRECT,
    REFRESH_TYPE,
    TOKEN_EXCHANGE,
    Tenant,
    family_row,
    jwt_claims,
    new_verifier,
    oidc_error,
    set_family_expiry,
    user_status,
)

ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def refresh(t: Tenant, token: str, app: str = "backend", **extra: Any) -> dict[str, Any]:
    return t.oidc().create_token_with_iam(  # type: ignore[no-any-return]
        clientId=t.apps[app], grantType="refresh_token", refreshToken=token, **extra
    )


def refresh_refused(
    t: Tenant, token: str, name: str = "InvalidGrantException", app: str = "backend", **extra: Any
) -> str:
    response = oidc_error(
        t.oidc(), name, clientId=t.apps[app], grantType="refresh_token", refreshToken=token, **extra
    )
    description: str = response["error_description"]
    return description


def redeem(t: Tenant, code: str, app: str = "backend", **extra: Any) -> dict[str, Any]:
    extra.setdefault("redirectUri", REDIRECT)
    return t.oidc().create_token_with_iam(  # type: ignore[no-any-return]
        clientId=t.apps[app], grantType="authorization_code", code=code, **extra
    )


def redeem_refused(
    t: Tenant, code: str, name: str = "InvalidGrantException", app: str = "backend", **extra: Any
) -> str:
    extra.setdefault("redirectUri", REDIRECT)
    response = oidc_error(
        t.oidc(), name, clientId=t.apps[app], grantType="authorization_code", code=code, **extra
    )
    if name == "InvalidGrantException":
        assert response["error"] == "invalid_grant"
    description: str = response["error_description"]
    return description


def exchange_refused(t: Tenant, access_token: str) -> str:
    response = oidc_error(
        t.oidc(),
        "InvalidGrantException",
        clientId=t.apps["reports"],
        grantType=TOKEN_EXCHANGE,
        subjectToken=access_token,
        subjectTokenType=ACCESS_TYPE,
    )
    description: str = response["error_description"]
    return description


def family_id(result: dict[str, Any]) -> str:
    value: str = jwt_claims(result["idToken"])["aws:credential_id"]
    return value


# -- refresh_token -----------------------------------------------------------------------------


def test_refresh_rotates_and_keeps_the_session(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    second = refresh(tenant_server, first["refreshToken"])
    assert second["refreshToken"].startswith("aor")
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert second["issuedTokenType"] == REFRESH_TYPE
    assert second["expiresIn"] == 3600
    assert set(second["scope"]) == set(first["scope"])
    before, after = jwt_claims(first["idToken"]), jwt_claims(second["idToken"])
    for claim in ("sub", "aud", "auth_time", "aws:credential_id", "act", "aws:application_arn"):
        assert after[claim] == before[claim]
    assert second["awsAdditionalDetails"]["identityContext"] == after["sts:identity_context"]
    third = refresh(tenant_server, second["refreshToken"])
    assert third["refreshToken"] not in (first["refreshToken"], second["refreshToken"])


def test_reused_refresh_token_revokes_the_whole_family(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    second = refresh(tenant_server, first["refreshToken"])
    assert "already used" in refresh_refused(tenant_server, first["refreshToken"])
    assert "revoked" in refresh_refused(tenant_server, second["refreshToken"])
    assert "not a live access token" in exchange_refused(tenant_server, second["accessToken"])
    assert family_row(tenant_server, family_id(first)).revoked_at is not None


def test_refresh_downscoping_narrows_and_never_widens(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens(scope=["openid", "backend:read", "backend:write"])
    narrowed = refresh(tenant_server, first["refreshToken"], scope=["backend:read"])
    assert narrowed["scope"] == ["backend:read"]
    description = refresh_refused(
        tenant_server,
        narrowed["refreshToken"],
        "InvalidScopeException",
        scope=["backend:read", "backend:write"],
    )
    assert "backend:write" in description
    # A refused widening consumed nothing: the narrowed token still refreshes.
    assert refresh(tenant_server, narrowed["refreshToken"])["scope"] == ["backend:read"]


def test_refresh_beyond_the_original_grant_is_invalid_scope(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens(scope=["openid", "backend:read"])
    description = refresh_refused(
        tenant_server, first["refreshToken"], "InvalidScopeException", scope=["backend:all"]
    )
    assert "backend:all" in description


def test_refresh_token_of_another_application_is_invalid_grant(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    assert "not valid for this client" in refresh_refused(
        tenant_server, first["refreshToken"], app="reports"
    )
    # The refused attempt neither consumed nor revoked it.
    assert refresh(tenant_server, first["refreshToken"])["refreshToken"].startswith("aor")


@pytest.mark.parametrize("token", ["aor-not-a-token", "", "x" * 5000])
def test_unknown_refresh_token_is_invalid_grant(tenant_server: Tenant, token: str) -> None:
    assert "not valid for this client" in refresh_refused(tenant_server, token)


def test_access_token_is_not_a_refresh_token(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    assert "not valid" in refresh_refused(tenant_server, first["accessToken"])


def test_refresh_past_the_family_lifetime_is_expired_token(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    set_family_expiry(tenant_server, family_id(first), time.time() - 1)
    response = oidc_error(
        tenant_server.oidc(),
        "ExpiredTokenException",
        clientId=tenant_server.apps["backend"],
        grantType="refresh_token",
        refreshToken=first["refreshToken"],
    )
    assert response["error"] == "expired_token"
    assert "expired" in response["error_description"]


def test_refresh_never_extends_the_family(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    ends = time.time() + 1800
    set_family_expiry(tenant_server, family_id(first), ends)
    second = refresh(tenant_server, first["refreshToken"])
    assert family_id(second) == family_id(first)
    assert family_row(tenant_server, family_id(first)).expires_at == pytest.approx(ends)
    # The family ends within the hour: the access and ID tokens end with it.
    assert 1700 < second["expiresIn"] <= 1800
    claims = jwt_claims(second["idToken"])
    assert claims["exp"] - claims["iat"] == second["expiresIn"]


def test_refresh_for_a_user_disabled_after_issuance_is_access_denied(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens(email="dave@example.com")
    with user_status(tenant_server, "dave", "DISABLED"):
        description = refresh_refused(tenant_server, first["refreshToken"], "AccessDeniedException")
        assert "disabled" in description
    # Nothing was written by the refusal: once enabled again, the token still refreshes.
    assert refresh(tenant_server, first["refreshToken"])["refreshToken"].startswith("aor")


def test_refresh_without_a_refresh_grant_is_unauthorized_client(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    response = oidc_error(
        tenant_server.oidc(),
        "UnauthorizedClientException",
        clientId=tenant_server.apps["no-refresh"],
        grantType="refresh_token",
        refreshToken=first["refreshToken"],
    )
    assert response["error"] == "unauthorized_client"


# -- authorization_code ----------------------------------------------------------------------------


def test_code_with_pkce_is_redeemed(tenant_server: Tenant) -> None:
    verifier = new_verifier()
    before = time.time()
    result = redeem(
        tenant_server, tenant_server.mint_code(verifier=verifier), codeVerifier=verifier
    )
    assert result["accessToken"].startswith("aoa")
    assert result["refreshToken"].startswith("aor")
    assert result["issuedTokenType"] == REFRESH_TYPE
    assert result["expiresIn"] == 3600
    assert sorted(result["scope"]) == ["backend:read", "openid"]
    claims = jwt_claims(result["idToken"])
    assert claims["sub"] == tenant_server.user_id("alice")
    assert claims["aws:application_arn"] == tenant_server.apps["backend"]
    assert "act" not in claims
    assert result["awsAdditionalDetails"]["identityContext"] == claims["sts:identity_context"]
    row = family_row(tenant_server, claims["aws:credential_id"])
    assert before - 5 <= row.auth_time <= time.time()
    # The family's refresh token works.
    assert refresh(tenant_server, result["refreshToken"])["scope"] == result["scope"]


def test_code_without_pkce_is_redeemed(tenant_server: Tenant) -> None:
    result = redeem(tenant_server, tenant_server.mint_code(user="dave"))
    assert jwt_claims(result["idToken"])["sub"] == tenant_server.user_id("dave")


def test_wrong_code_verifier_is_invalid_grant(tenant_server: Tenant) -> None:
    verifier = new_verifier()
    code = tenant_server.mint_code(verifier=verifier)
    assert "does not match" in redeem_refused(tenant_server, code, codeVerifier=new_verifier())
    # The refusal wrote nothing: the right verifier still redeems the code.
    assert redeem(tenant_server, code, codeVerifier=verifier)["accessToken"].startswith("aoa")


def test_missing_code_verifier_when_challenged_is_invalid_grant(tenant_server: Tenant) -> None:
    code = tenant_server.mint_code(verifier=new_verifier())
    assert "codeVerifier is required" in redeem_refused(tenant_server, code)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://backend.example.com/callback/",
        "https://evil.example.com/callback",
        "https://backend.example.com/callback?x=1",
    ],
)
def test_wrong_redirect_uri_is_invalid_grant(tenant_server: Tenant, redirect_uri: str) -> None:
    code = tenant_server.mint_code()
    assert "redirectUri" in redeem_refused(tenant_server, code, redirectUri=redirect_uri)


def test_expired_code_is_invalid_grant(tenant_server: Tenant) -> None:
    assert "expired" in redeem_refused(tenant_server, tenant_server.mint_code(expired=True))


def test_code_of_another_application_is_invalid_grant(tenant_server: Tenant) -> None:
    code = tenant_server.mint_code(app="reports")
    assert "not valid for this client" in redeem_refused(tenant_server, code)


def test_unknown_code_is_invalid_grant(tenant_server: Tenant) -> None:
    assert "not valid" in redeem_refused(tenant_server, "aoc-never-issued")


def test_replayed_code_revokes_issued_tokens(tenant_server: Tenant) -> None:
    code = tenant_server.mint_code()
    first = redeem(tenant_server, code)
    assert "already used" in redeem_refused(tenant_server, code)
    assert "revoked" in refresh_refused(tenant_server, first["refreshToken"])
    assert "not a live access token" in exchange_refused(tenant_server, first["accessToken"])


def test_code_scope_narrowing(tenant_server: Tenant) -> None:
    result = redeem(tenant_server, tenant_server.mint_code(), scope=["openid"])
    assert result["scope"] == ["openid"]


def test_code_scope_widening_is_invalid_scope(tenant_server: Tenant) -> None:
    code = tenant_server.mint_code()
    assert "backend:write" in redeem_refused(
        tenant_server, code, "InvalidScopeException", scope=["openid", "backend:write"]
    )
    assert redeem(tenant_server, code)["accessToken"].startswith("aoa")


def test_code_for_an_unassigned_user_is_access_denied(tenant_server: Tenant) -> None:
    assert "not assigned" in redeem_refused(
        tenant_server, tenant_server.mint_code(user="bob"), "AccessDeniedException"
    )


def test_code_for_a_disabled_user_is_access_denied(tenant_server: Tenant) -> None:
    code = tenant_server.mint_code(user="dave")
    with user_status(tenant_server, "dave", "DISABLED"):
        assert "disabled" in redeem_refused(tenant_server, code, "AccessDeniedException")
    assert redeem(tenant_server, code)["accessToken"].startswith("aoa")


# -- concurrency: one success per credential -------------------------------------------------------


def race(
    t: Tenant, request: dict[str, Any], attempts: int = 8
) -> tuple[list[dict[str, Any]], list[str]]:
    """Send ``request`` from ``attempts`` threads at once, each with its own boto3 client."""
    clients = [t.oidc() for _ in range(attempts)]
    barrier = threading.Barrier(attempts)
    successes: list[dict[str, Any]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def run(client: Any) -> None:
        barrier.wait()
        try:
            result = client.create_token_with_iam(**request)
        except client.exceptions.InvalidGrantException as exc:
            with lock:
                failures.append(exc.response["error"])
        else:
            with lock:
                successes.append(result)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(successes) + len(failures) == attempts  # anything else (a 500, a hang) fails here
    return successes, failures


def assert_one_success(outcome: tuple[list[dict[str, Any]], list[str]]) -> None:
    successes, failures = outcome
    assert len(successes) == 1
    assert failures == ["invalid_grant"] * 7


def test_racing_refresh_token_yields_one_success(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    assert_one_success(
        race(
            tenant_server,
            {
                "clientId": tenant_server.apps["backend"],
                "grantType": "refresh_token",
                "refreshToken": first["refreshToken"],
            },
        )
    )


def test_racing_code_yields_one_success(tenant_server: Tenant) -> None:
    code = tenant_server.mint_code()
    assert_one_success(
        race(
            tenant_server,
            {
                "clientId": tenant_server.apps["backend"],
                "grantType": "authorization_code",
                "code": code,
                "redirectUri": REDIRECT,
            },
        )
    )


def test_racing_assertion_yields_one_success(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion()
    assert_one_success(
        race(
            tenant_server,
            {
                "clientId": tenant_server.apps["backend"],
                "grantType": JWT_BEARER,
                "assertion": assertion,
            },
        )
    )


# -- the check order inside these grants -------------------------------------------------------------


def test_reused_refresh_token_with_widening_scope_is_invalid_grant_and_revokes(
    tenant_server: Tenant,
) -> None:
    """Reuse is row 8: it answers before the scope (row 10) and still revokes the family."""
    first = tenant_server.jwt_tokens(scope=["openid", "backend:read"])
    second = refresh(tenant_server, first["refreshToken"])
    assert "already used" in refresh_refused(
        tenant_server, first["refreshToken"], scope=["backend:all"]
    )
    assert "revoked" in refresh_refused(tenant_server, second["refreshToken"])


def test_reused_refresh_token_of_a_disabled_user_is_invalid_grant_and_revokes(
    tenant_server: Tenant,
) -> None:
    """Reuse is row 8: it answers before the user check (row 9) and still revokes the family."""
    first = tenant_server.jwt_tokens(email="dave@example.com")
    second = refresh(tenant_server, first["refreshToken"])
    with user_status(tenant_server, "dave", "DISABLED"):
        assert "already used" in refresh_refused(tenant_server, first["refreshToken"])
    assert "revoked" in refresh_refused(tenant_server, second["refreshToken"])


def test_refresh_with_twenty_six_scopes_is_invalid_scope(tenant_server: Tenant) -> None:
    first = tenant_server.jwt_tokens()
    description = refresh_refused(
        tenant_server, first["refreshToken"], "InvalidScopeException", scope=["openid"] * 26
    )
    assert "25" in description


def test_code_with_twenty_six_scopes_is_invalid_scope(tenant_server: Tenant) -> None:
    code = tenant_server.mint_code()
    assert "25" in redeem_refused(
        tenant_server, code, "InvalidScopeException", scope=["openid"] * 26
    )


def test_code_for_a_redirect_uri_not_registered_on_the_grant_is_invalid_grant(
    tenant_server: Tenant,
) -> None:
    """The code names a redirect URI that the AuthorizationCode grant does not list (e.g. one
    removed since): redeeming it with that same URI is refused."""
    other = "https://unregistered.example.com/callback"
    code = tenant_server.mint_code(redirect_uri=other)
    assert "redirectUri" in redeem_refused(tenant_server, code, redirectUri=other)
