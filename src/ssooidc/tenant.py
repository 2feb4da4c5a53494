"""The declarative tenant file (``--config tenant.yaml``): AWS's own member names, checked by the
same service-model checks as the APIs, applied idempotently and all-or-nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection

from ssooidc.errors import AwsError, Validation
from ssooidc.http.protocols.shapes import Validator, operation_model
from ssooidc.services import applications as apps
from ssooidc.services import iam, identity_groups, identity_store, passwords, resource_tags
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import Instance, load_instance
from ssooidc.store.engine import Store

SECTIONS = {
    "iam": ("Users", "Roles"),
    "identitystore": ("Users", "Groups"),
    "ssoadmin": ("TrustedTokenIssuers", "Applications"),
}
GRANT_TYPES = set(apps.GRANT_TYPES)
PASSWORD_MEMBERS = ("Password", "PasswordHash")


class TenantError(ValueError):
    """A tenant file that cannot be applied: the key path and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@contextmanager
def at(path: str) -> Iterator[None]:
    """Report any refusal below as a TenantError at ``path``."""
    try:
        yield
    except TenantError:
        raise
    except AwsError as exc:
        raise TenantError(path, exc.description) from None


def _check(
    service: str,
    operation: str,
    obj: Mapping[str, Any],
    path: str,
    *,
    extra: set[str],
    skip: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Members known to the operation's input shape pass its model checks; others must be in ``extra``."""
    if not isinstance(obj, Mapping):
        raise TenantError(path, "must be a mapping")
    shape = operation_model(service, operation).input_shape
    validator = Validator(Validation, constraints=True)
    for key, value in obj.items():
        if key in extra:
            continue
        if key not in shape.members or key in skip:
            raise TenantError(f"{path}.{key}", "unknown member")
        try:
            validator.validate(shape.members[key], value)
        except Validation as exc:
            raise TenantError(f"{path}.{key}", exc.description) from None


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TenantError(path, "must be a list")
    return value


def load_file(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TenantError(str(path), f"cannot be read as YAML: {exc}") from None
    return validate_document(document or {})


def validate_document(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise TenantError("(top)", "must be a mapping of iam, identitystore and ssoadmin")
    for section, value in document.items():
        if section not in SECTIONS:
            raise TenantError(section, "unknown section (iam, identitystore, ssoadmin)")
        if value is None:
            continue
        if not isinstance(value, dict):
            raise TenantError(section, "must be a mapping")
        for key in value:
            if key not in SECTIONS[section]:
                raise TenantError(
                    f"{section}.{key}", f"unknown member ({', '.join(SECTIONS[section])})"
                )
    return document


def apply(
    store: Store, box: SecretBox, document: Mapping[str, Any], *, region: str, development: bool
) -> None:
    """Apply a tenant document in one transaction: all of it or nothing."""
    validate_document(document)
    with store.write_sync() as conn:
        instance = load_instance(conn, region)
        assert instance is not None, "bootstrap first"
        Applier(conn, box, instance, development, time.time()).apply(document)


class Applier:
    def __init__(
        self, conn: Connection, box: SecretBox, instance: Instance, development: bool, now: float
    ) -> None:
        self.conn = conn
        self.box = box
        self.instance = instance
        self.development = development
        self.now = now

    def apply(self, document: Mapping[str, Any]) -> None:
        section = document.get("iam") or {}
        for i, user in enumerate(_list(section.get("Users"), "iam.Users")):
            self.iam_user(user, f"iam.Users[{i}]")
        for i, role in enumerate(_list(section.get("Roles"), "iam.Roles")):
            self.iam_role(role, f"iam.Roles[{i}]")
        section = document.get("identitystore") or {}
        for i, user in enumerate(_list(section.get("Users"), "identitystore.Users")):
            self.identity_user(user, f"identitystore.Users[{i}]")
        for i, group in enumerate(_list(section.get("Groups"), "identitystore.Groups")):
            self.identity_group(group, f"identitystore.Groups[{i}]")
        section = document.get("ssoadmin") or {}
        for i, issuer in enumerate(
            _list(section.get("TrustedTokenIssuers"), "ssoadmin.TrustedTokenIssuers")
        ):
            self.trusted_issuer(issuer, f"ssoadmin.TrustedTokenIssuers[{i}]")
        applications = _list(section.get("Applications"), "ssoadmin.Applications")
        arns = [
            self.application(a, f"ssoadmin.Applications[{i}]") for i, a in enumerate(applications)
        ]
        # Second pass: everything that may name another application.
        for i, (app, arn) in enumerate(zip(applications, arns, strict=True)):
            self.application_details(app, arn, f"ssoadmin.Applications[{i}]")

    # -- iam ------------------------------------------------------------------------------

    def iam_user(self, user: Any, path: str) -> None:
        _check("iam", "CreateUser", user, path, extra={"AccessKeys", "Policies"})
        name = user.get("UserName")
        if not isinstance(name, str):
            raise TenantError(f"{path}.UserName", "is required")
        with at(path):
            arn = iam.find_principal(self.conn, "user", name) or iam.create_principal(
                self.conn,
                kind="user",
                account_id=self.instance.account_id,
                name=name,
                now=self.now,
                path=user.get("Path", "/"),
                tags=_tags(user.get("Tags")),
            )
        self.policies(arn, user.get("Policies"), f"{path}.Policies", "PutUserPolicy")
        for j, key in enumerate(_list(user.get("AccessKeys"), f"{path}.AccessKeys")):
            where = f"{path}.AccessKeys[{j}]"
            if not isinstance(key, dict) or set(key) != {"AccessKeyId", "SecretAccessKey"}:
                raise TenantError(where, "takes AccessKeyId and SecretAccessKey")
            key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
            if not (isinstance(key_id, str) and 16 <= len(key_id) <= 128 and key_id.isalnum()):
                raise TenantError(f"{where}.AccessKeyId", "must be 16 to 128 letters and digits")
            if not (isinstance(secret, str) and len(secret) >= 16):
                raise TenantError(f"{where}.SecretAccessKey", "must be at least 16 characters")
            owner = iam.access_key_owner(self.conn, key_id)
            if owner is None:
                iam.create_access_key(
                    self.conn, self.box, arn, self.now, pair=iam.AccessKeyPair(key_id, secret)
                )
            elif owner != arn:
                raise TenantError(f"{where}.AccessKeyId", "belongs to another principal")

    def iam_role(self, role: Any, path: str) -> None:
        _check("iam", "CreateRole", role, path, extra={"Policies", "AssumeRolePolicyDocument"})
        name = role.get("RoleName")
        if not isinstance(name, str):
            raise TenantError(f"{path}.RoleName", "is required")
        trust = role.get("AssumeRolePolicyDocument")
        if not isinstance(trust, dict):
            raise TenantError(f"{path}.AssumeRolePolicyDocument", "must be a policy mapping")
        with at(f"{path}.AssumeRolePolicyDocument"):
            arn = iam.find_principal(self.conn, "role", name) or iam.create_principal(
                self.conn,
                kind="role",
                account_id=self.instance.account_id,
                name=name,
                now=self.now,
                path=role.get("Path", "/"),
                assume_role_policy=trust,
                tags=_tags(role.get("Tags")),
                max_session_duration=role.get("MaxSessionDuration"),
            )
        self.policies(arn, role.get("Policies"), f"{path}.Policies", "PutRolePolicy")

    def policies(self, arn: str, policies: Any, path: str, operation: str) -> None:
        for j, policy in enumerate(_list(policies, path)):
            where = f"{path}[{j}]"
            if not isinstance(policy, dict) or set(policy) != {"PolicyName", "PolicyDocument"}:
                raise TenantError(where, "takes PolicyName and PolicyDocument")
            if not isinstance(policy["PolicyDocument"], dict):
                raise TenantError(f"{where}.PolicyDocument", "must be a policy mapping")
            _check("iam", operation, {"PolicyName": policy["PolicyName"]}, where, extra=set())
            with at(f"{where}.PolicyDocument"):
                iam.put_policy(self.conn, arn, policy["PolicyName"], policy["PolicyDocument"])

    # -- identity store -------------------------------------------------------------------

    def identity_user(self, user: Any, path: str) -> None:
        _check(
            "identitystore",
            "CreateUser",
            user,
            path,
            extra={"UserStatus", "Password", "PasswordHash"},
            skip={"IdentityStoreId"},
        )
        try:
            password_hash = passwords.from_document(user)
        except passwords.PasswordError as exc:
            raise TenantError(f"{path}.{exc.member}", exc.reason) from None
        user_doc, user = user, {k: v for k, v in user.items() if k not in PASSWORD_MEMBERS}
        name = user.get("UserName")
        if not isinstance(name, str) or not name:
            raise TenantError(f"{path}.UserName", "is required")
        if user.get("UserStatus", "ENABLED") not in ("ENABLED", "DISABLED"):
            raise TenantError(f"{path}.UserStatus", "must be ENABLED or DISABLED")
        store_id = self.instance.identity_store_id
        with at(path):
            existing = identity_store.find_user_by_name(self.conn, store_id, name)
            if existing is None:
                existing = identity_store.create_user(self.conn, store_id, dict(user), self.now)
            else:
                identity_store.replace_user(self.conn, existing, dict(user), self.now)
            if password_hash is not None and not self.same_password(existing, user_doc):
                passwords.set_password_hash(self.conn, existing, password_hash)

    def same_password(self, user_id: str, user: Mapping[str, Any]) -> bool:
        """A plain ``Password`` that the stored hash already verifies is left alone, so that
        applying a file twice changes nothing the second time."""
        current = passwords.password_hash_of(self.conn, user_id)
        if "PasswordHash" in user:
            return current == str(user["PasswordHash"])
        return current is not None and passwords.verify(current, user["Password"])

    def identity_group(self, group: Any, path: str) -> None:
        _check(
            "identitystore", "CreateGroup", group, path, extra={"Members"}, skip={"IdentityStoreId"}
        )
        name = group.get("DisplayName")
        if not isinstance(name, str) or not name:
            raise TenantError(f"{path}.DisplayName", "is required")
        store_id = self.instance.identity_store_id
        with at(path):
            group_id = identity_groups.find_group_by_name(
                self.conn, store_id, name
            ) or identity_groups.create_group(
                self.conn, store_id, {k: v for k, v in group.items() if k != "Members"}, self.now
            )
        for j, member in enumerate(_list(group.get("Members"), f"{path}.Members")):
            user_id = identity_store.find_user_by_name(self.conn, store_id, str(member))
            if user_id is None:
                raise TenantError(f"{path}.Members[{j}]", f"no identity-store user named {member}")
            identity_groups.add_membership(self.conn, group_id, user_id, now=self.now)

    # -- sso-admin ------------------------------------------------------------------------

    def trusted_issuer(self, issuer: Any, path: str) -> None:
        _check(
            "sso-admin",
            "CreateTrustedTokenIssuer",
            issuer,
            path,
            extra=set(),
            skip={"InstanceArn", "ClientToken"},
        )
        name = issuer.get("Name")
        if not isinstance(name, str):
            raise TenantError(f"{path}.Name", "is required")
        config = issuer.get("TrustedTokenIssuerConfiguration")
        with at(f"{path}.TrustedTokenIssuerConfiguration"):
            arn = apps.find_trusted_token_issuer(self.conn, name)
            if arn is None:
                arn = apps.create_trusted_token_issuer(
                    self.conn,
                    self.instance,
                    name=name,
                    issuer_type=issuer.get("TrustedTokenIssuerType", ""),
                    configuration=config,
                    development=self.development,
                    now=self.now,
                )
            else:
                apps.update_trusted_token_issuer(
                    self.conn, arn, configuration=config, development=self.development
                )
        self.tags(arn, issuer, path)

    def application(self, app: Any, path: str) -> str:
        _check(
            "sso-admin",
            "CreateApplication",
            app,
            path,
            extra={
                "Grants",
                "AuthenticationMethods",
                "AccessScopes",
                "AssignmentRequired",
                "Assignments",
            },
            skip={"InstanceArn", "ClientToken"},
        )
        name = app.get("Name")
        if not isinstance(name, str):
            raise TenantError(f"{path}.Name", "is required")
        with at(path):
            arn = apps.find_application(self.conn, name)
            if arn is None:
                arn = apps.create_application(
                    self.conn,
                    self.instance,
                    name=name,
                    now=self.now,
                    description=app.get("Description"),
                    status=app.get("Status", "ENABLED"),
                    provider_arn=app.get("ApplicationProviderArn", apps.CUSTOM_PROVIDER),
                    portal_options=app.get("PortalOptions"),
                )
            else:
                apps.update_application(
                    self.conn,
                    arn,
                    description=app.get("Description"),
                    status=app.get("Status", "ENABLED"),
                )
        self.tags(arn, app, path)
        return arn

    def tags(self, arn: str | None, obj: Mapping[str, Any], path: str) -> None:
        """Make a resource's tags exactly those of the file, when the file gives ``Tags``."""
        if arn is None or "Tags" not in obj:
            return
        wanted = _list(obj["Tags"], f"{path}.Tags")
        with at(f"{path}.Tags"):
            current = {tag["Key"] for tag in resource_tags.list_tags(self.conn, arn)}
            keys = {str(tag["Key"]) for tag in wanted}
            if current - keys:
                resource_tags.untag_resource(self.conn, arn, sorted(current - keys))
            resource_tags.tag_resource(self.conn, arn, wanted)

    def application_details(self, app: Mapping[str, Any], arn: str, path: str) -> None:
        grants = app.get("Grants") or {}
        if not isinstance(grants, dict):
            raise TenantError(f"{path}.Grants", "must be a mapping keyed by grant type")
        grant_shape = operation_model("sso-admin", "PutApplicationGrant").input_shape.members[
            "Grant"
        ]
        for grant_type, grant in grants.items():
            where = f"{path}.Grants.{grant_type}"
            if grant_type not in GRANT_TYPES:
                raise TenantError(
                    where, f"unknown grant type (one of {', '.join(sorted(GRANT_TYPES))})"
                )
            grant = self.resolve_grant(grant, where)
            try:
                Validator(Validation, constraints=True).validate(grant_shape, grant)
            except Validation as exc:
                raise TenantError(where, exc.description) from None
            with at(where):
                apps.put_grant(self.conn, arn, grant_type, grant)
        methods = app.get("AuthenticationMethods") or {}
        if not isinstance(methods, dict):
            raise TenantError(
                f"{path}.AuthenticationMethods", "must be a mapping keyed by method type"
            )
        for method_type, method in methods.items():
            where = f"{path}.AuthenticationMethods.{method_type}"
            if not isinstance(method, dict):
                raise TenantError(where, "must be a mapping")
            with at(where):
                apps.put_authentication_method(self.conn, arn, method_type, method)
        for j, scope in enumerate(_list(app.get("AccessScopes"), f"{path}.AccessScopes")):
            where = f"{path}.AccessScopes[{j}]"
            if not isinstance(scope, dict) or not set(scope) <= {"Scope", "AuthorizedTargets"}:
                raise TenantError(where, "takes Scope and AuthorizedTargets")
            targets = [
                self.application_ref(x, f"{where}.AuthorizedTargets[{k}]")
                for k, x in enumerate(
                    _list(scope.get("AuthorizedTargets"), f"{where}.AuthorizedTargets")
                )
            ]
            name = scope.get("Scope")
            if not isinstance(name, str):
                raise TenantError(f"{where}.Scope", "is required")
            with at(where):
                apps.put_access_scope(self.conn, self.instance, arn, name, targets)
        if "AssignmentRequired" in app:
            if not isinstance(app["AssignmentRequired"], bool):
                raise TenantError(f"{path}.AssignmentRequired", "must be true or false")
            apps.put_assignment_configuration(self.conn, arn, app["AssignmentRequired"])
        for j, assignment in enumerate(_list(app.get("Assignments"), f"{path}.Assignments")):
            where = f"{path}.Assignments[{j}]"
            if not isinstance(assignment, dict) or set(assignment) != {
                "PrincipalType",
                "Principal",
            }:
                raise TenantError(
                    where, "takes PrincipalType (USER or GROUP) and Principal (a name)"
                )
            kind, name = assignment["PrincipalType"], str(assignment["Principal"])
            store_id = self.instance.identity_store_id
            if kind == "USER":
                principal_id = identity_store.find_user_by_name(self.conn, store_id, name)
            elif kind == "GROUP":
                principal_id = identity_groups.find_group_by_name(self.conn, store_id, name)
            else:
                raise TenantError(f"{where}.PrincipalType", "must be USER or GROUP")
            if principal_id is None:
                raise TenantError(f"{where}.Principal", f"no {kind.lower()} named {name}")
            with at(where):
                apps.create_assignment(self.conn, arn, kind, principal_id)

    def resolve_grant(self, grant: Any, path: str) -> dict[str, Any]:
        """Replace ``TrustedTokenIssuer: <name>`` with ``TrustedTokenIssuerArn``."""
        if not isinstance(grant, dict):
            raise TenantError(path, "must be a mapping")
        jwt = grant.get("JwtBearer")
        if not isinstance(jwt, dict):
            return grant
        issuers = []
        for k, entry in enumerate(
            _list(jwt.get("AuthorizedTokenIssuers"), f"{path}.JwtBearer.AuthorizedTokenIssuers")
        ):
            where = f"{path}.JwtBearer.AuthorizedTokenIssuers[{k}]"
            if not isinstance(entry, dict):
                raise TenantError(where, "must be a mapping")
            entry = dict(entry)
            if "TrustedTokenIssuer" in entry:
                name = entry.pop("TrustedTokenIssuer")
                issuer_arn = apps.find_trusted_token_issuer(self.conn, str(name))
                if issuer_arn is None:
                    raise TenantError(
                        f"{where}.TrustedTokenIssuer", f"no trusted token issuer named {name}"
                    )
                entry["TrustedTokenIssuerArn"] = issuer_arn
            issuers.append(entry)
        return {**grant, "JwtBearer": {**jwt, "AuthorizedTokenIssuers": issuers}}

    def application_ref(self, ref: Any, path: str) -> str:
        """An application named by name or ARN, or the instance ARN."""
        if not isinstance(ref, str):
            raise TenantError(path, "must be an application name or ARN")
        if ref == self.instance.arn or ref.startswith("arn:"):
            return ref
        arn = apps.find_application(self.conn, ref)
        if arn is None:
            raise TenantError(path, f"no application named {ref}")
        return arn


def _tags(tags: Any) -> dict[str, str]:
    if not tags:
        return {}
    return {str(t["Key"]): str(t["Value"]) for t in tags}
