"""sso-admin: who may use an application (assignment configuration and assignments)."""

from __future__ import annotations

from typing import Any

from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation
from ssooidc.api.sso_admin import require_application, require_instance, write
from ssooidc.errors import ResourceNotFound
from ssooidc.services import applications as apps


def _assignment(arn: str, principal_type: str, principal_id: str) -> dict[str, Any]:
    return {"ApplicationArn": arn, "PrincipalType": principal_type, "PrincipalId": principal_id}


@operation("sso-admin", "PutApplicationAssignmentConfiguration")
async def put_application_assignment_configuration(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: apps.put_assignment_configuration(
            conn, body["ApplicationArn"], body["AssignmentRequired"]
        ),
    )
    return {}


@operation("sso-admin", "GetApplicationAssignmentConfiguration")
async def get_application_assignment_configuration(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    return {"AssignmentRequired": app.assignment_required}


@operation("sso-admin", "CreateApplicationAssignment")
async def create_application_assignment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: apps.create_assignment(
            conn, body["ApplicationArn"], body["PrincipalType"], body["PrincipalId"]
        ),
    )
    return {}


@operation("sso-admin", "DescribeApplicationAssignment")
async def describe_application_assignment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """A direct assignment only; access through a group is ListApplicationAssignmentsForPrincipal's."""
    app = require_application(ctx.catalog, body["ApplicationArn"])
    kind, principal = body["PrincipalType"], body["PrincipalId"]
    assigned = app.assigned_users if kind == "USER" else app.assigned_groups
    if principal not in assigned:
        raise ResourceNotFound(f"{kind.lower()} {principal} is not assigned to the application")
    return _assignment(app.arn, kind, principal)


@operation("sso-admin", "DeleteApplicationAssignment")
async def delete_application_assignment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: apps.delete_assignment(
            conn, body["ApplicationArn"], body["PrincipalType"], body["PrincipalId"]
        ),
    )
    return {}


@operation("sso-admin", "ListApplicationAssignments")
async def list_application_assignments(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    found = [_assignment(app.arn, "GROUP", g) for g in sorted(app.assigned_groups)]
    found += [_assignment(app.arn, "USER", u) for u in sorted(app.assigned_users)]
    items, token = page(found, body)
    return {"ApplicationAssignments": items, "NextToken": token}


@operation("sso-admin", "ListApplicationAssignmentsForPrincipal")
async def list_application_assignments_for_principal(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    """The applications a principal is assigned to; for a user, through its groups as well.

    AWS points here, not to DescribeApplicationAssignment, to learn whether a user has access
    through a group; ssooidc lists such an assignment as the group's (PrincipalType GROUP),
    the way it was made [decide]."""
    catalog = ctx.catalog
    require_instance(catalog, body["InstanceArn"])
    kind, principal = body["PrincipalType"], body["PrincipalId"]
    with ctx.store.read() as conn:
        apps.require_principal(conn, kind, principal)
        groups = apps.group_ids_of(conn, principal) if kind == "USER" else [principal]
    wanted = (body.get("Filter") or {}).get("ApplicationArn")
    found: list[dict[str, Any]] = []
    for app in sorted(catalog.applications.values(), key=lambda a: (a.created_at, a.arn)):
        if wanted is not None and app.arn != wanted:
            continue
        if kind == "USER" and principal in app.assigned_users:
            found.append(_assignment(app.arn, "USER", principal))
        found += [
            _assignment(app.arn, "GROUP", g) for g in sorted(groups) if g in app.assigned_groups
        ]
    items, token = page(found, body)
    return {"ApplicationAssignments": items, "NextToken": token}
