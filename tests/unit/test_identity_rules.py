"""UpdateUser's attribute paths and how their changes apply to a stored user document."""

from __future__ import annotations

from typing import Any

import pytest

from ssooidc.api import attribute_paths as paths
from ssooidc.errors import Validation
from ssooidc.services.identity_rules import apply_changes, check_user_document

USER = {
    "UserName": "alice",
    "DisplayName": "Alice",
    "Name": {"GivenName": "Alice", "FamilyName": "Doe"},
    "Emails": [{"Value": "alice@example.com", "Type": "work"}],
}


def change(path: str, value: Any = None) -> Any:
    operation = {"AttributePath": path}
    if value is not None:
        operation["AttributeValue"] = value
    return paths.change(paths.user_members(), operation, extensions=True)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("displayName", "A", (("DisplayName",), "A")),
        ("DISPLAYNAME", "A", (("DisplayName",), "A")),
        ("name.givenName", "B", (("Name", "GivenName"), "B")),
        ("emails.value", "x@y", (("Emails", 0, "Value"), "x@y")),
        (
            "emails",
            [{"value": "x@y", "primary": True}],
            (("Emails",), [{"Value": "x@y", "Primary": True}]),
        ),
        ("userStatus", "DISABLED", (("UserStatus",), "DISABLED")),
        ("title", None, (("Title",), None)),
        (
            "aws:identitystore:enterprise.costCenter",
            "7",
            (("Extensions", "aws:identitystore:enterprise", "costCenter"), "7"),
        ),
        (
            "aws:identitystore:enterprise.manager.value",
            "u",
            (("Extensions", "aws:identitystore:enterprise", "manager", "value"), "u"),
        ),
    ],
)
def test_paths_name_members_case_insensitively(path: str, value: Any, expected: Any) -> None:
    assert change(path, value) == expected


@pytest.mark.parametrize(
    "path",
    [
        "identityStoreId",
        "externalIds",
        "name.nickName",
        "emails.value.more",
        "aws:identitystore:other",
        "aws:identitystore:enterprise.manager.displayName",
    ],
)
def test_paths_outside_the_user_are_refused(path: str) -> None:
    with pytest.raises(Validation):
        change(path, "x")


def test_group_paths_have_no_extensions() -> None:
    with pytest.raises(Validation):
        paths.change(
            paths.group_members(),
            {"AttributePath": "aws:identitystore:enterprise", "AttributeValue": {}},
            extensions=False,
        )


def test_unknown_keys_in_a_value_are_refused() -> None:
    with pytest.raises(Validation):
        change("emails", [{"address": "x@y"}])


def test_changes_apply_in_order_and_removals_prune_empty_containers() -> None:
    updated = apply_changes(
        USER,
        [
            change("emails.type"),
            change("emails.value"),
            change("name.middleName", "M"),
            change("phoneNumbers.value", "+1 555"),
            change("title", "Boss"),
            change("title"),
        ],
    )
    assert "Emails" not in updated and "Title" not in updated
    assert updated["Name"] == {"GivenName": "Alice", "FamilyName": "Doe", "MiddleName": "M"}
    assert updated["PhoneNumbers"] == [{"Value": "+1 555"}]
    assert USER["Emails"] == [{"Value": "alice@example.com", "Type": "work"}]


def test_a_user_document_keeps_identity_center_requirements() -> None:
    assert check_user_document({**USER, "IdentityStoreId": "d-1", "UserStatus": "ENABLED"}) == USER
    for broken in (
        {**USER, "DisplayName": None},
        {**USER, "Name": {"GivenName": "A"}},
        {**USER, "UserName": "administrator"},
        {**USER, "Birthdate": "2001-02-29"},
        {**USER, "Photos": [{"Value": "a", "Primary": True}, {"Value": "b", "Primary": True}]},
        {**USER, "Extensions": {"aws:identitystore:enterprise": {"manager": "someone"}}},
    ):
        with pytest.raises(Validation):
            check_user_document(broken)
    normalised = check_user_document(
        {**USER, "Extensions": {"aws:identitystore:enterprise": {"COSTCENTER": "1"}}}
    )
    assert normalised["Extensions"] == {"aws:identitystore:enterprise": {"costCenter": "1"}}
