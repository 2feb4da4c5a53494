"""identitystore AttributePaths (SCIM style: ``displayName``, ``name.givenName``,
``emails``, ``aws:identitystore:enterprise.costCenter``) resolved against the service model:
which member a path names, and an AttributeValue in the API's member names.

Attribute names are case-insensitive, as in SCIM (RFC 7643 section 2.1)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape

from ssooidc.errors import Validation
from ssooidc.http.protocols.shapes import Validator, operation_model
from ssooidc.services.identity_rules import (
    ENTERPRISE_ATTRIBUTES,
    ENTERPRISE_EXTENSION,
    Change,
)

SERVICE = "identitystore"


@functools.cache
def user_members() -> Mapping[str, Shape]:
    """The user attributes UpdateUser may set: CreateUser's, and UserStatus [decide]."""
    members = dict(operation_model(SERVICE, "CreateUser").input_shape.members)
    members.pop("IdentityStoreId")
    members.pop("Extensions")
    members["UserStatus"] = operation_model(SERVICE, "DescribeUser").output_shape.members[
        "UserStatus"
    ]
    return members


@functools.cache
def group_members() -> Mapping[str, Shape]:
    """The group attributes UpdateGroup may set: CreateGroup's."""
    members = dict(operation_model(SERVICE, "CreateGroup").input_shape.members)
    members.pop("IdentityStoreId")
    return members


def _match(members: Mapping[str, Shape], name: str) -> str | None:
    lowered = name.lower()
    return next((m for m in members if m.lower() == lowered), None)


def change(
    members: Mapping[str, Shape], operation: Mapping[str, Any], *, extensions: bool
) -> Change:
    """One AttributeOperation as a change of the stored document; an absent or null
    AttributeValue removes the attribute."""
    path = str(operation["AttributePath"])
    value = operation.get("AttributeValue")
    if ":" in path:
        if not extensions:
            raise Validation(f"{path} is not an attribute that can be updated")
        return _extension_path(path), value
    segments = path.split(".")
    first = _match(members, segments[0])
    if first is None:
        raise Validation(f"{path} is not an attribute that can be updated")
    out: list[str | int] = [first]
    shape = members[first]
    for segment in segments[1:]:
        if shape.type_name == "list":
            out.append(0)
            shape = shape.member
        member = _match(shape.members, segment) if shape.type_name == "structure" else None
        if member is None:
            raise Validation(f"{path} is not an attribute that can be updated")
        out.append(member)
        shape = shape.members[member]
    return tuple(out), (None if value is None else member_names(shape, value, path))


def _extension_path(path: str) -> tuple[str | int, ...]:
    head, *rest = path.split(".")
    if head.lower() != ENTERPRISE_EXTENSION:
        raise Validation(f"{head} is not a supported extension (only {ENTERPRISE_EXTENSION})")
    out: list[str | int] = ["Extensions", ENTERPRISE_EXTENSION]
    if rest:
        name = ENTERPRISE_ATTRIBUTES.get(rest[0].lower())
        if name is None or (rest[1:] and (name != "manager" or rest[1:] != ["value"])):
            raise Validation(f"{path} is not an attribute of {ENTERPRISE_EXTENSION}")
        out += [name, *rest[1:]]
    return tuple(out)


def member_names(shape: Shape, value: Any, path: str) -> Any:
    """An AttributeValue with its keys as the model's member names (``givenName`` becomes
    ``GivenName``); null members are dropped."""
    if shape.type_name == "structure" and not shape.metadata.get("document"):
        if not isinstance(value, dict):
            raise Validation(f"the value of {path} must be a JSON object")
        out = {}
        for key, item in value.items():
            member = _match(shape.members, str(key))
            if member is None:
                raise Validation(f"{key} is not an attribute of {path}")
            if item is not None:
                out[member] = member_names(shape.members[member], item, f"{path}.{key}")
        return out
    if shape.type_name == "list":
        if not isinstance(value, list):
            raise Validation(f"the value of {path} must be a JSON array")
        return [member_names(shape.member, item, path) for item in value]
    return value


def check_user(document: Mapping[str, Any], status: object) -> None:
    """A user document after UpdateUser's operations, checked as CreateUser checks one."""
    shape = operation_model(SERVICE, "CreateUser").input_shape
    Validator(Validation, constraints=True).validate(
        shape, {**document, "IdentityStoreId": "d-0000000000"}
    )
    if status is None:
        raise Validation("userStatus cannot be removed")
    Validator(Validation, constraints=True).validate(user_members()["UserStatus"], status)


def check_group(document: Mapping[str, Any]) -> None:
    """A group document after UpdateGroup's operations, checked as CreateGroup checks one."""
    shape = operation_model(SERVICE, "CreateGroup").input_shape
    Validator(Validation, constraints=True).validate(
        shape, {**document, "IdentityStoreId": "d-0000000000"}
    )


def creation_document(operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The members of a Create request that describe the new object (unknown members and
    nulls left out)."""
    members = operation_model(SERVICE, operation).input_shape.members
    return {
        k: v for k, v in body.items() if k in members and k != "IdentityStoreId" and v is not None
    }
