"""Permission sets, their provisioning as AWSReservedSSO_ roles, and account assignments,
through a real server and boto3's sso-admin client: every operation, its modelled errors,
and pagination past one page."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from ssooidc.store import tables
from ssooidc.store.engine import Store
from tests.serverproc import ACCOUNT, ServerProcess

OTHER_ACCOUNT = "999988887777"
NOPERM = ("AKIANOPERMPSETKEY001", "noperm-secret-key-0000000003")
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"
RESERVED_PATH = "/aws-reserved/sso.amazonaws.com/"
UNKNOWN_REQUEST = "00000000-0000-4000-8000-000000000000"
UNKNOWN_PRINCIPAL = "00000000-1111-2222-3333-444444444444"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
    }
)

TENANT: dict[str, Any] = {
    "iam": {
        "Users": [
            {
                "UserName": "noperm",
                "AccessKeys": [{"AccessKeyId": NOPERM[0], "SecretAccessKey": NOPERM[1]}],
            }
        ]
    },
    "identitystore": {
        "Users": [
            {
                "UserName": name,
                "DisplayName": name.title(),
                "Name": {"GivenName": name.title(), "FamilyName": "Set"},
                "Emails": [{"Value": f"{name}@example.com", "Primary": True}],
            }
            for name in ("erin", "frank", "grace", "heidi")
        ],
        "Groups": [{"DisplayName": "engineers", "Members": ["erin"]}],
    },
}


@dataclass
class Admin:
    server: ServerProcess
    client: Any
    iam: Any
    instance_arn: str
    users: dict[str, str]
    groups: dict[str, str]

    @property
    def instance_id(self) -> str:
        return self.instance_arn.rsplit("/", 1)[1]

    def unknown_permission_set(self) -> str:
        return f"arn:aws:sso:::permissionSet/{self.instance_id}/ps-0000000000000000"

    def permission_set(self, prefix: str = "ps", **members: Any) -> str:
        response = self.client.create_permission_set(
            InstanceArn=self.instance_arn, Name=f"{prefix}-{uuid.uuid4().hex[:8]}", **members
        )
        arn: str = response["PermissionSet"]["PermissionSetArn"]
        return arn

    def assign(self, arn: str, principal: str, kind: str = "USER") -> dict[str, Any]:
        status: dict[str, Any] = self.client.create_account_assignment(
            InstanceArn=self.instance_arn,
            TargetId=ACCOUNT,
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=arn,
            PrincipalType=kind,
            PrincipalId=principal,
        )["AccountAssignmentCreationStatus"]
        return status

    def unassign(self, arn: str, principal: str, kind: str = "USER") -> dict[str, Any]:
        status: dict[str, Any] = self.client.delete_account_assignment(
            InstanceArn=self.instance_arn,
            TargetId=ACCOUNT,
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=arn,
            PrincipalType=kind,
            PrincipalId=principal,
        )["AccountAssignmentDeletionStatus"]
        return status

    def provisioned_accounts(self, arn: str, status: str | None = None) -> list[str]:
        extra = {"ProvisioningStatus": status} if status else {}
        accounts: list[str] = self.client.list_accounts_for_provisioned_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn, **extra
        )["AccountIds"]
        return accounts

    def role_of(self, arn: str) -> dict[str, Any] | None:
        """The permission set's role, found through IAM's ListRoles-free GetRole by name."""
        name = self.client.describe_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn
        )["PermissionSet"]["Name"]
        store = Store(self.server.database_url)
        try:
            with store.read() as conn:
                rows = conn.execute(
                    select(tables.iam_principals.c.name).where(
                        tables.iam_principals.c.kind == "role",
                        tables.iam_principals.c.name.like(f"AWSReservedSSO_{name}_%"),
                    )
                ).all()
        finally:
            store.dispose()
        if not rows:
            return None
        role: dict[str, Any] = self.iam.get_role(RoleName=rows[0].name)["Role"]
        return role


def refused(client: Any, name: str, call: Callable[..., Any], **kwargs: Any) -> str:
    """Expect the modelled ``client.exceptions.<name>``; return its message."""
    with pytest.raises(getattr(client.exceptions, name)) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == name
    message: str = error["Message"]
    return message


def iam_refused(client: Any, name: str, code: str, call: Callable[..., Any], **kwargs: Any) -> None:
    """Expect iam's modelled ``client.exceptions.<name>`` with the query code ``code``."""
    with pytest.raises(getattr(client.exceptions, name)) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == code


def all_pages(client: Any, operation: str, key: str, page_size: int, **kwargs: Any) -> list[Any]:
    """Every item through boto3's paginator, checking that it took more than one page."""
    pages = list(
        client.get_paginator(operation).paginate(PaginationConfig={"PageSize": page_size}, **kwargs)
    )
    assert len(pages) > 1
    assert all(len(p[key]) <= page_size for p in pages)
    return [item for p in pages for item in p[key]]


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    server = ServerProcess(tmp_path_factory.mktemp("permission-sets"), tenant=TENANT)
    server.start()
    try:
        client = server.client("sso-admin")
        instance_arn = client.list_instances()["Instances"][0]["InstanceArn"]
        store = Store(server.database_url)
        with store.read() as conn:
            users = {
                r.user_name: r.user_id
                for r in conn.execute(
                    select(tables.identity_users.c.user_name, tables.identity_users.c.user_id)
                )
            }
            groups = {
                r.display_name: r.group_id
                for r in conn.execute(
                    select(tables.identity_groups.c.display_name, tables.identity_groups.c.group_id)
                )
            }
        store.dispose()
        yield Admin(server, client, server.client("iam"), instance_arn, users, groups)
    finally:
        server.stop()


# -- permission sets ----------------------------------------------------------------------------


def test_permission_set_lifecycle(admin: Admin) -> None:
    c = admin.client
    name = f"dev-{uuid.uuid4().hex[:8]}"
    created = c.create_permission_set(
        InstanceArn=admin.instance_arn,
        Name=name,
        Description="Developers",
        SessionDuration="PT2H",
        RelayState="https://console.aws.amazon.com/",
        Tags=[{"Key": "team", "Value": "platform"}],
    )["PermissionSet"]
    arn = created["PermissionSetArn"]
    assert re.fullmatch(rf"arn:aws:sso:::permissionSet/{admin.instance_id}/ps-[0-9a-f]{{16}}", arn)
    assert created["Name"] == name
    assert created["SessionDuration"] == "PT2H"
    described = c.describe_permission_set(InstanceArn=admin.instance_arn, PermissionSetArn=arn)
    assert described["PermissionSet"]["Description"] == "Developers"
    assert described["PermissionSet"]["RelayState"] == "https://console.aws.amazon.com/"
    assert described["PermissionSet"]["CreatedDate"] == created["CreatedDate"]
    assert arn in c.list_permission_sets(InstanceArn=admin.instance_arn)["PermissionSets"]
    assert c.list_tags_for_resource(InstanceArn=admin.instance_arn, ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "platform"}
    ]

    c.update_permission_set(
        InstanceArn=admin.instance_arn, PermissionSetArn=arn, SessionDuration="PT4H"
    )
    updated = c.describe_permission_set(InstanceArn=admin.instance_arn, PermissionSetArn=arn)
    assert updated["PermissionSet"]["SessionDuration"] == "PT4H"
    assert updated["PermissionSet"]["Description"] == "Developers"

    c.delete_permission_set(InstanceArn=admin.instance_arn, PermissionSetArn=arn)
    refused(
        c,
        "ResourceNotFoundException",
        c.describe_permission_set,
        InstanceArn=admin.instance_arn,
        PermissionSetArn=arn,
    )
    assert arn not in c.list_permission_sets(InstanceArn=admin.instance_arn)["PermissionSets"]
    refused(c, "ResourceNotFoundException", c.list_tags_for_resource, ResourceArn=arn)


def test_permission_set_defaults_and_refusals(admin: Admin) -> None:
    c = admin.client
    name = f"plain-{uuid.uuid4().hex[:8]}"
    created = c.create_permission_set(InstanceArn=admin.instance_arn, Name=name)["PermissionSet"]
    assert created["SessionDuration"] == "PT1H"
    assert "Description" not in created
    refused(
        c, "ConflictException", c.create_permission_set, InstanceArn=admin.instance_arn, Name=name
    )
    for duration in ("PT30M", "PT13H", "P1D", "PT", "1H"):
        refused(
            c,
            "ValidationException",
            c.create_permission_set,
            InstanceArn=admin.instance_arn,
            Name=f"bad-{uuid.uuid4().hex[:8]}",
            SessionDuration=duration,
        )
    refused(
        c,
        "ValidationException",
        c.update_permission_set,
        InstanceArn=admin.instance_arn,
        PermissionSetArn=created["PermissionSetArn"],
        SessionDuration="PT12H1M",
    )
    refused(
        c,
        "ValidationException",
        c.create_permission_set,
        InstanceArn=admin.instance_arn,
        Name="has space",
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.create_permission_set,
        InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
        Name=f"elsewhere-{uuid.uuid4().hex[:8]}",
    )
    missing = admin.unknown_permission_set()
    for call in (c.describe_permission_set, c.delete_permission_set, c.update_permission_set):
        refused(
            c,
            "ResourceNotFoundException",
            call,
            InstanceArn=admin.instance_arn,
            PermissionSetArn=missing,
        )


def test_list_permission_sets_paginates(admin: Admin) -> None:
    made = {admin.permission_set("page") for _ in range(5)}
    listed = all_pages(
        admin.client, "list_permission_sets", "PermissionSets", 2, InstanceArn=admin.instance_arn
    )
    assert made <= set(listed)
    assert len(listed) == len(set(listed))


def test_inline_policy_put_get_delete(admin: Admin) -> None:
    c = admin.client
    arn = admin.permission_set("inline")
    where = {"InstanceArn": admin.instance_arn, "PermissionSetArn": arn}
    assert c.get_inline_policy_for_permission_set(**where).get("InlinePolicy", "") == ""
    c.put_inline_policy_to_permission_set(InlinePolicy=POLICY, **where)
    assert c.get_inline_policy_for_permission_set(**where)["InlinePolicy"] == POLICY
    for bad in ("not json", json.dumps({"Statement": []}), json.dumps({"Version": "2012-10-17"})):
        refused(
            c,
            "ValidationException",
            c.put_inline_policy_to_permission_set,
            InlinePolicy=bad,
            **where,
        )
    assert c.get_inline_policy_for_permission_set(**where)["InlinePolicy"] == POLICY
    c.delete_inline_policy_from_permission_set(**where)
    assert c.get_inline_policy_for_permission_set(**where).get("InlinePolicy", "") == ""
    c.delete_inline_policy_from_permission_set(**where)  # nothing left: still fine
    missing = {
        "InstanceArn": admin.instance_arn,
        "PermissionSetArn": admin.unknown_permission_set(),
    }
    refused(
        c,
        "ResourceNotFoundException",
        c.put_inline_policy_to_permission_set,
        InlinePolicy=POLICY,
        **missing,
    )
    refused(c, "ResourceNotFoundException", c.get_inline_policy_for_permission_set, **missing)


def test_managed_policies_attach_list_detach(admin: Admin) -> None:
    c = admin.client
    arn = admin.permission_set("managed")
    where = {"InstanceArn": admin.instance_arn, "PermissionSetArn": arn}
    c.attach_managed_policy_to_permission_set(ManagedPolicyArn=READ_ONLY, **where)
    c.attach_managed_policy_to_permission_set(ManagedPolicyArn=ADMINISTRATOR, **where)
    listed = all_pages(
        c, "list_managed_policies_in_permission_set", "AttachedManagedPolicies", 1, **where
    )
    assert listed == [
        {"Name": "AdministratorAccess", "Arn": ADMINISTRATOR},
        {"Name": "ReadOnlyAccess", "Arn": READ_ONLY},
    ]
    refused(
        c,
        "ConflictException",
        c.attach_managed_policy_to_permission_set,
        ManagedPolicyArn=READ_ONLY,
        **where,
    )
    message = refused(
        c,
        "ValidationException",
        c.attach_managed_policy_to_permission_set,
        ManagedPolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess",
        **where,
    )
    assert "ReadOnlyAccess" in message
    c.detach_managed_policy_from_permission_set(ManagedPolicyArn=ADMINISTRATOR, **where)
    assert c.list_managed_policies_in_permission_set(**where)["AttachedManagedPolicies"] == [
        {"Name": "ReadOnlyAccess", "Arn": READ_ONLY}
    ]
    refused(
        c,
        "ResourceNotFoundException",
        c.detach_managed_policy_from_permission_set,
        ManagedPolicyArn=ADMINISTRATOR,
        **where,
    )


# -- provisioning ---------------------------------------------------------------------------------


def test_provisioning_creates_and_updates_the_reserved_role(admin: Admin) -> None:
    c = admin.client
    arn = admin.permission_set("prov", SessionDuration="PT3H")
    where = {"InstanceArn": admin.instance_arn, "PermissionSetArn": arn}
    c.put_inline_policy_to_permission_set(InlinePolicy=POLICY, **where)
    c.attach_managed_policy_to_permission_set(ManagedPolicyArn=READ_ONLY, **where)
    assert admin.provisioned_accounts(arn) == []
    assert admin.role_of(arn) is None

    status = c.provision_permission_set(TargetId=ACCOUNT, TargetType="AWS_ACCOUNT", **where)[
        "PermissionSetProvisioningStatus"
    ]
    assert status["Status"] == "SUCCEEDED"
    assert status["AccountId"] == ACCOUNT
    assert status["PermissionSetArn"] == arn
    assert "CreatedDate" in status
    assert re.fullmatch(r"[0-9a-f-]{36}", status["RequestId"])
    described = c.describe_permission_set_provisioning_status(
        InstanceArn=admin.instance_arn, ProvisionPermissionSetRequestId=status["RequestId"]
    )["PermissionSetProvisioningStatus"]
    assert described == status

    role = admin.role_of(arn)
    assert role is not None
    assert role["Path"] == RESERVED_PATH
    assert re.fullmatch(r"AWSReservedSSO_prov-[0-9a-f]{8}_[0-9a-f]{16}", role["RoleName"])
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role{RESERVED_PATH}{role['RoleName']}"
    assert role["MaxSessionDuration"] == 3 * 3600
    assert admin.provisioned_accounts(arn) == [ACCOUNT]
    assert admin.provisioned_accounts(arn, "LATEST_PERMISSION_SET_PROVISIONED") == [ACCOUNT]
    assert admin.provisioned_accounts(arn, "LATEST_PERMISSION_SET_NOT_PROVISIONED") == []
    provisioned = c.list_permission_sets_provisioned_to_account(
        InstanceArn=admin.instance_arn, AccountId=ACCOUNT
    )["PermissionSets"]
    assert arn in provisioned
    assert (
        c.list_permission_sets_provisioned_to_account(
            InstanceArn=admin.instance_arn, AccountId=OTHER_ACCOUNT
        )["PermissionSets"]
        == []
    )

    # A change makes the role stale until the permission set is provisioned again.
    c.update_permission_set(SessionDuration="PT5H", **where)
    assert admin.provisioned_accounts(arn, "LATEST_PERMISSION_SET_NOT_PROVISIONED") == [ACCOUNT]
    stale = c.list_permission_sets_provisioned_to_account(
        InstanceArn=admin.instance_arn,
        AccountId=ACCOUNT,
        ProvisioningStatus="LATEST_PERMISSION_SET_NOT_PROVISIONED",
    )["PermissionSets"]
    assert arn in stale
    again = c.provision_permission_set(TargetType="ALL_PROVISIONED_ACCOUNTS", **where)[
        "PermissionSetProvisioningStatus"
    ]
    assert again["Status"] == "SUCCEEDED"
    assert admin.provisioned_accounts(arn, "LATEST_PERMISSION_SET_PROVISIONED") == [ACCOUNT]
    assert admin.role_of(arn) == {**role, "MaxSessionDuration": 5 * 3600}

    listed = all_pages(
        c,
        "list_permission_set_provisioning_status",
        "PermissionSetsProvisioningStatus",
        1,
        InstanceArn=admin.instance_arn,
        Filter={"Status": "SUCCEEDED"},
    )
    ids = [s["RequestId"] for s in listed]
    assert {status["RequestId"], again["RequestId"]} <= set(ids)
    assert all(s["Status"] == "SUCCEEDED" for s in listed)
    assert (
        c.list_permission_set_provisioning_status(
            InstanceArn=admin.instance_arn, Filter={"Status": "FAILED"}
        )["PermissionSetsProvisioningStatus"]
        == []
    )

    # Deleting a permission set that nobody is assigned removes its role too.
    c.delete_permission_set(**where)
    iam_refused(
        admin.iam,
        "NoSuchEntityException",
        "NoSuchEntity",
        admin.iam.get_role,
        RoleName=role["RoleName"],
    )


def test_provisioning_refusals(admin: Admin) -> None:
    c = admin.client
    arn = admin.permission_set("provno")
    where = {"InstanceArn": admin.instance_arn, "PermissionSetArn": arn}
    message = refused(
        c,
        "ValidationException",
        c.provision_permission_set,
        TargetId=OTHER_ACCOUNT,
        TargetType="AWS_ACCOUNT",
        **where,
    )
    assert ACCOUNT in message
    refused(c, "ValidationException", c.provision_permission_set, TargetType="AWS_ACCOUNT", **where)
    refused(
        c,
        "ValidationException",
        c.provision_permission_set,
        TargetId=ACCOUNT,
        TargetType="ALL_PROVISIONED_ACCOUNTS",
        **where,
    )
    # Nowhere provisioned yet: ALL_PROVISIONED_ACCOUNTS succeeds and provisions nothing.
    status = c.provision_permission_set(TargetType="ALL_PROVISIONED_ACCOUNTS", **where)
    assert status["PermissionSetProvisioningStatus"]["Status"] == "SUCCEEDED"
    assert admin.provisioned_accounts(arn) == []
    refused(
        c,
        "ResourceNotFoundException",
        c.provision_permission_set,
        InstanceArn=admin.instance_arn,
        PermissionSetArn=admin.unknown_permission_set(),
        TargetId=ACCOUNT,
        TargetType="AWS_ACCOUNT",
    )
    for call, member in (
        (c.describe_permission_set_provisioning_status, "ProvisionPermissionSetRequestId"),
        (c.describe_account_assignment_creation_status, "AccountAssignmentCreationRequestId"),
        (c.describe_account_assignment_deletion_status, "AccountAssignmentDeletionRequestId"),
    ):
        refused(
            c,
            "ResourceNotFoundException",
            call,
            InstanceArn=admin.instance_arn,
            **{member: UNKNOWN_REQUEST},
        )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_accounts_for_provisioned_permission_set,
        InstanceArn=admin.instance_arn,
        PermissionSetArn=admin.unknown_permission_set(),
    )


def test_the_reserved_role_is_only_identity_centers(admin: Admin) -> None:
    arn = admin.permission_set("guard")
    admin.client.provision_permission_set(
        InstanceArn=admin.instance_arn,
        PermissionSetArn=arn,
        TargetId=ACCOUNT,
        TargetType="AWS_ACCOUNT",
    )
    role = admin.role_of(arn)
    assert role is not None
    iam = admin.iam
    iam_refused(
        iam,
        "UnmodifiableEntityException",
        "UnmodifiableEntity",
        iam.delete_role,
        RoleName=role["RoleName"],
    )
    for change, extra in (
        (
            iam.put_role_policy,
            {
                "PolicyDocument": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    }
                )
            },
        ),
        (iam.delete_role_policy, {}),
    ):
        iam_refused(
            iam,
            "UnmodifiableEntityException",
            "UnmodifiableEntity",
            change,
            RoleName=role["RoleName"],
            PolicyName="AwsSSOInlinePolicy",
            **extra,
        )
    iam_refused(
        iam,
        "InvalidInputException",
        "InvalidInput",
        iam.create_role,
        RoleName=f"AWSReservedSSO_forged_{uuid.uuid4().hex[:16]}",
        Path=RESERVED_PATH,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ACCOUNT},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    # No IAM principal may assume the role: its trust policy names only Identity Center.
    sts = admin.server.client("sts")
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="sneaky")
    assert info.value.response["Error"]["Code"] == "AccessDenied"


# -- account assignments --------------------------------------------------------------------------


def test_account_assignment_lifecycle(admin: Admin) -> None:
    c = admin.client
    arn = admin.permission_set("assign")
    erin, engineers = admin.users["erin"], admin.groups["engineers"]

    created = admin.assign(arn, erin)
    assert created["Status"] == "SUCCEEDED"
    assert (created["TargetId"], created["TargetType"]) == (ACCOUNT, "AWS_ACCOUNT")
    assert (created["PrincipalType"], created["PrincipalId"]) == ("USER", erin)
    assert created["PermissionSetArn"] == arn
    described = c.describe_account_assignment_creation_status(
        InstanceArn=admin.instance_arn, AccountAssignmentCreationRequestId=created["RequestId"]
    )["AccountAssignmentCreationStatus"]
    assert described == created
    # Assigning provisions the permission set to the account.
    assert admin.provisioned_accounts(arn) == [ACCOUNT]
    assert admin.role_of(arn) is not None

    assert admin.assign(arn, engineers, "GROUP")["Status"] == "SUCCEEDED"
    assert admin.assign(arn, erin)["Status"] == "SUCCEEDED"  # again: still one assignment
    listed = c.list_account_assignments(
        InstanceArn=admin.instance_arn, AccountId=ACCOUNT, PermissionSetArn=arn
    )["AccountAssignments"]
    assert listed == [
        {
            "AccountId": ACCOUNT,
            "PermissionSetArn": arn,
            "PrincipalType": "GROUP",
            "PrincipalId": engineers,
        },
        {
            "AccountId": ACCOUNT,
            "PermissionSetArn": arn,
            "PrincipalType": "USER",
            "PrincipalId": erin,
        },
    ]
    assert (
        c.list_account_assignments(
            InstanceArn=admin.instance_arn, AccountId=OTHER_ACCOUNT, PermissionSetArn=arn
        )["AccountAssignments"]
        == []
    )
    mine = c.list_account_assignments_for_principal(
        InstanceArn=admin.instance_arn, PrincipalType="USER", PrincipalId=erin
    )["AccountAssignments"]
    assert {
        "AccountId": ACCOUNT,
        "PermissionSetArn": arn,
        "PrincipalType": "USER",
        "PrincipalId": erin,
    } in mine
    assert {
        "AccountId": ACCOUNT,
        "PermissionSetArn": arn,
        "PrincipalType": "GROUP",
        "PrincipalId": engineers,
    } in mine
    assert (
        c.list_account_assignments_for_principal(
            InstanceArn=admin.instance_arn,
            PrincipalType="USER",
            PrincipalId=erin,
            Filter={"AccountId": OTHER_ACCOUNT},
        )["AccountAssignments"]
        == []
    )
    refused(
        c,
        "ConflictException",
        c.delete_permission_set,
        InstanceArn=admin.instance_arn,
        PermissionSetArn=arn,
    )

    deleted = admin.unassign(arn, erin)
    assert deleted["Status"] == "SUCCEEDED"
    assert deleted["PrincipalId"] == erin
    assert (
        c.describe_account_assignment_deletion_status(
            InstanceArn=admin.instance_arn, AccountAssignmentDeletionRequestId=deleted["RequestId"]
        )["AccountAssignmentDeletionStatus"]
        == deleted
    )
    assert admin.role_of(arn) is not None  # the group still has it
    admin.unassign(arn, engineers, "GROUP")
    assert admin.role_of(arn) is None  # the last assignment took the role with it
    assert admin.provisioned_accounts(arn) == []
    c.delete_permission_set(InstanceArn=admin.instance_arn, PermissionSetArn=arn)


def test_account_assignment_refusals(admin: Admin) -> None:
    c = admin.client
    arn = admin.permission_set("assignno")
    frank = admin.users["frank"]
    base = {
        "InstanceArn": admin.instance_arn,
        "TargetType": "AWS_ACCOUNT",
        "PermissionSetArn": arn,
        "PrincipalType": "USER",
        "PrincipalId": frank,
    }
    for call in (c.create_account_assignment, c.delete_account_assignment):
        refused(c, "ValidationException", call, **{**base, "TargetId": OTHER_ACCOUNT})
        refused(
            c,
            "ResourceNotFoundException",
            call,
            **{**base, "TargetId": ACCOUNT, "PermissionSetArn": admin.unknown_permission_set()},
        )
    refused(
        c,
        "ResourceNotFoundException",
        c.create_account_assignment,
        **{**base, "TargetId": ACCOUNT, "PrincipalId": UNKNOWN_PRINCIPAL},
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.create_account_assignment,
        **{**base, "TargetId": ACCOUNT, "PrincipalType": "GROUP"},
    )
    refused(
        c, "ResourceNotFoundException", c.delete_account_assignment, **{**base, "TargetId": ACCOUNT}
    )
    refused(
        c,
        "ValidationException",
        c.create_account_assignment,
        **{**base, "TargetId": ACCOUNT, "PrincipalId": "not-an-id"},
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_account_assignments_for_principal,
        InstanceArn=admin.instance_arn,
        PrincipalType="USER",
        PrincipalId=UNKNOWN_PRINCIPAL,
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_account_assignments,
        InstanceArn=admin.instance_arn,
        AccountId=ACCOUNT,
        PermissionSetArn=admin.unknown_permission_set(),
    )


def test_account_assignments_paginate(admin: Admin) -> None:
    c = admin.client
    arn = admin.permission_set("many")
    people = [admin.users[n] for n in ("erin", "frank", "grace", "heidi")]
    for user_id in people:
        admin.assign(arn, user_id)
    listed = all_pages(
        c,
        "list_account_assignments",
        "AccountAssignments",
        3,
        InstanceArn=admin.instance_arn,
        AccountId=ACCOUNT,
        PermissionSetArn=arn,
    )
    assert sorted(a["PrincipalId"] for a in listed) == sorted(people)

    others = [admin.permission_set("heidi") for _ in range(2)]
    for other in others:
        admin.assign(other, admin.users["heidi"])
    for_heidi = all_pages(
        c,
        "list_account_assignments_for_principal",
        "AccountAssignments",
        2,
        InstanceArn=admin.instance_arn,
        PrincipalType="USER",
        PrincipalId=admin.users["heidi"],
    )
    assert {arn, *others} <= {a["PermissionSetArn"] for a in for_heidi}
    creations = all_pages(
        c,
        "list_permission_sets_provisioned_to_account",
        "PermissionSets",
        1,
        InstanceArn=admin.instance_arn,
        AccountId=ACCOUNT,
    )
    assert {arn, *others} <= set(creations)


def test_deleting_a_user_removes_its_account_assignments(admin: Admin) -> None:
    ids = admin.server.client("identitystore")
    store_id = admin.client.list_instances()["Instances"][0]["IdentityStoreId"]
    user_id = ids.create_user(
        IdentityStoreId=store_id,
        UserName=f"leaver-{uuid.uuid4().hex[:6]}",
        DisplayName="Leaver",
        Name={"GivenName": "Lea", "FamilyName": "Ver"},
    )["UserId"]
    arn = admin.permission_set("leaver")
    admin.assign(arn, user_id)
    ids.delete_user(IdentityStoreId=store_id, UserId=user_id)
    assert (
        admin.client.list_account_assignments(
            InstanceArn=admin.instance_arn, AccountId=ACCOUNT, PermissionSetArn=arn
        )["AccountAssignments"]
        == []
    )


@pytest.mark.parametrize(
    "operation",
    ["create_permission_set", "list_permission_sets", "provision_permission_set"],
)
def test_a_principal_without_sso_permissions_is_denied(admin: Admin, operation: str) -> None:
    requests: dict[str, dict[str, Any]] = {
        "create_permission_set": {"InstanceArn": admin.instance_arn, "Name": "denied"},
        "list_permission_sets": {"InstanceArn": admin.instance_arn},
        "provision_permission_set": {
            "InstanceArn": admin.instance_arn,
            "PermissionSetArn": admin.unknown_permission_set(),
            "TargetType": "ALL_PROVISIONED_ACCOUNTS",
        },
    }
    denied = admin.server.client("sso-admin", *NOPERM)
    message = refused(
        denied, "AccessDeniedException", getattr(denied, operation), **requests[operation]
    )
    assert "user/noperm" in message
