"""sso-oidc's public-client operations (unsigned): RegisterClient, StartDeviceAuthorization and
CreateToken, as ``aws sso login`` and botocore's SSO token provider call them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from ssooidc.api.sso_oidc import parse_token_request
from ssooidc.errors import (
    AccessDenied,
    InvalidClient,
    InvalidRequest,
    SlowDown,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from ssooidc.grants import authorization_code, device_code, refresh_token
from ssooidc.grants.base import TokenRequest
from ssooidc.http.protocols.shapes import Validator, loads_strict, operation_model
from ssooidc.services import clients, devices, identity_store, tokens
from ssooidc.services.catalog import Application
from ssooidc.services.rate_limit import AddressLimiter
from ssooidc.services.token_service import TokenService

DEFAULT_RATE = 20  # RegisterClient and StartDeviceAuthorization calls a minute per address
REQUIRED = {
    clients.DEVICE_CODE: ("deviceCode",),
    "authorization_code": ("code", "redirectUri"),
    "refresh_token": ("refreshToken",),
}
_VALIDATOR = Validator(InvalidRequest, constraints=False)
UserCheck = Callable[[Connection, str], object]


def _parse(operation: str, body: bytes) -> dict[str, Any]:
    """A JSON object whose members have the model's types; every check of content is ours."""
    parsed = loads_strict(body or b"{}", InvalidRequest)
    if not isinstance(parsed, dict):
        raise InvalidRequest("the request body must be a JSON object")
    _VALIDATOR.validate(operation_model("sso-oidc", operation).input_shape, parsed)
    return parsed


class PublicClients:
    """The three operations for one process: the token service, and the per-address limits
    on the work an unauthenticated caller can cause (security.md)."""

    def __init__(self, service: TokenService, rate: int = DEFAULT_RATE) -> None:
        self.service = service
        self.register_limit = AddressLimiter(rate, service.clock)
        self.device_limit = AddressLimiter(rate, service.clock)

    # -- RegisterClient -------------------------------------------------------------------

    async def register_client(self, body: bytes, source_ip: str | None) -> dict[str, Any]:
        _admit(self.register_limit, source_ip, "RegisterClient")
        parsed = _parse("RegisterClient", body)
        applications = None
        if parsed.get("entitledApplicationArn") is not None:
            with self.service.store.connect() as conn:
                applications = self.service.catalog(conn).applications
        metadata = clients.check_metadata(
            client_name=parsed["clientName"],
            client_type=parsed["clientType"],
            scopes=parsed.get("scopes") or (),
            redirect_uris=parsed.get("redirectUris") or (),
            grant_types=parsed.get("grantTypes") or (),
            issuer_url=parsed.get("issuerUrl"),
            entitled_application_arn=parsed.get("entitledApplicationArn"),
            applications=applications,
        )
        policy = self.service.policy
        registration, secret = await clients.register(
            self.service.store, metadata, region=policy.region, now=self.service.now()
        )
        result: dict[str, Any] = {
            "clientId": registration.client_id,
            "clientSecret": secret,
            "clientIdIssuedAt": int(registration.issued_at),
            "clientSecretExpiresAt": int(registration.secret_expires_at),
        }
        if metadata.redirect_uris or metadata.grant_types:
            result["authorizationEndpoint"] = f"{policy.public_url}/authorize"
            result["tokenEndpoint"] = f"{policy.public_url}/token"
        return result

    # -- StartDeviceAuthorization ---------------------------------------------------------

    async def start_device_authorization(
        self, body: bytes, source_ip: str | None
    ) -> dict[str, Any]:
        _admit(self.device_limit, source_ip, "StartDeviceAuthorization")
        parsed = _parse("StartDeviceAuthorization", body)
        now = self.service.now()
        client, _app = self._client(parsed["clientId"], parsed["clientSecret"], now)
        if not client.allows(clients.DEVICE_CODE):
            raise UnauthorizedClient("the client did not register the device_code grant")
        # startUrl is taken without checking it, as AWS does.
        started = await devices.start(self.service.store, client.client_id, client.scopes, now)
        base = self.service.policy.public_url
        return {
            "deviceCode": started.device_code,
            "userCode": started.user_code,
            "verificationUri": f"{base}/device",
            "verificationUriComplete": f"{base}/device?user_code={started.user_code}",
            "expiresIn": started.expires_in,
            "interval": started.interval,
        }

    # -- CreateToken ----------------------------------------------------------------------

    async def create_token(self, body: bytes) -> dict[str, Any]:
        """The checks, in order: types (InvalidRequest), client (InvalidClient), grant type
        (UnsupportedGrantType), the registration's grants (UnauthorizedClient), the grant's
        members (InvalidRequest), the grant's own checks, the user (AccessDenied)."""
        parsed = loads_strict(body or b"{}", InvalidRequest)
        request = parse_token_request("CreateToken", parsed)
        now = self.service.now()
        client, app = self._client(request.client_id, parsed["clientSecret"], now)
        grant = request.grant_type
        if grant not in REQUIRED:
            raise UnsupportedGrantType(f"grantType {grant[:100]!r} is not supported")
        if not client.allows(grant):
            raise UnauthorizedClient(f"the client did not register the {grant} grant")
        for member in REQUIRED[grant]:
            if parsed.get(member) is None:
                raise InvalidRequest(f"{member} is required for grantType {grant}")
        issued = await self._issue(client, app, request, parsed.get("deviceCode"))
        # [AWS] no idToken from CreateToken; `scope` has no effect (the model says so).
        result: dict[str, Any] = {
            "accessToken": issued.access_token,
            "tokenType": "Bearer",
            "expiresIn": issued.expires_in,
        }
        if issued.refresh_token is not None:
            result["refreshToken"] = issued.refresh_token
        return result

    async def _issue(
        self,
        client: clients.Registration,
        app: Application | None,
        request: TokenRequest,
        device: str | None,
    ) -> tokens.IssuedTokens:
        service = self.service
        check_user = self._user_check(app)
        lifetime = client.access_lifetime(service.policy.session_duration)
        if request.grant_type == clients.DEVICE_CODE:
            assert device is not None
            return await device_code.redeem(
                service,
                client.client_id,
                device,
                with_refresh=client.with_refresh,
                access_lifetime=lifetime,
                check_user=check_user,
            )
        if request.grant_type == "authorization_code":
            assert request.code is not None and request.redirect_uri is not None
            return await authorization_code.redeem(
                service,
                client.client_id,
                request.code,
                request.redirect_uri,
                request.code_verifier,
                None,
                with_refresh=client.with_refresh,
                check_user=check_user,
                registered_redirect_uris=client.redirect_uris,
                redirect_matches=clients.redirect_uri_matches,
                access_lifetime=lifetime,
            )
        assert request.refresh_token is not None
        return await refresh_token.rotate(
            service,
            client.client_id,
            request.refresh_token,
            None,
            grace_seconds=service.policy.refresh_reuse_grace_public,
            check_user=check_user,
        )

    # -- shared checks --------------------------------------------------------------------

    def _client(
        self, client_id: str, secret: str, now: float
    ) -> tuple[clients.Registration, Application | None]:
        """The live registration, and its entitled application, which must still be enabled."""
        with self.service.store.connect() as conn:
            client = clients.authenticate(conn, client_id, secret, now)
            if client.entitled_application_arn is None:
                return client, None
            app = self.service.catalog(conn).applications.get(client.entitled_application_arn)
        if app is None or app.status != "ENABLED":
            raise InvalidClient("the client's entitled application is no longer enabled")
        return client, app

    def _user_check(self, app: Application | None) -> UserCheck:
        """The user exists and is enabled; with an entitled application, also assigned."""
        if app is not None:
            entitled: Application = app
            return lambda conn, user_id: self.service.check_user(conn, entitled, user_id)

        def check(conn: Connection, user_id: str) -> object:
            user = identity_store.get_user(conn, user_id)
            if user is None or not user.enabled:
                raise AccessDenied("the user does not exist or is disabled")
            return user

        return check


def _admit(limiter: AddressLimiter, source_ip: str | None, operation: str) -> None:
    if not limiter.admit(source_ip):
        wait = limiter.retry_after(source_ip)
        raise SlowDown(f"too many {operation} calls from this address; retry in {wait} s")
