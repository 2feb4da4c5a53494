"""The AWS access portal (botocore service ``sso``): unsigned operations authenticated by an
access token, which botocore's SSO credential provider and ``aws sso`` call for a signed-in
user's accounts, roles and role credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ssooidc.api.pagination import page
from ssooidc.api.sts import EXPIRED_SESSION_GRACE
from ssooidc.errors import Forbidden, InvalidRequest, Unauthorized, Validation
from ssooidc.services import identity_store, role_sessions, tokens
from ssooidc.services import permission_sets as psets
from ssooidc.services.account_assignments import list_assignments
from ssooidc.services.catalog import Catalog
from ssooidc.services.iam import PrincipalRecord
from ssooidc.services.identity_store import IdentityUser
from ssooidc.services.token_service import TokenService

#: The scope of a token that may use the portal (what `aws sso login` registers).
PORTAL_SCOPE = "sso:account:access"
INVALID_TOKEN = "Session token not found or invalid"
#: AWS's answer for a role the user is not assigned (an unmodelled 403 ForbiddenException).
NO_ACCESS = "No access"
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class PortalUser:
    """The user behind a bearer token, and the token's family (Logout revokes it)."""

    user: IdentityUser
    family_id: str


def authenticate(conn: Connection, bearer: str | None, now: float) -> PortalUser:
    """A live access token of an enabled user that grants portal access [decide: its scopes
    include sso:account:access, or it has none at all, as a registration without scopes
    (the AWS CLI's legacy profiles) gets]; anything else is UnauthorizedException."""
    if not bearer:
        raise Unauthorized(INVALID_TOKEN)
    stored = tokens.find_token(conn, bearer, "access")
    if (
        stored is None
        or stored.expires_at <= now
        or stored.family.revoked
        or stored.family.expires_at <= now
    ):
        raise Unauthorized(INVALID_TOKEN)
    if stored.scopes and PORTAL_SCOPE not in stored.scopes:
        raise Unauthorized(f"the access token does not grant {PORTAL_SCOPE}")
    user = identity_store.get_user(conn, stored.family.user_id)
    if user is None or not user.enabled:
        raise Unauthorized(INVALID_TOKEN)
    return PortalUser(user, stored.family.family_id)


def portal_roles(
    conn: Connection, user_id: str, account_id: str
) -> list[tuple[psets.PermissionSet, PrincipalRecord]]:
    """The permission sets assigned to the user in the account, directly or through a group,
    that are provisioned there, with their roles; by name."""
    principals = [("USER", user_id)]
    principals += [("GROUP", g) for g in sorted(identity_store.group_ids_of(conn, user_id))]
    arns = {
        a.permission_set_arn
        for a in list_assignments(conn, account_id=account_id, principals=principals)
    }
    found: list[tuple[psets.PermissionSet, PrincipalRecord]] = []
    for arn in sorted(arns):
        ps = psets.get_permission_set(conn, arn)
        role = psets.provisioned_role(conn, ps, account_id)
        if role is not None:
            found.append((ps, role))
    return sorted(found, key=lambda pair: pair[0].name)


def _page(items: list[Any], params: dict[str, str]) -> tuple[list[Any], str | None]:
    """A page by ``next_token`` and ``max_result`` (1 to 100, as the model says)."""
    body: dict[str, Any] = {"NextToken": params.get("next_token")}
    raw = params.get("max_result")
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise InvalidRequest("max_result must be a number from 1 to 100")
        body["MaxResults"] = int(raw)
    try:
        return page(items, body)
    except Validation as exc:
        raise InvalidRequest(exc.description) from None


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


def session_name(user_name: str) -> str:
    """The role session's name: the user's name, as AWS names portal sessions, made to fit
    sts's RoleSessionName (2 to 64 of ``[\\w+=,.@-]``)."""
    name = _SESSION_NAME_UNSAFE.sub("-", user_name)[:64]
    return name if len(name) >= 2 else f"{name}--"[:2]


async def list_accounts(
    service: TokenService, catalog: Catalog, bearer: str | None, params: dict[str, str]
) -> dict[str, Any]:
    """The instance's account when the user has a role there [decide: its name is the
    instance's Name (or "ssooidc"), its address a non-deliverable one under .invalid]."""
    instance = catalog.instance
    with service.store.read() as conn:
        who = authenticate(conn, bearer, service.now())
        assigned = bool(portal_roles(conn, who.user.user_id, instance.account_id))
    accounts = []
    if assigned:
        accounts.append(
            {
                "accountId": instance.account_id,
                "accountName": instance.name or "ssooidc",
                "emailAddress": f"{instance.account_id}@ssooidc.invalid",
            }
        )
    items, token = _page(accounts, params)
    return {"accountList": items, "nextToken": token}


async def list_account_roles(
    service: TokenService, catalog: Catalog, bearer: str | None, params: dict[str, str]
) -> dict[str, Any]:
    account = _required(params, "account_id")
    with service.store.read() as conn:
        who = authenticate(conn, bearer, service.now())
        roles = [
            {"roleName": ps.name, "accountId": account}
            for ps, _role in portal_roles(conn, who.user.user_id, account)
        ]
    items, token = _page(roles, params)
    return {"roleList": items, "nextToken": token}


async def get_role_credentials(
    service: TokenService, catalog: Catalog, bearer: str | None, params: dict[str, str]
) -> dict[str, Any]:
    """A session of the permission set's role for the user, lasting the permission set's
    SessionDuration; a role the user is not assigned is AWS's ForbiddenException."""
    role_name = _required(params, "role_name")
    account = _required(params, "account_id")
    now = service.now()
    async with service.store.transaction() as conn:
        who = authenticate(conn, bearer, now)
        chosen = [
            (ps, role)
            for ps, role in portal_roles(conn, who.user.user_id, account)
            if ps.name == role_name
        ]
        if not chosen:
            raise Forbidden(NO_ACCESS)
        ps, role = chosen[0]
        expires_at = now + ps.session_seconds
        pair, token = role_sessions.create_session(
            conn,
            service.box,
            role=role.arn,
            session_name=session_name(who.user.user_name),
            expires_at=expires_at,
            now=now,
        )
        role_sessions.delete_expired_sessions(conn, now - EXPIRED_SESSION_GRACE)
    return {
        "roleCredentials": {
            "accessKeyId": pair.access_key_id,
            "secretAccessKey": pair.secret_access_key,
            "sessionToken": token,
            "expiration": int(expires_at * 1000),
        }
    }


async def logout(
    service: TokenService, catalog: Catalog, bearer: str | None, params: dict[str, str]
) -> dict[str, Any]:
    """Revoke the token's family (its access and refresh tokens); role sessions it created
    run to their end, as AWS documents."""
    now = service.now()
    async with service.store.transaction() as conn:
        who = authenticate(conn, bearer, now)
        tokens.revoke_family(conn, who.family_id, now)
    return {}
