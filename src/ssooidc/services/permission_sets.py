"""Permission sets and their provisioning: a provisioned permission set is the IAM role
``AWSReservedSSO_<name>_<16 hex>`` in the instance's account, whose role sessions the access
portal hands out (GetRoleCredentials)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from ssooidc.errors import Conflict, ResourceNotFound, ServiceQuotaExceeded, Validation
from ssooidc.services import iam, iam_policy
from ssooidc.services.instance import Instance, bump_generation
from ssooidc.store import tables as t

#: AWS puts the roles of permission sets under this path, and so does ssooidc.
RESERVED_PATH = "/aws-reserved/sso.amazonaws.com/"
ROLE_PREFIX = "AWSReservedSSO_"
#: The name AWS gives a permission set's inline policy on its role.
INLINE_POLICY_NAME = "AwsSSOInlinePolicy"
DEFAULT_SESSION_DURATION = "PT1H"
#: AWS: a permission set's session lasts 1 to 12 hours.
MIN_SESSION, MAX_SESSION = 3600, 12 * 3600
#: AWS quota: permission sets per instance.
MAX_PERMISSION_SETS = 2000

#: The role's trust policy [decide]: AWS trusts only Identity Center's SAML provider; ssooidc
#: names only the Identity Center service, so that no IAM principal of the account can assume
#: the role with sts:AssumeRole; only the access portal creates its sessions.
TRUST_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sso.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ],
}

#: The AWS managed policies ssooidc knows, with the documents it gives them [decide: ssooidc
#: has no managed policies; these three stand for AWS's, simplified; any other ARN is refused
#: rather than attached without effect].
MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "arn:aws:iam::aws:policy/AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    "arn:aws:iam::aws:policy/PowerUserAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "NotAction": ["iam:*", "organizations:*", "account:*"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole"],
                "Resource": "*",
            },
        ],
    },
    "arn:aws:iam::aws:policy/ReadOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["*:Get*", "*:List*", "*:Describe*"], "Resource": "*"}
        ],
    },
}

_DURATION = re.compile(r"P(?:(\d{1,5})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,8})M)?(?:(\d{1,9})S)?)?")


def session_seconds(duration: str) -> int:
    """An ISO-8601 duration (``PT1H``, ``PT8H``, ``PT90M``) in seconds, 1 to 12 hours."""
    match = _DURATION.fullmatch(duration)
    if match is None or duration.endswith(("P", "T")):
        raise Validation(f"SessionDuration {duration!r} is not an ISO-8601 duration such as PT1H")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if not MIN_SESSION <= total <= MAX_SESSION:
        raise Validation("SessionDuration must be between PT1H and PT12H")
    return total


def managed_policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


@dataclass(frozen=True)
class PermissionSet:
    arn: str
    name: str
    description: str | None
    session_duration: str
    relay_state: str | None
    inline_policy: str | None
    managed_policies: tuple[str, ...]
    created_at: float

    @property
    def session_seconds(self) -> int:
        return session_seconds(self.session_duration)

    def view(self) -> dict[str, Any]:
        """The PermissionSet shape of DescribePermissionSet."""
        return {
            "Name": self.name,
            "PermissionSetArn": self.arn,
            "Description": self.description,
            "CreatedDate": self.created_at,
            "SessionDuration": self.session_duration,
            "RelayState": self.relay_state,
        }

    def role_policies(self) -> dict[str, Any]:
        """The inline policies its role carries: its own, and its managed policies' documents."""
        policies = {managed_policy_name(a): MANAGED_POLICIES[a] for a in self.managed_policies}
        if self.inline_policy is not None:
            policies[INLINE_POLICY_NAME] = json.loads(self.inline_policy)
        return policies


def check_policy(text: str) -> None:
    """An inline policy must be a valid identity policy, refused at Put rather than at use."""
    try:
        iam_policy.parse_policy(text, kind="identity")
    except iam_policy.MalformedPolicy as exc:
        raise Validation(f"The InlinePolicy is not a valid IAM policy: {exc}") from None


# -- the permission set itself --------------------------------------------------------------


def create_permission_set(
    conn: Connection,
    instance: Instance,
    *,
    name: str,
    description: str | None,
    session_duration: str | None,
    relay_state: str | None,
    now: float,
) -> PermissionSet:
    duration = session_duration or DEFAULT_SESSION_DURATION
    session_seconds(duration)
    table = t.permission_sets
    if conn.execute(select(table.c.arn).where(table.c.name == name)).first() is not None:
        raise Conflict(f"a permission set named {name} already exists")
    count = conn.execute(select(func.count()).select_from(table)).scalar_one()
    if count >= MAX_PERMISSION_SETS:
        raise ServiceQuotaExceeded(f"an instance has at most {MAX_PERMISSION_SETS} permission sets")
    arn = f"arn:aws:sso:::permissionSet/{instance.instance_id}/ps-{secrets.token_hex(8)}"
    conn.execute(
        insert(table).values(
            arn=arn,
            name=name,
            description=description,
            session_duration=duration,
            relay_state=relay_state,
            inline_policy=None,
            created_at=now,
        )
    )
    bump_generation(conn)
    return PermissionSet(arn, name, description, duration, relay_state, None, (), now)


def _managed(conn: Connection, arn: str | None = None) -> dict[str, list[str]]:
    table = t.permission_set_managed_policies
    query = select(table.c.permission_set_arn, table.c.policy_arn)
    if arn is not None:
        query = query.where(table.c.permission_set_arn == arn)
    found: dict[str, list[str]] = {}
    for row in conn.execute(query.order_by(table.c.policy_arn)):
        found.setdefault(str(row.permission_set_arn), []).append(str(row.policy_arn))
    return found


def _record(row: Any, managed: dict[str, list[str]]) -> PermissionSet:
    inline = row.inline_policy
    return PermissionSet(
        arn=row.arn,
        name=row.name,
        description=row.description,
        session_duration=row.session_duration,
        relay_state=row.relay_state,
        inline_policy=inline if isinstance(inline, str) else None,
        managed_policies=tuple(managed.get(row.arn, ())),
        created_at=row.created_at,
    )


def get_permission_set(conn: Connection, arn: str) -> PermissionSet:
    row = conn.execute(select(t.permission_sets).where(t.permission_sets.c.arn == arn)).first()
    if row is None:
        raise ResourceNotFound(f"no permission set {arn}")
    return _record(row, _managed(conn, arn))


def list_permission_sets(conn: Connection) -> list[PermissionSet]:
    """Every permission set, oldest first."""
    table = t.permission_sets
    managed = _managed(conn)
    rows = conn.execute(select(table).order_by(table.c.created_at, table.c.arn))
    return [_record(row, managed) for row in rows]


def update_permission_set(conn: Connection, arn: str, **values: Any) -> None:
    """Change Description, SessionDuration or RelayState (members not given stay)."""
    get_permission_set(conn, arn)
    changes = {k: v for k, v in values.items() if v is not None}
    if "session_duration" in changes:
        session_seconds(changes["session_duration"])
    if changes:
        conn.execute(
            update(t.permission_sets).where(t.permission_sets.c.arn == arn).values(**changes)
        )
    bump_generation(conn)


def delete_permission_set(conn: Connection, arn: str, account_id: str) -> None:
    """Delete a permission set that no assignment uses, with its role and its tags [decide:
    AWS refuses while it is in use; ssooidc removes a role left without assignments]."""
    ps = get_permission_set(conn, arn)
    a = t.account_assignments
    if conn.execute(select(a.c.account_id).where(a.c.permission_set_arn == arn)).first():
        raise Conflict(
            f"permission set {ps.name} is assigned in an account: delete its assignments first"
        )
    deprovision(conn, ps, account_id)
    conn.execute(
        delete(t.permission_set_managed_policies).where(
            t.permission_set_managed_policies.c.permission_set_arn == arn
        )
    )
    conn.execute(delete(t.resource_tags).where(t.resource_tags.c.resource_arn == arn))
    conn.execute(delete(t.permission_sets).where(t.permission_sets.c.arn == arn))
    bump_generation(conn)


def put_inline_policy(conn: Connection, arn: str, text: str) -> None:
    check_policy(text)
    get_permission_set(conn, arn)
    conn.execute(
        update(t.permission_sets).where(t.permission_sets.c.arn == arn).values(inline_policy=text)
    )
    bump_generation(conn)


def delete_inline_policy(conn: Connection, arn: str) -> None:
    """Remove the inline policy; a permission set without one is left as it is."""
    get_permission_set(conn, arn)
    conn.execute(
        update(t.permission_sets).where(t.permission_sets.c.arn == arn).values(inline_policy=None)
    )
    bump_generation(conn)


def attach_managed_policy(conn: Connection, arn: str, policy_arn: str) -> None:
    ps = get_permission_set(conn, arn)
    if policy_arn not in MANAGED_POLICIES:
        known = ", ".join(sorted(MANAGED_POLICIES))
        raise Validation(f"ssooidc knows only these managed policies: {known}")
    if policy_arn in ps.managed_policies:
        raise Conflict(f"{policy_arn} is already attached to permission set {ps.name}")
    conn.execute(
        insert(t.permission_set_managed_policies).values(
            permission_set_arn=arn, policy_arn=policy_arn
        )
    )
    bump_generation(conn)


def detach_managed_policy(conn: Connection, arn: str, policy_arn: str) -> None:
    ps = get_permission_set(conn, arn)
    table = t.permission_set_managed_policies
    result = conn.execute(
        delete(table).where(table.c.permission_set_arn == arn, table.c.policy_arn == policy_arn)
    )
    if result.rowcount == 0:
        raise ResourceNotFound(f"{policy_arn} is not attached to permission set {ps.name}")
    bump_generation(conn)


# -- provisioning: the permission set's role in an account ------------------------------------


def role_name(ps: PermissionSet, account_id: str) -> str:
    """``AWSReservedSSO_<name>_<16 hex>``: at most 64 characters, stable for the permission
    set and the account (AWS's suffix is random; ssooidc derives it so it needs no lookup)."""
    suffix = hashlib.sha256(f"{ps.arn}|{account_id}".encode()).hexdigest()[:16]
    return f"{ROLE_PREFIX}{ps.name}_{suffix}"


def provisioned_role(
    conn: Connection, ps: PermissionSet, account_id: str
) -> iam.PrincipalRecord | None:
    """The permission set's role in the account, or None."""
    name = role_name(ps, account_id)
    if iam.find_principal(conn, "role", name) is None:
        return None
    role = iam.get_principal(conn, "role", name)
    return role if role.path == RESERVED_PATH and role.account_id == account_id else None


def is_current(conn: Connection, ps: PermissionSet, role: iam.PrincipalRecord) -> bool:
    """Whether the role carries the permission set as it is now (LATEST_PERMISSION_SET_PROVISIONED)."""
    if role.max_session_duration != ps.session_seconds:
        return False
    wanted = ps.role_policies()
    names = iam.list_policy_names(conn, role.arn)
    if sorted(names) != sorted(wanted):
        return False
    return all(iam.get_policy(conn, role, name) == wanted[name] for name in names)


def _size(document: Any) -> int:
    return sum(1 for c in iam.policy_text(document) if not c.isspace())


def provision(conn: Connection, ps: PermissionSet, account_id: str, now: float) -> str | None:
    """Create or update the permission set's role; the reason when it cannot (nothing written)."""
    wanted = ps.role_policies()
    quota = iam.INLINE_POLICY_QUOTA["role"]
    if sum(_size(doc) for doc in wanted.values()) > quota:
        return f"The permission set's policies exceed the role's inline policy quota of {quota}"
    name = role_name(ps, account_id)
    role = provisioned_role(conn, ps, account_id)
    if role is None:
        if iam.find_principal(conn, "role", name) is not None:
            return f"An IAM role named {name} exists outside {RESERVED_PATH}"
        iam.create_principal(
            conn,
            kind="role",
            account_id=account_id,
            name=name,
            now=now,
            path=RESERVED_PATH,
            assume_role_policy=TRUST_POLICY,
            max_session_duration=ps.session_seconds,
            reserved=True,
        )
        role = iam.get_principal(conn, "role", name)
    elif (role.max_session_duration, role.assume_role_policy) != (
        ps.session_seconds,
        TRUST_POLICY,
    ):
        conn.execute(
            update(t.iam_principals)
            .where(t.iam_principals.c.arn == role.arn)
            .values(max_session_duration=ps.session_seconds, assume_role_policy=TRUST_POLICY)
        )
        bump_generation(conn)
    for old in iam.list_policy_names(conn, role.arn):
        iam.delete_policy(conn, role, old)
    for policy_name, document in wanted.items():
        iam.put_policy(conn, role.arn, policy_name, document)
    return None


def deprovision(conn: Connection, ps: PermissionSet, account_id: str) -> None:
    """Delete the permission set's role in the account, if provisioned; its sessions end."""
    role = provisioned_role(conn, ps, account_id)
    if role is None:
        return
    for name in iam.list_policy_names(conn, role.arn):
        iam.delete_policy(conn, role, name)
    iam.delete_principal(conn, role)
