"""Account assignments (a user or group, a permission set, an account) and the status records
of sso-admin's asynchronous operations, which complete at once in ssooidc."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select

from ssooidc.errors import ResourceNotFound
from ssooidc.services.instance import bump_generation
from ssooidc.store import tables as t

#: Kinds of status records (table ``sso_admin_requests``).
PROVISIONING = "permission-set-provisioning"
CREATION = "account-assignment-creation"
DELETION = "account-assignment-deletion"


@dataclass(frozen=True)
class AccountAssignment:
    account_id: str
    permission_set_arn: str
    principal_type: str
    principal_id: str

    def view(self) -> dict[str, Any]:
        return {
            "AccountId": self.account_id,
            "PermissionSetArn": self.permission_set_arn,
            "PrincipalType": self.principal_type,
            "PrincipalId": self.principal_id,
        }


def create_assignment(
    conn: Connection,
    account_id: str,
    permission_set_arn: str,
    principal_type: str,
    principal_id: str,
    now: float,
) -> bool:
    """Assign; False when the assignment existed already (creating it again succeeds)."""
    if _exists(conn, account_id, permission_set_arn, principal_type, principal_id):
        return False
    conn.execute(
        insert(t.account_assignments).values(
            account_id=account_id,
            permission_set_arn=permission_set_arn,
            principal_type=principal_type,
            principal_id=principal_id,
            created_at=now,
        )
    )
    bump_generation(conn)
    return True


def delete_assignment(
    conn: Connection,
    account_id: str,
    permission_set_arn: str,
    principal_type: str,
    principal_id: str,
) -> None:
    a = t.account_assignments
    result = conn.execute(
        delete(a).where(
            a.c.account_id == account_id,
            a.c.permission_set_arn == permission_set_arn,
            a.c.principal_type == principal_type,
            a.c.principal_id == principal_id,
        )
    )
    if result.rowcount == 0:
        raise ResourceNotFound(
            f"{principal_type.lower()} {principal_id} has no assignment of this permission set "
            f"in account {account_id}"
        )
    bump_generation(conn)


def _exists(
    conn: Connection, account_id: str, ps_arn: str, principal_type: str, principal_id: str
) -> bool:
    a = t.account_assignments
    row = conn.execute(
        select(a.c.account_id).where(
            a.c.account_id == account_id,
            a.c.permission_set_arn == ps_arn,
            a.c.principal_type == principal_type,
            a.c.principal_id == principal_id,
        )
    ).first()
    return row is not None


def list_assignments(
    conn: Connection,
    *,
    account_id: str | None = None,
    permission_set_arn: str | None = None,
    principals: Iterable[tuple[str, str]] | None = None,
) -> list[AccountAssignment]:
    """Assignments matching every filter given, in a stable order. ``principals``:
    (PrincipalType, PrincipalId) pairs, any of which may match."""
    a = t.account_assignments
    query = select(a)
    if account_id is not None:
        query = query.where(a.c.account_id == account_id)
    if permission_set_arn is not None:
        query = query.where(a.c.permission_set_arn == permission_set_arn)
    if principals is not None:
        pairs = list(principals)
        if not pairs:
            return []
        query = query.where(
            or_(*(and_(a.c.principal_type == k, a.c.principal_id == i) for k, i in pairs))
        )
    query = query.order_by(
        a.c.account_id, a.c.permission_set_arn, a.c.principal_type, a.c.principal_id
    )
    return [
        AccountAssignment(r.account_id, r.permission_set_arn, r.principal_type, r.principal_id)
        for r in conn.execute(query)
    ]


# -- status records of the asynchronous operations ---------------------------------------------


def record_request(
    conn: Connection,
    kind: str,
    details: dict[str, Any],
    now: float,
    failure: str | None = None,
) -> dict[str, Any]:
    """Record a finished request (SUCCEEDED, or FAILED with the reason); its status shape."""
    request_id = str(uuid.uuid4())
    status = "FAILED" if failure else "SUCCEEDED"
    conn.execute(
        insert(t.sso_admin_requests).values(
            request_id=request_id,
            kind=kind,
            status=status,
            details=details,
            failure_reason=failure,
            created_at=now,
        )
    )
    bump_generation(conn)
    return _view(request_id, status, details, failure, now)


def _view(
    request_id: str, status: str, details: dict[str, Any], failure: str | None, created: float
) -> dict[str, Any]:
    return {
        "Status": status,
        "RequestId": request_id,
        "FailureReason": failure,
        "CreatedDate": created,
        **details,
    }


def get_request(conn: Connection, kind: str, request_id: str) -> dict[str, Any]:
    r = t.sso_admin_requests
    row = conn.execute(select(r).where(r.c.request_id == request_id, r.c.kind == kind)).first()
    if row is None:
        raise ResourceNotFound(f"no request {request_id}")
    return _view(row.request_id, row.status, dict(row.details), row.failure_reason, row.created_at)


def list_requests(conn: Connection, kind: str, status: str | None = None) -> list[dict[str, Any]]:
    """Status records of one kind, oldest first."""
    r = t.sso_admin_requests
    query = select(r).where(r.c.kind == kind)
    if status is not None:
        query = query.where(r.c.status == status)
    rows = conn.execute(query.order_by(r.c.created_at, r.c.request_id))
    return [
        _view(row.request_id, row.status, dict(row.details), row.failure_reason, row.created_at)
        for row in rows
    ]
