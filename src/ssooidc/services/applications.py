"""Customer-managed OAuth applications: grants, authentication methods, access scopes,
assignments. Trusted token issuers live in ``trusted_issuers`` (re-exported here)."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import urlsplit

import regex
from sqlalchemy import Connection, delete, insert, select, update

from ssooidc.errors import Conflict, ResourceNotFound, Validation
from ssooidc.services import iam_policy
from ssooidc.services.instance import Instance, bump_generation
from ssooidc.services.trusted_issuers import (
    check_issuer_configuration as check_issuer_configuration,
)
from ssooidc.services.trusted_issuers import check_issuer_url as check_issuer_url
from ssooidc.services.trusted_issuers import (
    create_trusted_token_issuer as create_trusted_token_issuer,
)
from ssooidc.services.trusted_issuers import (
    find_trusted_token_issuer as find_trusted_token_issuer,
)
from ssooidc.services.trusted_issuers import is_loopback, issuer_row
from ssooidc.services.trusted_issuers import (
    update_trusted_token_issuer as update_trusted_token_issuer,
)
from ssooidc.store import tables as t

CUSTOM_PROVIDER = "arn:aws:sso::aws:applicationProvider/custom"
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)
GRANT_MEMBER = {
    "authorization_code": "AuthorizationCode",
    "refresh_token": "RefreshToken",
    "urn:ietf:params:oauth:grant-type:jwt-bearer": "JwtBearer",
    "urn:ietf:params:oauth:grant-type:token-exchange": "TokenExchange",
}
DEFAULT_SCOPES = ("openid", "aws", "sts:identity_context")
SCOPE_PATTERN = regex.compile(r"([A-Za-z0-9_]{1,50})(:[A-Za-z0-9_]{1,50}){0,2}")
STATUSES = ("ENABLED", "DISABLED")
UPDATABLE = frozenset({"name", "description", "status", "portal_options", "assignment_required"})


def oauth_client_id(region: str) -> str:
    """An application's OAuth client id, AWS-style: base64url of 16 random bytes, then the region."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
    return f"{raw}{region}"


def application_arn(instance: Instance) -> str:
    return f"arn:aws:sso::{instance.account_id}:application/{instance.instance_id}/apl-{secrets.token_hex(8)}"


def check_portal_options(options: object) -> None:
    """Sign-in from the application needs the application's URL to send the user to."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise Validation("PortalOptions must be an object")
    sign_in = options.get("SignInOptions")
    if sign_in is None:
        return
    if not isinstance(sign_in, dict):
        raise Validation("SignInOptions must be an object")
    if sign_in.get("Origin") == "APPLICATION" and not sign_in.get("ApplicationUrl"):
        raise Validation("SignInOptions with Origin APPLICATION need an ApplicationUrl")


def create_application(
    conn: Connection,
    instance: Instance,
    *,
    name: str,
    now: float,
    description: str | None = None,
    status: str = "ENABLED",
    provider_arn: str = CUSTOM_PROVIDER,
    portal_options: dict[str, Any] | None = None,
) -> str:
    if provider_arn != CUSTOM_PROVIDER:
        raise Validation(
            f"application provider {provider_arn} cannot be used here: only {CUSTOM_PROVIDER} "
            "(customer managed OAuth 2.0 applications)"
        )
    if status not in STATUSES:
        raise Validation("Status must be ENABLED or DISABLED")
    check_portal_options(portal_options)
    _check_name_free(conn, name)
    arn = application_arn(instance)
    conn.execute(
        insert(t.applications).values(
            arn=arn,
            instance_arn=instance.arn,
            name=name,
            client_id=oauth_client_id(instance.region),
            provider_arn=provider_arn,
            status=status,
            description=description,
            portal_options=portal_options,
            assignment_required=True,
            created_at=now,
        )
    )
    bump_generation(conn)
    return arn


def find_application(conn: Connection, name: str) -> str | None:
    row = conn.execute(select(t.applications.c.arn).where(t.applications.c.name == name)).first()
    return None if row is None else str(row.arn)


def update_application(conn: Connection, arn: str, **values: Any) -> None:
    """Change an application's columns (name, description, status, portal_options,
    assignment_required); a name another application has is a conflict."""
    row = _application_row(conn, arn)
    unknown = set(values) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    if "status" in values and values["status"] not in STATUSES:
        raise Validation("Status must be ENABLED or DISABLED")
    if "portal_options" in values:
        check_portal_options(values["portal_options"])
    if "name" in values and values["name"] != row.name:
        _check_name_free(conn, values["name"])
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if changed:
        conn.execute(update(t.applications).where(t.applications.c.arn == arn).values(**changed))
        bump_generation(conn)


def update_application_settings(
    conn: Connection,
    arn: str,
    *,
    name: str | None = None,
    description: str | None = None,
    status: str | None = None,
    sign_in_options: dict[str, Any] | None = None,
) -> None:
    """UpdateApplication: each member given replaces its value; SignInOptions replaces the
    portal's sign-in options and keeps its Visibility."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if description is not None:
        values["description"] = description
    if status is not None:
        values["status"] = status
    if sign_in_options is not None:
        row = _application_row(conn, arn)
        values["portal_options"] = {**(row.portal_options or {}), "SignInOptions": sign_in_options}
    update_application(conn, arn, **values)


def delete_application(conn: Connection, arn: str) -> None:
    """Delete an application with everything that belongs to it.

    Its grants, authentication methods, access scopes, assignments and tags go with it, and
    its ARN leaves every other application's AuthorizedTargets [decide: AWS documents only
    that DeleteApplication removes the association], so that no scope names an application
    that no longer exists."""
    _require_application(conn, arn)
    for table in (
        t.application_grants,
        t.application_auth_methods,
        t.application_scopes,
        t.application_assignments,
    ):
        conn.execute(delete(table).where(table.c.application_arn == arn))
    scopes = t.application_scopes
    for row in conn.execute(select(scopes)).all():
        targets = list(row.authorized_targets or [])
        if arn in targets:
            conn.execute(
                update(scopes)
                .where(scopes.c.application_arn == row.application_arn, scopes.c.scope == row.scope)
                .values(authorized_targets=[x for x in targets if x != arn])
            )
    conn.execute(delete(t.resource_tags).where(t.resource_tags.c.resource_arn == arn))
    conn.execute(delete(t.applications).where(t.applications.c.arn == arn))
    bump_generation(conn)


def _application_row(conn: Connection, arn: str) -> Any:
    row = conn.execute(select(t.applications).where(t.applications.c.arn == arn)).first()
    if row is None:
        raise ResourceNotFound(f"no application {arn}")
    return row


def _require_application(conn: Connection, arn: str) -> None:
    if (
        conn.execute(select(t.applications.c.arn).where(t.applications.c.arn == arn)).first()
        is None
    ):
        raise ResourceNotFound(f"no application {arn}")


def _check_name_free(conn: Connection, name: str) -> None:
    if conn.execute(select(t.applications.c.arn).where(t.applications.c.name == name)).first():
        raise Conflict(f"an application named {name} already exists")


# -- grants -------------------------------------------------------------------------------


def put_grant(conn: Connection, arn: str, grant_type: str, grant: dict[str, Any]) -> None:
    """Set (replace) one grant of an application, after checking its references."""
    _require_application(conn, arn)
    if grant_type not in GRANT_TYPES:
        raise Validation(f"unknown grant type {grant_type}")
    member = GRANT_MEMBER[grant_type]
    if set(grant) != {member}:
        raise Validation(f"grant {grant_type} takes exactly the member {member}")
    body = grant[member]
    if not isinstance(body, dict):
        raise Validation(f"{member} must be an object")
    if member == "JwtBearer":
        issuers = body.get("AuthorizedTokenIssuers")
        if not isinstance(issuers, list) or not 1 <= len(issuers) <= 10:
            raise Validation("JwtBearer.AuthorizedTokenIssuers takes 1 to 10 issuers")
        for entry in issuers:
            issuer = entry.get("TrustedTokenIssuerArn") if isinstance(entry, dict) else None
            if not isinstance(issuer, str) or issuer_row(conn, issuer) is None:
                raise ResourceNotFound(f"no trusted token issuer {issuer}")
            audiences = entry.get("AuthorizedAudiences")
            if not isinstance(audiences, list) or not 1 <= len(audiences) <= 10:
                raise Validation("AuthorizedAudiences takes 1 to 10 audiences")
    if member == "AuthorizationCode":
        uris = body.get("RedirectUris")
        if not isinstance(uris, list) or not 1 <= len(uris) <= 10:
            raise Validation("AuthorizationCode.RedirectUris takes 1 to 10 URIs")
        for uri in uris:
            check_redirect_uri(uri)
    _delete_grant_row(conn, arn, grant_type)
    conn.execute(
        insert(t.application_grants).values(application_arn=arn, grant_type=grant_type, grant=grant)
    )
    bump_generation(conn)


def delete_grant(conn: Connection, arn: str, grant_type: str) -> None:
    _require_application(conn, arn)
    if not _delete_grant_row(conn, arn, grant_type):
        raise ResourceNotFound(f"the application has no {grant_type} grant")
    bump_generation(conn)


def _delete_grant_row(conn: Connection, arn: str, grant_type: str) -> bool:
    result = conn.execute(
        delete(t.application_grants).where(
            t.application_grants.c.application_arn == arn,
            t.application_grants.c.grant_type == grant_type,
        )
    )
    return bool(result.rowcount)


def check_redirect_uri(uri: object) -> None:
    """HTTPS, or loopback HTTP (RFC 8252 §7.3); no fragment."""
    if not isinstance(uri, str):
        raise Validation("a redirect URI must be a string")
    parts = urlsplit(uri)
    if parts.fragment or not parts.hostname:
        raise Validation(f"invalid redirect URI {uri}")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise Validation(f"redirect URI {uri} must be HTTPS or loopback HTTP")


# -- authentication methods ---------------------------------------------------------------


def put_authentication_method(
    conn: Connection, arn: str, method_type: str, method: dict[str, Any]
) -> None:
    _require_application(conn, arn)
    if method_type != "IAM" or set(method) != {"Iam"} or not isinstance(method["Iam"], dict):
        raise Validation("the only authentication method is IAM: {Iam: {ActorPolicy: ...}}")
    policy = method["Iam"].get("ActorPolicy")
    try:
        iam_policy.parse_policy(policy, kind="resource")
    except iam_policy.MalformedPolicy as exc:
        raise Validation(f"malformed ActorPolicy: {exc}") from None
    _delete_method_row(conn, arn, method_type)
    conn.execute(
        insert(t.application_auth_methods).values(
            application_arn=arn, method_type=method_type, method=method
        )
    )
    bump_generation(conn)


def delete_authentication_method(conn: Connection, arn: str, method_type: str) -> None:
    _require_application(conn, arn)
    if not _delete_method_row(conn, arn, method_type):
        raise ResourceNotFound(f"the application has no {method_type} authentication method")
    bump_generation(conn)


def _delete_method_row(conn: Connection, arn: str, method_type: str) -> bool:
    result = conn.execute(
        delete(t.application_auth_methods).where(
            t.application_auth_methods.c.application_arn == arn,
            t.application_auth_methods.c.method_type == method_type,
        )
    )
    return bool(result.rowcount)


# -- access scopes ------------------------------------------------------------------------


def put_access_scope(
    conn: Connection, instance: Instance, arn: str, scope: str, targets: list[str] | None
) -> None:
    _require_application(conn, arn)
    if not isinstance(scope, str) or not SCOPE_PATTERN.fullmatch(scope):
        raise Validation(f"invalid scope {scope!r}")
    for target in targets or []:
        if target != instance.arn:
            _require_application(conn, target)
    _delete_scope_row(conn, arn, scope)
    conn.execute(
        insert(t.application_scopes).values(
            application_arn=arn, scope=scope, authorized_targets=targets or []
        )
    )
    bump_generation(conn)


def delete_access_scope(conn: Connection, arn: str, scope: str) -> None:
    _require_application(conn, arn)
    if not _delete_scope_row(conn, arn, scope):
        raise ResourceNotFound(f"the application has no access scope {scope}")
    bump_generation(conn)


def _delete_scope_row(conn: Connection, arn: str, scope: str) -> bool:
    result = conn.execute(
        delete(t.application_scopes).where(
            t.application_scopes.c.application_arn == arn, t.application_scopes.c.scope == scope
        )
    )
    return bool(result.rowcount)


# -- assignments --------------------------------------------------------------------------


def put_assignment_configuration(conn: Connection, arn: str, required: bool) -> None:
    update_application(conn, arn, assignment_required=bool(required))


def create_assignment(conn: Connection, arn: str, principal_type: str, principal_id: str) -> None:
    """Assign a user or group to an application; assigning it again changes nothing."""
    _require_application(conn, arn)
    require_principal(conn, principal_type, principal_id)
    if not _assignment_exists(conn, arn, principal_type, principal_id):
        conn.execute(
            insert(t.application_assignments).values(
                application_arn=arn, principal_type=principal_type, principal_id=principal_id
            )
        )
        bump_generation(conn)


def delete_assignment(conn: Connection, arn: str, principal_type: str, principal_id: str) -> None:
    _require_application(conn, arn)
    a = t.application_assignments
    result = conn.execute(
        delete(a).where(
            a.c.application_arn == arn,
            a.c.principal_type == principal_type,
            a.c.principal_id == principal_id,
        )
    )
    if not result.rowcount:
        raise ResourceNotFound(
            f"{principal_type.lower()} {principal_id} is not assigned to the application"
        )
    bump_generation(conn)


def require_principal(conn: Connection, principal_type: str, principal_id: str) -> None:
    """The identity-store user or group must exist."""
    if principal_type not in ("USER", "GROUP"):
        raise Validation("PrincipalType must be USER or GROUP")
    table = t.identity_users if principal_type == "USER" else t.identity_groups
    key = table.c.user_id if principal_type == "USER" else table.c.group_id
    if conn.execute(select(key).where(key == principal_id)).first() is None:
        raise ResourceNotFound(f"no {principal_type.lower()} {principal_id}")


def group_ids_of(conn: Connection, user_id: str) -> list[str]:
    """The groups a user is a direct member of."""
    m = t.identity_memberships
    return [
        str(r.group_id) for r in conn.execute(select(m.c.group_id).where(m.c.user_id == user_id))
    ]


def _assignment_exists(conn: Connection, arn: str, principal_type: str, principal_id: str) -> bool:
    a = t.application_assignments
    return (
        conn.execute(
            select(a.c.application_arn).where(
                a.c.application_arn == arn,
                a.c.principal_type == principal_type,
                a.c.principal_id == principal_id,
            )
        ).first()
        is not None
    )
