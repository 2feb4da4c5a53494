"""iam operations (query protocol): users, roles, their access keys and inline policies."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from ssooidc.api.registry import Context, operation
from ssooidc.errors import InvalidInput, UnmodifiableEntity, Validation
from ssooidc.services import iam
from ssooidc.services.iam import PrincipalRecord

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 100


# -- shared --------------------------------------------------------------------------------


def _page(
    items: Sequence[T], key: Callable[[T], str], body: dict[str, Any]
) -> tuple[list[T], dict[str, Any]]:
    """One page after ``Marker`` of at most ``MaxItems``, and IsTruncated/Marker for the next.

    The marker names the last item returned, so pages stay right when items come and go."""
    ordered = sorted(items, key=key)
    marker = body.get("Marker")
    if marker:
        after = _unmark(marker)
        ordered = [item for item in ordered if key(item) > after]
    limit = body.get("MaxItems") or DEFAULT_MAX_ITEMS
    chunk = ordered[:limit]
    truncated = len(ordered) > limit
    more: dict[str, Any] = {"IsTruncated": truncated}
    if truncated:
        more["Marker"] = base64.urlsafe_b64encode(
            json.dumps({"a": key(chunk[-1])}).encode()
        ).decode()
    return chunk, more


def _unmark(marker: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(marker.encode()))["a"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise Validation("Invalid Marker") from None
    if not isinstance(after, str):
        raise Validation("Invalid Marker")
    return after


def _tags(body: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in body.get("Tags") or []:
        if tag["Key"].lower() in {k.lower() for k in tags}:
            raise InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
            )
        tags[tag["Key"]] = tag["Value"]
    return tags


def _no_permissions_boundary(body: dict[str, Any]) -> None:
    # Ignoring a boundary would grant more than the caller meant: refuse it instead.
    if body.get("PermissionsBoundary"):
        raise InvalidInput("PermissionsBoundary is not supported by ssooidc")


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]] | None:
    return [{"Key": k, "Value": v} for k, v in tags.items()] or None


def _quoted(document: Any) -> str:
    """A policy document as IAM returns it: JSON text, URL-encoded (botocore decodes it)."""
    return quote(iam.policy_text(document), safe="")


def _user_name(ctx: Context, body: dict[str, Any]) -> str:
    """``UserName``, or when absent the calling user (IAM: not from a role session)."""
    name = body.get("UserName")
    if name:
        return str(name)
    if ctx.caller.user_name is None:
        raise Validation("Must specify userName when calling with non-User credentials")
    return ctx.caller.user_name


def _user_view(user: PrincipalRecord, *, tags: bool = True) -> dict[str, Any]:
    return {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.principal_id,
        "Arn": user.arn,
        "CreateDate": user.created_at,
        "Tags": _tag_list(user.tags) if tags else None,
    }


def _role_view(role: PrincipalRecord) -> dict[str, Any]:
    return {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.principal_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": (
            _quoted(role.assume_role_policy) if role.assume_role_policy is not None else None
        ),
        "MaxSessionDuration": role.max_session_duration or iam.DEFAULT_MAX_SESSION_DURATION,
        "Tags": _tag_list(role.tags),
    }


# -- users ---------------------------------------------------------------------------------


@operation("iam", "CreateUser")
async def create_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    _no_permissions_boundary(body)
    tags = _tags(body)
    async with ctx.store.transaction() as conn:
        iam.create_principal(
            conn,
            kind="user",
            account_id=ctx.instance.account_id,
            name=body["UserName"],
            now=ctx.now,
            path=body.get("Path") or "/",
            tags=tags,
        )
        user = iam.get_principal(conn, "user", body["UserName"])
    return {"User": _user_view(user)}


@operation("iam", "GetUser")
async def get_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = _user_name(ctx, body)
    with ctx.store.read() as conn:
        user = iam.get_principal(conn, "user", name)
    return {"User": _user_view(user)}


@operation("iam", "DeleteUser")
async def delete_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    async with ctx.store.transaction() as conn:
        iam.delete_principal(conn, iam.get_principal(conn, "user", body["UserName"]))
    return {}


@operation("iam", "ListUsers")
async def list_users(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        users = iam.list_principals(conn, "user", body.get("PathPrefix") or "/")
    chunk, more = _page(users, lambda u: u.name.lower(), body)
    return {"Users": [_user_view(u, tags=False) for u in chunk], **more}


# -- roles ---------------------------------------------------------------------------------


@operation("iam", "CreateRole")
async def create_role(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    _no_permissions_boundary(body)
    tags = _tags(body)
    async with ctx.store.transaction() as conn:
        iam.create_principal(
            conn,
            kind="role",
            account_id=ctx.instance.account_id,
            name=body["RoleName"],
            now=ctx.now,
            path=body.get("Path") or "/",
            assume_role_policy=body["AssumeRolePolicyDocument"],
            tags=tags,
            max_session_duration=body.get("MaxSessionDuration"),
        )
        role = iam.get_principal(conn, "role", body["RoleName"])
    return {"Role": _role_view(role)}


@operation("iam", "GetRole")
async def get_role(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        role = iam.get_principal(conn, "role", body["RoleName"])
    return {"Role": _role_view(role)}


@operation("iam", "DeleteRole")
async def delete_role(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    async with ctx.store.transaction() as conn:
        role = iam.get_principal(conn, "role", body["RoleName"])
        _require_modifiable(role)
        iam.delete_principal(conn, role)
    return {}


def _require_modifiable(principal: PrincipalRecord) -> None:
    """A permission set's role (under /aws-reserved/) is changed only by Identity Center."""
    if principal.kind == "role" and principal.path.startswith(iam.RESERVED_PATH_PREFIX):
        raise UnmodifiableEntity(
            f"Cannot perform the operation on the protected role '{principal.name}' - "
            "this role is only modifiable by AWS"
        )


# -- access keys ---------------------------------------------------------------------------


def _key_view(user: PrincipalRecord, key: iam.AccessKeyRecord) -> dict[str, Any]:
    return {
        "UserName": user.name,
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": key.created_at,
    }


@operation("iam", "CreateAccessKey")
async def create_access_key(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = _user_name(ctx, body)
    async with ctx.store.transaction() as conn:
        user = iam.get_principal(conn, "user", name)
        pair = iam.create_access_key(conn, ctx.box, user.arn, ctx.now, limit=iam.MAX_ACCESS_KEYS)
    # The only time the secret leaves the server.
    return {
        "AccessKey": {
            "UserName": user.name,
            "AccessKeyId": pair.access_key_id,
            "Status": "Active",
            "SecretAccessKey": pair.secret_access_key,
            "CreateDate": ctx.now,
        }
    }


@operation("iam", "ListAccessKeys")
async def list_access_keys(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = _user_name(ctx, body)
    with ctx.store.read() as conn:
        user = iam.get_principal(conn, "user", name)
        found = iam.list_access_keys(conn, user.arn)
    chunk, more = _page(found, lambda k: k.access_key_id, body)
    return {"AccessKeyMetadata": [_key_view(user, k) for k in chunk], **more}


@operation("iam", "UpdateAccessKey")
async def update_access_key(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = _user_name(ctx, body)
    async with ctx.store.transaction() as conn:
        user = iam.get_principal(conn, "user", name)
        iam.set_access_key_status(conn, user.arn, body["AccessKeyId"], body["Status"])
    return {}


@operation("iam", "DeleteAccessKey")
async def delete_access_key(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = _user_name(ctx, body)
    async with ctx.store.transaction() as conn:
        user = iam.get_principal(conn, "user", name)
        iam.delete_access_key(conn, user.arn, body["AccessKeyId"])
    return {}


# -- inline policies, the same five operations for users and for roles ---------------------


def _register_inline_policies(kind: str, member: str) -> None:
    """Put/Get/Delete/List<Kind>Policy/Policies for ``kind`` ("user" or "role")."""
    noun = kind.capitalize()

    async def put(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        async with ctx.store.transaction() as conn:
            principal = iam.get_principal(conn, kind, body[member])
            _require_modifiable(principal)
            iam.put_policy(conn, principal.arn, body["PolicyName"], body["PolicyDocument"])
        return {}

    async def get(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.read() as conn:
            principal = iam.get_principal(conn, kind, body[member])
            document = iam.get_policy(conn, principal, body["PolicyName"])
        return {
            member: principal.name,
            "PolicyName": body["PolicyName"],
            "PolicyDocument": _quoted(document),
        }

    async def remove(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        async with ctx.store.transaction() as conn:
            principal = iam.get_principal(conn, kind, body[member])
            _require_modifiable(principal)
            iam.delete_policy(conn, principal, body["PolicyName"])
        return {}

    async def names(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        with ctx.store.read() as conn:
            principal = iam.get_principal(conn, kind, body[member])
            found = iam.list_policy_names(conn, principal.arn)
        chunk, more = _page(found, lambda n: n, body)
        return {"PolicyNames": chunk, **more}

    operation("iam", f"Put{noun}Policy")(put)
    operation("iam", f"Get{noun}Policy")(get)
    operation("iam", f"Delete{noun}Policy")(remove)
    operation("iam", f"List{noun}Policies")(names)


_register_inline_policies("user", "UserName")
_register_inline_policies("role", "RoleName")
