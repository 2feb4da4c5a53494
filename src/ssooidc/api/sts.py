"""sts operations (query protocol): who is calling, and role sessions, identity-enhanced when
the caller provides an idToken's ``sts:identity_context`` (spec section 6)."""

from __future__ import annotations

from typing import Any

from ssooidc.api.registry import Context, operation
from ssooidc.errors import (
    AccessDenied,
    InvalidContextAssertion,
    UnrecognizedClient,
    Validation,
)
from ssooidc.services import iam, iam_policy, keys, role_sessions
from ssooidc.services.catalog import Principal

IDENTITY_CENTER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
DEFAULT_DURATION = 3600
#: AWS: a session assumed with another role session's credentials lasts at most an hour.
ROLE_CHAINING_MAX = 3600
#: Expired sessions are kept this long so that their use answers ExpiredToken.
EXPIRED_SESSION_GRACE = 86400
#: Members ssooidc does not implement; ignoring them would widen or mislabel the session.
UNSUPPORTED = ("Policy", "PolicyArns", "Tags", "TransitiveTagKeys", "SerialNumber", "TokenCode")


@operation("sts", "GetCallerIdentity", authorize=False)
async def get_caller_identity(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """AWS: no permission is needed, and no Deny can refuse it."""
    caller = ctx.caller
    principal = ctx.catalog.principal_of(caller)
    if principal is None:  # deleted after the signature was checked
        raise UnrecognizedClient("The security token included in the request is invalid.")
    user_id = principal.principal_id
    if caller.role_arn is not None:
        user_id = f"{user_id}:{caller.principal_arn.rsplit('/', 1)[1]}"
    return {"UserId": user_id, "Account": caller.account, "Arn": caller.principal_arn}


@operation("sts", "AssumeRole", authorize=False)
async def assume_role(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Temporary credentials for a role whose trust policy lets the caller assume it."""
    for name in UNSUPPORTED:
        if body.get(name):
            raise Validation(f"{name} is not supported by ssooidc")
    role_arn, session_name = body["RoleArn"], body["RoleSessionName"]
    found = ctx.catalog.principals.get(role_arn)
    source_identity = body.get("SourceIdentity")
    condition_keys = {
        "sts:RoleSessionName": session_name,
        "sts:ExternalId": body.get("ExternalId") or [],
        "sts:SourceIdentity": source_identity or [],
    }
    role = _trust(ctx, found, role_arn, "sts:AssumeRole", condition_keys)
    contexts = body.get("ProvidedContexts") or []
    if contexts:
        _trust(ctx, role, role_arn, "sts:SetContext", condition_keys)
    if source_identity:
        _trust(ctx, role, role_arn, "sts:SetSourceIdentity", condition_keys)
    async with ctx.store.transaction() as conn:
        duration = _duration(ctx, body, iam.get_principal(conn, "role", role.name))
        context: dict[str, Any] = {}
        if contexts:
            sealer = keys.ContextSealer(
                keys.instance_secret(conn, ctx.box, keys.CONTEXT_SECRET, ctx.now)
            )
            context.update(_open_context(ctx, sealer, contexts))
        if source_identity:
            context["source_identity"] = source_identity
        expires_at = ctx.now + duration
        pair, token = role_sessions.create_session(
            conn,
            ctx.box,
            role=role.arn,
            session_name=session_name,
            expires_at=expires_at,
            now=ctx.now,
            context=context or None,
        )
        role_sessions.delete_expired_sessions(conn, ctx.now - EXPIRED_SESSION_GRACE)
    return {
        "Credentials": {
            "AccessKeyId": pair.access_key_id,
            "SecretAccessKey": pair.secret_access_key,
            "SessionToken": token,
            "Expiration": int(expires_at),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.principal_id}:{session_name}",
            "Arn": f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{session_name}",
        },
        "SourceIdentity": source_identity,
    }


def _trust(
    ctx: Context,
    role: Principal | None,
    role_arn: str,
    action: str,
    condition_keys: dict[str, str | list[str]],
) -> Principal:
    """The role's trust policy must name the caller (an account principal also needs the
    caller's identity policies to allow ``action``); an explicit Deny in either refuses."""
    caller = ctx.caller
    refused = AccessDenied(
        f"User: {caller.principal_arn} is not authorized to perform: {action} "
        f"on resource: {role_arn}"
    )
    if role is None or role.kind != "role":
        raise refused  # as AWS: an unknown role looks like a refusal
    own = ctx.catalog.principal_of(caller)
    request = iam_policy.RequestContext(
        principal_arn=caller.principal_arn,
        account=caller.account,
        action=action,
        resource=role.arn,
        role_arn=caller.role_arn,
        keys=condition_keys,
        resource_account=role.account_id,
    )
    decision = iam_policy.authorize_with_resource_policy(
        role.assume_role_policy, own.policies if own is not None else (), request
    )
    if decision is not iam_policy.Decision.ALLOW:
        raise refused
    return role


def _duration(ctx: Context, body: dict[str, Any], role: iam.PrincipalRecord) -> int:
    """DurationSeconds: 900 (the model's minimum) up to the role's maximum, one hour when
    a role session assumes a role (role chaining)."""
    duration = int(body.get("DurationSeconds") or DEFAULT_DURATION)
    if ctx.caller.role_arn is not None and duration > ROLE_CHAINING_MAX:
        raise Validation(
            "The requested DurationSeconds exceeds the 1 hour session limit "
            "for roles assumed by role chaining."
        )
    if duration > (role.max_session_duration or iam.DEFAULT_MAX_SESSION_DURATION):
        raise Validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return duration


def _open_context(
    ctx: Context, sealer: keys.ContextSealer, contexts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The one Identity Center context assertion, opened: sealed by this instance, unexpired."""
    if len(contexts) > 1:
        raise InvalidContextAssertion("Only one context assertion may be provided.")
    provided = contexts[0]
    if provided.get("ProviderArn") != IDENTITY_CENTER:
        raise InvalidContextAssertion("The context provider is not a trusted context provider.")
    assertion = provided.get("ContextAssertion")
    fields = sealer.open(assertion) if isinstance(assertion, str) else None
    if fields is None or fields.get("ins") != ctx.instance.instance_id:
        raise InvalidContextAssertion("The context assertion is not valid.")
    expires = fields.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool) or expires <= ctx.now:
        raise InvalidContextAssertion("The context assertion has expired.")
    kind = "audit_context" if fields.get("k") == "audit" else "identity_context"
    return {kind: assertion, "fields": fields}
