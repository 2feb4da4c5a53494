"""Customer-managed OAuth applications: grants, authentication methods, access scopes,
assignments; and trusted token issuers they accept assertions from."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

import regex
from sqlalchemy import Connection, delete, insert, select, update

from ssooidc.errors import Conflict, ResourceNotFound, Validation
from ssooidc.services import iam_policy
from ssooidc.services.identity_store import SEARCHABLE_PATHS
from ssooidc.services.instance import Instance, bump_generation
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
CLAIM_PATH_PATTERN = regex.compile(r"\p{L}+(?:\.\p{L}+){0,2}")


def oauth_client_id(region: str) -> str:
    """An application's OAuth client id, AWS-style: base64url of 16 random bytes, then the region."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
    return f"{raw}{region}"


def application_arn(instance: Instance) -> str:
    return f"arn:aws:sso::{instance.account_id}:application/{instance.instance_id}/apl-{secrets.token_hex(8)}"


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
    if conn.execute(select(t.applications.c.arn).where(t.applications.c.name == name)).first():
        raise Conflict(f"an application named {name} already exists")
    if provider_arn != CUSTOM_PROVIDER:
        raise Validation(f"unknown application provider {provider_arn}")
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
    _require_application(conn, arn)
    if values:
        conn.execute(update(t.applications).where(t.applications.c.arn == arn).values(**values))
        bump_generation(conn)


def _require_application(conn: Connection, arn: str) -> None:
    if (
        conn.execute(select(t.applications.c.arn).where(t.applications.c.arn == arn)).first()
        is None
    ):
        raise ResourceNotFound(f"no application {arn}")


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
            issuer_arn = entry.get("TrustedTokenIssuerArn") if isinstance(entry, dict) else None
            if not isinstance(issuer_arn, str) or _issuer_row(conn, issuer_arn) is None:
                raise ResourceNotFound(f"no trusted token issuer {issuer_arn}")
            audiences = entry.get("AuthorizedAudiences")
            if not isinstance(audiences, list) or not 1 <= len(audiences) <= 10:
                raise Validation("AuthorizedAudiences takes 1 to 10 audiences")
    if member == "AuthorizationCode":
        uris = body.get("RedirectUris")
        if not isinstance(uris, list) or not 1 <= len(uris) <= 10:
            raise Validation("AuthorizationCode.RedirectUris takes 1 to 10 URIs")
        for uri in uris:
            check_redirect_uri(uri)
    conn.execute(
        delete(t.application_grants).where(
            t.application_grants.c.application_arn == arn,
            t.application_grants.c.grant_type == grant_type,
        )
    )
    conn.execute(
        insert(t.application_grants).values(application_arn=arn, grant_type=grant_type, grant=grant)
    )
    bump_generation(conn)


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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    conn.execute(
        delete(t.application_auth_methods).where(
            t.application_auth_methods.c.application_arn == arn,
            t.application_auth_methods.c.method_type == method_type,
        )
    )
    conn.execute(
        insert(t.application_auth_methods).values(
            application_arn=arn, method_type=method_type, method=method
        )
    )
    bump_generation(conn)


def put_access_scope(
    conn: Connection, instance: Instance, arn: str, scope: str, targets: list[str] | None
) -> None:
    _require_application(conn, arn)
    if not isinstance(scope, str) or not SCOPE_PATTERN.fullmatch(scope):
        raise Validation(f"invalid scope {scope!r}")
    for target in targets or []:
        if target != instance.arn:
            _require_application(conn, target)
    conn.execute(
        delete(t.application_scopes).where(
            t.application_scopes.c.application_arn == arn, t.application_scopes.c.scope == scope
        )
    )
    conn.execute(
        insert(t.application_scopes).values(
            application_arn=arn, scope=scope, authorized_targets=targets or []
        )
    )
    bump_generation(conn)


def put_assignment_configuration(conn: Connection, arn: str, required: bool) -> None:
    update_application(conn, arn, assignment_required=bool(required))


def create_assignment(conn: Connection, arn: str, principal_type: str, principal_id: str) -> None:
    _require_application(conn, arn)
    if principal_type not in ("USER", "GROUP"):
        raise Validation("PrincipalType must be USER or GROUP")
    table = t.identity_users if principal_type == "USER" else t.identity_groups
    key = table.c.user_id if principal_type == "USER" else table.c.group_id
    if conn.execute(select(key).where(key == principal_id)).first() is None:
        raise ResourceNotFound(f"no {principal_type.lower()} {principal_id}")
    exists = conn.execute(
        select(t.application_assignments.c.application_arn).where(
            t.application_assignments.c.application_arn == arn,
            t.application_assignments.c.principal_type == principal_type,
            t.application_assignments.c.principal_id == principal_id,
        )
    ).first()
    if not exists:
        conn.execute(
            insert(t.application_assignments).values(
                application_arn=arn, principal_type=principal_type, principal_id=principal_id
            )
        )
        bump_generation(conn)


# -- trusted token issuers ----------------------------------------------------------------


def check_issuer_url(url: object, *, development: bool) -> str:
    if not isinstance(url, str):
        raise Validation("IssuerUrl must be a string")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        if development:
            return url
        raise Validation(
            f"IssuerUrl {url} must be HTTPS (plain-HTTP loopback issuers need --demo or --allow-http-issuers)"
        )
    raise Validation(f"IssuerUrl {url} must be an HTTPS URL")


def check_issuer_configuration(config: object, *, development: bool) -> dict[str, Any]:
    if not isinstance(config, dict) or set(config) != {"OidcJwtConfiguration"}:
        raise Validation("TrustedTokenIssuerConfiguration takes OidcJwtConfiguration")
    oidc = config["OidcJwtConfiguration"]
    if not isinstance(oidc, dict):
        raise Validation("OidcJwtConfiguration must be an object")
    check_issuer_url(oidc.get("IssuerUrl"), development=development)
    claim = oidc.get("ClaimAttributePath")
    if not isinstance(claim, str) or not CLAIM_PATH_PATTERN.fullmatch(claim):
        raise Validation(f"invalid ClaimAttributePath {claim!r}")
    store_path = oidc.get("IdentityStoreAttributePath")
    if store_path not in SEARCHABLE_PATHS:
        raise Validation(
            f"IdentityStoreAttributePath must be one of {', '.join(sorted(SEARCHABLE_PATHS))}"
        )
    if oidc.get("JwksRetrievalOption") != "OPEN_ID_DISCOVERY":
        raise Validation("JwksRetrievalOption must be OPEN_ID_DISCOVERY")
    return config


def create_trusted_token_issuer(
    conn: Connection,
    instance: Instance,
    *,
    name: str,
    issuer_type: str,
    configuration: dict[str, Any],
    development: bool,
    now: float,
) -> str:
    if issuer_type != "OIDC_JWT":
        raise Validation("TrustedTokenIssuerType must be OIDC_JWT")
    check_issuer_configuration(configuration, development=development)
    if conn.execute(
        select(t.trusted_token_issuers.c.arn).where(t.trusted_token_issuers.c.name == name)
    ).first():
        raise Conflict(f"a trusted token issuer named {name} already exists")
    arn = f"arn:aws:sso::{instance.account_id}:trustedTokenIssuer/{instance.instance_id}/tti-{uuid.uuid4()}"
    conn.execute(
        insert(t.trusted_token_issuers).values(
            arn=arn,
            instance_arn=instance.arn,
            name=name,
            issuer_type=issuer_type,
            configuration=configuration,
            created_at=now,
        )
    )
    bump_generation(conn)
    return arn


def update_trusted_token_issuer(
    conn: Connection, arn: str, *, configuration: dict[str, Any], development: bool
) -> None:
    row = _issuer_row(conn, arn)
    if row is None:
        raise ResourceNotFound(f"no trusted token issuer {arn}")
    old = row.configuration["OidcJwtConfiguration"]
    new = dict(old)
    new.update(configuration.get("OidcJwtConfiguration", {}))
    if new.get("IssuerUrl") != old.get("IssuerUrl"):
        raise Validation("IssuerUrl cannot be updated")
    merged = check_issuer_configuration({"OidcJwtConfiguration": new}, development=development)
    conn.execute(
        update(t.trusted_token_issuers)
        .where(t.trusted_token_issuers.c.arn == arn)
        .values(configuration=merged)
    )
    bump_generation(conn)


def find_trusted_token_issuer(conn: Connection, name: str) -> str | None:
    row = conn.execute(
        select(t.trusted_token_issuers.c.arn).where(t.trusted_token_issuers.c.name == name)
    ).first()
    return None if row is None else str(row.arn)


def _issuer_row(conn: Connection, arn: str) -> Any:
    return conn.execute(
        select(t.trusted_token_issuers).where(t.trusted_token_issuers.c.arn == arn)
    ).first()
