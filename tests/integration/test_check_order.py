"""CreateTokenWithIAM's check table (spec section 2, rows 1 to 10), row by row and in order.

Every row has a test that fails it alone, through real boto3; the order tests fail two rows at
once and expect the earlier row's error.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from tests.integration.conftest import (
    ACCOUNTWIDE,
    CALLER,
    DENIED,
    JWT_BEARER,
    OUTSIDER,
    REDIRECT,
    TOKEN_EXCHANGE,
    UNKNOWN_KEY,
    Tenant,
    oidc_client,
    oidc_error,
    signed_token_request,
    sigv4_error,
)
from tests.serverproc import ACCOUNT, NO_RETRY, REGION

UNKNOWN_APP = f"arn:aws:sso::{ACCOUNT}:application/ssoins-0000000000000000/apl-0000000000000000"


def jwt_request(
    t: Tenant, app: str = "backend", email: str = "alice@example.com", **extra: Any
) -> dict[str, Any]:
    return {
        "clientId": t.apps[app],
        "grantType": JWT_BEARER,
        "assertion": t.assertion(email),
        **extra,
    }


def assert_tokens(result: dict[str, Any]) -> None:
    assert result["accessToken"].startswith("aoa")
    assert result["idToken"].count(".") == 2


# -- row 1: SigV4 ------------------------------------------------------------------------------


def test_unsigned_request_is_missing_authentication_token(tenant_server: Tenant) -> None:
    client = boto3.client(
        "sso-oidc",
        endpoint_url=tenant_server.server.url,
        region_name=REGION,
        config=NO_RETRY.merge(Config(signature_version=UNSIGNED)),
    )
    response = sigv4_error(client, **jwt_request(tenant_server))
    assert response["Error"]["Code"] == "MissingAuthenticationTokenException"
    assert response["Error"]["Message"] == "Missing Authentication Token"


def test_wrong_secret_is_invalid_signature(tenant_server: Tenant) -> None:
    client = oidc_client(
        tenant_server.server, (CALLER[0], "not-the-secret-of-this-key-000000000001")
    )
    response = sigv4_error(client, **jwt_request(tenant_server))
    assert response["Error"]["Code"] == "InvalidSignatureException"


def test_unknown_access_key_is_unrecognized_client(tenant_server: Tenant) -> None:
    client = oidc_client(tenant_server.server, UNKNOWN_KEY)
    response = sigv4_error(client, **jwt_request(tenant_server))
    assert response["Error"]["Code"] == "UnrecognizedClientException"
    assert "security token included in the request is invalid" in response["Error"]["Message"]


def test_credential_scope_of_another_region_is_invalid_signature(tenant_server: Tenant) -> None:
    client = oidc_client(tenant_server.server, CALLER, region_name="eu-west-1")
    response = sigv4_error(client, **jwt_request(tenant_server))
    assert response["Error"]["Code"] == "InvalidSignatureException"


def _raw_jwt_body(t: Tenant) -> bytes:
    return json.dumps(jwt_request(t)).encode()


@pytest.mark.parametrize(
    ("minutes", "message"),
    [(-6, "signature expired"), (6, "not yet current")],
    ids=["past", "future"],
)
def test_request_dated_over_five_minutes_away_is_invalid_signature(
    tenant_server: Tenant, minutes: int, message: str
) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    response = signed_token_request(tenant_server.server, _raw_jwt_body(tenant_server), when=when)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert message in response.json()["message"].lower()


def test_request_dated_within_five_minutes_is_accepted(tenant_server: Tenant) -> None:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    response = signed_token_request(tenant_server.server, _raw_jwt_body(tenant_server), when=when)
    assert response.status_code == 200, response.text
    assert_tokens(response.json())


def test_credential_scope_of_another_service_is_invalid_signature(tenant_server: Tenant) -> None:
    response = signed_token_request(
        tenant_server.server, _raw_jwt_body(tenant_server), service="sso"
    )
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_unparsable_authorization_header_is_incomplete_signature(tenant_server: Tenant) -> None:
    import httpx

    response = httpx.post(
        f"{tenant_server.server.url}/token?aws_iam=t",
        content=_raw_jwt_body(tenant_server),
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential", "X-Amz-Date": "20260101T000000Z"},
    )
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"


# -- row 2: the body ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"[]", "JSON object"),
        (b"{not json", "JSON"),
        (b'"a string"', "JSON object"),
    ],
    ids=["array", "not-json", "string"],
)
def test_body_that_is_not_a_json_object_is_invalid_request(
    tenant_server: Tenant, body: bytes, names: str
) -> None:
    response = signed_token_request(tenant_server.server, body)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    assert response.json()["error"] == "invalid_request"
    assert names in response.json()["error_description"]


@pytest.mark.parametrize(
    ("change", "member"),
    [
        ({"clientId": 12}, "clientId"),
        ({"grantType": ["x"]}, "grantType"),
        ({"scope": [1, 2]}, "scope"),
        ({"clientId": None}, "clientId"),
        ({"grantType": None}, "grantType"),
    ],
    ids=[
        "clientId-number",
        "grantType-list",
        "scope-numbers",
        "clientId-missing",
        "grantType-missing",
    ],
)
def test_member_of_wrong_type_is_invalid_request(
    tenant_server: Tenant, change: dict[str, Any], member: str
) -> None:
    client = oidc_client(tenant_server.server, parameter_validation=False)
    request = {**jwt_request(tenant_server), **change}
    request = {k: v for k, v in request.items() if v is not None}
    response = oidc_error(client, "InvalidRequestException", **request)
    assert response["error"] == "invalid_request"
    assert member in response["error_description"]


@pytest.mark.parametrize(
    "scope",
    [{"openid": "openid"}, "openid", [["openid"]], [None]],
    ids=["object", "string", "nested", "null"],
)
def test_scope_not_a_list_of_strings_is_invalid_request(tenant_server: Tenant, scope: Any) -> None:
    """botocore cannot send these shapes; a raw signed request does."""
    body = json.dumps({**jwt_request(tenant_server), "scope": scope}).encode()
    response = signed_token_request(tenant_server.server, body)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    assert response.json()["error"] == "invalid_request"
    assert "scope" in response.json()["error_description"]


# -- row 3: the application ----------------------------------------------------------------------


@pytest.mark.parametrize("client_id", [UNKNOWN_APP, "not-an-arn"], ids=["unknown-arn", "garbage"])
def test_unknown_application_is_invalid_client(tenant_server: Tenant, client_id: str) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "InvalidClientException",
        **{**jwt_request(tenant_server), "clientId": client_id},
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert response["error"] == "invalid_client"
    assert "not an application of this instance" in response["error_description"]


def test_disabled_application_is_invalid_client(tenant_server: Tenant) -> None:
    response = oidc_error(
        tenant_server.oidc(), "InvalidClientException", **jwt_request(tenant_server, "disabled-app")
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert response["error"] == "invalid_client"
    assert "disabled" in response["error_description"]


# -- row 4: the caller ---------------------------------------------------------------------------


def test_caller_named_in_actor_policy_is_allowed(tenant_server: Tenant) -> None:
    assert_tokens(tenant_server.oidc(CALLER).create_token_with_iam(**jwt_request(tenant_server)))


@pytest.mark.parametrize("creds", [ACCOUNTWIDE, OUTSIDER], ids=["accountwide", "outsider"])
def test_account_principal_with_identity_allow_is_allowed(
    tenant_server: Tenant, creds: tuple[str, str]
) -> None:
    """backend's ActorPolicy names the account: any user of it whose identity policies allow
    the action is allowed (the outsider too, on this application)."""
    assert_tokens(tenant_server.oidc(creds).create_token_with_iam(**jwt_request(tenant_server)))


def test_admin_allowed_through_account_principal_and_identity_policy(tenant_server: Tenant) -> None:
    admin = tenant_server.server.client("sso-oidc")
    assert_tokens(admin.create_token_with_iam(**jwt_request(tenant_server)))


@pytest.mark.parametrize(
    ("creds", "app"),
    [
        (OUTSIDER, "deny-in-actor"),
        (DENIED, "backend"),
        (CALLER, "deny-in-actor"),
        (CALLER, "no-iam-method"),
        (ACCOUNTWIDE, "no-iam-method"),
    ],
    ids=[
        "identity-allow-not-named-in-actor-policy",
        "identity-deny-wins-over-actor-allow",
        "actor-policy-deny-wins-over-its-allow",
        "no-iam-authentication-method",
        "no-iam-method-even-with-identity-allow",
    ],
)
def test_caller_not_authorized_is_access_denied(
    tenant_server: Tenant, creds: tuple[str, str], app: str
) -> None:
    response = oidc_error(
        tenant_server.oidc(creds), "AccessDeniedException", **jwt_request(tenant_server, app)
    )
    assert response["error"] == "access_denied"
    assert "not authorized to perform sso-oauth:CreateTokenWithIAM" in response["error_description"]


# -- row 5: the grant type ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "grant_type", ["password", "urn:ietf:params:oauth:grant-type:device_code", ""]
)
def test_unknown_grant_type_is_unsupported_grant_type(
    tenant_server: Tenant, grant_type: str
) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "UnsupportedGrantTypeException",
        **jwt_request(tenant_server, grantType=grant_type),
    )
    assert response["error"] == "unsupported_grant_type"
    assert "is not supported" in response["error_description"]


# -- row 6: the application's grants -----------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "grant_type"),
    [
        ("reports", JWT_BEARER),
        ("no-refresh", "refresh_token"),
        ("exchange-only", "authorization_code"),
    ],
)
def test_grant_type_missing_on_application_is_unauthorized_client(
    tenant_server: Tenant, app: str, grant_type: str
) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "UnauthorizedClientException",
        clientId=tenant_server.apps[app],
        grantType=grant_type,
        refreshToken="aor-x",
        code="c",
        redirectUri=REDIRECT,
        assertion=tenant_server.assertion(),
    )
    assert response["error"] == "unauthorized_client"
    assert f"no {grant_type} grant" in response["error_description"]


# -- row 7: the grant's members ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant_type", "members", "missing"),
    [
        (JWT_BEARER, {}, "assertion"),
        ("refresh_token", {}, "refreshToken"),
        ("authorization_code", {"redirectUri": REDIRECT}, "code"),
        ("authorization_code", {"code": "aoc-x"}, "redirectUri"),
        (
            TOKEN_EXCHANGE,
            {"subjectTokenType": "urn:ietf:params:oauth:token-type:access_token"},
            "subjectToken",
        ),
        (TOKEN_EXCHANGE, {"subjectToken": "aoa-x"}, "subjectTokenType"),
    ],
)
def test_missing_grant_member_is_invalid_request(
    tenant_server: Tenant, grant_type: str, members: dict[str, str], missing: str
) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "InvalidRequestException",
        clientId=tenant_server.apps["backend"],
        grantType=grant_type,
        **members,
    )
    assert response["error"] == "invalid_request"
    assert f"{missing} is required" in response["error_description"]


def test_members_of_other_grants_are_ignored(tenant_server: Tenant) -> None:
    result = tenant_server.oidc().create_token_with_iam(
        **jwt_request(tenant_server),
        refreshToken="aor-garbage",
        code="aoc-garbage",
        subjectToken="garbage",
        subjectTokenType="bogus",
        redirectUri="https://elsewhere.example/",
        codeVerifier="x",
    )
    assert_tokens(result)


# -- rows 8, 9, 10 -------------------------------------------------------------------------------


def test_bad_assertion_is_invalid_grant(tenant_server: Tenant) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "InvalidGrantException",
        **jwt_request(tenant_server, assertion="a.b.c"),
    )
    assert response["error"] == "invalid_grant"
    assert "assertion" in response["error_description"]


def test_unassigned_user_is_access_denied(tenant_server: Tenant) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "AccessDeniedException",
        **jwt_request(tenant_server, email="bob@example.com"),
    )
    assert response["error"] == "access_denied"
    assert "not assigned" in response["error_description"]


def test_unknown_scope_is_invalid_scope(tenant_server: Tenant) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "InvalidScopeException",
        **jwt_request(tenant_server, scope=["nope:read"]),
    )
    assert response["error"] == "invalid_scope"
    assert "nope:read" in response["error_description"]


# -- the order: two rows fail, the earlier one answers -------------------------------------------


def test_unknown_key_with_bad_body_answers_signature_failure(tenant_server: Tenant) -> None:
    client = oidc_client(tenant_server.server, UNKNOWN_KEY, parameter_validation=False)
    response = sigv4_error(client, **jwt_request(tenant_server, scope=[1]))
    assert response["Error"]["Code"] == "UnrecognizedClientException"
    raw = signed_token_request(tenant_server.server, b"[]", UNKNOWN_KEY)
    assert raw.status_code == 403
    assert raw.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"


def test_bad_body_with_unknown_application_answers_invalid_request(tenant_server: Tenant) -> None:
    client = oidc_client(tenant_server.server, parameter_validation=False)
    response = oidc_error(
        client,
        "InvalidRequestException",
        **jwt_request(tenant_server, clientId=UNKNOWN_APP, scope=[1]),
    )
    assert "scope" in response["error_description"]


def test_unknown_application_with_unauthorized_caller_answers_invalid_client(
    tenant_server: Tenant,
) -> None:
    response = oidc_error(
        tenant_server.oidc(DENIED),
        "InvalidClientException",
        **jwt_request(tenant_server, clientId=UNKNOWN_APP),
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 401
    response = oidc_error(
        tenant_server.oidc(DENIED),
        "InvalidClientException",
        **jwt_request(tenant_server, "disabled-app"),
    )
    assert "disabled" in response["error_description"]


@pytest.mark.parametrize(
    ("creds", "app"), [(DENIED, "backend"), (OUTSIDER, "deny-in-actor"), (CALLER, "no-iam-method")]
)
def test_unauthorized_caller_with_unsupported_grant_type_answers_access_denied(
    tenant_server: Tenant, creds: tuple[str, str], app: str
) -> None:
    response = oidc_error(
        tenant_server.oidc(creds),
        "AccessDeniedException",
        **jwt_request(tenant_server, app, grantType="password"),
    )
    assert "not authorized" in response["error_description"]


def test_unsupported_grant_type_on_application_without_it_answers_unsupported_grant_type(
    tenant_server: Tenant,
) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "UnsupportedGrantTypeException",
        clientId=tenant_server.apps["exchange-only"],
        grantType="urn:ietf:params:oauth:grant-type:device_code",
    )
    assert "is not supported" in response["error_description"]


def test_grant_missing_on_application_with_missing_members_answers_unauthorized_client(
    tenant_server: Tenant,
) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "UnauthorizedClientException",
        clientId=tenant_server.apps["reports"],
        grantType=JWT_BEARER,
    )
    assert "grant" in response["error_description"]


def test_missing_member_with_bad_token_answers_invalid_request(tenant_server: Tenant) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "InvalidRequestException",
        clientId=tenant_server.apps["backend"],
        grantType="authorization_code",
        code="aoc-not-a-code",
    )
    assert "redirectUri is required" in response["error_description"]
    response = oidc_error(
        tenant_server.oidc(),
        "InvalidRequestException",
        clientId=tenant_server.apps["reports"],
        grantType=TOKEN_EXCHANGE,
        subjectToken="not.an.assertion",
    )
    assert "subjectTokenType is required" in response["error_description"]


def test_bad_assertion_for_unassigned_user_answers_invalid_grant(tenant_server: Tenant) -> None:
    assertion = tenant_server.assertion("bob@example.com", audience="someone-else")
    response = oidc_error(
        tenant_server.oidc(),
        "InvalidGrantException",
        clientId=tenant_server.apps["backend"],
        grantType=JWT_BEARER,
        assertion=assertion,
    )
    assert "audience" in response["error_description"]


def test_unassigned_user_with_bad_scope_answers_access_denied(tenant_server: Tenant) -> None:
    response = oidc_error(
        tenant_server.oidc(),
        "AccessDeniedException",
        **jwt_request(tenant_server, email="bob@example.com", scope=["nope"]),
    )
    assert "not assigned" in response["error_description"]


def test_failed_check_writes_nothing_so_the_assertion_still_works(tenant_server: Tenant) -> None:
    """Nothing is written until every row passed: an assertion refused at row 10 (its jti
    not yet remembered) is accepted when the scope is fixed."""
    assertion = tenant_server.assertion()
    request = {
        "clientId": tenant_server.apps["backend"],
        "grantType": JWT_BEARER,
        "assertion": assertion,
    }
    oidc_error(tenant_server.oidc(), "InvalidScopeException", **request, scope=["nope"])
    assert_tokens(tenant_server.oidc().create_token_with_iam(**request))


def test_error_descriptions_never_echo_credentials(tenant_server: Tenant) -> None:
    backend = tenant_server.apps["backend"]
    tokens = tenant_server.jwt_tokens()
    forged_refresh = tokens["refreshToken"][:-4] + "AAAA"
    forged_assertion = tenant_server.assertion()[:-8] + "AAAAAAAA"
    cases = [
        (forged_refresh, {"grantType": "refresh_token", "refreshToken": forged_refresh}),
        (
            "aoc-secret-code-value",
            {
                "grantType": "authorization_code",
                "code": "aoc-secret-code-value",
                "redirectUri": REDIRECT,
            },
        ),
        (forged_assertion, {"grantType": JWT_BEARER, "assertion": forged_assertion}),
        (
            tokens["accessToken"],
            {
                "grantType": TOKEN_EXCHANGE,
                "subjectToken": tokens["accessToken"],
                "subjectTokenType": "urn:ietf:params:oauth:token-type:access_token",
            },
        ),
    ]
    for secret, request in cases:
        response = oidc_error(
            tenant_server.oidc(), "InvalidGrantException", clientId=backend, **request
        )
        assert response["error_description"]
        assert secret not in response["error_description"]
        assert secret[-20:] not in response["error_description"]
