"""identitystore operations (json 1.1, target prefix AWSIdentityStore)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from ssooidc.api import attribute_paths as paths
from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation
from ssooidc.errors import ResourceNotFound, Validation
from ssooidc.services import identity_groups
from ssooidc.services import identity_rules as rules
from ssooidc.services import identity_store as store
from ssooidc.services.identity_groups import GroupRecord, MembershipRecord
from ssooidc.services.identity_store import UserRecord

#: UserId, GroupId and MembershipId may be given as ARNs [AWS].
RESOURCE_ARN = re.compile(r"arn:aws[a-z-]*:identitystore:::(user|group|membership)/(.+)")


# -- identifiers and views ------------------------------------------------------------------


def _store_id(ctx: Context, body: Mapping[str, Any]) -> str:
    """This instance's identity store, named by its id or its ARN [AWS]."""
    given = str(body["IdentityStoreId"])
    instance = ctx.catalog.instance
    if given in (instance.identity_store_id, instance.identity_store_arn):
        return str(instance.identity_store_id)
    raise rules.not_found(
        "IDENTITY_STORE", given, f"IdentityStore not present for IdentityStoreId: {given}"
    )


def _resource_id(value: str, kind: str) -> str:
    match = RESOURCE_ARN.fullmatch(value)
    return match.group(2) if match and match.group(1) == kind else value


def _arn(kind: str, resource_id: str) -> str:
    return f"arn:aws:identitystore:::{kind}/{resource_id}"


def _actor(ctx: Context) -> str:
    return ctx.caller.principal_arn


def _user(conn: Connection, store_id: str, user_id: str) -> UserRecord:
    user_id = _resource_id(user_id, "user")
    user = store.get_user_record(conn, user_id)
    if user.identity_store_id != store_id:
        raise rules.not_found("USER", user_id, f"User not found for UserId: {user_id}")
    return user


def _group(conn: Connection, store_id: str, group_id: str) -> GroupRecord:
    group_id = _resource_id(group_id, "group")
    group = identity_groups.get_group_record(conn, group_id)
    if group.identity_store_id != store_id:
        raise rules.not_found("GROUP", group_id, f"Group not found for GroupId: {group_id}")
    return group


def _member_id(body: Mapping[str, Any]) -> str:
    return _resource_id(str(body["MemberId"]["UserId"]), "user")


def _user_view(user: UserRecord, extensions: Sequence[str] = ()) -> dict[str, Any]:
    document = dict(user.document)
    stored = document.pop("Extensions", None) or {}
    view = {
        **document,
        "IdentityStoreId": user.identity_store_id,
        "UserId": user.user_id,
        "UserArn": _arn("user", user.user_id),
        "Revision": str(user.revision),
        "UserName": user.user_name,
        "UserStatus": user.status,
        "CreatedAt": user.created_at,
        "CreatedBy": user.created_by,
        "UpdatedAt": user.updated_at,
        "UpdatedBy": user.updated_by,
    }
    requested = {name: stored[name] for name in extensions if name in stored}
    if requested:
        view["Extensions"] = requested
    return view


def _group_view(group: GroupRecord) -> dict[str, Any]:
    return {
        **group.document,
        "IdentityStoreId": group.identity_store_id,
        "GroupId": group.group_id,
        "GroupArn": _arn("group", group.group_id),
        "Revision": str(group.revision),
        "DisplayName": group.display_name,
        "CreatedAt": group.created_at,
        "CreatedBy": group.created_by,
        "UpdatedAt": group.updated_at,
        "UpdatedBy": group.updated_by,
    }


def _membership_view(store_id: str, membership: MembershipRecord) -> dict[str, Any]:
    # Memberships are never changed, only created and deleted.
    return {
        "IdentityStoreId": store_id,
        "MembershipId": membership.membership_id,
        "MembershipArn": _arn("membership", membership.membership_id),
        "GroupId": membership.group_id,
        "MemberId": {"UserId": membership.user_id},
        "CreatedAt": membership.created_at,
        "CreatedBy": membership.created_by,
        "UpdatedAt": membership.created_at,
        "UpdatedBy": membership.created_by,
    }


def _extensions(body: Mapping[str, Any]) -> list[str]:
    return rules.check_extension_names(body.get("Extensions") or [])


def _filter(body: Mapping[str, Any], attribute: str) -> str | None:
    """The value of the deprecated Filters' one filter, which may only name ``attribute``."""
    filters = body.get("Filters") or []
    if not filters:
        return None
    path = str(filters[0]["AttributePath"])
    if path.lower() != attribute.lower():
        raise Validation(f"{path} is not a supported filter attribute path (only {attribute})")
    return str(filters[0]["AttributeValue"])


def _unique_attribute(body: Mapping[str, Any], allowed: Sequence[str]) -> tuple[str, str] | None:
    """(path, value) of a UniqueAttribute AlternateIdentifier, or None for an ExternalId."""
    unique = body["AlternateIdentifier"].get("UniqueAttribute")
    if unique is None:
        return None
    path = str(unique["AttributePath"])
    canonical = next((a for a in allowed if a.lower() == path.lower()), None)
    if canonical is None:
        raise Validation(f"The attribute {path} is not a unique attribute")
    value = unique.get("AttributeValue")
    if not isinstance(value, str) or not value:
        raise Validation(f"attribute value cannot be empty or null for attribute path {path}")
    return canonical, value


def _one(found: Sequence[str], resource_type: str, what: str) -> str:
    if len(found) == 1:
        return found[0]
    detail = "no" if not found else "more than one"
    raise ResourceNotFound(
        f"{detail} {resource_type.lower()} has {what}", extra={"ResourceType": resource_type}
    )


# -- the identity store ---------------------------------------------------------------------


def _identity_store_view(ctx: Context) -> dict[str, Any]:
    instance = ctx.catalog.instance
    return {
        "IdentityStoreId": instance.identity_store_id,
        "IdentityStoreArn": instance.identity_store_arn,
    }


@operation("identitystore", "ListIdentityStores")
async def list_identity_stores(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    items, token = page([_identity_store_view(ctx)], body)
    return {"IdentityStores": items, "NextToken": token}


@operation("identitystore", "DescribeIdentityStore")
async def describe_identity_store(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    with ctx.store.read() as conn:
        network = store.network_configuration(conn, store_id)
    return {**_identity_store_view(ctx), "NetworkConfiguration": network}


@operation("identitystore", "UpdateIdentityStore")
async def update_identity_store(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    configuration = body.get("NetworkConfiguration")
    if configuration is not None:
        async with ctx.store.transaction() as conn:
            store.set_network_configuration(conn, store_id, configuration, ctx.now)
    return _identity_store_view(ctx)


# -- users ----------------------------------------------------------------------------------


@operation("identitystore", "CreateUser")
async def create_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    document = paths.creation_document("CreateUser", body)
    async with ctx.store.transaction() as conn:
        user_id = store.create_user(conn, store_id, document, ctx.now, actor=_actor(ctx))
    return {
        "IdentityStoreId": store_id,
        "UserId": user_id,
        "UserArn": _arn("user", user_id),
        "Revision": "1",
    }


@operation("identitystore", "DescribeUser")
async def describe_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    extensions = _extensions(body)
    with ctx.store.read() as conn:
        user = _user(conn, store_id, body["UserId"])
    return _user_view(user, extensions)


@operation("identitystore", "UpdateUser")
async def update_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    members = paths.user_members()
    changes = [paths.change(members, op, extensions=True) for op in body["Operations"]]
    async with ctx.store.transaction() as conn:
        current = _user(conn, store_id, body["UserId"])
        updated = rules.apply_changes({**current.document, "UserStatus": current.status}, changes)
        status = updated.pop("UserStatus", None)
        paths.check_user(updated, status)
        user = store.update_user(
            conn,
            current.user_id,
            updated,
            str(status),
            ctx.now,
            actor=_actor(ctx),
            expected_revision=body.get("Revision"),
        )
    return {
        "IdentityStoreId": store_id,
        "UserId": user.user_id,
        "UserArn": _arn("user", user.user_id),
        "Revision": str(user.revision),
    }


@operation("identitystore", "DeleteUser")
async def delete_user(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    async with ctx.store.transaction() as conn:
        user = _user(conn, store_id, body["UserId"])
        store.delete_user(conn, user.user_id, expected_revision=body.get("Revision"))
    return {}


@operation("identitystore", "ListUsers")
async def list_users(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    extensions = _extensions(body)
    user_name = _filter(body, "UserName")
    with ctx.store.read() as conn:
        users = store.list_users(conn, store_id, user_name=user_name)
    items, token = page(users, body)
    return {"Users": [_user_view(u, extensions) for u in items], "NextToken": token}


@operation("identitystore", "GetUserId")
async def get_user_id(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    unique = _unique_attribute(body, ("userName", "emails.value"))
    with ctx.store.read() as conn:
        if unique is None:
            external = body["AlternateIdentifier"]["ExternalId"]
            found = store.user_ids_with_external_id(
                conn, store_id, external["Issuer"], external["Id"]
            )
            what = "this external id"
        else:
            path, value = unique
            found = store.user_ids_with(conn, store_id, path, value)
            what = f"this {path}"
    user_id = _one(found, "USER", what)
    return {"IdentityStoreId": store_id, "UserId": user_id, "UserArn": _arn("user", user_id)}


# -- groups ---------------------------------------------------------------------------------


@operation("identitystore", "CreateGroup")
async def create_group(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    document = paths.creation_document("CreateGroup", body)
    async with ctx.store.transaction() as conn:
        group_id = identity_groups.create_group(
            conn, store_id, document, ctx.now, actor=_actor(ctx)
        )
    return {
        "IdentityStoreId": store_id,
        "GroupId": group_id,
        "GroupArn": _arn("group", group_id),
        "Revision": "1",
    }


@operation("identitystore", "DescribeGroup")
async def describe_group(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    with ctx.store.read() as conn:
        group = _group(conn, store_id, body["GroupId"])
    return _group_view(group)


@operation("identitystore", "UpdateGroup")
async def update_group(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    members = paths.group_members()
    changes = [paths.change(members, op, extensions=False) for op in body["Operations"]]
    async with ctx.store.transaction() as conn:
        current = _group(conn, store_id, body["GroupId"])
        updated = rules.apply_changes(current.document, changes)
        paths.check_group(updated)
        group = identity_groups.update_group(
            conn,
            current.group_id,
            updated,
            ctx.now,
            actor=_actor(ctx),
            expected_revision=body.get("Revision"),
        )
    return {
        "IdentityStoreId": store_id,
        "GroupId": group.group_id,
        "GroupArn": _arn("group", group.group_id),
        "Revision": str(group.revision),
    }


@operation("identitystore", "DeleteGroup")
async def delete_group(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    async with ctx.store.transaction() as conn:
        group = _group(conn, store_id, body["GroupId"])
        identity_groups.delete_group(conn, group.group_id, expected_revision=body.get("Revision"))
    return {}


@operation("identitystore", "ListGroups")
async def list_groups(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    display_name = _filter(body, "DisplayName")
    with ctx.store.read() as conn:
        groups = identity_groups.list_groups(conn, store_id, display_name=display_name)
    items, token = page(groups, body)
    return {"Groups": [_group_view(g) for g in items], "NextToken": token}


@operation("identitystore", "GetGroupId")
async def get_group_id(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    unique = _unique_attribute(body, ("displayName",))
    with ctx.store.read() as conn:
        if unique is None:
            external = body["AlternateIdentifier"]["ExternalId"]
            found = identity_groups.group_ids_with_external_id(
                conn, store_id, external["Issuer"], external["Id"]
            )
            what = "this external id"
        else:
            group_id = identity_groups.find_group_by_name(conn, store_id, unique[1])
            found = [] if group_id is None else [group_id]
            what = "this displayName"
    group_id = _one(found, "GROUP", what)
    return {"IdentityStoreId": store_id, "GroupId": group_id, "GroupArn": _arn("group", group_id)}


# -- memberships ----------------------------------------------------------------------------


def _membership(conn: Connection, store_id: str, membership_id: str) -> MembershipRecord:
    membership = identity_groups.get_membership(conn, _resource_id(membership_id, "membership"))
    _group(conn, store_id, membership.group_id)
    return membership


@operation("identitystore", "CreateGroupMembership")
async def create_group_membership(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    async with ctx.store.transaction() as conn:
        group = _group(conn, store_id, body["GroupId"])
        user = _user(conn, store_id, _member_id(body))
        membership_id = identity_groups.create_membership(
            conn, group.group_id, user.user_id, ctx.now, actor=_actor(ctx)
        )
    return {
        "IdentityStoreId": store_id,
        "MembershipId": membership_id,
        "MembershipArn": _arn("membership", membership_id),
    }


@operation("identitystore", "DescribeGroupMembership")
async def describe_group_membership(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    with ctx.store.read() as conn:
        membership = _membership(conn, store_id, body["MembershipId"])
    return _membership_view(store_id, membership)


@operation("identitystore", "DeleteGroupMembership")
async def delete_group_membership(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    async with ctx.store.transaction() as conn:
        membership = _membership(conn, store_id, body["MembershipId"])
        identity_groups.delete_membership(conn, membership.membership_id)
    return {}


@operation("identitystore", "ListGroupMemberships")
async def list_group_memberships(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    with ctx.store.read() as conn:
        group = _group(conn, store_id, body["GroupId"])
        memberships = identity_groups.memberships_of_group(conn, group.group_id)
    items, token = page(memberships, body)
    return {
        "GroupMemberships": [_membership_view(store_id, m) for m in items],
        "NextToken": token,
    }


@operation("identitystore", "ListGroupMembershipsForMember")
async def list_group_memberships_for_member(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    with ctx.store.read() as conn:
        user = _user(conn, store_id, _member_id(body))
        memberships = identity_groups.memberships_of_user(conn, user.user_id)
    items, token = page(memberships, body)
    return {
        "GroupMemberships": [_membership_view(store_id, m) for m in items],
        "NextToken": token,
    }


@operation("identitystore", "GetGroupMembershipId")
async def get_group_membership_id(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    with ctx.store.read() as conn:
        group = _group(conn, store_id, body["GroupId"])
        user = _user(conn, store_id, _member_id(body))
        membership = identity_groups.membership_between(conn, group.group_id, user.user_id)
    return {
        "IdentityStoreId": store_id,
        "MembershipId": membership.membership_id,
        "MembershipArn": _arn("membership", membership.membership_id),
    }


@operation("identitystore", "IsMemberInGroups")
async def is_member_in_groups(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    store_id = _store_id(ctx, body)
    group_ids = [_resource_id(str(g), "group") for g in body["GroupIds"]]
    with ctx.store.read() as conn:
        user = _user(conn, store_id, _member_id(body))
        for group_id in dict.fromkeys(group_ids):
            _group(conn, store_id, group_id)
        member_of = identity_groups.member_of(conn, user.user_id, group_ids)
    return {
        "Results": [
            {
                "GroupId": group_id,
                "MemberId": {"UserId": user.user_id},
                "MembershipExists": group_id in member_of,
            }
            for group_id in group_ids
        ]
    }
