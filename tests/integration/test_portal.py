"""The AWS access portal (boto3's ``sso`` client) over permission sets assigned through
sso-admin: accounts, roles, role credentials that ssooidc's own APIs accept and authorize by
the permission set's policies, logout, and botocore's SSO credential provider end to end."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlalchemy import select

from ssooidc.services import tokens
from ssooidc.store import tables
from ssooidc.store.engine import Store
from tests.serverproc import ACCOUNT, NO_RETRY, REGION, ServerProcess

PORTAL_SCOPE = "sso:account:access"
LIST_USERS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetUser"], "Resource": "*"}
        ],
    }
)

TENANT: dict[str, Any] = {
    "identitystore": {
        "Users": [
            {
                "UserName": name,
                "DisplayName": name.title(),
                "Name": {"GivenName": name.title(), "FamilyName": "Portal"},
                "Emails": [{"Value": f"{name}@example.com", "Primary": True}],
                **({"UserStatus": "DISABLED"} if name == "dora" else {}),
            }
            for name in ("alice", "bob", "carol", "dora", "erin")
        ],
        "Groups": [{"DisplayName": "readers", "Members": ["alice", "dora"]}],
    },
}


@dataclass
class Portal:
    server: ServerProcess
    store: Store
    users: dict[str, str]
    #: permission set name -> its role's name
    roles: dict[str, str]

    def token(
        self,
        user: str,
        scopes: tuple[str, ...] = (PORTAL_SCOPE,),
        *,
        age: float = 0,
    ) -> str:
        """An access token for ``user`` made in the store, as CreateToken makes one;
        ``age`` seconds old (an hour or more: expired)."""
        now = time.time() - age

        def work(conn: Any) -> str:
            family = tokens.start_family(
                conn,
                application_arn="portal-test-client",
                user_id=self.users[user],
                origin="device_code",
                issuer_arn=None,
                auth_time=now,
                expires_at=now + 8 * 3600,
            )
            issued = tokens.issue_tokens(conn, family, scopes, with_refresh=False, now=now)
            return issued.access_token

        return asyncio.run(self.store.run_write(work))

    def sso(self) -> Any:
        return boto3.client(
            "sso",
            endpoint_url=self.server.url,
            region_name=REGION,
            config=NO_RETRY.merge(Config(signature_version=UNSIGNED)),
        )

    def credentials(self, user: str, role: str) -> dict[str, Any]:
        creds: dict[str, Any] = self.sso().get_role_credentials(
            roleName=role, accountId=ACCOUNT, accessToken=self.token(user)
        )["roleCredentials"]
        return creds

    def client_with(self, service: str, creds: dict[str, Any]) -> Any:
        return self.server.client(
            service, creds["accessKeyId"], creds["secretAccessKey"], creds["sessionToken"]
        )


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    server = ServerProcess(tmp_path_factory.mktemp("portal"), tenant=TENANT)
    server.start()
    store = Store(server.database_url)
    try:
        with store.read() as conn:
            users = {
                r.user_name: r.user_id
                for r in conn.execute(
                    select(tables.identity_users.c.user_name, tables.identity_users.c.user_id)
                )
            }
            readers = conn.execute(
                select(tables.identity_groups.c.group_id).where(
                    tables.identity_groups.c.display_name == "readers"
                )
            ).scalar_one()
        admin = server.client("sso-admin")
        instance = admin.list_instances()["Instances"][0]["InstanceArn"]

        def permission_set(name: str, assign: list[tuple[str, str]], **members: Any) -> None:
            arn = admin.create_permission_set(InstanceArn=instance, Name=name, **members)[
                "PermissionSet"
            ]["PermissionSetArn"]
            where = {"InstanceArn": instance, "PermissionSetArn": arn}
            if name == "ReadUsers":
                admin.put_inline_policy_to_permission_set(InlinePolicy=LIST_USERS, **where)
            else:
                admin.attach_managed_policy_to_permission_set(
                    ManagedPolicyArn=f"arn:aws:iam::aws:policy/{name}", **where
                )
            for kind, principal in assign:
                admin.create_account_assignment(
                    TargetId=ACCOUNT,
                    TargetType="AWS_ACCOUNT",
                    PrincipalType=kind,
                    PrincipalId=principal,
                    **where,
                )

        permission_set(
            "ReadUsers", [("GROUP", readers), ("USER", users["carol"])], SessionDuration="PT2H"
        )
        permission_set("AdministratorAccess", [("USER", users["bob"])])
        permission_set("ReadOnlyAccess", [("USER", users["carol"])])
        permission_set("PowerUserAccess", [("USER", users["carol"])])
        with store.read() as conn:
            names = [
                str(r.name)
                for r in conn.execute(
                    select(tables.iam_principals.c.name).where(
                        tables.iam_principals.c.name.like("AWSReservedSSO_%")
                    )
                )
            ]
        roles = {n.split("_")[1]: n for n in names}
        yield Portal(server, store, users, roles)
    finally:
        store.dispose()
        server.stop()


def unauthorized(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response: dict[str, Any] = info.value.response
    assert response["Error"]["Code"] == "UnauthorizedException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 401
    return response


# -- accounts and roles -------------------------------------------------------------------------


def test_list_accounts_and_roles_follow_assignments(portal: Portal) -> None:
    sso = portal.sso()
    alice = portal.token("alice")
    accounts = sso.list_accounts(accessToken=alice)["accountList"]
    assert len(accounts) == 1
    assert accounts[0]["accountId"] == ACCOUNT
    assert accounts[0]["accountName"]
    assert "@" in accounts[0]["emailAddress"]
    # Through her group.
    assert sso.list_account_roles(accessToken=alice, accountId=ACCOUNT)["roleList"] == [
        {"roleName": "ReadUsers", "accountId": ACCOUNT}
    ]
    bob = portal.token("bob")
    assert sso.list_account_roles(accessToken=bob, accountId=ACCOUNT)["roleList"] == [
        {"roleName": "AdministratorAccess", "accountId": ACCOUNT}
    ]
    assert sso.list_account_roles(accessToken=bob, accountId="999988887777")["roleList"] == []
    # A user without assignments has no accounts and no roles.
    erin = portal.token("erin")
    assert sso.list_accounts(accessToken=erin)["accountList"] == []
    assert sso.list_account_roles(accessToken=erin, accountId=ACCOUNT)["roleList"] == []


def test_list_account_roles_paginates(portal: Portal) -> None:
    sso = portal.sso()
    pages = list(
        sso.get_paginator("list_account_roles").paginate(
            accessToken=portal.token("carol"),
            accountId=ACCOUNT,
            PaginationConfig={"PageSize": 1},
        )
    )
    assert len(pages) == 3
    names = [r["roleName"] for p in pages for r in p["roleList"]]
    assert names == ["PowerUserAccess", "ReadOnlyAccess", "ReadUsers"]
    accounts = list(
        sso.get_paginator("list_accounts").paginate(
            accessToken=portal.token("carol"), PaginationConfig={"PageSize": 1}
        )
    )
    assert [a["accountId"] for p in accounts for a in p["accountList"]] == [ACCOUNT]


# -- role credentials ---------------------------------------------------------------------------


def test_role_credentials_are_a_session_of_the_permission_sets_role(portal: Portal) -> None:
    before = time.time()
    creds = portal.credentials("alice", "ReadUsers")
    assert creds["accessKeyId"].startswith("ASIA")
    # Epoch milliseconds, the permission set's two hours ahead.
    assert abs(creds["expiration"] / 1000 - (before + 2 * 3600)) < 60
    identity = portal.client_with("sts", creds).get_caller_identity()
    role = portal.roles["ReadUsers"]
    assert re.fullmatch(r"AWSReservedSSO_ReadUsers_[0-9a-f]{16}", role)
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice"
    assert identity["Account"] == ACCOUNT

    iam = portal.client_with("iam", creds)
    assert "Users" in iam.list_users()
    with pytest.raises(ClientError) as info:
        iam.create_user(UserName="not-allowed")
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    admin = portal.client_with("sso-admin", creds)
    with pytest.raises(admin.exceptions.AccessDeniedException):
        admin.list_instances()


def test_managed_policies_authorize_their_sessions(portal: Portal) -> None:
    admin_creds = portal.credentials("bob", "AdministratorAccess")
    iam = portal.client_with("iam", admin_creds)
    iam.create_user(UserName="made-by-bob")
    iam.delete_user(UserName="made-by-bob")

    read_only = portal.client_with("iam", portal.credentials("carol", "ReadOnlyAccess"))
    assert "Users" in read_only.list_users()
    with pytest.raises(ClientError) as info:
        read_only.create_user(UserName="not-by-carol")
    assert info.value.response["Error"]["Code"] == "AccessDenied"

    power = portal.credentials("carol", "PowerUserAccess")
    instances = portal.client_with("sso-admin", power).list_instances()["Instances"]
    assert len(instances) == 1
    with pytest.raises(ClientError) as info:
        portal.client_with("iam", power).list_users()
    assert info.value.response["Error"]["Code"] == "AccessDenied"


def test_a_role_the_user_is_not_assigned_is_forbidden(portal: Portal) -> None:
    sso = portal.sso()
    alice = portal.token("alice")
    for role, account in (
        ("AdministratorAccess", ACCOUNT),
        ("NoSuchSet", ACCOUNT),
        ("ReadUsers", "999988887777"),
    ):
        with pytest.raises(ClientError) as info:
            sso.get_role_credentials(roleName=role, accountId=account, accessToken=alice)
        error = info.value.response
        assert error["Error"]["Code"] == "ForbiddenException"
        assert error["Error"]["Message"] == "No access"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_bad_bearer_tokens_are_unauthorized(portal: Portal) -> None:
    sso = portal.sso()
    refused = {
        "unknown": "aoa" + "x" * 43,
        "expired": portal.token("alice", age=3700),
        "without the portal scope": portal.token("alice", ("openid", "aws")),
        "of a disabled user": portal.token("dora"),
    }
    for token in refused.values():
        unauthorized(sso.list_accounts, accessToken=token)
        unauthorized(sso.list_account_roles, accessToken=token, accountId=ACCOUNT)
        unauthorized(
            sso.get_role_credentials, roleName="ReadUsers", accountId=ACCOUNT, accessToken=token
        )
        unauthorized(sso.logout, accessToken=token)
    with pytest.raises(sso.exceptions.UnauthorizedException):
        sso.list_accounts(accessToken=refused["unknown"])


def test_a_token_without_scopes_is_a_legacy_portal_token(portal: Portal) -> None:
    """A registration without scopes (the AWS CLI's legacy profiles) still reaches the portal."""
    creds = portal.sso().get_role_credentials(
        roleName="ReadUsers", accountId=ACCOUNT, accessToken=portal.token("alice", ())
    )["roleCredentials"]
    assert portal.client_with("sts", creds).get_caller_identity()["Account"] == ACCOUNT


def test_the_wire_format_of_portal_answers(portal: Portal) -> None:
    base = portal.server.url
    response = httpx.get(f"{base}/assignment/accounts", timeout=10)
    assert response.status_code == 401
    assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert response.json()["message"]
    assert response.headers["x-amzn-RequestId"]
    token = {"x-amz-sso_bearer_token": portal.token("alice")}
    ok = httpx.get(f"{base}/assignment/accounts", headers=token, timeout=10)
    assert ok.status_code == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", ok.headers["x-amzn-RequestId"])
    missing = httpx.get(f"{base}/assignment/roles", headers=token, timeout=10)
    assert missing.status_code == 400
    assert missing.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    for bad in ("0", "101", "x"):
        paged = httpx.get(
            f"{base}/assignment/accounts", params={"max_result": bad}, headers=token, timeout=10
        )
        assert paged.status_code == 400, bad
    bad_token = httpx.get(
        f"{base}/assignment/accounts", params={"next_token": "!!"}, headers=token, timeout=10
    )
    assert bad_token.status_code == 400


# -- logout -------------------------------------------------------------------------------------


def test_logout_revokes_the_token_but_not_the_sessions(portal: Portal) -> None:
    sso = portal.sso()
    token = portal.token("alice")
    creds = sso.get_role_credentials(roleName="ReadUsers", accountId=ACCOUNT, accessToken=token)[
        "roleCredentials"
    ]
    sso.logout(accessToken=token)
    unauthorized(sso.list_accounts, accessToken=token)
    unauthorized(
        sso.get_role_credentials, roleName="ReadUsers", accountId=ACCOUNT, accessToken=token
    )
    # AWS: role sessions made before the logout run to their end.
    assert portal.client_with("sts", creds).get_caller_identity()["Account"] == ACCOUNT


def test_a_deleted_assignment_ends_portal_access(portal: Portal) -> None:
    admin = portal.server.client("sso-admin")
    instance = admin.list_instances()["Instances"][0]["InstanceArn"]
    arn = admin.create_permission_set(InstanceArn=instance, Name="Temporary")["PermissionSet"][
        "PermissionSetArn"
    ]
    where = {
        "InstanceArn": instance,
        "PermissionSetArn": arn,
        "TargetId": ACCOUNT,
        "TargetType": "AWS_ACCOUNT",
        "PrincipalType": "USER",
        "PrincipalId": portal.users["bob"],
    }
    admin.put_inline_policy_to_permission_set(
        InstanceArn=instance, PermissionSetArn=arn, InlinePolicy=LIST_USERS
    )
    admin.create_account_assignment(**where)
    sso = portal.sso()
    token = portal.token("bob")
    creds = sso.get_role_credentials(roleName="Temporary", accountId=ACCOUNT, accessToken=token)[
        "roleCredentials"
    ]
    admin.delete_account_assignment(**where)
    roles = sso.list_account_roles(accessToken=token, accountId=ACCOUNT)["roleList"]
    assert "Temporary" not in [r["roleName"] for r in roles]
    with pytest.raises(ClientError) as info:
        sso.get_role_credentials(roleName="Temporary", accountId=ACCOUNT, accessToken=token)
    assert info.value.response["Error"]["Code"] == "ForbiddenException"
    # The role went with its last assignment, and its sessions with it.
    with pytest.raises(ClientError) as info:
        portal.client_with("sts", creds).get_caller_identity()
    assert info.value.response["Error"]["Code"] == "InvalidClientTokenId"
    admin.delete_permission_set(InstanceArn=instance, PermissionSetArn=arn)


# -- botocore's SSO credential provider ---------------------------------------------------------

PROFILE_SCRIPT = """
import json, os, sys
import boto3
out = {}
for profile in sys.argv[1:]:
    session = boto3.Session(profile_name=profile)
    sts = session.client("sts", endpoint_url=os.environ["SSOOIDC_URL"])
    out[profile] = sts.get_caller_identity()["Arn"]
print(json.dumps(out))
"""


def test_botocore_sso_credential_provider_end_to_end(portal: Portal, tmp_path: Path) -> None:
    """``[profile p] sso_session = s`` and a cached token: botocore calls GetRoleCredentials
    itself, through AWS_ENDPOINT_URL, and signs sts with the session it got. The legacy form
    (sso_start_url in the profile, a token without scopes) works too."""
    home = tmp_path / "home"
    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    start_url = f"{portal.server.url}/start"
    legacy_url = f"{portal.server.url}/legacy-start"
    config = home / ".aws" / "config"
    config.write_text(
        "[profile p]\n"
        "sso_session = s\n"
        f"sso_account_id = {ACCOUNT}\n"
        "sso_role_name = ReadUsers\n"
        f"region = {REGION}\n\n"
        "[sso-session s]\n"
        f"sso_start_url = {start_url}\n"
        f"sso_region = {REGION}\n\n"
        "[profile legacy]\n"
        f"sso_start_url = {legacy_url}\n"
        f"sso_region = {REGION}\n"
        f"sso_account_id = {ACCOUNT}\n"
        "sso_role_name = AdministratorAccess\n"
        f"region = {REGION}\n"
    )
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key, url, user, scopes in (
        ("s", start_url, "alice", (PORTAL_SCOPE,)),
        (legacy_url, legacy_url, "bob", ()),
    ):
        name = hashlib.sha1(key.encode()).hexdigest()  # botocore's cache key
        (cache / f"{name}.json").write_text(
            json.dumps(
                {
                    "startUrl": url,
                    "region": REGION,
                    "accessToken": portal.token(user, scopes),
                    "expiresAt": expires,
                }
            )
        )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k in ("AWS_CA_BUNDLE",)
    }
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_ENDPOINT_URL=portal.server.url,
        AWS_MAX_ATTEMPTS="1",
        SSOOIDC_URL=portal.server.url,
    )
    result = subprocess.run(
        [sys.executable, "-c", PROFILE_SCRIPT, "p", "legacy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    arns = json.loads(result.stdout)
    assert arns["p"] == (f"arn:aws:sts::{ACCOUNT}:assumed-role/{portal.roles['ReadUsers']}/alice")
    assert arns["legacy"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{portal.roles['AdministratorAccess']}/bob"
    )
