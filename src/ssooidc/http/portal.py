"""The access portal's routes (botocore service ``sso``): rest-json, unsigned, authenticated by
the header ``x-amz-sso_bearer_token``; members travel in the query string."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ssooidc.api import sso_portal
from ssooidc.errors import AwsError
from ssooidc.http.protocols import restjson
from ssooidc.http.protocols.shapes import operation_model, render
from ssooidc.services.catalog import Catalog
from ssooidc.services.token_service import TokenService

BEARER_HEADER = "x-amz-sso_bearer_token"

PortalOperation = Callable[
    [TokenService, Catalog, str | None, dict[str, str]], Awaitable[dict[str, Any]]
]
Guarded = Callable[
    [
        Request,
        str,
        Callable[[AwsError, str], Response],
        Callable[[str], Awaitable[Response]],
    ],
    Awaitable[Response],
]

#: (path, method, operation name, handler)
OPERATIONS: tuple[tuple[str, str, str, PortalOperation], ...] = (
    ("/federation/credentials", "GET", "GetRoleCredentials", sso_portal.get_role_credentials),
    ("/assignment/accounts", "GET", "ListAccounts", sso_portal.list_accounts),
    ("/assignment/roles", "GET", "ListAccountRoles", sso_portal.list_account_roles),
    ("/logout", "POST", "Logout", sso_portal.logout),
)


class PortalEndpoints:
    """The portal's endpoints over one process's token service."""

    def __init__(self, service: TokenService, guarded: Guarded) -> None:
        self.service = service
        self.guarded = guarded

    def endpoint(
        self, name: str, operation: PortalOperation
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await self.guarded(
                request,
                name,
                restjson.error_response,
                lambda request_id: self._run(request, request_id, name, operation),
            )

        return handle

    async def _run(
        self, request: Request, request_id: str, name: str, operation: PortalOperation
    ) -> Response:
        bearer = request.headers.get(BEARER_HEADER)
        params = dict(request.query_params)
        with self.service.store.connect() as conn:
            catalog = self.service.catalog(conn)
        result = await operation(self.service, catalog, bearer, params)
        body = render(operation_model("sso", name).output_shape, result)
        return restjson.json_response(body, request_id)


def portal_routes(service: TokenService, guarded: Guarded) -> list[Route]:
    endpoints = PortalEndpoints(service, guarded)
    return [
        Route(path, endpoints.endpoint(name, operation), methods=[method])
        for path, method, name, operation in OPERATIONS
    ]
