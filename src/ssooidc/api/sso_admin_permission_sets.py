"""sso-admin: permission sets, their inline and managed policies (provisioning and account
assignments: sso_admin_account_assignments)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation
from ssooidc.api.sso_admin import require_instance, write
from ssooidc.services import permission_sets as psets
from ssooidc.services import resource_tags


@operation("sso-admin", "CreatePermissionSet")
async def create_permission_set(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])

    def work(conn: Connection) -> psets.PermissionSet:
        created = psets.create_permission_set(
            conn,
            ctx.instance,
            name=body["Name"],
            description=body.get("Description"),
            session_duration=body.get("SessionDuration"),
            relay_state=body.get("RelayState"),
            now=ctx.now,
        )
        if body.get("Tags"):
            resource_tags.tag_resource(conn, created.arn, body["Tags"])
        return created

    created = await write(ctx, work)
    return {"PermissionSet": created.view()}


@operation("sso-admin", "DescribePermissionSet")
async def describe_permission_set(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        found = psets.get_permission_set(conn, body["PermissionSetArn"])
    return {"PermissionSet": found.view()}


@operation("sso-admin", "ListPermissionSets")
async def list_permission_sets(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        arns = [p.arn for p in psets.list_permission_sets(conn)]
    items, token = page(arns, body)
    return {"PermissionSets": items, "NextToken": token}


@operation("sso-admin", "UpdatePermissionSet")
async def update_permission_set(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """A change reaches the role only when the permission set is provisioned again (AWS)."""
    require_instance(ctx.catalog, body["InstanceArn"])
    await write(
        ctx,
        lambda conn: psets.update_permission_set(
            conn,
            body["PermissionSetArn"],
            description=body.get("Description"),
            session_duration=body.get("SessionDuration"),
            relay_state=body.get("RelayState"),
        ),
    )
    return {}


@operation("sso-admin", "DeletePermissionSet")
async def delete_permission_set(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    await write(
        ctx,
        lambda conn: psets.delete_permission_set(
            conn, body["PermissionSetArn"], ctx.instance.account_id
        ),
    )
    return {}


# -- the inline policy ----------------------------------------------------------------------


@operation("sso-admin", "PutInlinePolicyToPermissionSet")
async def put_inline_policy_to_permission_set(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    await write(
        ctx,
        lambda conn: psets.put_inline_policy(conn, body["PermissionSetArn"], body["InlinePolicy"]),
    )
    return {}


@operation("sso-admin", "GetInlinePolicyForPermissionSet")
async def get_inline_policy_for_permission_set(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    """The policy as it was put; an empty string when there is none, as AWS answers."""
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        found = psets.get_permission_set(conn, body["PermissionSetArn"])
    return {"InlinePolicy": found.inline_policy or ""}


@operation("sso-admin", "DeleteInlinePolicyFromPermissionSet")
async def delete_inline_policy_from_permission_set(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    await write(ctx, lambda conn: psets.delete_inline_policy(conn, body["PermissionSetArn"]))
    return {}


# -- managed policies -----------------------------------------------------------------------


@operation("sso-admin", "AttachManagedPolicyToPermissionSet")
async def attach_managed_policy_to_permission_set(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    await write(
        ctx,
        lambda conn: psets.attach_managed_policy(
            conn, body["PermissionSetArn"], body["ManagedPolicyArn"]
        ),
    )
    return {}


@operation("sso-admin", "ListManagedPoliciesInPermissionSet")
async def list_managed_policies_in_permission_set(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        found = psets.get_permission_set(conn, body["PermissionSetArn"])
    attached = [
        {"Name": psets.managed_policy_name(arn), "Arn": arn} for arn in found.managed_policies
    ]
    items, token = page(attached, body)
    return {"AttachedManagedPolicies": items, "NextToken": token}


@operation("sso-admin", "DetachManagedPolicyFromPermissionSet")
async def detach_managed_policy_from_permission_set(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    await write(
        ctx,
        lambda conn: psets.detach_managed_policy(
            conn, body["PermissionSetArn"], body["ManagedPolicyArn"]
        ),
    )
    return {}
