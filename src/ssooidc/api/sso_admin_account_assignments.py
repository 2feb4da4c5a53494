"""sso-admin: provisioning permission sets and assigning them to users and groups in the
instance's account. AWS runs these asynchronously; ssooidc completes them within the request
and keeps the status record that the Describe*Status operations read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation
from ssooidc.api.sso_admin import require_instance, write
from ssooidc.errors import Validation
from ssooidc.services import account_assignments as assignments
from ssooidc.services import applications as apps
from ssooidc.services import identity_store
from ssooidc.services import permission_sets as psets


def require_own_account(ctx: Context, account_id: str | None, member: str) -> str:
    """AWS accounts are outside ssooidc: the instance's own account is the one target
    [decide: another account is a ValidationException that names the one there is]."""
    own = str(ctx.instance.account_id)
    if account_id != own:
        raise Validation(f"{member} must be the instance's account {own}: ssooidc has no other")
    return own


def _provisioned_in(
    conn: Connection, ps: psets.PermissionSet, account_id: str, wanted: str | None
) -> bool:
    """Provisioned in the account, and as ``ProvisioningStatus`` asks (when it asks)."""
    role = psets.provisioned_role(conn, ps, account_id)
    if role is None:
        return False
    if wanted is None:
        return True
    current = psets.is_current(conn, ps, role)
    return current == (wanted == "LATEST_PERMISSION_SET_PROVISIONED")


# -- provisioning ---------------------------------------------------------------------------


@operation("sso-admin", "ProvisionPermissionSet")
async def provision_permission_set(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Write the permission set as it is now to its role: in the account given
    (AWS_ACCOUNT), or wherever it is provisioned already (ALL_PROVISIONED_ACCOUNTS)."""
    require_instance(ctx.catalog, body["InstanceArn"])
    arn, target_type = body["PermissionSetArn"], body["TargetType"]
    if target_type == "AWS_ACCOUNT":
        if body.get("TargetId") is None:
            raise Validation("TargetId is required when TargetType is AWS_ACCOUNT")
        require_own_account(ctx, body["TargetId"], "TargetId")
    elif body.get("TargetId") is not None:
        raise Validation("TargetId must be absent when TargetType is ALL_PROVISIONED_ACCOUNTS")

    def work(conn: Connection) -> dict[str, Any]:
        ps = psets.get_permission_set(conn, arn)
        own = ctx.instance.account_id
        if target_type == "AWS_ACCOUNT" or psets.provisioned_role(conn, ps, own) is not None:
            targets = [own]
        else:
            targets = []
        failure = None
        for account in targets:
            failure = failure or psets.provision(conn, ps, account, ctx.now)
        details = {"PermissionSetArn": arn}
        if target_type == "AWS_ACCOUNT":
            details["AccountId"] = own
        return assignments.record_request(conn, assignments.PROVISIONING, details, ctx.now, failure)

    return {"PermissionSetProvisioningStatus": await write(ctx, work)}


@operation("sso-admin", "DescribePermissionSetProvisioningStatus")
async def describe_permission_set_provisioning_status(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        status = assignments.get_request(
            conn, assignments.PROVISIONING, body["ProvisionPermissionSetRequestId"]
        )
    return {"PermissionSetProvisioningStatus": status}


@operation("sso-admin", "ListPermissionSetProvisioningStatus")
async def list_permission_set_provisioning_status(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    wanted = (body.get("Filter") or {}).get("Status")
    with ctx.store.read() as conn:
        found = assignments.list_requests(conn, assignments.PROVISIONING, wanted)
    items, token = page(found, body)
    return {"PermissionSetsProvisioningStatus": items, "NextToken": token}


@operation("sso-admin", "ListAccountsForProvisionedPermissionSet")
async def list_accounts_for_provisioned_permission_set(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    own = ctx.instance.account_id
    with ctx.store.read() as conn:
        ps = psets.get_permission_set(conn, body["PermissionSetArn"])
        provisioned = _provisioned_in(conn, ps, own, body.get("ProvisioningStatus"))
    items, token = page([own] if provisioned else [], body)
    return {"AccountIds": items, "NextToken": token}


@operation("sso-admin", "ListPermissionSetsProvisionedToAccount")
async def list_permission_sets_provisioned_to_account(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    """Another account has none (ssooidc manages only its own)."""
    require_instance(ctx.catalog, body["InstanceArn"])
    account = body["AccountId"]
    wanted = body.get("ProvisioningStatus")
    found: list[str] = []
    if account == ctx.instance.account_id:
        with ctx.store.read() as conn:
            found = [
                ps.arn
                for ps in psets.list_permission_sets(conn)
                if _provisioned_in(conn, ps, account, wanted)
            ]
    items, token = page(found, body)
    return {"PermissionSets": items, "NextToken": token}


# -- account assignments --------------------------------------------------------------------


def _assignment_details(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "TargetId": body["TargetId"],
        "TargetType": body["TargetType"],
        "PermissionSetArn": body["PermissionSetArn"],
        "PrincipalType": body["PrincipalType"],
        "PrincipalId": body["PrincipalId"],
    }


@operation("sso-admin", "CreateAccountAssignment")
async def create_account_assignment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Assign, and provision the permission set to the account unless it is already (AWS:
    an existing role is not updated here; ProvisionPermissionSet does that). Assigning again
    succeeds [decide]."""
    require_instance(ctx.catalog, body["InstanceArn"])
    account = require_own_account(ctx, body["TargetId"], "TargetId")
    kind, principal, arn = body["PrincipalType"], body["PrincipalId"], body["PermissionSetArn"]

    def work(conn: Connection) -> dict[str, Any]:
        ps = psets.get_permission_set(conn, arn)
        apps.require_principal(conn, kind, principal)
        failure = None
        if psets.provisioned_role(conn, ps, account) is None:
            failure = psets.provision(conn, ps, account, ctx.now)
        if failure is None:
            assignments.create_assignment(conn, account, arn, kind, principal, ctx.now)
        return assignments.record_request(
            conn, assignments.CREATION, _assignment_details(body), ctx.now, failure
        )

    return {"AccountAssignmentCreationStatus": await write(ctx, work)}


@operation("sso-admin", "DescribeAccountAssignmentCreationStatus")
async def describe_account_assignment_creation_status(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        status = assignments.get_request(
            conn, assignments.CREATION, body["AccountAssignmentCreationRequestId"]
        )
    return {"AccountAssignmentCreationStatus": status}


@operation("sso-admin", "DeleteAccountAssignment")
async def delete_account_assignment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Unassign; the permission set's role goes with its last assignment in the account
    [decide, as the AWS console's "remove permission set from account" does]."""
    require_instance(ctx.catalog, body["InstanceArn"])
    account = require_own_account(ctx, body["TargetId"], "TargetId")
    kind, principal, arn = body["PrincipalType"], body["PrincipalId"], body["PermissionSetArn"]

    def work(conn: Connection) -> dict[str, Any]:
        ps = psets.get_permission_set(conn, arn)
        assignments.delete_assignment(conn, account, arn, kind, principal)
        if not assignments.list_assignments(conn, account_id=account, permission_set_arn=arn):
            psets.deprovision(conn, ps, account)
        return assignments.record_request(
            conn, assignments.DELETION, _assignment_details(body), ctx.now
        )

    return {"AccountAssignmentDeletionStatus": await write(ctx, work)}


@operation("sso-admin", "DescribeAccountAssignmentDeletionStatus")
async def describe_account_assignment_deletion_status(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        status = assignments.get_request(
            conn, assignments.DELETION, body["AccountAssignmentDeletionRequestId"]
        )
    return {"AccountAssignmentDeletionStatus": status}


@operation("sso-admin", "ListAccountAssignments")
async def list_account_assignments(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])
    with ctx.store.read() as conn:
        ps = psets.get_permission_set(conn, body["PermissionSetArn"])
        found = assignments.list_assignments(
            conn, account_id=body["AccountId"], permission_set_arn=ps.arn
        )
    items, token = page([a.view() for a in found], body)
    return {"AccountAssignments": items, "NextToken": token}


@operation("sso-admin", "ListAccountAssignmentsForPrincipal")
async def list_account_assignments_for_principal(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    """A principal's assignments; a user's include its groups' (listed as the group's, the
    way they were made [decide], as ListApplicationAssignmentsForPrincipal does here)."""
    require_instance(ctx.catalog, body["InstanceArn"])
    kind, principal = body["PrincipalType"], body["PrincipalId"]
    with ctx.store.read() as conn:
        apps.require_principal(conn, kind, principal)
        principals = [(kind, principal)]
        if kind == "USER":
            groups = identity_store.group_ids_of(conn, principal)
            principals += [("GROUP", g) for g in sorted(groups)]
        found = assignments.list_assignments(
            conn, account_id=(body.get("Filter") or {}).get("AccountId"), principals=principals
        )
    items, token = page([a.view() for a in found], body)
    return {"AccountAssignments": items, "NextToken": token}
