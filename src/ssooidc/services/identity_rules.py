"""The identity store's rules: what a user or group document must hold, how UpdateUser's and
UpdateGroup's changes apply to one, and the errors that name a broken rule."""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from ssooidc.errors import Conflict, ResourceNotFound, Validation

#: Names Identity Center keeps for itself, for users and groups alike (CreateUser, CreateGroup).
RESERVED_NAMES = frozenset({"administrator", "awsadministrators"})
ENTERPRISE_EXTENSION = "aws:identitystore:enterprise"
#: The enterprise extension's attributes (RFC 7643 section 4.3), by their lower-case names.
ENTERPRISE_ATTRIBUTES = {
    name.lower(): name
    for name in (
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
        "manager",
    )
}
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
UNIQUENESS = "UNIQUENESS_CONSTRAINT_VIOLATION"
CONCURRENT_MODIFICATION = "CONCURRENT_MODIFICATION"

#: A change to a document: the path of member names (list positions as ints) and the new
#: value, or None to remove what is there.
Change = tuple[tuple[str | int, ...], Any]


def not_found(resource_type: str, resource_id: str, message: str) -> ResourceNotFound:
    """identitystore's ResourceNotFoundException, naming the resource it looked for."""
    return ResourceNotFound(
        message, extra={"ResourceType": resource_type, "ResourceId": resource_id}
    )


def apply_changes(document: Mapping[str, Any], changes: Sequence[Change]) -> dict[str, Any]:
    """A copy of ``document`` with ``changes`` applied in order; containers left empty by a
    removal are removed too."""
    result = copy.deepcopy(dict(document))
    for path, value in changes:
        _apply(result, path, value)
    return result


def _apply(container: dict[str, Any] | list[Any], path: tuple[str | int, ...], value: Any) -> None:
    key, rest = path[0], path[1:]
    current = _get(container, key)
    if not rest:
        if value is None:
            _remove(container, key)
        else:
            _set(container, key, copy.deepcopy(value))
        return
    if not isinstance(current, dict | list):
        if value is None:
            return
        current = [] if isinstance(rest[0], int) else {}
        _set(container, key, current)
    _apply(current, rest, value)
    if not current:
        _remove(container, key)


def _get(container: dict[str, Any] | list[Any], key: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(str(key))
    index = int(key)
    return container[index] if index < len(container) else None


def _set(container: dict[str, Any] | list[Any], key: str | int, value: Any) -> None:
    if isinstance(container, dict):
        container[str(key)] = value
        return
    index = int(key)
    while len(container) <= index:
        container.append({})
    container[index] = value


def _remove(container: dict[str, Any] | list[Any], key: str | int) -> None:
    if isinstance(container, dict):
        container.pop(str(key), None)
    elif int(key) < len(container):
        del container[int(key)]


# -- documents ------------------------------------------------------------------------------


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise Validation(f"{kind} is required")
    if name.lower() in RESERVED_NAMES:
        raise Validation(f"{name} is a reserved name and cannot be used for users or groups")
    return name


def check_user_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A user document as Identity Center stores it, or ValidationException: UserName,
    DisplayName, Name.GivenName and Name.FamilyName are required [AWS: "When used in IAM
    Identity Center, this parameter is required"], Birthdate is YYYY-MM-DD, one photo at most
    is primary, and aws:identitystore:enterprise is the only extension."""
    doc = {k: v for k, v in document.items() if k not in ("IdentityStoreId", "UserStatus")}
    _check_name("UserName", doc.get("UserName"))
    name: Mapping[str, Any] = doc["Name"] if isinstance(doc.get("Name"), dict) else {}
    missing = [
        attribute
        for attribute, value in (
            ("displayName", doc.get("DisplayName")),
            ("name.givenName", name.get("GivenName")),
            ("name.familyName", name.get("FamilyName")),
        )
        if not value
    ]
    if missing:
        raise Validation(", ".join(f"{a}: The attribute {a} is required" for a in missing))
    birthdate = doc.get("Birthdate")
    if birthdate is not None and not _is_date(birthdate):
        raise Validation(f"Birthdate {birthdate} is not a date in the YYYY-MM-DD format")
    photos = doc.get("Photos") or []
    if sum(1 for p in photos if isinstance(p, dict) and p.get("Primary")) > 1:
        raise Validation("only one photo can be the primary photo")
    if doc.get("Extensions") is not None:
        doc["Extensions"] = {
            name: _enterprise(value) if name == ENTERPRISE_EXTENSION else _unknown(name)
            for name, value in dict(doc["Extensions"]).items()
        }
    return doc


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not DATE.fullmatch(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_extension_names(names: Iterable[str]) -> list[str]:
    """Requested extension names: aws:identitystore:enterprise is the only one."""
    names = list(names)
    for name in names:
        if name != ENTERPRISE_EXTENSION:
            _unknown(name)
    return names


def _unknown(name: str) -> NoReturn:
    raise Validation(f"{name} is not a supported extension (only {ENTERPRISE_EXTENSION})")


def _enterprise(value: object) -> dict[str, Any]:
    """The enterprise extension: an object of RFC 7643 section 4.3's attributes."""
    if not isinstance(value, dict) or not value:
        raise Validation(f"{ENTERPRISE_EXTENSION} must be a non-empty JSON object")
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = ENTERPRISE_ATTRIBUTES.get(str(key).lower())
        if name is None:
            raise Validation(f"{key} is not an attribute of {ENTERPRISE_EXTENSION}")
        if name == "manager":
            if not isinstance(item, dict) or set(item) - {"value"} or not _text(item.get("value")):
                raise Validation(f"{ENTERPRISE_EXTENSION}.manager must be {{'value': <user id>}}")
            out[name] = {"value": item["value"]}
        elif _text(item):
            out[name] = item
        else:
            raise Validation(
                f"{ENTERPRISE_EXTENSION}.{name} must be a string of 1 to 1024 characters"
            )
    return out


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1024


def check_group_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A group document as Identity Center stores it, or ValidationException."""
    doc = {k: v for k, v in document.items() if k != "IdentityStoreId"}
    _check_name("DisplayName", doc.get("DisplayName"))
    return doc


def has_external_id(document: Mapping[str, Any], issuer: str, id_: str) -> bool:
    """Whether a user or group document holds the external id (Issuer, Id)."""
    return any(
        isinstance(e, dict) and e.get("Issuer") == issuer and e.get("Id") == id_
        for e in document.get("ExternalIds") or []
    )


def check_revision(current: int, expected: str | None, what: str) -> None:
    """Revision: the write applies only to the revision the caller last saw [AWS]."""
    if expected is not None and expected != str(current):
        raise Conflict(
            f"{what} is at revision {current}, not {expected}", reason=CONCURRENT_MODIFICATION
        )
