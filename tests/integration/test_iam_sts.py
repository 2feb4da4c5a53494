"""iam and sts over the query protocol, through real boto3 clients and the AWS CLI: users,
roles, keys and inline policies; role sessions, identity-enhanced with an idToken's
``sts:identity_context``; SigV4 failures answered with the query services' own codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from sqlalchemy import select

from ssooidc.services import keys, role_sessions
from ssooidc.services.at_rest import SecretBox
from ssooidc.store import tables
from ssooidc.store.engine import Store
from ssooidc.testing.idp import TestIdentityProvider
from tests.integration.conftest import jwt_claims
from tests.serverproc import (
    ACCOUNT,
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    NO_RETRY,
    REGION,
    ServerProcess,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDENTITY_CENTER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"
TOKEN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/token-role"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider
) -> Iterator[tuple[ServerProcess, Store, SecretBox]]:
    """A server whose one application takes jwt-bearer assertions from ``idp`` and lets the
    administrator and every session of token-role call CreateTokenWithIAM."""
    actor = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [ADMIN_ARN, TOKEN_ROLE]},
                "Action": "sso-oauth:CreateTokenWithIAM",
                "Resource": "*",
            }
        ],
    }
    tenant: dict[str, Any] = {
        "identitystore": {
            "Users": [
                {
                    "UserName": "alice",
                    "DisplayName": "Alice",
                    "Name": {"GivenName": "Alice", "FamilyName": "Doe"},
                    "Emails": [{"Value": "alice@example.com"}],
                }
            ]
        },
        "ssoadmin": {
            "TrustedTokenIssuers": [
                {
                    "Name": "idp",
                    "TrustedTokenIssuerType": "OIDC_JWT",
                    "TrustedTokenIssuerConfiguration": {
                        "OidcJwtConfiguration": {
                            "IssuerUrl": idp.issuer_url,
                            "ClaimAttributePath": "email",
                            "IdentityStoreAttributePath": "emails.value",
                            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                        }
                    },
                }
            ],
            "Applications": [
                {
                    "Name": "app",
                    "AssignmentRequired": False,
                    "Grants": {
                        JWT_BEARER: {
                            "JwtBearer": {
                                "AuthorizedTokenIssuers": [
                                    {"TrustedTokenIssuer": "idp", "AuthorizedAudiences": ["app"]}
                                ]
                            }
                        }
                    },
                    "AuthenticationMethods": {"IAM": {"Iam": {"ActorPolicy": actor}}},
                }
            ],
        },
    }
    data_dir = tmp_path_factory.mktemp("iam-sts")
    started = ServerProcess(data_dir, tenant=tenant, env={"SSL_CERT_FILE": str(idp.ca_path)})
    started.start()
    store = Store(started.database_url)
    try:
        yield started, store, SecretBox.load(data_dir / "at-rest.key", create=False)
    finally:
        store.dispose()
        started.stop()


@pytest.fixture
def srv(server: tuple[ServerProcess, Store, SecretBox]) -> ServerProcess:
    return server[0]


@pytest.fixture
def iam(srv: ServerProcess) -> Any:
    return srv.client("iam")


@pytest.fixture
def sts(srv: ServerProcess) -> Any:
    return srv.client("sts")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def policy(*actions: str, effect: str = "Allow") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Action": list(actions), "Resource": "*"}],
        }
    )


def trust(principal: Any, *actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": list(actions or ("sts:AssumeRole",)),
                }
            ],
        }
    )


def failure(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int, str]:
    """Code, HTTP status and message of the ClientError that ``call`` raises."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response
    return (
        error["Error"]["Code"],
        error["ResponseMetadata"]["HTTPStatusCode"],
        error["Error"].get("Message", ""),
    )


def user_with_key(iam: Any, *policies: str) -> tuple[str, dict[str, Any]]:
    """A new user with an access key and the given inline policies."""
    name = unique("user")
    iam.create_user(UserName=name)
    for i, document in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=document)
    return name, iam.create_access_key(UserName=name)["AccessKey"]


def session_client(srv: ServerProcess, service: str, credentials: dict[str, Any]) -> Any:
    return srv.client(
        service,
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        token=credentials["SessionToken"],
    )


def role(iam: Any, trust_policy: str, *policies: str, **kwargs: Any) -> str:
    """A new role with the trust policy and inline policies; its ARN."""
    name = kwargs.pop("RoleName", None) or unique("role")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy, **kwargs)[
        "Role"
    ]["Arn"]
    for i, document in enumerate(policies):
        iam.put_role_policy(RoleName=name, PolicyName=f"p{i}", PolicyDocument=document)
    return arn


# -- users ---------------------------------------------------------------------------------


def test_a_user_is_created_read_listed_and_deleted(iam: Any) -> None:
    name = unique("bob")
    tags = [{"Key": "team", "Value": "platform"}]
    created = iam.create_user(UserName=name, Path="/eng/", Tags=tags)["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/eng/{name}"
    assert created["UserId"].startswith("AIDA")
    assert created["Path"] == "/eng/"
    assert created["Tags"] == tags
    fetched = iam.get_user(UserName=name)["User"]
    assert fetched == created
    listed = iam.list_users(PathPrefix="/eng/")
    assert [u["UserName"] for u in listed["Users"]] == [name]
    assert listed["IsTruncated"] is False
    iam.delete_user(UserName=name)
    assert failure(iam.get_user, UserName=name)[:2] == ("NoSuchEntity", 404)


def test_get_user_without_a_name_is_the_caller(iam: Any) -> None:
    me = iam.get_user()["User"]
    assert me["UserName"] == "admin"
    assert me["Arn"] == ADMIN_ARN


def test_user_names_are_unique_ignoring_case(iam: Any) -> None:
    name = unique("Carol")
    iam.create_user(UserName=name)
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException) as info:
        iam.create_user(UserName=name.upper())
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert iam.get_user(UserName=name.lower())["User"]["UserName"] == name


def test_unknown_users_are_no_such_entity(iam: Any) -> None:
    ghost = unique("ghost")
    for call, kwargs in [
        (iam.get_user, {"UserName": ghost}),
        (iam.delete_user, {"UserName": ghost}),
        (iam.create_access_key, {"UserName": ghost}),
        (iam.list_access_keys, {"UserName": ghost}),
        (iam.list_user_policies, {"UserName": ghost}),
        (iam.put_user_policy, {"UserName": ghost, "PolicyName": "p", "PolicyDocument": policy("s3:*")}),
    ]:  # fmt: skip
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            call(**kwargs)


def test_list_users_pages_with_marker_and_the_paginator(iam: Any) -> None:
    path = f"/{unique('page')}/"
    names = sorted(unique("u") for _ in range(5))
    for name in names:
        iam.create_user(UserName=name, Path=path)
    seen: list[str] = []
    page = iam.list_users(PathPrefix=path, MaxItems=2)
    while True:
        seen += [u["UserName"] for u in page["Users"]]
        assert len(page["Users"]) <= 2
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        page = iam.list_users(PathPrefix=path, MaxItems=2, Marker=page["Marker"])
    assert seen == names
    paginator = iam.get_paginator("list_users")
    pages = list(paginator.paginate(PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    assert failure(iam.list_users, Marker="not-a-marker")[0] == "ValidationError"


def test_delete_user_conflicts_while_keys_or_policies_remain(iam: Any) -> None:
    name, key = user_with_key(iam, policy("sts:GetCallerIdentity"))
    code, status, message = failure(iam.delete_user, UserName=name)
    assert (code, status) == ("DeleteConflict", 409)
    assert "access keys" in message
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    code, _, message = failure(iam.delete_user, UserName=name)
    assert code == "DeleteConflict"
    assert "policies" in message
    iam.delete_user_policy(UserName=name, PolicyName="p0")
    iam.delete_user(UserName=name)


def test_a_permissions_boundary_is_refused_rather_than_ignored(iam: Any) -> None:
    code, status, _ = failure(
        iam.create_user,
        UserName=unique("b"),
        PermissionsBoundary="arn:aws:iam::aws:policy/ReadOnlyAccess",
    )
    assert (code, status) == ("InvalidInput", 400)


def test_invalid_members_are_validation_errors(iam: Any) -> None:
    assert failure(iam.create_user, UserName="bad name!")[:2] == ("ValidationError", 400)


# -- roles ---------------------------------------------------------------------------------


def test_a_role_keeps_its_trust_policy_and_returns_it_url_encoded(iam: Any) -> None:
    name = unique("role")
    document = json.loads(trust(ADMIN_ARN))
    raw: list[bytes] = []
    iam.meta.events.register(
        "after-call.iam.GetRole", lambda http_response, **_: raw.append(http_response.content)
    )
    created = iam.create_role(
        RoleName=name,
        Path="/svc/",
        AssumeRolePolicyDocument=json.dumps(document),
        MaxSessionDuration=7200,
        Tags=[{"Key": "k", "Value": "v"}],
    )["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/svc/{name}"
    assert created["RoleId"].startswith("AROA")
    fetched = iam.get_role(RoleName=name)["Role"]
    assert fetched["AssumeRolePolicyDocument"] == document
    assert fetched["MaxSessionDuration"] == 7200
    assert fetched["Tags"] == [{"Key": "k", "Value": "v"}]
    assert b"<AssumeRolePolicyDocument>%7B%22Version%22%3A" in raw[0]
    iam.delete_role(RoleName=name)
    assert failure(iam.get_role, RoleName=name)[:2] == ("NoSuchEntity", 404)
    assert failure(iam.delete_role, RoleName=name)[0] == "NoSuchEntity"


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "sts:AssumeRole"}]}),
    ],
    ids=["not-json", "no-principal", "bad-effect"],
)  # fmt: skip
def test_a_malformed_trust_policy_is_refused(iam: Any, document: str) -> None:
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException) as info:
        iam.create_role(RoleName=unique("bad"), AssumeRolePolicyDocument=document)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_duplicate_role_is_entity_already_exists(iam: Any) -> None:
    name = unique("dup")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(ADMIN_ARN))
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(ADMIN_ARN))


def test_delete_role_conflicts_while_policies_remain(iam: Any) -> None:
    arn = role(iam, trust(ADMIN_ARN), policy("s3:*"))
    name = arn.rsplit("/", 1)[1]
    assert failure(iam.delete_role, RoleName=name)[:2] == ("DeleteConflict", 409)
    iam.delete_role_policy(RoleName=name, PolicyName="p0")
    iam.delete_role(RoleName=name)


# -- inline policies -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["User", "Role"])
def test_inline_policies_are_put_read_listed_and_deleted(iam: Any, kind: str) -> None:
    name = unique(kind.lower())
    if kind == "User":
        iam.create_user(UserName=name)
    else:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(ADMIN_ARN))
    call = {op: getattr(iam, f"{op}_{kind.lower()}_polic{'ies' if op == 'list' else 'y'}") for op in ("put", "get", "list", "delete")}  # fmt: skip
    who = {f"{kind}Name": name}
    document = json.loads(policy("s3:GetObject", "s3:ListBucket"))
    call["put"](**who, PolicyName="read", PolicyDocument=json.dumps(document))
    call["put"](**who, PolicyName="also", PolicyDocument=policy("sqs:*"))
    got = call["get"](**who, PolicyName="read")
    assert got[f"{kind}Name"] == name
    assert got["PolicyName"] == "read"
    assert got["PolicyDocument"] == document
    assert call["list"](**who)["PolicyNames"] == ["also", "read"]
    first = call["list"](**who, MaxItems=1)
    assert first["IsTruncated"] is True
    assert call["list"](**who, MaxItems=1, Marker=first["Marker"])["PolicyNames"] == ["read"]
    call["delete"](**who, PolicyName="read")
    assert failure(call["get"], **who, PolicyName="read")[:2] == ("NoSuchEntity", 404)
    assert failure(call["delete"], **who, PolicyName="read")[0] == "NoSuchEntity"
    code, status, _ = failure(
        call["put"], **who, PolicyName="bad", PolicyDocument='{"Statement": []}'
    )
    assert (code, status) == ("MalformedPolicyDocument", 400)
    big = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [f"s3:Get{'x' * 40}{i}" for i in range(300)], "Resource": "*"}]})  # fmt: skip
    assert failure(call["put"], **who, PolicyName="big", PolicyDocument=big)[:2] == (
        "LimitExceeded",
        409,
    )


def test_a_new_policy_takes_effect_at_the_next_request(srv: ServerProcess, iam: Any) -> None:
    name, key = user_with_key(iam)
    own = srv.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    code, status, message = failure(own.list_users)
    assert (code, status) == ("AccessDenied", 403)
    assert "iam:ListUsers" in message
    iam.put_user_policy(UserName=name, PolicyName="list", PolicyDocument=policy("iam:ListUsers"))
    assert own.list_users()["Users"]
    iam.put_user_policy(UserName=name, PolicyName="deny", PolicyDocument=policy("iam:*", effect="Deny"))  # fmt: skip
    assert failure(own.list_users)[0] == "AccessDenied"


# -- access keys ---------------------------------------------------------------------------


def test_access_keys_are_created_listed_limited_and_deleted(srv: ServerProcess, iam: Any) -> None:
    name, first = user_with_key(iam)
    assert first["AccessKeyId"].startswith("AKIA")
    assert first["Status"] == "Active"
    assert len(first["SecretAccessKey"]) == 40
    own_sts = srv.client("sts", first["AccessKeyId"], first["SecretAccessKey"])
    assert own_sts.get_caller_identity()["Arn"].endswith(f":user/{name}")
    second = iam.create_access_key(UserName=name)["AccessKey"]
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {first["AccessKeyId"], second["AccessKeyId"]}
    assert all("SecretAccessKey" not in k and k["UserName"] == name for k in listed)
    with pytest.raises(iam.exceptions.LimitExceededException) as info:
        iam.create_access_key(UserName=name)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    iam.delete_access_key(UserName=name, AccessKeyId=second["AccessKeyId"])
    assert failure(iam.delete_access_key, UserName=name, AccessKeyId=second["AccessKeyId"])[:2] == ("NoSuchEntity", 404)  # fmt: skip
    assert failure(iam.update_access_key, UserName=name, AccessKeyId="AKIAUNKNOWNUNKNOWN00", Status="Inactive")[0] == "NoSuchEntity"  # fmt: skip
    code, status, _ = failure(
        srv.client("sts", second["AccessKeyId"], second["SecretAccessKey"]).get_caller_identity
    )
    assert (code, status) == ("InvalidClientTokenId", 403)


def test_an_inactive_key_is_refused_until_it_is_active_again(srv: ServerProcess, iam: Any) -> None:
    name, key = user_with_key(iam)
    own = srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    own.get_caller_identity()
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert failure(own.get_caller_identity)[:2] == ("InvalidClientTokenId", 403)
    oidc = srv.client("sso-oidc", key["AccessKeyId"], key["SecretAccessKey"])
    code = failure(oidc.create_token_with_iam, clientId="x", grantType=JWT_BEARER)[0]
    assert code == "UnrecognizedClientException"
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    own.get_caller_identity()


def test_a_deleted_users_key_is_refused(srv: ServerProcess, iam: Any) -> None:
    name, key = user_with_key(iam)
    own = srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    own.get_caller_identity()
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)
    assert failure(own.get_caller_identity)[:2] == ("InvalidClientTokenId", 403)


def test_a_user_manages_its_own_keys_without_naming_itself(srv: ServerProcess, iam: Any) -> None:
    name, key = user_with_key(iam, policy("iam:*AccessKey*"))
    own = srv.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    created = own.create_access_key()["AccessKey"]
    assert created["UserName"] == name
    assert len(own.list_access_keys()["AccessKeyMetadata"]) == 2
    own.delete_access_key(AccessKeyId=created["AccessKeyId"])


# -- sts -----------------------------------------------------------------------------------


def test_get_caller_identity_names_the_admin(sts: Any) -> None:
    me = sts.get_caller_identity()
    assert me["Account"] == ACCOUNT
    assert me["Arn"] == ADMIN_ARN
    assert me["UserId"].startswith("AIDA")


def test_get_caller_identity_needs_no_permission_and_ignores_denies(
    srv: ServerProcess, iam: Any
) -> None:
    _, key = user_with_key(iam, policy("sts:*", effect="Deny"))
    assert srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()


def test_a_role_named_in_the_trust_policy_is_assumed(srv: ServerProcess, iam: Any) -> None:
    name, key = user_with_key(iam)
    arn = role(iam, trust(f"arn:aws:iam::{ACCOUNT}:user/{name}"))
    role_name = arn.rsplit("/", 1)[1]
    started = time.time()
    result = srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).assume_role(
        RoleArn=arn, RoleSessionName="build-42", DurationSeconds=900
    )
    credentials = result["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert credentials["SessionToken"]
    assert abs(credentials["Expiration"].timestamp() - (started + 900)) < 30
    role_id = iam.get_role(RoleName=role_name)["Role"]["RoleId"]
    assumed = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/build-42"
    assert result["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:build-42", "Arn": assumed}
    me = session_client(srv, "sts", credentials).get_caller_identity()
    assert (me["Arn"], me["UserId"], me["Account"]) == (assumed, f"{role_id}:build-42", ACCOUNT)
    code = failure(session_client(srv, "iam", credentials).get_user)[0]
    assert code == "AccessDenied"


def test_assume_role_is_refused_when_the_trust_policy_does_not_name_the_caller(
    srv: ServerProcess, iam: Any, sts: Any
) -> None:
    _, key = user_with_key(iam, policy("sts:AssumeRole"))
    arn = role(iam, trust(ADMIN_ARN))
    other = srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    code, status, message = failure(other.assume_role, RoleArn=arn, RoleSessionName="s1")
    assert (code, status) == ("AccessDenied", 403)
    assert "sts:AssumeRole" in message
    unknown = f"arn:aws:iam::{ACCOUNT}:role/{unique('nope')}"
    assert failure(sts.assume_role, RoleArn=unknown, RoleSessionName="s1")[0] == "AccessDenied"


def test_an_account_principal_needs_an_identity_allow_and_a_deny_wins(
    srv: ServerProcess, iam: Any
) -> None:
    arn = role(iam, trust(ACCOUNT))
    _, without = user_with_key(iam)
    _, allowed = user_with_key(iam, policy("sts:AssumeRole"))
    _, denied = user_with_key(iam, policy("sts:AssumeRole"), policy("sts:*", effect="Deny"))
    outcomes = {}
    for label, key in (("without", without), ("allowed", allowed), ("denied", denied)):
        client = srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
        try:
            client.assume_role(RoleArn=arn, RoleSessionName="s1")
            outcomes[label] = "ok"
        except ClientError as exc:
            outcomes[label] = exc.response["Error"]["Code"]
    assert outcomes == {"without": "AccessDenied", "allowed": "ok", "denied": "AccessDenied"}


def test_session_durations_are_bounded_by_the_role_and_by_role_chaining(
    srv: ServerProcess, iam: Any, sts: Any
) -> None:
    arn = role(iam, trust([ADMIN_ARN, ACCOUNT]), policy("sts:AssumeRole"), MaxSessionDuration=7200)
    assert sts.assume_role(RoleArn=arn, RoleSessionName="long", DurationSeconds=7200)
    too_long = failure(sts.assume_role, RoleArn=arn, RoleSessionName="s0", DurationSeconds=7201)
    assert too_long[:2] == ("ValidationError", 400)
    assert "MaxSessionDuration" in too_long[2]
    credentials = sts.assume_role(RoleArn=arn, RoleSessionName="hop")["Credentials"]
    chained = session_client(srv, "sts", credentials)
    assert chained.assume_role(RoleArn=arn, RoleSessionName="hop2", DurationSeconds=3600)
    code, _, message = failure(
        chained.assume_role, RoleArn=arn, RoleSessionName="hop3", DurationSeconds=3601
    )
    assert code == "ValidationError"
    assert "role chaining" in message


def test_unsupported_assume_role_members_are_refused(iam: Any, sts: Any) -> None:
    arn = role(iam, trust(ADMIN_ARN))
    code = failure(sts.assume_role, RoleArn=arn, RoleSessionName="s0", Policy=policy("s3:*"))[0]
    assert code == "ValidationError"


def test_session_credentials_are_authorized_through_the_roles_policies(
    srv: ServerProcess, iam: Any, sts: Any
) -> None:
    allowed = role(iam, trust(ADMIN_ARN), policy("sso:ListInstances", "iam:GetRole"))
    bare = role(iam, trust(ADMIN_ARN))
    with_policy = sts.assume_role(RoleArn=allowed, RoleSessionName="ops")["Credentials"]
    without = sts.assume_role(RoleArn=bare, RoleSessionName="ops")["Credentials"]
    assert session_client(srv, "sso-admin", with_policy).list_instances()["Instances"]
    assert session_client(srv, "iam", with_policy).get_role(RoleName=allowed.rsplit("/", 1)[1])
    denied = session_client(srv, "sso-admin", without)
    with pytest.raises(denied.exceptions.AccessDeniedException):
        denied.list_instances()
    code = failure(session_client(srv, "iam", with_policy).get_user)[0]
    assert code == "AccessDenied"


def test_a_deleted_roles_sessions_are_refused(srv: ServerProcess, iam: Any, sts: Any) -> None:
    arn = role(iam, trust(ADMIN_ARN))
    credentials = sts.assume_role(RoleArn=arn, RoleSessionName="s0")["Credentials"]
    session = session_client(srv, "sts", credentials)
    session.get_caller_identity()
    iam.delete_role(RoleName=arn.rsplit("/", 1)[1])
    assert failure(session.get_caller_identity)[:2] == ("InvalidClientTokenId", 403)


def test_a_role_session_gets_tokens_from_create_token_with_iam(
    srv: ServerProcess, iam: Any, sts: Any, idp: TestIdentityProvider
) -> None:
    iam.create_role(RoleName="token-role", AssumeRolePolicyDocument=trust(ADMIN_ARN))
    credentials = sts.assume_role(RoleArn=TOKEN_ROLE, RoleSessionName="app")["Credentials"]
    tokens = _tokens(session_client(srv, "sso-oidc", credentials), srv, idp)
    assert tokens["accessToken"].startswith("aoa")
    other = sts.assume_role(RoleArn=role(iam, trust(ADMIN_ARN)), RoleSessionName="app")
    oidc = session_client(srv, "sso-oidc", other["Credentials"])
    with pytest.raises(oidc.exceptions.AccessDeniedException):
        _tokens(oidc, srv, idp)


# -- identity-enhanced sessions ------------------------------------------------------------


def _tokens(oidc: Any, srv: ServerProcess, idp: TestIdentityProvider) -> dict[str, Any]:
    admin = srv.client("sso-admin")
    instance = admin.list_instances()["Instances"][0]["InstanceArn"]
    app = admin.list_applications(InstanceArn=instance)["Applications"][0]["ApplicationArn"]
    return oidc.create_token_with_iam(  # type: ignore[no-any-return]
        clientId=app,
        grantType=JWT_BEARER,
        assertion=idp.mint(subject="alice", email="alice@example.com", audience="app"),
    )


def _identity_context(srv: ServerProcess, idp: TestIdentityProvider) -> tuple[str, str]:
    """An idToken's ``sts:identity_context`` claim and its subject (the identity-store user)."""
    claims = jwt_claims(_tokens(srv.client("sso-oidc"), srv, idp)["idToken"])
    return claims["sts:identity_context"], claims["sub"]


def _contexts(assertion: str, provider: str = IDENTITY_CENTER) -> list[dict[str, str]]:
    return [{"ProviderArn": provider, "ContextAssertion": assertion}]


def test_an_identity_context_makes_an_identity_enhanced_session(
    server: tuple[ServerProcess, Store, SecretBox], iam: Any, sts: Any, idp: TestIdentityProvider
) -> None:
    srv, store, _ = server
    assertion, user_id = _identity_context(srv, idp)
    arn = role(iam, trust(ADMIN_ARN, "sts:AssumeRole", "sts:SetContext"))
    result = sts.assume_role(
        RoleArn=arn, RoleSessionName="alice", ProvidedContexts=_contexts(assertion)
    )
    credentials = result["Credentials"]
    me = session_client(srv, "sts", credentials).get_caller_identity()
    assert me["Arn"] == result["AssumedRoleUser"]["Arn"]
    assert me["Arn"].endswith(f":assumed-role/{arn.rsplit('/', 1)[1]}/alice")
    with store.read() as conn:
        context = conn.execute(
            select(tables.iam_sessions.c.context).where(
                tables.iam_sessions.c.access_key_id == credentials["AccessKeyId"]
            )
        ).scalar_one()
    assert context["identity_context"] == assertion
    assert context["fields"]["u"] == user_id


def test_a_forged_identity_context_is_refused(iam: Any, sts: Any, srv: ServerProcess, idp: TestIdentityProvider) -> None:  # fmt: skip
    assertion, _ = _identity_context(srv, idp)
    arn = role(iam, trust(ADMIN_ARN, "sts:AssumeRole", "sts:SetContext"))
    body, _, mac = assertion.partition(".")
    for forged in (
        f"{body}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        f"{body[:10]}{'A' if body[10] != 'A' else 'B'}{body[11:]}.{mac}",
    ):
        with pytest.raises(sts.exceptions.InvalidContextAssertionException) as info:
            sts.assume_role(RoleArn=arn, RoleSessionName="s0", ProvidedContexts=_contexts(forged))
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    code = failure(
        sts.assume_role,
        RoleArn=arn,
        RoleSessionName="s0",
        ProvidedContexts=_contexts(assertion, "arn:aws:iam::aws:contextProvider/Other"),
    )[0]
    assert code == "InvalidContextAssertion"


def test_an_expired_identity_context_is_refused(
    server: tuple[ServerProcess, Store, SecretBox], iam: Any, sts: Any, idp: TestIdentityProvider
) -> None:
    srv, store, box = server
    assertion, _ = _identity_context(srv, idp)
    with store.write_sync() as conn:
        sealer = keys.ContextSealer(
            keys.instance_secret(conn, box, keys.CONTEXT_SECRET, time.time())
        )
    fields = sealer.open(assertion)
    assert fields is not None
    expired = sealer.seal({**fields, "exp": int(time.time()) - 1})
    arn = role(iam, trust(ADMIN_ARN, "sts:AssumeRole", "sts:SetContext"))
    code, _, message = failure(sts.assume_role, RoleArn=arn, RoleSessionName="s0", ProvidedContexts=_contexts(expired))  # fmt: skip
    assert code == "InvalidContextAssertion"
    assert "expired" in message


def test_a_trust_policy_without_set_context_refuses_an_identity_context(
    iam: Any, sts: Any, srv: ServerProcess, idp: TestIdentityProvider
) -> None:
    assertion, _ = _identity_context(srv, idp)
    arn = role(iam, trust(ADMIN_ARN, "sts:AssumeRole"))
    code, status, message = failure(sts.assume_role, RoleArn=arn, RoleSessionName="s0", ProvidedContexts=_contexts(assertion))  # fmt: skip
    assert (code, status) == ("AccessDenied", 403)
    assert "sts:SetContext" in message
    assert sts.assume_role(RoleArn=arn, RoleSessionName="s0")["Credentials"]


# -- SigV4 failures on the query services --------------------------------------------------


def test_an_unsigned_request_is_missing_authentication_token(srv: ServerProcess) -> None:
    for service in ("iam", "sts"):
        client = boto3.client(
            service,
            endpoint_url=srv.url,
            region_name=REGION,
            config=NO_RETRY.merge(Config(signature_version=UNSIGNED)),
        )
        call = client.list_users if service == "iam" else client.get_caller_identity
        assert failure(call)[:2] == ("MissingAuthenticationToken", 403)


def test_a_wrong_secret_is_signature_does_not_match(srv: ServerProcess) -> None:
    client = srv.client("sts", ADMIN_KEY_ID, "not-the-secret-access-key-0000000000000")
    assert failure(client.get_caller_identity)[:2] == ("SignatureDoesNotMatch", 403)
    wrong_region = boto3.client(
        "iam",
        endpoint_url=srv.url,
        region_name="eu-west-1",
        aws_access_key_id=ADMIN_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET,
        config=NO_RETRY,
    )
    assert failure(wrong_region.list_users)[0] == "SignatureDoesNotMatch"


def test_an_unparsable_signature_is_incomplete_signature_in_the_sts_namespace(
    srv: ServerProcess,
) -> None:
    response = httpx.post(
        srv.url,
        content=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261124/us-east-1/sts/aws4_request",
        },
    )
    assert response.status_code == 403
    assert response.text.startswith(
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    )
    parsed = create_parser("query").parse(
        {"body": response.content, "headers": dict(response.headers), "status_code": 403}, None
    )
    assert parsed["Error"]["Code"] == "IncompleteSignature"
    assert parsed["Error"]["Type"] == "Sender"
    assert parsed["ResponseMetadata"]["RequestId"] == response.headers["x-amzn-RequestId"]


def test_an_unknown_key_is_invalid_client_token_id(srv: ServerProcess) -> None:
    client = srv.client("iam", "AKIAUNKNOWNTESTKEY01", "unknown-secret-access-key-000000000001")
    code, status, message = failure(client.list_users)
    assert (code, status) == ("InvalidClientTokenId", 403)
    assert message == "The security token included in the request is invalid."


def test_an_expired_session_token_is_expired_token(
    server: tuple[ServerProcess, Store, SecretBox], iam: Any
) -> None:
    srv, store, box = server
    arn = role(iam, trust(ADMIN_ARN))
    now = time.time()
    with store.write_sync() as conn:
        pair, token = role_sessions.create_session(
            conn, box, role=arn, session_name="old", expires_at=now - 1, now=now - 901
        )
    client = srv.client("sts", pair.access_key_id, pair.secret_access_key, token=token)
    assert failure(client.get_caller_identity)[:2] == ("ExpiredToken", 403)


def test_an_unsupported_action_is_invalid_action(sts: Any) -> None:
    assert failure(sts.get_session_token)[:2] == ("InvalidAction", 400)


# -- the AWS CLI ---------------------------------------------------------------------------


def aws_cli(srv: ServerProcess, tmp_path: Path, *args: str) -> Any:
    """Run the installed AWS CLI with the administrator's key; its JSON output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ADMIN_KEY_ID,
        AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
    )
    command = [str(Path(sys.executable).parent / "aws"), *args]
    command += ["--endpoint-url", srv.url, "--region", REGION, "--output", "json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_aws_cli_lists_users(srv: ServerProcess, iam: Any, tmp_path: Path) -> None:
    name = unique("cli")
    iam.create_user(UserName=name)
    names = {u["UserName"] for u in aws_cli(srv, tmp_path, "iam", "list-users")["Users"]}
    assert {"admin", name} <= names


def test_the_aws_cli_gets_the_caller_identity(srv: ServerProcess, tmp_path: Path) -> None:
    assert aws_cli(srv, tmp_path, "sts", "get-caller-identity")["Arn"] == ADMIN_ARN


def test_the_aws_cli_assumes_a_role(srv: ServerProcess, iam: Any, tmp_path: Path) -> None:
    arn = role(iam, trust(ADMIN_ARN))
    result = aws_cli(srv, tmp_path, "sts", "assume-role", "--role-arn", arn, "--role-session-name", "cli")  # fmt: skip
    assert result["AssumedRoleUser"]["Arn"].endswith("/cli")
    assert result["Credentials"]["AccessKeyId"].startswith("ASIA")
