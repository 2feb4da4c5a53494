"""sso-admin: trusted token issuers, the external identity providers applications trust."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation
from ssooidc.api.sso_admin import idempotent, require_instance, require_issuer, write
from ssooidc.services import resource_tags, trusted_issuers


@operation("sso-admin", "CreateTrustedTokenIssuer")
async def create_trusted_token_issuer(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])

    def work(conn: Connection) -> dict[str, Any]:
        arn = trusted_issuers.create_trusted_token_issuer(
            conn,
            ctx.catalog.instance,
            name=body["Name"],
            issuer_type=body["TrustedTokenIssuerType"],
            configuration=body["TrustedTokenIssuerConfiguration"],
            development=ctx.development,
            now=ctx.now,
        )
        resource_tags.tag_resource(conn, arn, body.get("Tags") or [])
        return {"TrustedTokenIssuerArn": arn}

    return await idempotent(ctx, "CreateTrustedTokenIssuer", body, work)


@operation("sso-admin", "ListTrustedTokenIssuers")
async def list_trusted_token_issuers(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.catalog
    require_instance(catalog, body["InstanceArn"])
    issuers = sorted(catalog.issuers.values(), key=lambda i: (i.created_at, i.arn))
    items, token = page(issuers, body)
    return {
        "TrustedTokenIssuers": [
            {
                "TrustedTokenIssuerArn": i.arn,
                "Name": i.name,
                "TrustedTokenIssuerType": i.issuer_type,
            }
            for i in items
        ],
        "NextToken": token,
    }


@operation("sso-admin", "DescribeTrustedTokenIssuer")
async def describe_trusted_token_issuer(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    issuer = require_issuer(ctx.catalog, body["TrustedTokenIssuerArn"])
    return {
        "TrustedTokenIssuerArn": issuer.arn,
        "Name": issuer.name,
        "TrustedTokenIssuerType": issuer.issuer_type,
        "TrustedTokenIssuerConfiguration": dict(issuer.configuration),
    }


@operation("sso-admin", "UpdateTrustedTokenIssuer")
async def update_trusted_token_issuer(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Name and the claim mapping; the IssuerUrl is fixed at creation."""
    await write(
        ctx,
        lambda conn: trusted_issuers.update_trusted_token_issuer(
            conn,
            body["TrustedTokenIssuerArn"],
            name=body.get("Name"),
            configuration=body.get("TrustedTokenIssuerConfiguration"),
            development=ctx.development,
        ),
    )
    return {}


@operation("sso-admin", "DeleteTrustedTokenIssuer")
async def delete_trusted_token_issuer(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: trusted_issuers.delete_trusted_token_issuer(
            conn, body["TrustedTokenIssuerArn"]
        ),
    )
    return {}
