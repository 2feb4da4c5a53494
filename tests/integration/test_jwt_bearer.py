"""The jwt-bearer grant (spec section 2): the response, the ID token, every assertion rule."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from ssooidc.testing.idp import SigningKey, TestIdentityProvider
from tests.integration.conftest import (
    ACCESS_TYPE,
    JWT_BEARER,
    REFRESH_TYPE,
    Tenant,
    craft_jwt,
    jwt_claims,
    oidc_error,
    start_tenant_server,
    stop_tenant_server,
)
from tests.serverproc import ACCOUNT

DEFAULTS = {"openid", "aws", "sts:identity_context"}
BACKEND_SCOPES = {"backend:read", "backend:write", "backend:all"} | DEFAULTS
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def exchange(t: Tenant, assertion: str, app: str = "backend", **extra: Any) -> dict[str, Any]:
    return t.oidc().create_token_with_iam(  # type: ignore[no-any-return]
        clientId=t.apps[app], grantType=JWT_BEARER, assertion=assertion, **extra
    )


def refused(
    t: Tenant,
    assertion: str,
    name: str = "InvalidGrantException",
    app: str = "backend",
    **extra: Any,
) -> str:
    """Expect the exchange to fail with ``name``; return the error_description."""
    response = oidc_error(
        t.oidc(), name, clientId=t.apps[app], grantType=JWT_BEARER, assertion=assertion, **extra
    )
    if name == "InvalidGrantException":
        assert response["error"] == "invalid_grant"
    description: str = response["error_description"]
    return description


def standard_claims(t: Tenant, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": t.idp.issuer_url,
        "sub": "alice",
        "aud": "backend",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "email": "alice@example.com",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(t: Tenant, claims: dict[str, Any], **header: Any) -> str:
    key = t.idp.signing_key
    return key.sign({"alg": key.alg, "typ": "JWT", "kid": key.kid, **header}, claims)


def instance_id(t: Tenant) -> str:
    return t.instance_arn.rsplit("/", 1)[1]


def verified_id_token(t: Tenant, token: str, discovery_url: str) -> dict[str, Any]:
    """Verify an ID token the way a relying party does: discovery, jwks_uri, kid."""
    document = httpx.get(discovery_url).raise_for_status().json()
    assert document["issuer"] == f"{t.server.url}/{instance_id(t)}"
    jwks = httpx.get(document["jwks_uri"]).raise_for_status().json()
    decoded = jwt.decode(
        token,
        KeySet.import_key_set(jwks),
        algorithms=document["id_token_signing_alg_values_supported"],
    )
    assert decoded.header["kid"] in {k["kid"] for k in jwks["keys"]}
    claims: dict[str, Any] = decoded.claims
    return claims


# -- the response --------------------------------------------------------------------------------


def test_response_members_with_refresh_grant(tenant_server: Tenant) -> None:
    result = exchange(tenant_server, tenant_server.assertion())
    result.pop("ResponseMetadata")
    assert set(result) == {
        "accessToken",
        "tokenType",
        "expiresIn",
        "refreshToken",
        "idToken",
        "issuedTokenType",
        "scope",
        "awsAdditionalDetails",
    }
    assert result["accessToken"].startswith("aoa")
    assert result["refreshToken"].startswith("aor")
    assert result["tokenType"] == "Bearer"
    assert result["expiresIn"] == 3600
    assert result["issuedTokenType"] == REFRESH_TYPE
    assert set(result["scope"]) == BACKEND_SCOPES
    context = result["awsAdditionalDetails"]["identityContext"]
    assert context == jwt_claims(result["idToken"])["sts:identity_context"]


def test_response_without_refresh_grant_has_no_refresh_token(tenant_server: Tenant) -> None:
    result = exchange(tenant_server, tenant_server.assertion(), app="no-refresh")
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
    assert result["issuedTokenType"] == ACCESS_TYPE
    assert result["expiresIn"] == 3600
    assert set(result["scope"]) == DEFAULTS
    assert (
        result["awsAdditionalDetails"]["identityContext"]
        == jwt_claims(result["idToken"])["sts:identity_context"]
    )


def test_access_and_refresh_tokens_are_fresh_and_long(tenant_server: Tenant) -> None:
    first, second = (exchange(tenant_server, tenant_server.assertion()) for _ in range(2))
    assert first["accessToken"] != second["accessToken"]
    assert first["refreshToken"] != second["refreshToken"]
    for token in (first["accessToken"], first["refreshToken"]):
        assert re.fullmatch(r"ao[ar][A-Za-z0-9_-]{43,}", token)


# -- the ID token ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["instance", "root"])
def test_id_token_verifies_with_published_jwks(tenant_server: Tenant, where: str) -> None:
    result = exchange(tenant_server, tenant_server.assertion())
    prefix = f"/{instance_id(tenant_server)}" if where == "instance" else ""
    claims = verified_id_token(
        tenant_server,
        result["idToken"],
        f"{tenant_server.server.url}{prefix}/.well-known/openid-configuration",
    )
    assert claims["sub"] == tenant_server.user_id("alice")


def test_id_token_with_tampered_payload_fails_verification(tenant_server: Tenant) -> None:
    token = exchange(tenant_server, tenant_server.assertion())["idToken"]
    header, _, signature = token.split(".")
    claims = jwt_claims(token)
    claims["sub"] = tenant_server.user_id("dave")
    forged = ".".join([header, craft_jwt({}, claims).split(".")[1], signature])
    url = (
        f"{tenant_server.server.url}/{instance_id(tenant_server)}/.well-known/openid-configuration"
    )
    with pytest.raises(BadSignatureError):
        verified_id_token(tenant_server, forged, url)


def test_id_token_claims(tenant_server: Tenant) -> None:
    before = int(time.time())
    result = exchange(tenant_server, tenant_server.assertion())
    url = (
        f"{tenant_server.server.url}/{instance_id(tenant_server)}/.well-known/openid-configuration"
    )
    claims = verified_id_token(tenant_server, result["idToken"], url)
    assert claims["iss"] == f"{tenant_server.server.url}/{instance_id(tenant_server)}"
    assert claims["sub"] == tenant_server.user_id("alice")
    assert claims["exp"] - claims["iat"] == 3600
    assert before - 5 <= claims["iat"] <= time.time() + 5
    assert ISO_UTC.fullmatch(claims["auth_time"])
    auth_time = (
        time.mktime(time.strptime(claims["auth_time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    )
    assert before - 5 <= auth_time <= time.time() + 5
    assert claims["aws:identity_store_id"] == tenant_server.identity_store_id
    assert claims["aws:identity_store_arn"].endswith(tenant_server.identity_store_id)
    assert claims["aws:identity_store_arn"].startswith("arn:aws:identitystore::")
    assert claims["aws:instance_account"] == ACCOUNT
    assert claims["aws:instance_arn"] == tenant_server.instance_arn
    assert claims["aws:application_arn"] == tenant_server.apps["backend"]
    assert isinstance(claims["aws:credential_id"], str) and claims["aws:credential_id"]
    assert claims["sts:identity_context"] == result["awsAdditionalDetails"]["identityContext"]
    for name in ("sts:identity_context", "sts:audit_context"):
        assert isinstance(claims[name], str) and 4 <= len(claims[name]) <= 2048
    assert claims["act"] == {"sub": tenant_server.issuer_arn}


def test_id_token_audience_is_stable_per_application(tenant_server: Tenant) -> None:
    first = jwt_claims(exchange(tenant_server, tenant_server.assertion())["idToken"])
    second = jwt_claims(exchange(tenant_server, tenant_server.assertion())["idToken"])
    other = jwt_claims(
        exchange(tenant_server, tenant_server.assertion(), app="no-refresh")["idToken"]
    )
    assert isinstance(first["aud"], str) and first["aud"]
    assert first["aud"] == second["aud"]
    assert other["aud"] != first["aud"]
    assert first["aws:credential_id"] != second["aws:credential_id"]


# -- the assertion: accepted variants ---------------------------------------------------------------


def test_audience_in_a_list_is_accepted(tenant_server: Tenant) -> None:
    result = exchange(tenant_server, tenant_server.assertion(audience=["unrelated", "backend-alt"]))
    assert result["accessToken"].startswith("aoa")


def test_assertion_from_within_the_leeway_ahead_is_accepted(tenant_server: Tenant) -> None:
    now = int(time.time())
    assert exchange(tenant_server, tenant_server.assertion(issued_at=now + 30))[
        "accessToken"
    ].startswith("aoa")
    assert exchange(tenant_server, tenant_server.assertion(not_before=now + 30))[
        "accessToken"
    ].startswith("aoa")


def test_assertion_expired_within_leeway_is_accepted(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion(issued_at=time.time() - 330, lifetime=300)
    assert exchange(tenant_server, assertion)["accessToken"].startswith("aoa")


def test_email_is_matched_case_insensitively(tenant_server: Tenant) -> None:
    for email in ("alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"):
        result = exchange(tenant_server, tenant_server.assertion(email))
        assert jwt_claims(result["idToken"])["sub"] == tenant_server.user_id("alice")


def test_directly_assigned_user_gets_tokens(tenant_server: Tenant) -> None:
    result = exchange(tenant_server, tenant_server.assertion("dave@example.com"))
    assert jwt_claims(result["idToken"])["sub"] == tenant_server.user_id("dave")


# -- the assertion: refused -------------------------------------------------------------------------


def test_wrong_audience_is_refused(tenant_server: Tenant) -> None:
    assert "audience" in refused(tenant_server, tenant_server.assertion(audience="reports"))


def test_issuer_not_trusted_is_refused(
    tenant_server: Tenant, untrusted_idp: TestIdentityProvider
) -> None:
    assertion = untrusted_idp.mint(subject="alice", email="alice@example.com", audience="backend")
    assert "issuer is not authorized" in refused(tenant_server, assertion)


def test_issuer_url_with_trailing_slash_is_refused(tenant_server: Tenant) -> None:
    assertion = signed(
        tenant_server, standard_claims(tenant_server, iss=tenant_server.idp.issuer_url + "/")
    )
    assert "issuer is not authorized" in refused(tenant_server, assertion)


def test_expired_assertion_is_refused(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion(issued_at=time.time() - 400, lifetime=300)
    assert "expired" in refused(tenant_server, assertion)


def test_assertion_not_yet_valid_is_refused(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion(not_before=int(time.time()) + 600)
    assert "not valid before" in refused(tenant_server, assertion)


def test_assertion_issued_in_the_future_is_refused(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion(issued_at=int(time.time()) + 600)
    assert "issued in the future" in refused(tenant_server, assertion)


def test_assertion_living_over_24_hours_is_refused(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion(lifetime=86400 + 120)
    assert "lifetime" in refused(tenant_server, assertion)


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "jti", "exp", "email"])
def test_missing_required_claim_is_refused(tenant_server: Tenant, claim: str) -> None:
    assertion = signed(tenant_server, standard_claims(tenant_server, **{claim: None}))
    assert claim in refused(tenant_server, assertion)


def test_replayed_assertion_is_refused(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion()
    assert exchange(tenant_server, assertion)["accessToken"].startswith("aoa")
    assert "replayed" in refused(tenant_server, assertion)


def test_new_assertion_reusing_a_jti_is_refused(tenant_server: Tenant) -> None:
    jti = uuid.uuid4().hex
    exchange(tenant_server, tenant_server.assertion(jti=jti))
    assert "replayed" in refused(
        tenant_server, tenant_server.assertion("dave@example.com", jti=jti)
    )


def test_replay_across_applications_is_refused(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion()
    exchange(tenant_server, assertion, app="no-refresh")
    assert "replayed" in refused(tenant_server, assertion)


def test_unknown_kid_is_refused(tenant_server: Tenant) -> None:
    assert "kid" in refused(tenant_server, tenant_server.assertion(kid="not-in-the-jwks"))


def test_signature_by_another_key_is_refused(tenant_server: Tenant) -> None:
    stranger = SigningKey.generate("RS256", kid=tenant_server.idp.signing_key.kid)
    assertion = stranger.sign(
        {"alg": "RS256", "typ": "JWT", "kid": stranger.kid}, standard_claims(tenant_server)
    )
    assert "signature" in refused(tenant_server, assertion)


def test_tampered_claims_are_refused(tenant_server: Tenant) -> None:
    header, _, signature = tenant_server.assertion("alice@example.com").split(".")
    payload = craft_jwt({}, standard_claims(tenant_server, email="dave@example.com")).split(".")[1]
    assert "signature" in refused(tenant_server, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_symmetric_or_no_algorithm_is_refused(tenant_server: Tenant, alg: str) -> None:
    key = tenant_server.idp.signing_key
    header = {"alg": alg, "typ": "JWT", "kid": key.kid}
    claims = standard_claims(tenant_server)
    hmac_signed = (
        key.sign(header, claims, alg="HS256")
        if alg == "HS256"
        else craft_jwt(header, claims, b"sig")
    )
    assert "not allowed" in refused(tenant_server, hmac_signed)
    assert refused(tenant_server, craft_jwt(header, claims))  # no signature at all


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
def test_key_carried_in_header_is_refused(tenant_server: Tenant, member: str) -> None:
    key = tenant_server.idp.signing_key
    values = {
        "jwk": key.public_jwk(),
        "jku": f"{tenant_server.idp.issuer_url}/jwks",
        "x5u": f"{tenant_server.idp.issuer_url}/cert.pem",
        "x5c": ["MIIB"],
    }
    assertion = tenant_server.assertion(extra_headers={member: values[member]})
    assert f"header {member} is not allowed" in refused(tenant_server, assertion)


def sized_assertion(t: Tenant, length: int) -> str:
    """An assertion of about ``length`` characters (within a few), padded by a claim."""
    padding = max(0, (length - len(t.assertion())) * 3 // 4 - 30)
    assertion = t.assertion(padding="x" * padding)
    while len(assertion) < length - 3:
        padding += 1
        assertion = t.assertion(padding="x" * padding)
    return assertion


def test_assertion_of_16_kib_is_accepted(tenant_server: Tenant) -> None:
    assertion = sized_assertion(tenant_server, 16 * 1024)
    assert len(assertion) <= 16 * 1024
    assert exchange(tenant_server, assertion)["accessToken"].startswith("aoa")


@pytest.mark.parametrize("length", [16 * 1024 + 4, 40 * 1024], ids=["just-over", "40KiB"])
def test_oversize_assertion_is_refused(tenant_server: Tenant, length: int) -> None:
    assertion = sized_assertion(tenant_server, length)
    assert len(assertion) > 16 * 1024
    assert "exceeds" in refused(tenant_server, assertion)


@pytest.mark.parametrize("shape", ["two", "four", "one"])
def test_assertion_not_three_parts_is_refused(tenant_server: Tenant, shape: str) -> None:
    parts = tenant_server.assertion().split(".")
    assertion = {"two": ".".join(parts[:2]), "four": ".".join([*parts, parts[2]]), "one": parts[1]}[
        shape
    ]
    assert "compact JWS" in refused(tenant_server, assertion)


def test_email_matching_no_user_is_refused(tenant_server: Tenant) -> None:
    assert "exactly one enabled user" in refused(
        tenant_server, tenant_server.assertion("nobody@example.com")
    )


def test_email_matching_two_users_is_refused(tenant_server: Tenant) -> None:
    assert "exactly one enabled user" in refused(
        tenant_server, tenant_server.assertion("twin@example.com")
    )


def test_email_matching_only_a_disabled_user_is_refused(tenant_server: Tenant) -> None:
    assert "exactly one enabled user" in refused(
        tenant_server, tenant_server.assertion("carol@example.com")
    )


@pytest.mark.parametrize(
    "value",
    [["alice@example.com"], {"v": "alice@example.com"}, ""],
    ids=["list", "object", "empty"],
)
def test_claim_attribute_not_a_string_is_refused(tenant_server: Tenant, value: Any) -> None:
    assertion = signed(tenant_server, standard_claims(tenant_server, email=value))
    assert "email" in refused(tenant_server, assertion)


def test_unassigned_user_is_access_denied(tenant_server: Tenant) -> None:
    description = refused(
        tenant_server, tenant_server.assertion("bob@example.com"), "AccessDeniedException"
    )
    assert "not assigned" in description


def test_unassigned_user_is_fine_when_assignment_not_required(tenant_server: Tenant) -> None:
    result = exchange(tenant_server, tenant_server.assertion("bob@example.com"), app="no-refresh")
    assert jwt_claims(result["idToken"])["sub"] == tenant_server.user_id("bob")


# -- scopes ------------------------------------------------------------------------------------------


def test_no_scope_requested_grants_all_application_scopes(tenant_server: Tenant) -> None:
    assert set(exchange(tenant_server, tenant_server.assertion())["scope"]) == BACKEND_SCOPES
    assert (
        set(exchange(tenant_server, tenant_server.assertion(), scope=[])["scope"]) == BACKEND_SCOPES
    )


def test_requested_scopes_are_granted_as_requested(tenant_server: Tenant) -> None:
    result = exchange(tenant_server, tenant_server.assertion(), scope=["backend:write", "openid"])
    assert sorted(result["scope"]) == ["backend:write", "openid"]
    stored = tenant_server.oidc().create_token_with_iam(
        clientId=tenant_server.apps["backend"],
        grantType="refresh_token",
        refreshToken=result["refreshToken"],
    )
    assert sorted(stored["scope"]) == ["backend:write", "openid"]


def test_unknown_scope_is_invalid_scope(tenant_server: Tenant) -> None:
    description = refused(
        tenant_server,
        tenant_server.assertion(),
        "InvalidScopeException",
        scope=["openid", "reports:view"],
    )
    assert "reports:view" in description


def test_twenty_six_scopes_are_invalid_scope(tenant_server: Tenant) -> None:
    scopes = (sorted(BACKEND_SCOPES) * 5)[:26]
    description = refused(
        tenant_server, tenant_server.assertion(), "InvalidScopeException", scope=scopes
    )
    assert "25" in description


def test_twenty_five_scopes_are_accepted(tenant_server: Tenant) -> None:
    scopes = (sorted(BACKEND_SCOPES) * 5)[:25]
    assert (
        set(exchange(tenant_server, tenant_server.assertion(), scope=scopes)["scope"])
        == BACKEND_SCOPES
    )


# -- the issuer's keys -----------------------------------------------------------------------------


def test_rotated_issuer_keys_are_fetched_again(rotation_tenant: Tenant) -> None:
    idp = rotation_tenant.idp
    try:
        assert exchange(rotation_tenant, rotation_tenant.assertion())["accessToken"].startswith(
            "aoa"
        )
        fetches = idp.fetch_count
        old_assertion = rotation_tenant.assertion()
        idp.rotate_keys()
        assert exchange(rotation_tenant, rotation_tenant.assertion())["accessToken"].startswith(
            "aoa"
        )
        assert idp.fetch_count == fetches + 1
        # The old key left the JWKS with the refetch: its assertions no longer verify.
        assert "kid" in refused(rotation_tenant, old_assertion)
    finally:
        idp.reset()


@pytest.fixture(scope="module")
def unreachable_keys_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    """A server whose trusted issuer answers every discovery and JWKS request with a 503."""
    with TestIdentityProvider(tmp_path_factory.mktemp("failing-idp")) as provider:
        started = start_tenant_server(tmp_path_factory.mktemp("ssooidc-failing"), provider)
        provider.fail_status = 503
        try:
            yield started
        finally:
            stop_tenant_server(started)


def test_issuer_keys_that_cannot_be_fetched_are_invalid_grant(
    unreachable_keys_tenant: Tenant,
) -> None:
    for _ in range(2):  # the fetch, then the remembered failure
        response = oidc_error(
            unreachable_keys_tenant.oidc(),
            "InvalidGrantException",
            clientId=unreachable_keys_tenant.apps["backend"],
            grantType=JWT_BEARER,
            assertion=unreachable_keys_tenant.assertion(),
        )
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "keys could not be used" in response["error_description"]
    assert unreachable_keys_tenant.idp.discovery_count == 1
