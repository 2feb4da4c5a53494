"""Trusted token issuers: the external OIDC providers whose JWTs an application's JwtBearer grant
may accept, with the URL checks that keep them on HTTPS."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any
from urllib.parse import urlsplit

import regex
from sqlalchemy import Connection, delete, insert, select, update

from ssooidc.errors import Conflict, ResourceNotFound, Validation
from ssooidc.services.identity_store import SEARCHABLE_PATHS
from ssooidc.services.instance import Instance, bump_generation
from ssooidc.store import tables as t

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The sso-admin model's ClaimAttributePath pattern: letters, joined by "." or "_", three at most.
CLAIM_PATH_PATTERN = regex.compile(r"\p{L}+(?:(?:\.|_)\p{L}+){0,2}")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (IPv6 in brackets or not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_issuer_url(url: object, *, development: bool) -> str:
    """HTTPS; plain-HTTP loopback only in development mode (spec section 6)."""
    if not isinstance(url, str):
        raise Validation("IssuerUrl must be a string")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        if development:
            return url
        raise Validation(
            f"IssuerUrl {url} must be HTTPS (plain-HTTP loopback issuers need --demo or --allow-http-issuers)"
        )
    raise Validation(f"IssuerUrl {url} must be an HTTPS URL")


def check_issuer_configuration(config: object, *, development: bool) -> dict[str, Any]:
    """A complete OidcJwtConfiguration, every member checked."""
    if not isinstance(config, dict) or set(config) != {"OidcJwtConfiguration"}:
        raise Validation("TrustedTokenIssuerConfiguration takes OidcJwtConfiguration")
    oidc = config["OidcJwtConfiguration"]
    if not isinstance(oidc, dict):
        raise Validation("OidcJwtConfiguration must be an object")
    check_issuer_url(oidc.get("IssuerUrl"), development=development)
    claim = oidc.get("ClaimAttributePath")
    if not isinstance(claim, str) or not CLAIM_PATH_PATTERN.fullmatch(claim):
        raise Validation(f"invalid ClaimAttributePath {claim!r}")
    store_path = oidc.get("IdentityStoreAttributePath")
    if store_path not in SEARCHABLE_PATHS:
        raise Validation(
            f"IdentityStoreAttributePath must be one of {', '.join(sorted(SEARCHABLE_PATHS))}"
        )
    if oidc.get("JwksRetrievalOption") != "OPEN_ID_DISCOVERY":
        raise Validation("JwksRetrievalOption must be OPEN_ID_DISCOVERY")
    return config


def issuer_arn(instance: Instance) -> str:
    return f"arn:aws:sso::{instance.account_id}:trustedTokenIssuer/{instance.instance_id}/tti-{uuid.uuid4()}"


def create_trusted_token_issuer(
    conn: Connection,
    instance: Instance,
    *,
    name: str,
    issuer_type: str,
    configuration: dict[str, Any],
    development: bool,
    now: float,
) -> str:
    if issuer_type != "OIDC_JWT":
        raise Validation("TrustedTokenIssuerType must be OIDC_JWT")
    check_issuer_configuration(configuration, development=development)
    _check_name_free(conn, name)
    arn = issuer_arn(instance)
    conn.execute(
        insert(t.trusted_token_issuers).values(
            arn=arn,
            instance_arn=instance.arn,
            name=name,
            issuer_type=issuer_type,
            configuration=configuration,
            created_at=now,
        )
    )
    bump_generation(conn)
    return arn


def update_trusted_token_issuer(
    conn: Connection,
    arn: str,
    *,
    configuration: dict[str, Any] | None = None,
    development: bool,
    name: str | None = None,
) -> None:
    """Rename an issuer and/or change its OidcJwtConfiguration; IssuerUrl stays as created."""
    row = issuer_row(conn, arn)
    if row is None:
        raise ResourceNotFound(f"no trusted token issuer {arn}")
    values: dict[str, Any] = {}
    if name is not None and name != row.name:
        _check_name_free(conn, name)
        values["name"] = name
    if configuration:
        if set(configuration) != {"OidcJwtConfiguration"} or not isinstance(
            configuration["OidcJwtConfiguration"], dict
        ):
            raise Validation("TrustedTokenIssuerConfiguration takes OidcJwtConfiguration")
        old = row.configuration["OidcJwtConfiguration"]
        new = dict(old)
        new.update(configuration["OidcJwtConfiguration"])
        if new.get("IssuerUrl") != old.get("IssuerUrl"):
            raise Validation("IssuerUrl cannot be updated")
        merged = check_issuer_configuration({"OidcJwtConfiguration": new}, development=development)
        if merged != row.configuration:
            values["configuration"] = merged
    if values:
        conn.execute(
            update(t.trusted_token_issuers)
            .where(t.trusted_token_issuers.c.arn == arn)
            .values(**values)
        )
        bump_generation(conn)


def delete_trusted_token_issuer(conn: Connection, arn: str) -> list[str]:
    """Delete an issuer and take it out of every JwtBearer grant that names it; return the ARNs
    of the applications whose grant changed.

    AWS documents that the deletion proceeds and that users lose access to the applications
    configured to use the issuer (DeleteTrustedTokenIssuer). ssooidc removes the issuer's
    entry from those grants rather than leave an ARN that names nothing, and deletes a grant
    left with no issuer (AuthorizedTokenIssuers takes 1 to 10): either way those assertions
    are refused from the next request on."""
    if issuer_row(conn, arn) is None:
        raise ResourceNotFound(f"no trusted token issuer {arn}")
    grants = t.application_grants
    changed: list[str] = []
    for row in conn.execute(select(grants).where(grants.c.grant_type == JWT_BEARER)).all():
        entries = row.grant.get("JwtBearer", {}).get("AuthorizedTokenIssuers", [])
        kept = [e for e in entries if e.get("TrustedTokenIssuerArn") != arn]
        if len(kept) == len(entries):
            continue
        where = (grants.c.application_arn == row.application_arn, grants.c.grant_type == JWT_BEARER)
        if kept:
            conn.execute(
                update(grants)
                .where(*where)
                .values(
                    grant={"JwtBearer": {**row.grant["JwtBearer"], "AuthorizedTokenIssuers": kept}}
                )
            )
        else:
            conn.execute(delete(grants).where(*where))
        changed.append(str(row.application_arn))
    conn.execute(delete(t.trusted_token_issuers).where(t.trusted_token_issuers.c.arn == arn))
    conn.execute(delete(t.resource_tags).where(t.resource_tags.c.resource_arn == arn))
    bump_generation(conn)
    return changed


def find_trusted_token_issuer(conn: Connection, name: str) -> str | None:
    row = conn.execute(
        select(t.trusted_token_issuers.c.arn).where(t.trusted_token_issuers.c.name == name)
    ).first()
    return None if row is None else str(row.arn)


def issuer_row(conn: Connection, arn: str) -> Any:
    return conn.execute(
        select(t.trusted_token_issuers).where(t.trusted_token_issuers.c.arn == arn)
    ).first()


def _check_name_free(conn: Connection, name: str) -> None:
    if conn.execute(
        select(t.trusted_token_issuers.c.arn).where(t.trusted_token_issuers.c.name == name)
    ).first():
        raise Conflict(f"a trusted token issuer named {name} already exists")
