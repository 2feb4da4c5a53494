"""sso-admin operations (json 1.1, target prefix SWBExternalService): the instance, application
providers, tags, and what the other sso-admin modules share (lookups, writes, ClientToken)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation, request_digest
from ssooidc.errors import Conflict, ResourceNotFound, Validation
from ssooidc.services import client_tokens, resource_tags
from ssooidc.services.applications import CUSTOM_PROVIDER
from ssooidc.services.catalog import Application, Catalog, TrustedIssuer
from ssooidc.services.instance import rename_instance

T = TypeVar("T")

#: The one application provider: customer managed OAuth 2.0 applications [decide: AWS does
#: not publish the custom provider's display data; the protocol is OAuth as CreateApplication
#: documents].
CUSTOM_PROVIDER_VIEW: dict[str, Any] = {
    "ApplicationProviderArn": CUSTOM_PROVIDER,
    "FederationProtocol": "OAUTH",
    "DisplayData": {
        "DisplayName": "Customer managed application",
        "Description": "An OAuth 2.0 application that you manage",
    },
}


def require_instance(catalog: Catalog, arn: str) -> None:
    if arn != catalog.instance.arn:
        raise ResourceNotFound(f"no instance {arn}")


def require_application(catalog: Catalog, arn: str) -> Application:
    app = catalog.applications.get(arn)
    if app is None:
        raise ResourceNotFound(f"no application {arn}")
    return app


def require_issuer(catalog: Catalog, arn: str) -> TrustedIssuer:
    issuer = catalog.issuers.get(arn)
    if issuer is None:
        raise ResourceNotFound(f"no trusted token issuer {arn}")
    return issuer


async def _transaction(ctx: Context, work: Callable[[Connection], T]) -> T:
    async with ctx.store.transaction() as conn:
        return work(conn)


async def write(ctx: Context, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one control-plane transaction: all of it or none of it."""
    try:
        return await _transaction(ctx, work)
    except IntegrityError:
        raise Conflict("a concurrent request changed the same resource; retry") from None


async def idempotent(
    ctx: Context, name: str, body: dict[str, Any], work: Callable[[Connection], dict[str, Any]]
) -> dict[str, Any]:
    """Run a Create* once per ClientToken: a retry with the same members gets the first answer."""
    token = body.get("ClientToken")
    if not token:
        return await write(ctx, work)
    digest = request_digest(body)

    def once(conn: Connection) -> dict[str, Any]:
        earlier = client_tokens.recall(conn, name, token, digest, ctx.now)
        if earlier is not None:
            return earlier
        result = work(conn)
        client_tokens.remember(conn, name, token, digest, result, ctx.now)
        return result

    try:
        return await _transaction(ctx, once)
    except IntegrityError:
        # Two requests with one token at once: the loser finds the winner's answer.
        return await write(ctx, once)


# -- the instance ---------------------------------------------------------------------------


@operation("sso-admin", "ListInstances")
async def list_instances(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.catalog
    items, token = page([catalog.instance], body)
    return {
        "Instances": [
            {
                "InstanceArn": i.arn,
                "IdentityStoreId": i.identity_store_id,
                "OwnerAccountId": i.account_id,
                "Name": i.name,
                "CreatedDate": i.created_at,
                "Status": i.status,
            }
            for i in items
        ],
        "NextToken": token,
    }


@operation("sso-admin", "DescribeInstance")
async def describe_instance(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.catalog
    require_instance(catalog, body["InstanceArn"])
    i = catalog.instance
    return {
        "InstanceArn": i.arn,
        "IdentityStoreId": i.identity_store_id,
        "IdentityStoreArn": i.identity_store_arn,
        "OwnerAccountId": i.account_id,
        "Name": i.name,
        "CreatedDate": i.created_at,
        "Status": i.status,
        "PrimaryRegion": i.region,
    }


@operation("sso-admin", "UpdateInstance")
async def update_instance(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """The instance's Name; encryption, permission sets and network settings are AWS's own."""
    arn = body["InstanceArn"]
    require_instance(ctx.catalog, arn)
    unsupported = [
        m
        for m in ("EncryptionConfiguration", "PermissionSetsEnabled", "NetworkConfiguration")
        if body.get(m) is not None
    ]
    if unsupported:
        raise Validation(f"ssooidc does not support {', '.join(unsupported)}")
    name = body.get("Name")
    if name is not None and name != ctx.catalog.instance.name:
        await write(ctx, lambda conn: rename_instance(conn, arn, name))
    return {}


# -- application providers --------------------------------------------------------------------


@operation("sso-admin", "ListApplicationProviders")
async def list_application_providers(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    items, token = page([CUSTOM_PROVIDER_VIEW], body)
    return {"ApplicationProviders": items, "NextToken": token}


@operation("sso-admin", "DescribeApplicationProvider")
async def describe_application_provider(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    arn = body["ApplicationProviderArn"]
    if arn != CUSTOM_PROVIDER:
        raise ResourceNotFound(f"no application provider {arn}")
    return dict(CUSTOM_PROVIDER_VIEW)


# -- tags -------------------------------------------------------------------------------------


def _tag_target(ctx: Context, body: dict[str, Any]) -> str:
    if body.get("InstanceArn") is not None:
        require_instance(ctx.catalog, body["InstanceArn"])
    return str(body["ResourceArn"])


@operation("sso-admin", "TagResource")
async def tag_resource(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    arn = _tag_target(ctx, body)

    def work(conn: Connection) -> None:
        resource_tags.require_taggable(conn, arn)
        resource_tags.tag_resource(conn, arn, body["Tags"])

    await write(ctx, work)
    return {}


@operation("sso-admin", "UntagResource")
async def untag_resource(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    arn = _tag_target(ctx, body)

    def work(conn: Connection) -> None:
        resource_tags.require_taggable(conn, arn)
        resource_tags.untag_resource(conn, arn, body["TagKeys"])

    await write(ctx, work)
    return {}


@operation("sso-admin", "ListTagsForResource")
async def list_tags_for_resource(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    arn = _tag_target(ctx, body)
    with ctx.store.read() as conn:
        resource_tags.require_taggable(conn, arn)
        tags = resource_tags.list_tags(conn, arn)
    items, token = page(tags, body)
    return {"Tags": items, "NextToken": token}
