"""sso-admin: customer managed OAuth applications, their grants, authentication methods and
access scopes. Reads come from the request's catalog snapshot; writes are one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ssooidc.api.pagination import page
from ssooidc.api.registry import Context, operation
from ssooidc.api.sso_admin import idempotent, require_application, require_instance, write
from ssooidc.errors import ResourceNotFound
from ssooidc.services import applications as apps
from ssooidc.services import resource_tags
from ssooidc.services.catalog import Application, Catalog


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


@operation("sso-admin", "CreateApplication")
async def create_application(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    require_instance(ctx.catalog, body["InstanceArn"])

    def work(conn: Connection) -> dict[str, Any]:
        arn = apps.create_application(
            conn,
            ctx.catalog.instance,
            name=body["Name"],
            now=ctx.now,
            description=body.get("Description"),
            status=body.get("Status", "ENABLED"),
            provider_arn=body["ApplicationProviderArn"],
            portal_options=body.get("PortalOptions"),
        )
        resource_tags.tag_resource(conn, arn, body.get("Tags") or [])
        return {"ApplicationArn": arn}

    return await idempotent(ctx, "CreateApplication", body, work)


@operation("sso-admin", "ListApplications")
async def list_applications(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    catalog = ctx.catalog
    require_instance(catalog, body["InstanceArn"])
    found = sorted(catalog.applications.values(), key=lambda a: (a.created_at, a.arn))
    wanted = body.get("Filter") or {}
    if wanted.get("ApplicationProvider"):
        found = [a for a in found if a.provider_arn == wanted["ApplicationProvider"]]
    if wanted.get("ApplicationAccount") not in (None, catalog.instance.account_id):
        found = []
    items, token = page(found, body)
    return {"Applications": [application_view(catalog, a) for a in items], "NextToken": token}


@operation("sso-admin", "DescribeApplication")
async def describe_application(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    return application_view(ctx.catalog, require_application(ctx.catalog, body["ApplicationArn"]))


@operation("sso-admin", "UpdateApplication")
async def update_application(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    arn = body["ApplicationArn"]
    portal = body.get("PortalOptions") or {}
    await write(
        ctx,
        lambda conn: apps.update_application_settings(
            conn,
            arn,
            name=body.get("Name"),
            description=body.get("Description"),
            status=body.get("Status"),
            sign_in_options=portal.get("SignInOptions"),
        ),
    )
    return {}


@operation("sso-admin", "DeleteApplication")
async def delete_application(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(ctx, lambda conn: apps.delete_application(conn, body["ApplicationArn"]))
    return {}


# -- grants -------------------------------------------------------------------------------


@operation("sso-admin", "PutApplicationGrant")
async def put_application_grant(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: apps.put_grant(conn, body["ApplicationArn"], body["GrantType"], body["Grant"]),
    )
    return {}


@operation("sso-admin", "GetApplicationGrant")
async def get_application_grant(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    grant = app.grants.get(body["GrantType"])
    if grant is None:
        raise ResourceNotFound(f"the application has no {body['GrantType']} grant")
    return {"Grant": dict(grant)}


@operation("sso-admin", "ListApplicationGrants")
async def list_application_grants(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    grants = [
        {"GrantType": kind, "Grant": dict(app.grants[kind])}
        for kind in apps.GRANT_TYPES
        if kind in app.grants
    ]
    items, token = page(grants, body)
    return {"Grants": items, "NextToken": token}


@operation("sso-admin", "DeleteApplicationGrant")
async def delete_application_grant(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(
        ctx, lambda conn: apps.delete_grant(conn, body["ApplicationArn"], body["GrantType"])
    )
    return {}


# -- authentication methods -----------------------------------------------------------------


@operation("sso-admin", "PutApplicationAuthenticationMethod")
async def put_application_authentication_method(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: apps.put_authentication_method(
            conn,
            body["ApplicationArn"],
            body["AuthenticationMethodType"],
            body["AuthenticationMethod"],
        ),
    )
    return {}


@operation("sso-admin", "GetApplicationAuthenticationMethod")
async def get_application_authentication_method(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    method = app.auth_methods.get(body["AuthenticationMethodType"])
    if method is None:
        raise ResourceNotFound(
            f"the application has no {body['AuthenticationMethodType']} authentication method"
        )
    return {"AuthenticationMethod": dict(method)}


@operation("sso-admin", "ListApplicationAuthenticationMethods")
async def list_application_authentication_methods(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    methods = [
        {"AuthenticationMethodType": kind, "AuthenticationMethod": dict(method)}
        for kind, method in sorted(app.auth_methods.items())
    ]
    items, token = page(methods, body)
    return {"AuthenticationMethods": items, "NextToken": token}


@operation("sso-admin", "DeleteApplicationAuthenticationMethod")
async def delete_application_authentication_method(
    ctx: Context, body: dict[str, Any]
) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: apps.delete_authentication_method(
            conn, body["ApplicationArn"], body["AuthenticationMethodType"]
        ),
    )
    return {}


# -- access scopes ----------------------------------------------------------------------------


def _scope_view(scope: str, targets: tuple[str, ...]) -> dict[str, Any]:
    return {"Scope": scope, "AuthorizedTargets": list(targets) if targets else None}


@operation("sso-admin", "PutApplicationAccessScope")
async def put_application_access_scope(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(
        ctx,
        lambda conn: apps.put_access_scope(
            conn,
            ctx.catalog.instance,
            body["ApplicationArn"],
            body["Scope"],
            body.get("AuthorizedTargets"),
        ),
    )
    return {}


@operation("sso-admin", "GetApplicationAccessScope")
async def get_application_access_scope(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    targets = app.access_scopes.get(body["Scope"])
    if targets is None:
        raise ResourceNotFound(f"the application has no access scope {body['Scope']}")
    return _scope_view(body["Scope"], targets)


@operation("sso-admin", "ListApplicationAccessScopes")
async def list_application_access_scopes(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    app = require_application(ctx.catalog, body["ApplicationArn"])
    scopes = [_scope_view(s, targets) for s, targets in sorted(app.access_scopes.items())]
    items, token = page(scopes, body, default_max=10)
    return {"Scopes": items, "NextToken": token}


@operation("sso-admin", "DeleteApplicationAccessScope")
async def delete_application_access_scope(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    await write(
        ctx, lambda conn: apps.delete_access_scope(conn, body["ApplicationArn"], body["Scope"])
    )
    return {}
