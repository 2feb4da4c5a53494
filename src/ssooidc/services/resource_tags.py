"""Tags of sso-admin resources: the instance, applications, trusted token issuers and
permission sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, insert, select, update

from ssooidc.errors import ResourceNotFound, ServiceQuotaExceeded, Validation
from ssooidc.services.instance import bump_generation
from ssooidc.store import tables as t

#: IAM Identity Center allows 50 tags on a resource (service quotas).
MAX_TAGS = 50
RESERVED_PREFIX = "aws:"


def require_taggable(conn: Connection, arn: str) -> None:
    """The ARN must name the instance, an application, a trusted token issuer or a permission
    set."""
    for table in (t.instances, t.applications, t.trusted_token_issuers, t.permission_sets):
        if conn.execute(select(table.c.arn).where(table.c.arn == arn)).first() is not None:
            return
    raise ResourceNotFound(f"no resource {arn}")


def list_tags(conn: Connection, arn: str) -> list[dict[str, str]]:
    tags = t.resource_tags
    rows = conn.execute(
        select(tags.c.tag_key, tags.c.tag_value)
        .where(tags.c.resource_arn == arn)
        .order_by(tags.c.tag_key)
    )
    return [{"Key": str(r.tag_key), "Value": str(r.tag_value)} for r in rows]


def tag_resource(conn: Connection, arn: str, tags: Iterable[Mapping[str, str]]) -> None:
    """Add tags or change their values; keys beginning ``aws:`` are AWS's own."""
    wanted: dict[str, str] = {}
    for tag in tags:
        key, value = tag["Key"], tag["Value"]
        if key.lower().startswith(RESERVED_PREFIX):
            raise Validation(f"tag key {key} uses the reserved prefix {RESERVED_PREFIX}")
        if key in wanted:
            raise Validation(f"tag key {key} is given twice")
        wanted[key] = value
    if not wanted:
        return
    table = t.resource_tags
    existing = {row["Key"]: row["Value"] for row in list_tags(conn, arn)}
    if len(set(existing) | set(wanted)) > MAX_TAGS:
        raise ServiceQuotaExceeded(f"a resource takes at most {MAX_TAGS} tags")
    for key, value in wanted.items():
        if key not in existing:
            conn.execute(insert(table).values(resource_arn=arn, tag_key=key, tag_value=value))
        elif existing[key] != value:
            conn.execute(
                update(table)
                .where(table.c.resource_arn == arn, table.c.tag_key == key)
                .values(tag_value=value)
            )
    bump_generation(conn)


def untag_resource(conn: Connection, arn: str, keys: Iterable[str]) -> None:
    """Remove tags by key; a key the resource does not have is ignored."""
    table = t.resource_tags
    conn.execute(delete(table).where(table.c.resource_arn == arn, table.c.tag_key.in_(list(keys))))
    bump_generation(conn)
