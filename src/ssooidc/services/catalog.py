"""An immutable snapshot of the control plane (applications, issuers, IAM), rebuilt whenever
the store's generation moves, so the token path reads configuration without queries."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from ssooidc.services import iam_policy
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import Instance, load_instance, read_generation
from ssooidc.services.keys import ID_TOKEN, KeyInfo, key_schedule
from ssooidc.services.principals import Caller
from ssooidc.store import tables as t

#: identity-store lookups a snapshot keeps (all are dropped when there are this many)
USER_LOOKUPS = 50_000


@dataclass(frozen=True)
class Application:
    arn: str
    name: str
    client_id: str
    provider_arn: str
    status: str
    description: str | None
    assignment_required: bool
    created_at: float
    grants: Mapping[str, Mapping[str, Any]]
    auth_methods: Mapping[str, Mapping[str, Any]]
    actor_policy: iam_policy.Policy | None
    access_scopes: Mapping[str, tuple[str, ...]]
    assigned_users: frozenset[str]
    assigned_groups: frozenset[str]
    portal_options: Mapping[str, Any] | None = None

    def all_scopes(self) -> frozenset[str]:
        from ssooidc.services.applications import DEFAULT_SCOPES

        return frozenset(self.access_scopes) | frozenset(DEFAULT_SCOPES)


@dataclass(frozen=True)
class TrustedIssuer:
    arn: str
    name: str
    issuer_type: str
    configuration: Mapping[str, Any]
    created_at: float

    @property
    def oidc(self) -> Mapping[str, Any]:
        return self.configuration["OidcJwtConfiguration"]  # type: ignore[no-any-return]

    @property
    def issuer_url(self) -> str:
        return str(self.oidc["IssuerUrl"])


@dataclass(frozen=True)
class Principal:
    arn: str
    kind: str
    name: str
    principal_id: str
    account_id: str
    tags: Mapping[str, str]
    policies: tuple[iam_policy.Policy, ...]
    assume_role_policy: iam_policy.Policy | None


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    principal_arn: str
    secret: str
    active: bool


@dataclass(frozen=True)
class Catalog:
    generation: int
    instance: Instance
    applications: Mapping[str, Application]
    issuers: Mapping[str, TrustedIssuer]
    principals: Mapping[str, Principal]
    access_keys: Mapping[str, AccessKey]
    by_client_id: Mapping[str, Application] = field(default_factory=dict)
    #: the ID-token keys' schedule: which key signs when (a rotation moves the generation)
    id_token_keys: tuple[KeyInfo, ...] = ()
    #: identity-store lookups read while this snapshot is current: (attribute path, value) to
    #: the enabled users with it, as rows of ``records.USER_COLUMNS``. Every identity-store
    #: change moves the generation, and every write checks it, so an entry is never used
    #: once it is out of date.
    user_lookups: dict[tuple[str, str], tuple[tuple[Any, ...], ...]] = field(
        default_factory=dict, compare=False
    )

    def remember_users(
        self, path: str, value: str, rows: list[tuple[Any, ...]] | tuple[tuple[Any, ...], ...]
    ) -> None:
        if len(self.user_lookups) >= USER_LOOKUPS:
            self.user_lookups.clear()
        self.user_lookups[(path, value)] = tuple(rows)

    def principal_of(self, caller: Caller) -> Principal | None:
        """The IAM user, or for a role session the role, whose policies apply to ``caller``."""
        return self.principals.get(caller.role_arn or caller.principal_arn)


def load_catalog(conn: Connection, box: SecretBox, region: str) -> Catalog:
    generation = read_generation(conn)
    instance = load_instance(conn, region)
    if instance is None:
        raise RuntimeError("the store has no instance: run the bootstrap first")
    grants: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in conn.execute(select(t.application_grants)):
        grants[row.application_arn][row.grant_type] = row.grant
    methods: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in conn.execute(select(t.application_auth_methods)):
        methods[row.application_arn][row.method_type] = row.method
    scopes: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for row in conn.execute(select(t.application_scopes)):
        scopes[row.application_arn][row.scope] = tuple(row.authorized_targets or ())
    users: dict[str, set[str]] = defaultdict(set)
    groups: dict[str, set[str]] = defaultdict(set)
    for row in conn.execute(select(t.application_assignments)):
        (users if row.principal_type == "USER" else groups)[row.application_arn].add(
            row.principal_id
        )
    applications: dict[str, Application] = {}
    for row in conn.execute(select(t.applications)):
        iam = methods[row.arn].get("IAM")
        policy_doc = iam.get("Iam", {}).get("ActorPolicy") if iam else None
        applications[row.arn] = Application(
            arn=row.arn,
            name=row.name,
            client_id=row.client_id,
            provider_arn=row.provider_arn,
            status=row.status,
            description=row.description,
            assignment_required=bool(row.assignment_required),
            created_at=row.created_at,
            grants=grants[row.arn],
            auth_methods=methods[row.arn],
            actor_policy=(
                iam_policy.parse_policy(policy_doc, kind="resource")
                if policy_doc is not None
                else None
            ),
            access_scopes=scopes[row.arn],
            assigned_users=frozenset(users[row.arn]),
            assigned_groups=frozenset(groups[row.arn]),
            portal_options=row.portal_options,
        )
    issuers = {
        row.arn: TrustedIssuer(
            row.arn, row.name, row.issuer_type, row.configuration, row.created_at
        )
        for row in conn.execute(select(t.trusted_token_issuers))
    }
    policies: dict[str, list[iam_policy.Policy]] = defaultdict(list)
    for row in conn.execute(select(t.iam_policies)):
        policies[row.principal_arn].append(iam_policy.parse_policy(row.document, kind="identity"))
    principals = {
        row.arn: Principal(
            arn=row.arn,
            kind=row.kind,
            name=row.name,
            principal_id=row.principal_id,
            account_id=row.account_id,
            tags=row.tags or {},
            policies=tuple(policies[row.arn]),
            assume_role_policy=(
                iam_policy.parse_policy(row.assume_role_policy, kind="resource")
                if row.assume_role_policy
                else None
            ),
        )
        for row in conn.execute(select(t.iam_principals))
    }
    keys = {
        row.access_key_id: AccessKey(
            row.access_key_id,
            row.principal_arn,
            box.open(row.secret_enc, f"access-key:{row.access_key_id}").decode(),
            row.status == "Active",
        )
        for row in conn.execute(select(t.iam_access_keys))
    }
    return Catalog(
        generation=generation,
        instance=instance,
        applications=applications,
        issuers=issuers,
        principals=principals,
        access_keys=keys,
        by_client_id={a.client_id: a for a in applications.values()},
        id_token_keys=key_schedule(conn, ID_TOKEN),
    )


class CatalogCache:
    """The process's current snapshot: one cheap generation read per use, a reload on change."""

    def __init__(self, box: SecretBox, region: str) -> None:
        self._box = box
        self._region = region
        self._current: Catalog | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> Catalog | None:
        """The last snapshot loaded, which may be older than the store's generation."""
        return self._current

    def get(self, conn: Connection) -> Catalog:
        generation = read_generation(conn)
        current = self._current
        if current is not None and current.generation == generation:
            return current
        with self._lock:
            current = load_catalog(conn, self._box, self._region)
            self._current = current
            return current
