"""``ssooidc export``: the live tenant as the YAML that ``--config`` reads back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ssooidc.services import resource_tags
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.catalog import load_catalog
from ssooidc.services.iam import ADMIN_USER, RESERVED_PATH_PREFIX
from ssooidc.store import tables as t
from ssooidc.store.engine import Store


def export(
    store: Store, box: SecretBox, *, region: str, include_secrets: bool = False
) -> dict[str, Any]:
    """The tenant as a document for ``--config``: objects by name, references by name.

    Secret access keys are exported only with ``include_secrets`` (the file then holds live
    credentials); without it access keys are left out, and applying the file keeps the keys
    the store already has. The bootstrap administrator is left out: every start makes it."""
    with store.read() as conn:
        catalog = load_catalog(conn, box, region)
        users = _identity_users(conn)
        groups = _identity_groups(conn, {u["_id"]: u["UserName"] for u in users})
    names = {a.arn: a.name for a in catalog.applications.values()}
    issuer_names = {i.arn: i.name for i in catalog.issuers.values()}
    user_names = {u["_id"]: u["UserName"] for u in users}
    group_names = {g["_id"]: g["DisplayName"] for g in groups}
    iam_users: list[dict[str, Any]] = []
    iam_roles: list[dict[str, Any]] = []
    with store.read() as conn:
        policies = _policies(conn)
        principals_extra = {
            row.arn: {"path": row.path, "max_session_duration": row.max_session_duration}
            for row in conn.execute(
                select(
                    t.iam_principals.c.arn,
                    t.iam_principals.c.path,
                    t.iam_principals.c.max_session_duration,
                )
            )
        }
        tags = {
            arn: resource_tags.list_tags(conn, arn)
            for arn in [*catalog.applications, *catalog.issuers]
        }
    for principal in sorted(catalog.principals.values(), key=lambda p: (p.kind, p.name)):
        if principal.kind == "user" and principal.name == ADMIN_USER:
            continue
        extra = principals_extra.get(principal.arn, {})
        if str(extra.get("path", "/")).startswith(RESERVED_PATH_PREFIX):
            continue  # a permission set's role: Identity Center's own, not the tenant's
        entry: dict[str, Any] = {}
        if principal.kind == "user":
            entry["UserName"] = principal.name
        else:
            entry["RoleName"] = principal.name
            entry["AssumeRolePolicyDocument"] = policies.get(("trust", principal.arn))
        if extra.get("path", "/") != "/":
            entry["Path"] = extra["path"]
        if principal.kind == "role" and extra.get("max_session_duration"):
            entry["MaxSessionDuration"] = extra["max_session_duration"]
        if principal.tags:
            entry["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(principal.tags.items())]
        inline = policies.get(("inline", principal.arn))
        if inline:
            entry["Policies"] = inline
        if include_secrets and principal.kind == "user":
            keys = [
                {"AccessKeyId": k.access_key_id, "SecretAccessKey": k.secret}
                for k in sorted(catalog.access_keys.values(), key=lambda k: k.access_key_id)
                if k.principal_arn == principal.arn
            ]
            if keys:
                entry["AccessKeys"] = keys
        (iam_users if principal.kind == "user" else iam_roles).append(entry)
    issuers = [
        {
            "Name": i.name,
            "TrustedTokenIssuerType": i.issuer_type,
            "TrustedTokenIssuerConfiguration": dict(i.configuration),
            **({"Tags": tags[i.arn]} if tags.get(i.arn) else {}),
        }
        for i in sorted(catalog.issuers.values(), key=lambda i: i.name)
    ]
    applications: list[dict[str, Any]] = []
    for app in sorted(catalog.applications.values(), key=lambda a: a.name):
        entry = {"Name": app.name, "Status": app.status}
        if app.description:
            entry["Description"] = app.description
        if app.portal_options:
            entry["PortalOptions"] = dict(app.portal_options)
        if tags.get(app.arn):
            entry["Tags"] = tags[app.arn]
        if app.grants:
            entry["Grants"] = {
                kind: _grant_by_name(grant, issuer_names)
                for kind, grant in sorted(app.grants.items())
            }
        if app.auth_methods:
            entry["AuthenticationMethods"] = {
                k: dict(v) for k, v in sorted(app.auth_methods.items())
            }
        if app.access_scopes:
            entry["AccessScopes"] = [
                _scope(scope, targets, names)
                for scope, targets in sorted(app.access_scopes.items())
            ]
        entry["AssignmentRequired"] = app.assignment_required
        assignments = [
            {"PrincipalType": "USER", "Principal": user_names[u]}
            for u in sorted(app.assigned_users)
            if u in user_names
        ]
        assignments += [
            {"PrincipalType": "GROUP", "Principal": group_names[g]}
            for g in sorted(app.assigned_groups)
            if g in group_names
        ]
        if assignments:
            entry["Assignments"] = assignments
        applications.append(entry)
    document: dict[str, Any] = {
        "iam": {"Users": iam_users, "Roles": iam_roles},
        "identitystore": {
            "Users": [{k: v for k, v in u.items() if k != "_id"} for u in users],
            "Groups": [{k: v for k, v in g.items() if k != "_id"} for g in groups],
        },
        "ssoadmin": {"TrustedTokenIssuers": issuers, "Applications": applications},
    }
    return document


def _grant_by_name(stored: Any, issuer_names: dict[str, str]) -> dict[str, Any]:
    grant: dict[str, Any] = dict(stored)
    jwt = grant.get("JwtBearer")
    if isinstance(jwt, dict):
        grant["JwtBearer"] = {
            **jwt,
            "AuthorizedTokenIssuers": [
                {
                    **{k: v for k, v in entry.items() if k != "TrustedTokenIssuerArn"},
                    "TrustedTokenIssuer": issuer_names.get(
                        entry["TrustedTokenIssuerArn"], entry["TrustedTokenIssuerArn"]
                    ),
                }
                for entry in jwt.get("AuthorizedTokenIssuers", [])
            ],
        }
    return grant


def _scope(scope: str, targets: tuple[str, ...], names: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Scope": scope}
    if targets:
        entry["AuthorizedTargets"] = [names.get(target, target) for target in targets]
    return entry


def _identity_users(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.identity_users).order_by(t.identity_users.c.user_name))
    users = []
    for row in rows:
        document = dict(row.document)
        document.pop("UserId", None)
        user: dict[str, Any] = {"_id": row.user_id, **document, "UserName": row.user_name}
        if row.status != "ENABLED":
            user["UserStatus"] = row.status
        if row.password_hash:
            user["PasswordHash"] = row.password_hash
        users.append(user)
    return users


def _identity_groups(conn: Connection, user_names: dict[str, str]) -> list[dict[str, Any]]:
    members: dict[str, list[str]] = {}
    for row in conn.execute(select(t.identity_memberships)):
        if row.user_id in user_names:
            members.setdefault(row.group_id, []).append(user_names[row.user_id])
    groups = []
    for row in conn.execute(select(t.identity_groups).order_by(t.identity_groups.c.display_name)):
        document = {
            k: v for k, v in dict(row.document).items() if k not in ("GroupId", "DisplayName")
        }
        group: dict[str, Any] = {"_id": row.group_id, "DisplayName": row.display_name, **document}
        if members.get(row.group_id):
            group["Members"] = sorted(members[row.group_id])
        groups.append(group)
    return groups


def _policies(conn: Connection) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for row in conn.execute(select(t.iam_policies).order_by(t.iam_policies.c.name)):
        out.setdefault(("inline", row.principal_arn), []).append(
            {"PolicyName": row.name, "PolicyDocument": row.document}
        )
    for row in conn.execute(select(t.iam_principals.c.arn, t.iam_principals.c.assume_role_policy)):
        if row.assume_role_policy is not None:
            out[("trust", row.arn)] = row.assume_role_policy
    return out
