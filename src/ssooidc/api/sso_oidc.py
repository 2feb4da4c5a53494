"""sso-oidc operations. CreateTokenWithIAM runs the spec's checks in their order (rows 2 to 10)."""

from __future__ import annotations

import time
from typing import Any

from ssooidc.errors import (
    AccessDenied,
    InvalidRequest,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from ssooidc.grants import GRANTS, TokenRequest
from ssooidc.http.protocols.shapes import Validator, operation_model
from ssooidc.services import iam_policy
from ssooidc.services.catalog import Application, Catalog
from ssooidc.services.principals import Caller
from ssooidc.services.token_service import TokenService

ACTION = "sso-oauth:CreateTokenWithIAM"
_MEMBERS = {
    "clientId": "client_id",
    "grantType": "grant_type",
    "code": "code",
    "refreshToken": "refresh_token",
    "assertion": "assertion",
    "scope": "scope",
    "redirectUri": "redirect_uri",
    "subjectToken": "subject_token",
    "subjectTokenType": "subject_token_type",
    "requestedTokenType": "requested_token_type",
    "codeVerifier": "code_verifier",
}
_VALIDATOR = Validator(InvalidRequest, constraints=False)


def parse_token_request(operation: str, body: Any) -> TokenRequest:
    """Row 2: a JSON object whose members have the model's types.

    No length limit here (the body's 64 KiB bounds every member): an oversize assertion or
    token is the grant's own refusal (row 8), not an InvalidRequest."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    _VALIDATOR.validate(operation_model("sso-oidc", operation).input_shape, body)
    values: dict[str, Any] = {}
    for member, field_name in _MEMBERS.items():
        value = body.get(member)
        if value is None:
            continue
        values[field_name] = tuple(value) if member == "scope" else value
    return TokenRequest(**values)


def authorize_caller(
    catalog: Catalog, app: Application, caller: Caller, source_ip: str | None, now: float
) -> None:
    """Row 4: the application's ActorPolicy is the gate; an explicit Deny anywhere wins."""
    principal = catalog.principal_of(caller)
    identity_policies = principal.policies if principal is not None else ()
    tags = principal.tags if principal is not None else {}
    # aws:PrincipalArn and aws:PrincipalAccount come from RequestContext itself.
    keys: dict[str, Any] = {
        "aws:PrincipalType": "AssumedRole" if caller.role_arn else "User",
        "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "aws:EpochTime": str(int(now)),
        "aws:SecureTransport": "false",
        "aws:userid": principal.principal_id if principal is not None else "",
    }
    if caller.user_name:
        keys["aws:username"] = caller.user_name
    if source_ip:
        keys["aws:SourceIp"] = source_ip
    for key, value in tags.items():
        keys[f"aws:PrincipalTag/{key}"] = value
    context = iam_policy.RequestContext(
        principal_arn=caller.principal_arn,
        account=caller.account,
        action=ACTION,
        resource=app.arn,
        role_arn=caller.role_arn,
        keys=keys,
    )
    decision = iam_policy.authorize_with_resource_policy(
        app.actor_policy, identity_policies, context
    )
    if decision is not iam_policy.Decision.ALLOW:
        raise AccessDenied(
            f"{caller.principal_arn} is not authorized to perform {ACTION} on this application"
        )


async def create_token_with_iam(
    service: TokenService,
    catalog: Catalog,
    caller: Caller,
    body: Any,
    *,
    source_ip: str | None = None,
) -> dict[str, Any]:
    """CreateTokenWithIAM for a caller whose signature was verified (row 1)."""
    request = parse_token_request("CreateTokenWithIAM", body)
    app = service.application(catalog, request.client_id)
    authorize_caller(catalog, app, caller, source_ip, service.now())
    grant = GRANTS.get(request.grant_type)
    if grant is None:
        raise UnsupportedGrantType(f"grantType {request.grant_type!r} is not supported")
    if request.grant_type not in app.grants:
        raise UnauthorizedClient(f"the application has no {request.grant_type} grant")
    for member in grant.required:
        if getattr(request, _MEMBERS[member]) is None:
            raise InvalidRequest(f"{member} is required for grantType {request.grant_type}")
    return await grant.issue(service, catalog, app, request)
