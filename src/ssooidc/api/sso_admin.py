"""sso-admin operations (json 1.1, target prefix SWBExternalService)."""

from __future__ import annotations

from typing import Any

from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation
from ssooidc.errors import ResourceNotFound
from ssooidc.services.catalog import Application, Catalog, TrustedIssuer


def _instance(catalog: Catalog, arn: str) -> None:
    if arn != catalog.instance.arn:
        raise ResourceNotFound(f"no instance {arn}")


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
    _instance(catalog, body["InstanceArn"])
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


def application_view(catalog: Catalog, app: Application) -> dict[str, Any]:
    return {
        "ApplicationArn": app.arn,
        "ApplicationProviderArn": app.provider_arn,
        "Name": app.name,
        "ApplicationAccount": catalog.instance.account_id,
        "InstanceArn": catalog.instance.arn,
        "IdentityStoreArn": catalog.instance.identity_store_arn,
        "Status": app.status,
        "PortalOptions": app.portal_options,
        "Description": app.description,
        "CreatedDate": app.created_at,
    }


@operation("sso-admin", "ListApplications")
async def list_applications(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.catalog
    _instance(catalog, body["InstanceArn"])
    apps = sorted(catalog.applications.values(), key=lambda a: (a.created_at, a.arn))
    wanted = (body.get("Filter") or {}).get("ApplicationProvider")
    if wanted:
        apps = [a for a in apps if a.provider_arn == wanted]
    items, token = page(apps, body)
    return {"Applications": [application_view(catalog, a) for a in items], "NextToken": token}


@operation("sso-admin", "DescribeApplication")
async def describe_application(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.catalog
    app = catalog.applications.get(body["ApplicationArn"])
    if app is None:
        raise ResourceNotFound(f"no application {body['ApplicationArn']}")
    return application_view(catalog, app)


def _issuer(catalog: Catalog, arn: str) -> TrustedIssuer:
    issuer = catalog.issuers.get(arn)
    if issuer is None:
        raise ResourceNotFound(f"no trusted token issuer {arn}")
    return issuer


@operation("sso-admin", "ListTrustedTokenIssuers")
async def list_trusted_token_issuers(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.catalog
    _instance(catalog, body["InstanceArn"])
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
    catalog = ctx.catalog
    issuer = _issuer(catalog, body["TrustedTokenIssuerArn"])
    return {
        "TrustedTokenIssuerArn": issuer.arn,
        "Name": issuer.name,
        "TrustedTokenIssuerType": issuer.issuer_type,
        "TrustedTokenIssuerConfiguration": dict(issuer.configuration),
    }
