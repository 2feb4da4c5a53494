"""Every API on one port, told apart the way AWS endpoints tell them apart (DESIGN.md)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, OperationNotFoundError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ssooidc.api import registry, sso_oidc, sso_oidc_public
from ssooidc.errors import (
    AccessDenied,
    AwsError,
    InternalServer,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Serialization,
    UnknownOperation,
    Validation,
)
from ssooidc.http.credentials import CatalogKeyResolver
from ssooidc.http.health import health_routes
from ssooidc.http.observe import (
    UNKNOWN_OPERATION,
    ObserveRequests,
    note_token_request,
    request_record,
)
from ssooidc.http.pages import BrowserOptions, page_routes
from ssooidc.http.portal import portal_routes
from ssooidc.http.protocols import json11, query, restjson
from ssooidc.http.protocols.shapes import Validator, loads_strict, operation_model, render
from ssooidc.http.sigv4 import IncomingRequest, SigV4Verifier
from ssooidc.observability.logs import AccessLog
from ssooidc.observability.metrics import Metrics
from ssooidc.observability.readiness import StoreReadiness
from ssooidc.services import iam_policy, keys
from ssooidc.services.catalog import Catalog
from ssooidc.services.principals import Caller
from ssooidc.services.token_service import TokenService
from ssooidc.store.steps import StaleSnapshot

log = logging.getLogger("ssooidc.http")

MAX_BODY = 64 * 1024
#: answers of one CreateTokenWithIAM from successive snapshots, when the configuration moves
STALE_ATTEMPTS = 5
TARGET_PREFIXES = {"SWBExternalService": "sso-admin", "AWSIdentityStore": "identitystore"}
SIGNING_NAMES = {"sso-admin": "sso", "identitystore": "identitystore"}


@dataclass
class Components:
    """What the HTTP layer needs from the process: assembled once in ``app.py``."""

    service: TokenService
    verifier: SigV4Verifier
    demo_issuer_path: str | None = None
    #: RegisterClient and StartDeviceAuthorization calls a minute per client address.
    public_client_rate: int = sso_oidc_public.DEFAULT_RATE
    #: the browser pages' sign-in throttle and device-page limit
    browser: BrowserOptions = field(default_factory=BrowserOptions)
    #: this process's metrics (``GET /metrics``), the access log, the store's readiness
    metrics: Metrics | None = None
    access_log: AccessLog | None = None
    readiness: StoreReadiness | None = None


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def incoming(request: Request, body: bytes) -> IncomingRequest:
    scope = request.scope
    return IncomingRequest(
        method=request.method,
        path=scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=body,
    )


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


class Api:
    """The endpoints, bound to one process's components."""

    def __init__(self, components: Components) -> None:
        self.c = components
        self.service = components.service
        self.public = sso_oidc_public.PublicClients(
            components.service, components.public_client_rate
        )
        self.readiness = components.readiness or StoreReadiness(components.service.store)

    # -- helpers --------------------------------------------------------------------------

    def authenticate(
        self, request: Request, catalog: Catalog, signed: IncomingRequest, services: set[str]
    ) -> Caller:
        resolver = CatalogKeyResolver(
            catalog, self.service.store, self.service.box, self.service.now()
        )
        caller, _service = self.c.verifier.verify(signed, services=services, resolver=resolver)
        request_record(request.scope).principal = caller.principal_arn
        return caller

    async def guarded(
        self,
        request: Request,
        operation: str,
        render_error: Callable[[AwsError, str], Response],
        handler: Callable[[str], Awaitable[Response]],
    ) -> Response:
        """Run an AWS operation: its errors become AWS error responses; the request's id
        and operation name are the ones its access-log line and metrics carry."""
        record = request_record(request.scope)
        record.operation = operation
        request_id = record.request_id
        try:
            return await handler(request_id)
        except AwsError as error:
            return render_error(error, request_id)
        except Exception:
            log.exception("internal error in %s", operation, extra={"request_id": request_id})
            return render_error(InternalServer("an internal error occurred"), request_id)

    # -- sso-oidc -------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        if "aws_iam=t" in request.scope.get("query_string", b"").decode("latin-1").split("&"):
            return await self.guarded(
                request,
                "CreateTokenWithIAM",
                restjson.error_response,
                lambda rid: self._create_token_with_iam(request, rid),
            )
        return await self.guarded(
            request,
            "CreateToken",
            restjson.error_response,
            lambda rid: self._public(request, rid, "CreateToken"),
        )

    async def _create_token_with_iam(self, request: Request, request_id: str) -> Response:
        body = await read_body(request)
        signed = incoming(request, body)
        # Answered from the snapshot this process holds, without reading the generation: the
        # write checks it in its own transaction (StaleSnapshot), and a refusal checks it
        # before it is sent, so a change made on any instance applies to the next request.
        catalog = self.service.snapshot()
        parsed: Any = None
        for attempt in range(STALE_ATTEMPTS):
            try:
                caller = self.authenticate(request, catalog, signed, {"sso-oauth"})
                if parsed is None:
                    parsed = loads_strict(body, InvalidRequest)
                    note_token_request(request.scope, parsed)
                result = await sso_oidc.create_token_with_iam(
                    self.service, catalog, caller, parsed, source_ip=client_ip(request)
                )
                break
            except StaleSnapshot:
                if attempt == STALE_ATTEMPTS - 1:
                    raise
                catalog = self.service.fresh_catalog()
            except AwsError:
                fresh = self.service.fresh_catalog()
                if fresh.generation == catalog.generation or attempt == STALE_ATTEMPTS - 1:
                    raise
                catalog = fresh
        out = render(operation_model("sso-oidc", "CreateTokenWithIAM").output_shape, result)
        return restjson.json_response(out, request_id)

    async def register_client(self, request: Request) -> Response:
        return await self.guarded(
            request,
            "RegisterClient",
            restjson.error_response,
            lambda rid: self._public(request, rid, "RegisterClient"),
        )

    async def start_device_authorization(self, request: Request) -> Response:
        return await self.guarded(
            request,
            "StartDeviceAuthorization",
            restjson.error_response,
            lambda rid: self._public(request, rid, "StartDeviceAuthorization"),
        )

    async def _public(self, request: Request, request_id: str, operation: str) -> Response:
        """The unsigned operations; the body goes to them unparsed (they count the caller's
        address before any other work)."""
        body = await read_body(request)
        if operation == "RegisterClient":
            result = await self.public.register_client(body, client_ip(request))
        elif operation == "StartDeviceAuthorization":
            result = await self.public.start_device_authorization(body, client_ip(request))
        else:
            note_token_request(request.scope, _lenient_json(body))
            result = await self.public.create_token(body)
        out = render(operation_model("sso-oidc", operation).output_shape, result)
        return restjson.json_response(out, request_id)

    # -- json 1.1 control plane -----------------------------------------------------------

    async def root(self, request: Request) -> Response:
        target = request.headers.get("x-amz-target")
        if target:
            return await self.guarded(
                request,
                _json11_operation(target),
                json11.error_response,
                lambda rid: self._json11(request, rid, target),
            )
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            service = query.signing_service(request.headers.get("authorization"))
            return await self.guarded(
                request,
                "query",
                functools.partial(query.error_response, service=service),
                lambda rid: self._query_root(request, rid),
            )
        return await self.guarded(request, "unknown", restjson.error_response, self._unknown_root)

    async def _unknown_root(self, request_id: str) -> Response:
        raise UnknownOperation("no operation is named by this request")

    async def _json11(self, request: Request, request_id: str, target: str) -> Response:
        prefix, _, name = target.partition(".")
        service_name = TARGET_PREFIXES.get(prefix)
        if service_name is None:
            raise UnknownOperation(f"unknown target {target[:100]}")
        body = await read_body(request)
        signed = incoming(request, body)
        with self.service.store.connect() as conn:
            catalog = self.service.catalog(conn)
        caller = self.authenticate(request, catalog, signed, {SIGNING_NAMES[service_name]})
        parsed = loads_strict(body or b"{}", Serialization)
        if not isinstance(parsed, dict):
            raise Serialization("the request body must be a JSON object")
        result, model = await self._control_plane(
            catalog, caller, service_name, name, parsed, request_id
        )
        return json11.json11_response(render(model.output_shape, result), request_id)

    async def _control_plane(
        self,
        catalog: Catalog,
        caller: Caller,
        service_name: str,
        name: str,
        body: dict[str, Any],
        request_id: str,
    ) -> tuple[dict[str, Any], OperationModel]:
        """Validate, authorize and run one control-plane operation."""
        registry.load_all()
        handler = registry.OPERATIONS.get((service_name, name))
        if handler is None:
            raise UnknownOperation(f"{service_name} operation {name[:100]} is not supported")
        model = operation_model(service_name, name)
        Validator(Validation, constraints=True).validate(model.input_shape, body)
        if (service_name, name) not in registry.SELF_AUTHORIZED:
            self._authorize_identity(
                catalog, caller, f"{registry.ACTION_PREFIX[service_name]}:{name}"
            )
        context = registry.Context(
            catalog=catalog,
            caller=caller,
            store=self.service.store,
            box=self.service.box,
            now=self.service.now(),
            region=self.service.policy.region,
            development=self.service.policy.development,
            public_url=self.service.policy.public_url,
            request_id=request_id,
        )
        return await handler(context, body), model

    # -- query protocol (iam, sts) ----------------------------------------------------------

    async def _query_root(self, request: Request, request_id: str) -> Response:
        body = await read_body(request)
        signed = incoming(request, body)
        with self.service.store.connect() as conn:
            catalog = self.service.catalog(conn)
        resolver = CatalogKeyResolver(
            catalog, self.service.store, self.service.box, self.service.now()
        )
        caller, service_name = self.c.verifier.verify(
            signed, services={"iam", "sts"}, resolver=resolver
        )
        record = request_record(request.scope)
        record.principal = caller.principal_arn
        action = query.action_of(body)
        try:
            model = operation_model(service_name, action)
        except OperationNotFoundError:
            raise UnknownOperation(f"{service_name} has no action {action[:100]}") from None
        record.operation = action
        parsed = query.parse(body, model)
        result, model = await self._control_plane(
            catalog, caller, service_name, action, parsed, request_id
        )
        return query.response(model, result, request_id)

    def _authorize_identity(self, catalog: Catalog, caller: Caller, action: str) -> None:
        principal = catalog.principal_of(caller)
        policies = principal.policies if principal is not None else ()
        # RequestContext supplies aws:PrincipalArn and aws:PrincipalAccount itself.
        ctx = iam_policy.RequestContext(
            principal_arn=caller.principal_arn,
            account=caller.account,
            action=action,
            resource="*",
            role_arn=caller.role_arn,
        )
        if iam_policy.evaluate_identity(policies, ctx) is not iam_policy.Decision.ALLOW:
            raise AccessDenied(
                f"User: {caller.principal_arn} is not authorized to perform: {action}"
            )

    # -- discovery, keys, health ----------------------------------------------------------

    def _catalog(self) -> Catalog:
        with self.service.store.read() as conn:
            return self.service.catalog(conn)

    async def discovery(self, request: Request) -> Response:
        instance = self._catalog().instance
        wanted = request.path_params.get("instance_id")
        if wanted is not None and wanted != instance.instance_id:
            return _not_found(request)
        base = self.service.policy.public_url
        issuer = instance.issuer(base)
        document = {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/keys",
            "token_endpoint": f"{base}/token",
            "authorization_endpoint": f"{base}/authorize",
            "id_token_signing_alg_values_supported": [self.service.signer().alg],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "aws", "sts:identity_context"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def jwks(self, request: Request) -> Response:
        if request.path_params["instance_id"] != self._catalog().instance.instance_id:
            return _not_found(request)
        with self.service.store.read() as conn:
            published = keys.published_keys(conn, keys.ID_TOKEN, self.service.now())
        return JSONResponse({"keys": published}, headers={"Cache-Control": "public, max-age=300"})

    async def demo_discovery(self, request: Request) -> Response:
        issuer = f"{self.service.policy.public_url}{self.c.demo_issuer_path}"
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def demo_jwks(self, request: Request) -> Response:
        with self.service.store.read() as conn:
            published = keys.published_keys(conn, keys.DEMO_IDP, self.service.now())
        return JSONResponse({"keys": published})


def _json11_operation(target: str) -> str:
    """The operation an ``X-Amz-Target`` names, when ssooidc serves it."""
    prefix, _, name = target.partition(".")
    service_name = TARGET_PREFIXES.get(prefix)
    registry.load_all()
    if service_name is None or (service_name, name) not in registry.OPERATIONS:
        return UNKNOWN_OPERATION
    return name


def _lenient_json(body: bytes) -> Any:
    """The body as JSON for the log line's fields, or None (the operation parses it strictly)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _not_found(request: Request) -> Response:
    error = NotFound("no such resource")
    return restjson.error_response(error, request_record(request.scope).request_id)


def build_routes(components: Components) -> list[Route]:
    api = Api(components)
    routes = [
        Route("/token", api.token, methods=["POST"]),
        Route("/client/register", api.register_client, methods=["POST"]),
        Route("/device_authorization", api.start_device_authorization, methods=["POST"]),
        Route("/", api.root, methods=["POST"]),
        *health_routes(api.readiness, components.metrics),
        Route("/.well-known/openid-configuration", api.discovery, methods=["GET"]),
        Route("/{instance_id}/.well-known/openid-configuration", api.discovery, methods=["GET"]),
        Route("/{instance_id}/keys", api.jwks, methods=["GET"]),
        *portal_routes(api.service, api.guarded),
        *page_routes(api.service, components.browser),
    ]
    if components.demo_issuer_path:
        path = components.demo_issuer_path
        routes += [
            Route(f"{path}/.well-known/openid-configuration", api.demo_discovery, methods=["GET"]),
            Route(f"{path}/jwks", api.demo_jwks, methods=["GET"]),
        ]
    return routes


async def not_found_handler(request: Request, exc: Any) -> Response:
    status = getattr(exc, "status_code", 404)
    error: AwsError = (
        NotFound("no such resource") if status == 404 else InvalidRequest("method not allowed")
    )
    response = restjson.error_response(error, request_record(request.scope).request_id)
    response.status_code = status if status in (404, 405) else 400
    return response


def internal_error(request_id: str) -> Response:
    return restjson.error_response(InternalServer("an internal error occurred"), request_id)


def build_starlette(components: Components) -> Starlette:
    observe = Middleware(
        ObserveRequests,
        fallback=internal_error,
        metrics=components.metrics,
        access_log=components.access_log,
    )
    return Starlette(
        routes=build_routes(components),
        middleware=[observe],
        exception_handlers={404: not_found_handler, 405: not_found_handler},
    )
