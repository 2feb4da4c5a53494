"""The Identity Center instance: created once on an empty store, with its identity store."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from ssooidc.store import records
from ssooidc.store import tables as t


@dataclass(frozen=True)
class Instance:
    arn: str
    instance_id: str
    identity_store_id: str
    account_id: str
    region: str
    name: str | None
    status: str
    created_at: float

    @property
    def identity_store_arn(self) -> str:
        return f"arn:aws:identitystore::{self.account_id}:identitystore/{self.identity_store_id}"

    def issuer(self, public_url: str) -> str:
        """The OIDC issuer of this instance: ``<issuer-url>/<instance id>``."""
        return f"{public_url}/{self.instance_id}"


def load_instance(conn: Connection, region: str) -> Instance | None:
    row = conn.execute(select(t.instances)).first()
    if row is None:
        return None
    return Instance(
        arn=row.arn,
        instance_id=row.instance_id,
        identity_store_id=row.identity_store_id,
        account_id=row.account_id,
        region=region,
        name=row.name,
        status=row.status,
        created_at=row.created_at,
    )


def create_instance(conn: Connection, *, account_id: str, region: str, now: float) -> Instance:
    instance_id = "ssoins-" + secrets.token_hex(8)
    store_id = "d-" + secrets.token_hex(5)
    arn = f"arn:aws:sso:::instance/{instance_id}"
    conn.execute(
        insert(t.instances).values(
            arn=arn,
            instance_id=instance_id,
            identity_store_id=store_id,
            account_id=account_id,
            name=None,
            status="ACTIVE",
            created_at=now,
        )
    )
    bump_generation(conn)
    return Instance(arn, instance_id, store_id, account_id, region, None, "ACTIVE", now)


def bump_generation(conn: Connection) -> None:
    """Mark the control-plane state changed: every process reloads its snapshot."""
    conn.execute(
        update(t.state).where(t.state.c.id == 1).values(generation=t.state.c.generation + 1)
    )


def read_generation(conn: Connection) -> int:
    return records.generation(conn)


def rename_instance(conn: Connection, arn: str, name: str) -> None:
    """Set the instance's display name (UpdateInstance)."""
    conn.execute(update(t.instances).where(t.instances.c.arn == arn).values(name=name))
    bump_generation(conn)
