"""The identitystore API through a real server, real boto3 and the installed AWS CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlalchemy import select

from ssooidc.services import identity_store
from ssooidc.store import tables
from ssooidc.store.engine import Store
from tests.serverproc import (
    ACCOUNT,
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    NO_RETRY,
    REGION,
    ServerProcess,
)

NOPERM = ("AKIANOPERMTESTKEY001", "noperm-secret-key-0000000001")
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@dataclass
class Identity:
    server: ServerProcess
    client: Any
    store_id: str
    store_arn: str
    db: Store
    unchecked: Any

    def user(self, name: str | None = None, **attributes: Any) -> str:
        """Create a user with the attributes Identity Center requires; return its UserId."""
        name = name or f"user-{uuid.uuid4().hex[:10]}"
        request = {
            "IdentityStoreId": self.store_id,
            "UserName": name,
            "DisplayName": f"{name} display",
            "Name": {"GivenName": "Given", "FamilyName": "Family"},
            **attributes,
        }
        return str(self.client.create_user(**request)["UserId"])

    def group(self, name: str | None = None, **attributes: Any) -> str:
        name = name or f"group-{uuid.uuid4().hex[:10]}"
        created = self.client.create_group(
            IdentityStoreId=self.store_id, DisplayName=name, **attributes
        )
        return str(created["GroupId"])

    def describe(self, user_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.client.describe_user(  # type: ignore[no-any-return]
            IdentityStoreId=self.store_id, UserId=user_id, **kwargs
        )

    def tenant_user_id(self, name: str) -> str:
        with self.db.read() as conn:
            user_id = identity_store.find_user_by_name(conn, self.store_id, name)
        assert user_id is not None
        return user_id

    def assignments(self, principal_id: str) -> list[Any]:
        table = tables.application_assignments
        with self.db.read() as conn:
            return list(conn.execute(select(table).where(table.c.principal_id == principal_id)))


def tenant() -> dict[str, Any]:
    def person(name: str) -> dict[str, Any]:
        return {
            "UserName": name,
            "DisplayName": name.title(),
            "Name": {"GivenName": name.title(), "FamilyName": "Tenant"},
            "Emails": [{"Value": f"{name}@example.com"}],
        }

    return {
        "iam": {
            "Users": [
                {
                    "UserName": "noperm",
                    "AccessKeys": [{"AccessKeyId": NOPERM[0], "SecretAccessKey": NOPERM[1]}],
                }
            ]
        },
        "identitystore": {
            "Users": [person("leaver"), person("stayer")],
            "Groups": [
                {"DisplayName": "leaving-group", "Members": ["stayer"]},
                {"DisplayName": "leaver-team", "Members": ["leaver", "stayer"]},
            ],
        },
        "ssoadmin": {
            "Applications": [
                {
                    "Name": "portal",
                    "AssignmentRequired": True,
                    "Assignments": [
                        {"PrincipalType": "USER", "Principal": "leaver"},
                        {"PrincipalType": "USER", "Principal": "stayer"},
                        {"PrincipalType": "GROUP", "Principal": "leaving-group"},
                    ],
                }
            ]
        },
    }


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Identity]:
    server = ServerProcess(tmp_path_factory.mktemp("identitystore"), tenant=tenant()).start()
    db = Store(server.database_url)
    try:
        client = server.client("identitystore")
        store = client.list_identity_stores()["IdentityStores"][0]
        unchecked = boto3.client(
            "identitystore",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=ADMIN_KEY_ID,
            aws_secret_access_key=ADMIN_SECRET,
            config=NO_RETRY.merge(Config(parameter_validation=False)),
        )
        yield Identity(
            server, client, store["IdentityStoreId"], store["IdentityStoreArn"], db, unchecked
        )
    finally:
        db.dispose()
        server.stop()


def error(call: Any, code: str, **kwargs: Any) -> dict[str, Any]:
    """Call a client method, expect the modelled exception ``code``, return ``e.response``."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response: dict[str, Any] = info.value.response
    assert response["Error"]["Code"] == code, response
    assert type(info.value).__name__ == code
    return response


# -- the identity store ---------------------------------------------------------------------


def test_the_one_identity_store_is_listed_and_described(ids: Identity) -> None:
    stores = ids.client.list_identity_stores(MaxResults=5)["IdentityStores"]
    assert stores == [{"IdentityStoreId": ids.store_id, "IdentityStoreArn": ids.store_arn}]
    assert ids.store_id.startswith("d-") and len(ids.store_id) == 12
    assert ids.store_arn == f"arn:aws:identitystore::{ACCOUNT}:identitystore/{ids.store_id}"
    described = ids.client.describe_identity_store(IdentityStoreId=ids.store_id)
    assert described["IdentityStoreArn"] == ids.store_arn
    assert "NetworkConfiguration" not in described


def test_update_identity_store_replaces_the_network_configuration(ids: Identity) -> None:
    configuration = {"VpceAccessRequired": False, "ApiAllowSourceIps": ["10.0.0.0/8"]}
    updated = ids.client.update_identity_store(
        IdentityStoreId=ids.store_arn, NetworkConfiguration=configuration
    )
    assert updated["IdentityStoreId"] == ids.store_id
    described = ids.client.describe_identity_store(IdentityStoreId=ids.store_id)
    assert described["NetworkConfiguration"] == configuration
    ids.client.update_identity_store(
        IdentityStoreId=ids.store_id, NetworkConfiguration={"VpceAccessRequired": False}
    )
    described = ids.client.describe_identity_store(IdentityStoreId=ids.store_id)
    assert described["NetworkConfiguration"] == {"VpceAccessRequired": False}
    error(
        ids.client.update_identity_store,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        NetworkConfiguration={"VpceAccessRequired": False, "ApiAllowSourceIps": ["not-an-ip"]},
    )


def test_an_unknown_identity_store_is_not_found(ids: Identity) -> None:
    response = error(
        ids.client.list_users, "ResourceNotFoundException", IdentityStoreId="d-0123456789"
    )
    assert response["ResourceType"] == "IDENTITY_STORE"
    assert response["ResourceId"] == "d-0123456789"
    assert "d-0123456789" in response["Error"]["Message"]


def test_a_caller_without_identitystore_permissions_is_denied(ids: Identity) -> None:
    client = ids.server.client("identitystore", *NOPERM)
    response = error(client.list_users, "AccessDeniedException", IdentityStoreId=ids.store_id)
    assert "identitystore:ListUsers" in response["Error"]["Message"]
    error(
        client.create_user,
        "AccessDeniedException",
        IdentityStoreId=ids.store_id,
        UserName="sneaky",
        DisplayName="Sneaky",
        Name={"GivenName": "S", "FamilyName": "N"},
    )
    error(client.describe_identity_store, "AccessDeniedException", IdentityStoreId=ids.store_id)


# -- users ----------------------------------------------------------------------------------


def test_create_user_then_describe_returns_every_attribute(ids: Identity) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    attributes: dict[str, Any] = {
        "NickName": "Full",
        "ProfileUrl": "https://example.com/full",
        "Emails": [{"Value": "full@example.com", "Type": "work", "Primary": True}],
        "Addresses": [{"StreetAddress": "1 Main St", "Locality": "Town", "Primary": True}],
        "PhoneNumbers": [{"Value": "+1 555 0100", "Type": "mobile"}],
        "UserType": "Employee",
        "Title": "Engineer",
        "PreferredLanguage": "en-US",
        "Locale": "en_US",
        "Timezone": "America/New_York",
        "Photos": [{"Value": "https://example.com/p.png", "Primary": True}],
        "Website": "https://full.example.com",
        "Birthdate": "1990-02-28",
        "Roles": [{"Value": "Researcher", "Type": "work"}],
        "Extensions": {"aws:identitystore:enterprise": {"costCenter": "42", "department": "R&D"}},
    }
    name = f"full-{uuid.uuid4().hex[:8]}"
    created = ids.client.create_user(
        IdentityStoreId=ids.store_id,
        UserName=name,
        DisplayName="Full User",
        Name={"GivenName": "Full", "FamilyName": "User", "MiddleName": "M"},
        **attributes,
    )
    user_id = created["UserId"]
    assert created["IdentityStoreId"] == ids.store_id
    assert created["UserArn"] == f"arn:aws:identitystore:::user/{user_id}"
    assert created["Revision"] == "1"
    uuid.UUID(user_id)
    described = ids.describe(user_id)
    assert described["UserName"] == name
    assert described["UserId"] == user_id
    assert described["UserArn"] == created["UserArn"]
    assert described["UserStatus"] == "ENABLED"
    assert described["Revision"] == "1"
    assert described["Name"] == {"GivenName": "Full", "FamilyName": "User", "MiddleName": "M"}
    assert described["CreatedBy"] == ADMIN_ARN == described["UpdatedBy"]
    assert before < described["CreatedAt"] <= described["UpdatedAt"]
    for member, value in attributes.items():
        if member != "Extensions":
            assert described[member] == value, member
    assert "Extensions" not in described
    with_extensions = ids.describe(user_id, Extensions=["aws:identitystore:enterprise"])
    assert with_extensions["Extensions"] == attributes["Extensions"]


def test_ids_may_be_given_as_arns(ids: Identity) -> None:
    user_id = ids.user()
    described = ids.client.describe_user(
        IdentityStoreId=ids.store_arn, UserId=f"arn:aws:identitystore:::user/{user_id}"
    )
    assert described["UserId"] == user_id
    group_id = ids.group()
    group = ids.client.describe_group(
        IdentityStoreId=ids.store_id, GroupId=f"arn:aws:identitystore:::group/{group_id}"
    )
    assert group["GroupId"] == group_id


def test_a_user_name_is_unique(ids: Identity) -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    ids.user(name)
    response = error(
        ids.client.create_user,
        "ConflictException",
        IdentityStoreId=ids.store_id,
        UserName=name,
        DisplayName="Again",
        Name={"GivenName": "A", "FamilyName": "B"},
    )
    assert response["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"


def test_create_user_requires_what_identity_center_requires(ids: Identity) -> None:
    response = error(
        ids.client.create_user,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        UserName=f"bare-{uuid.uuid4().hex[:8]}",
    )
    message = response["Error"]["Message"]
    assert "displayName" in message and "name.givenName" in message
    error(
        ids.client.create_user,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        DisplayName="No Name",
        Name={"GivenName": "N", "FamilyName": "N"},
    )
    for reserved in ("Administrator", "AWSAdministrators"):
        error(
            ids.client.create_user,
            "ValidationException",
            IdentityStoreId=ids.store_id,
            UserName=reserved,
            DisplayName="Reserved",
            Name={"GivenName": "R", "FamilyName": "R"},
        )
        error(
            ids.client.create_group,
            "ValidationException",
            IdentityStoreId=ids.store_id,
            DisplayName=reserved,
        )
    for birthdate in ("1990-02-30", "19900228", "1990-W01-1"):
        error(ids.user, "ValidationException", Birthdate=birthdate)
    error(
        ids.user,
        "ValidationException",
        Extensions={"aws:identitystore:other": {"costCenter": "1"}},
    )
    error(
        ids.user,
        "ValidationException",
        Extensions={"aws:identitystore:enterprise": {"favouriteColour": "blue"}},
    )


@pytest.mark.parametrize(
    ("operation", "request_"),
    [
        ("describe_user", {"IdentityStoreId": "x-0123456789", "UserId": UNKNOWN_ID}),
        ("describe_user", {"IdentityStoreId": "d-0123456789", "UserId": "not-a-user-id"}),
        ("describe_user", {"IdentityStoreId": "d-0123456789", "UserId": "x" * 101}),
        ("list_users", {"IdentityStoreId": "d-0123456789", "MaxResults": 101}),
        ("list_users", {"IdentityStoreId": "d-0123456789", "NextToken": "not a token!"}),
        (
            "create_user",
            {
                "IdentityStoreId": "d-0123456789",
                "UserName": "has space",
                "DisplayName": "D",
                "Name": {"GivenName": "G", "FamilyName": "F"},
            },
        ),
        (
            "create_user",
            {
                "IdentityStoreId": "d-0123456789",
                "UserName": "u" * 129,
                "DisplayName": "D",
                "Name": {"GivenName": "G", "FamilyName": "F"},
            },
        ),
        (
            "create_user",
            {
                "IdentityStoreId": "d-0123456789",
                "UserName": "two-emails",
                "DisplayName": "D",
                "Emails": [{"Value": "a@example.com"}, {"Value": "b@example.com"}],
            },
        ),
        ("create_group", {"IdentityStoreId": "d-0123456789", "DisplayName": "g" * 1025}),
        (
            "get_user_id",
            {
                "IdentityStoreId": "d-0123456789",
                "AlternateIdentifier": {
                    "UniqueAttribute": {"AttributePath": "user name", "AttributeValue": "x"}
                },
            },
        ),
        (
            "describe_user",
            {
                "IdentityStoreId": "d-0123456789",
                "UserId": UNKNOWN_ID,
                "Extensions": ["aws:identitystore:Enterprise"],
            },
        ),
    ],
)
def test_model_patterns_lengths_and_ranges_are_enforced(
    ids: Identity, operation: str, request_: dict[str, Any]
) -> None:
    response = error(getattr(ids.client, operation), "ValidationException", **request_)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_unknown_user_is_not_found_by_type_and_id(ids: Identity) -> None:
    for call in (ids.client.describe_user, ids.client.delete_user):
        response = error(
            call, "ResourceNotFoundException", IdentityStoreId=ids.store_id, UserId=UNKNOWN_ID
        )
        assert response["ResourceType"] == "USER"
        assert response["ResourceId"] == UNKNOWN_ID
    error(
        ids.client.update_user,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        UserId=UNKNOWN_ID,
        Operations=[{"AttributePath": "title", "AttributeValue": "x"}],
    )


def test_update_user_sets_and_removes_attributes_by_path(ids: Identity) -> None:
    user_id = ids.user(NickName="Nick", Title="Old title")
    updated = ids.client.update_user(
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Operations=[
            {"AttributePath": "displayName", "AttributeValue": "New Display"},
            {"AttributePath": "name.givenName", "AttributeValue": "Newgiven"},
            {"AttributePath": "Name.MiddleName", "AttributeValue": "Mid"},
            {"AttributePath": "nickName", "AttributeValue": None},
            {"AttributePath": "title"},
            {
                "AttributePath": "emails",
                "AttributeValue": [{"value": "new@example.com", "type": "work", "primary": True}],
            },
            {
                "AttributePath": "addresses",
                "AttributeValue": [{"streetAddress": "2 High St", "postalCode": "12345"}],
            },
            {"AttributePath": "phoneNumbers.value", "AttributeValue": "+1 555 0101"},
            {"AttributePath": "aws:identitystore:enterprise.costCenter", "AttributeValue": "7"},
            {
                "AttributePath": "aws:identitystore:enterprise.manager",
                "AttributeValue": {"value": UNKNOWN_ID},
            },
        ],
    )
    assert updated["UserId"] == user_id and updated["Revision"] == "2"
    assert updated["UserArn"] == f"arn:aws:identitystore:::user/{user_id}"
    described = ids.describe(user_id, Extensions=["aws:identitystore:enterprise"])
    assert described["DisplayName"] == "New Display"
    assert described["Name"] == {
        "GivenName": "Newgiven",
        "FamilyName": "Family",
        "MiddleName": "Mid",
    }
    assert "NickName" not in described and "Title" not in described
    assert described["Emails"] == [{"Value": "new@example.com", "Type": "work", "Primary": True}]
    assert described["Addresses"] == [{"StreetAddress": "2 High St", "PostalCode": "12345"}]
    assert described["PhoneNumbers"] == [{"Value": "+1 555 0101"}]
    assert described["Extensions"] == {
        "aws:identitystore:enterprise": {"costCenter": "7", "manager": {"value": UNKNOWN_ID}}
    }
    assert described["Revision"] == "2"
    assert described["UpdatedAt"] >= described["CreatedAt"]
    ids.client.update_user(
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Operations=[
            {"AttributePath": "emails"},
            {"AttributePath": "phoneNumbers.value"},
            {"AttributePath": "aws:identitystore:enterprise"},
        ],
    )
    described = ids.describe(user_id, Extensions=["aws:identitystore:enterprise"])
    assert "Emails" not in described and "PhoneNumbers" not in described
    assert "Extensions" not in described
    assert described["Revision"] == "3"


@pytest.mark.parametrize(
    "operation",
    [
        {"AttributePath": "favouriteColour", "AttributeValue": "blue"},
        {"AttributePath": "name.nickname", "AttributeValue": "x"},
        {"AttributePath": "externalIds", "AttributeValue": [{"issuer": "i", "id": "1"}]},
        {"AttributePath": "displayName", "AttributeValue": ""},
        {"AttributePath": "displayName", "AttributeValue": 5},
        {"AttributePath": "displayName"},
        {"AttributePath": "userName"},
        {"AttributePath": "name.familyName"},
        {"AttributePath": "emails", "AttributeValue": [{"value": "a@x"}, {"value": "b@x"}]},
        {"AttributePath": "emails", "AttributeValue": [{"address": "a@example.com"}]},
        {"AttributePath": "emails", "AttributeValue": {"value": "a@example.com"}},
        {"AttributePath": "photos", "AttributeValue": [{"type": "no value"}]},
        {"AttributePath": "userStatus", "AttributeValue": "PAUSED"},
        {"AttributePath": "aws:identitystore:other", "AttributeValue": {"a": "b"}},
        {"AttributePath": "aws:identitystore:enterprise.shoeSize", "AttributeValue": "9"},
        {"AttributePath": "birthdate", "AttributeValue": "yesterday"},
    ],
)
def test_update_user_refuses_what_create_user_would_refuse(
    ids: Identity, operation: dict[str, Any]
) -> None:
    user_id = ids.user()
    error(
        ids.client.update_user,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Operations=[operation],
    )
    assert ids.describe(user_id)["Revision"] == "1"


def test_update_user_name_stays_unique(ids: Identity) -> None:
    taken = f"taken-{uuid.uuid4().hex[:8]}"
    ids.user(taken)
    user_id = ids.user()
    response = error(
        ids.client.update_user,
        "ConflictException",
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Operations=[{"AttributePath": "userName", "AttributeValue": taken}],
    )
    assert response["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"
    renamed = f"renamed-{uuid.uuid4().hex[:8]}"
    ids.client.update_user(
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Operations=[{"AttributePath": "userName", "AttributeValue": renamed}],
    )
    assert ids.describe(user_id)["UserName"] == renamed


def test_a_stale_revision_is_a_conflict(ids: Identity) -> None:
    user_id = ids.user()
    ids.client.update_user(
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Revision="1",
        Operations=[{"AttributePath": "title", "AttributeValue": "First"}],
    )
    response = error(
        ids.client.update_user,
        "ConflictException",
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Revision="1",
        Operations=[{"AttributePath": "title", "AttributeValue": "Second"}],
    )
    assert response["Reason"] == "CONCURRENT_MODIFICATION"
    error(
        ids.client.delete_user,
        "ConflictException",
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Revision="1",
    )
    assert ids.describe(user_id)["Title"] == "First"
    ids.client.delete_user(IdentityStoreId=ids.store_id, UserId=user_id, Revision="2")
    error(ids.describe, "ResourceNotFoundException", user_id=user_id)


def test_user_status_can_be_changed(ids: Identity) -> None:
    user_id = ids.user()
    ids.client.update_user(
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Operations=[{"AttributePath": "userStatus", "AttributeValue": "DISABLED"}],
    )
    assert ids.describe(user_id)["UserStatus"] == "DISABLED"
    with ids.db.read() as conn:
        user = identity_store.get_user(conn, user_id)
    assert user is not None and not user.enabled


def test_get_user_id_by_unique_attribute_or_external_id(ids: Identity) -> None:
    name = f"findme-{uuid.uuid4().hex[:8]}"
    email = f"{name}@Example.com"
    user_id = ids.user(name, Emails=[{"Value": email}])

    def get(path: str, value: Any) -> dict[str, Any]:
        return ids.client.get_user_id(  # type: ignore[no-any-return]
            IdentityStoreId=ids.store_id,
            AlternateIdentifier={
                "UniqueAttribute": {"AttributePath": path, "AttributeValue": value}
            },
        )

    found = get("userName", name)
    assert found == {
        "IdentityStoreId": ids.store_id,
        "UserId": user_id,
        "UserArn": f"arn:aws:identitystore:::user/{user_id}",
        "ResponseMetadata": found["ResponseMetadata"],
    }
    assert get("UserName", name)["UserId"] == user_id
    assert get("emails.value", email.lower())["UserId"] == user_id
    response = error(get, "ResourceNotFoundException", path="userName", value="nobody-here")
    assert response["ResourceType"] == "USER"
    error(get, "ValidationException", path="displayName", value=f"{name} display")
    error(get, "ValidationException", path="userName", value="")
    error(get, "ValidationException", path="userName", value=["a", "list"])
    error(
        ids.client.get_user_id,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        AlternateIdentifier={"ExternalId": {"Issuer": "https://idp.example.com", "Id": "1"}},
    )
    error(
        ids.unchecked.get_user_id,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        AlternateIdentifier={
            "ExternalId": {"Issuer": "https://idp.example.com", "Id": "1"},
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": name},
        },
    )


def test_list_users_pages_past_max_results(ids: Identity) -> None:
    prefix = uuid.uuid4().hex[:6]
    created = [ids.user(f"{prefix}-page-{i}") for i in range(7)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"IdentityStoreId": ids.store_id, "MaxResults": 3}
        if token:
            kwargs["NextToken"] = token
        page = ids.client.list_users(**kwargs)
        assert len(page["Users"]) <= 3
        seen += [u["UserId"] for u in page["Users"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages >= 3
    assert len(seen) == len(set(seen))
    assert set(created) <= set(seen)
    paginated = [
        user["UserId"]
        for page in ids.client.get_paginator("list_users").paginate(
            IdentityStoreId=ids.store_id, PaginationConfig={"PageSize": 2}
        )
        for user in page["Users"]
    ]
    assert paginated == seen
    listed = ids.client.list_users(IdentityStoreId=ids.store_id)["Users"]
    full = next(u for u in listed if u["UserId"] == created[0])
    assert full["UserName"] == f"{prefix}-page-0"
    assert full["Name"] == {"GivenName": "Given", "FamilyName": "Family"}
    assert full["UserArn"] == f"arn:aws:identitystore:::user/{created[0]}"


def test_list_users_filter_matches_the_user_name_exactly(ids: Identity) -> None:
    name = f"filtered-{uuid.uuid4().hex[:8]}"
    user_id = ids.user(name)
    for path in ("UserName", "userName"):
        users = ids.client.list_users(
            IdentityStoreId=ids.store_id,
            Filters=[{"AttributePath": path, "AttributeValue": name}],
        )["Users"]
        assert [u["UserId"] for u in users] == [user_id]
    assert (
        ids.client.list_users(
            IdentityStoreId=ids.store_id,
            Filters=[{"AttributePath": "UserName", "AttributeValue": name.upper()}],
        )["Users"]
        == []
    )
    error(
        ids.client.list_users,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        Filters=[{"AttributePath": "DisplayName", "AttributeValue": name}],
    )


def test_updated_emails_are_what_trusted_issuer_lookups_find(ids: Identity) -> None:
    old, new = f"old-{uuid.uuid4().hex[:8]}@example.com", f"New-{uuid.uuid4().hex[:8]}@Example.com"
    user_id = ids.user(Emails=[{"Value": old}])
    with ids.db.read() as conn:
        assert [
            u.user_id for u in identity_store.find_users_by_attribute(conn, "emails.value", old)
        ] == [user_id]
    ids.client.update_user(
        IdentityStoreId=ids.store_id,
        UserId=user_id,
        Operations=[{"AttributePath": "emails", "AttributeValue": [{"value": new}]}],
    )
    with ids.db.read() as conn:
        by_new = identity_store.find_users_by_attribute(conn, "emails.value", new.lower())
        by_old = identity_store.find_users_by_attribute(conn, "emails.value", old)
    assert [u.user_id for u in by_new] == [user_id]
    assert by_old == []


def test_delete_user_removes_its_memberships_and_assignments(ids: Identity) -> None:
    leaver = ids.tenant_user_id("leaver")
    team = ids.client.get_group_id(
        IdentityStoreId=ids.store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "leaver-team"}
        },
    )["GroupId"]
    members = ids.client.list_group_memberships(IdentityStoreId=ids.store_id, GroupId=team)
    assert leaver in [m["MemberId"]["UserId"] for m in members["GroupMemberships"]]
    assert len(ids.assignments(leaver)) == 1
    ids.client.delete_user(IdentityStoreId=ids.store_id, UserId=leaver)
    members = ids.client.list_group_memberships(IdentityStoreId=ids.store_id, GroupId=team)
    assert leaver not in [m["MemberId"]["UserId"] for m in members["GroupMemberships"]]
    assert len(members["GroupMemberships"]) == 1
    assert ids.assignments(leaver) == []
    assert len(ids.assignments(ids.tenant_user_id("stayer"))) == 1
    error(ids.describe, "ResourceNotFoundException", user_id=leaver)
    error(
        ids.client.list_group_memberships_for_member,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        MemberId={"UserId": leaver},
    )


# -- groups ---------------------------------------------------------------------------------


def test_group_lifecycle(ids: Identity) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    created = ids.client.create_group(
        IdentityStoreId=ids.store_id, DisplayName=name, Description="The team"
    )
    group_id = created["GroupId"]
    assert created["GroupArn"] == f"arn:aws:identitystore:::group/{group_id}"
    assert created["Revision"] == "1"
    described = ids.client.describe_group(IdentityStoreId=ids.store_id, GroupId=group_id)
    assert described["DisplayName"] == name
    assert described["Description"] == "The team"
    assert described["CreatedBy"] == ADMIN_ARN
    assert described["CreatedAt"] <= described["UpdatedAt"]
    found = ids.client.get_group_id(
        IdentityStoreId=ids.store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": name}
        },
    )
    assert found["GroupId"] == group_id and found["GroupArn"] == created["GroupArn"]
    renamed = f"{name}-renamed"
    updated = ids.client.update_group(
        IdentityStoreId=ids.store_id,
        GroupId=group_id,
        Revision="1",
        Operations=[
            {"AttributePath": "displayName", "AttributeValue": renamed},
            {"AttributePath": "description"},
        ],
    )
    assert updated["Revision"] == "2"
    described = ids.client.describe_group(IdentityStoreId=ids.store_id, GroupId=group_id)
    assert described["DisplayName"] == renamed and "Description" not in described
    listed = ids.client.list_groups(
        IdentityStoreId=ids.store_id,
        Filters=[{"AttributePath": "DisplayName", "AttributeValue": renamed}],
    )["Groups"]
    assert [g["GroupId"] for g in listed] == [group_id]
    ids.client.delete_group(IdentityStoreId=ids.store_id, GroupId=group_id)
    response = error(
        ids.client.describe_group,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        GroupId=group_id,
    )
    assert response["ResourceType"] == "GROUP" and response["ResourceId"] == group_id


def test_group_names_are_unique_and_updates_are_checked(ids: Identity) -> None:
    name = f"unique-{uuid.uuid4().hex[:8]}"
    ids.group(name)
    response = error(
        ids.client.create_group, "ConflictException", IdentityStoreId=ids.store_id, DisplayName=name
    )
    assert response["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"
    other = ids.group()
    for operations, code in (
        ([{"AttributePath": "displayName", "AttributeValue": name}], "ConflictException"),
        ([{"AttributePath": "displayName"}], "ValidationException"),
        ([{"AttributePath": "title", "AttributeValue": "x"}], "ValidationException"),
        ([{"AttributePath": "description", "AttributeValue": ""}], "ValidationException"),
        (
            [{"AttributePath": "aws:identitystore:enterprise", "AttributeValue": {}}],
            "ValidationException",
        ),
    ):
        error(
            ids.client.update_group,
            code,
            IdentityStoreId=ids.store_id,
            GroupId=other,
            Operations=operations,
        )
    error(
        ids.client.update_group,
        "ConflictException",
        IdentityStoreId=ids.store_id,
        GroupId=other,
        Revision="5",
        Operations=[{"AttributePath": "description", "AttributeValue": "x"}],
    )
    error(
        ids.client.get_group_id,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": name}
        },
    )
    error(
        ids.client.get_group_id,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "no-such"}
        },
    )
    error(
        ids.client.list_groups,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        Filters=[{"AttributePath": "UserName", "AttributeValue": name}],
    )


def test_list_groups_pages_past_max_results(ids: Identity) -> None:
    prefix = uuid.uuid4().hex[:6]
    created = [ids.group(f"{prefix}-g{i}") for i in range(5)]
    paginated = [
        g["GroupId"]
        for page in ids.client.get_paginator("list_groups").paginate(
            IdentityStoreId=ids.store_id, PaginationConfig={"PageSize": 2}
        )
        for g in page["Groups"]
    ]
    assert set(created) <= set(paginated)
    assert len(paginated) == len(set(paginated))
    first = ids.client.list_groups(IdentityStoreId=ids.store_id, MaxResults=2)
    assert len(first["Groups"]) == 2 and first["NextToken"]


def test_delete_group_removes_its_memberships_and_assignments(ids: Identity) -> None:
    group_id = ids.client.get_group_id(
        IdentityStoreId=ids.store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "leaving-group"}
        },
    )["GroupId"]
    stayer = ids.tenant_user_id("stayer")
    assert len(ids.assignments(group_id)) == 1
    ids.client.delete_group(IdentityStoreId=ids.store_id, GroupId=group_id)
    assert ids.assignments(group_id) == []
    memberships = ids.client.list_group_memberships_for_member(
        IdentityStoreId=ids.store_id, MemberId={"UserId": stayer}
    )["GroupMemberships"]
    assert group_id not in [m["GroupId"] for m in memberships]
    error(
        ids.client.delete_group,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        GroupId=group_id,
    )


# -- memberships ----------------------------------------------------------------------------


def test_membership_lifecycle(ids: Identity) -> None:
    user_id, group_id, other_group = ids.user(), ids.group(), ids.group()
    created = ids.client.create_group_membership(
        IdentityStoreId=ids.store_id, GroupId=group_id, MemberId={"UserId": user_id}
    )
    membership_id = created["MembershipId"]
    assert created["MembershipArn"] == f"arn:aws:identitystore:::membership/{membership_id}"
    assert created["IdentityStoreId"] == ids.store_id
    response = error(
        ids.client.create_group_membership,
        "ConflictException",
        IdentityStoreId=ids.store_id,
        GroupId=group_id,
        MemberId={"UserId": user_id},
    )
    assert response["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"
    described = ids.client.describe_group_membership(
        IdentityStoreId=ids.store_id, MembershipId=membership_id
    )
    assert described["GroupId"] == group_id
    assert described["MemberId"] == {"UserId": user_id}
    assert described["MembershipArn"] == created["MembershipArn"]
    assert described["CreatedBy"] == ADMIN_ARN
    assert isinstance(described["CreatedAt"], dt.datetime)
    found = ids.client.get_group_membership_id(
        IdentityStoreId=ids.store_id, GroupId=group_id, MemberId={"UserId": user_id}
    )
    assert found["MembershipId"] == membership_id
    listed = ids.client.list_group_memberships(IdentityStoreId=ids.store_id, GroupId=group_id)
    assert [m["MembershipId"] for m in listed["GroupMemberships"]] == [membership_id]
    for_member = ids.client.list_group_memberships_for_member(
        IdentityStoreId=ids.store_id, MemberId={"UserId": user_id}
    )
    assert [m["GroupId"] for m in for_member["GroupMemberships"]] == [group_id]
    results = ids.client.is_member_in_groups(
        IdentityStoreId=ids.store_id,
        MemberId={"UserId": user_id},
        GroupIds=[group_id, other_group],
    )["Results"]
    assert results == [
        {"GroupId": group_id, "MemberId": {"UserId": user_id}, "MembershipExists": True},
        {"GroupId": other_group, "MemberId": {"UserId": user_id}, "MembershipExists": False},
    ]
    ids.client.delete_group_membership(IdentityStoreId=ids.store_id, MembershipId=membership_id)
    response = error(
        ids.client.describe_group_membership,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        MembershipId=membership_id,
    )
    assert response["ResourceType"] == "GROUP_MEMBERSHIP"
    assert response["ResourceId"] == membership_id
    error(
        ids.client.delete_group_membership,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        MembershipId=membership_id,
    )
    error(
        ids.client.get_group_membership_id,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        GroupId=group_id,
        MemberId={"UserId": user_id},
    )
    results = ids.client.is_member_in_groups(
        IdentityStoreId=ids.store_id, MemberId={"UserId": user_id}, GroupIds=[group_id]
    )["Results"]
    assert results[0]["MembershipExists"] is False


def test_memberships_need_an_existing_group_and_user(ids: Identity) -> None:
    user_id, group_id = ids.user(), ids.group()
    response = error(
        ids.client.create_group_membership,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        GroupId=UNKNOWN_ID,
        MemberId={"UserId": user_id},
    )
    assert response["ResourceType"] == "GROUP"
    response = error(
        ids.client.create_group_membership,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        GroupId=group_id,
        MemberId={"UserId": UNKNOWN_ID},
    )
    assert response["ResourceType"] == "USER"
    error(
        ids.client.list_group_memberships,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        GroupId=UNKNOWN_ID,
    )
    error(
        ids.client.is_member_in_groups,
        "ResourceNotFoundException",
        IdentityStoreId=ids.store_id,
        MemberId={"UserId": user_id},
        GroupIds=[UNKNOWN_ID],
    )
    error(
        ids.unchecked.create_group_membership,
        "ValidationException",
        IdentityStoreId=ids.store_id,
        GroupId=group_id,
        MemberId={},
    )


def test_list_group_memberships_pages_past_max_results(ids: Identity) -> None:
    group_id = ids.group()
    users = [ids.user() for _ in range(5)]
    for user_id in users:
        ids.client.create_group_membership(
            IdentityStoreId=ids.store_id, GroupId=group_id, MemberId={"UserId": user_id}
        )
    first = ids.client.list_group_memberships(
        IdentityStoreId=ids.store_id, GroupId=group_id, MaxResults=2
    )
    assert len(first["GroupMemberships"]) == 2 and first["NextToken"]
    members = [
        m["MemberId"]["UserId"]
        for page in ids.client.get_paginator("list_group_memberships").paginate(
            IdentityStoreId=ids.store_id, GroupId=group_id, PaginationConfig={"PageSize": 2}
        )
        for m in page["GroupMemberships"]
    ]
    assert sorted(members) == sorted(users)


# -- the AWS CLI ----------------------------------------------------------------------------


def aws(ids: Identity, *args: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ADMIN_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.pop("AWS_PROFILE", None)
    cli = Path(sys.executable).with_name("aws")
    output = subprocess.run(
        [
            str(cli),
            "identitystore",
            *args,
            "--endpoint-url",
            ids.server.url,
            "--region",
            REGION,
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert output.returncode == 0, output.stderr
    return json.loads(output.stdout) if output.stdout.strip() else {}


def test_the_aws_cli_lists_users(ids: Identity) -> None:
    user_id = ids.user()
    listed = aws(ids, "list-users", "--identity-store-id", ids.store_id)
    assert user_id in [u["UserId"] for u in listed["Users"]]


def test_the_aws_cli_creates_and_describes_a_group(ids: Identity) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = aws(
        ids,
        "create-group",
        "--identity-store-id",
        ids.store_id,
        "--display-name",
        name,
        "--description",
        "made by the CLI",
    )
    described = aws(
        ids, "describe-group", "--identity-store-id", ids.store_id, "--group-id", created["GroupId"]
    )
    assert described["DisplayName"] == name
    assert described["Description"] == "made by the CLI"


def test_the_aws_cli_finds_a_user_id_by_user_name(ids: Identity) -> None:
    name = f"cli-user-{uuid.uuid4().hex[:8]}"
    user_id = ids.user(name)
    identifier = {"UniqueAttribute": {"AttributePath": "userName", "AttributeValue": name}}
    found = aws(
        ids,
        "get-user-id",
        "--identity-store-id",
        ids.store_id,
        "--alternate-identifier",
        json.dumps(identifier),
    )
    assert found["UserId"] == user_id
