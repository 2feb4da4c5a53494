"""urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4, §3.5): a public client polls
with its device code until the user decides; an approval yields tokens exactly once."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from sqlalchemy import Connection

from ssooidc.errors import (
    AccessDenied,
    AuthorizationPending,
    AwsError,
    ExpiredToken,
    InvalidGrant,
    SlowDown,
)
from ssooidc.observability import metrics
from ssooidc.services import devices, tokens
from ssooidc.services.token_service import TokenService


async def redeem(
    service: TokenService,
    client_id: str,
    device_code: str,
    *,
    with_refresh: bool,
    access_lifetime: int,
    check_user: Callable[[Connection, str], object],
) -> tokens.IssuedTokens:
    """Answer one poll. The checks, in order: the code is this client's, not used, not
    expired, not denied, decided (else pending or slow down), and its user may sign in."""
    now = service.now()

    def write(conn: Connection) -> tokens.IssuedTokens | AwsError:
        device = devices.find(conn, device_code)
        if device is None or not hmac.compare_digest(device.client_id, client_id):
            raise InvalidGrant("the device code is not valid for this client")
        if device.status == devices.CONSUMED:
            raise InvalidGrant("the device code was already used")
        if device.expires_at <= now:
            raise ExpiredToken("the device code has expired")
        if device.status == devices.DENIED:
            raise AccessDenied("the user denied the authorization request")
        if device.status == devices.PENDING:
            # Returned, not raised: the poll is recorded even though the answer is an error.
            if devices.record_poll(conn, device_code, device, now):
                return SlowDown("polling too quickly: wait longer between requests")
            return AuthorizationPending("Authorization is still pending")
        assert device.user_id is not None and device.decided_at is not None
        check_user(conn, device.user_id)
        family_id = tokens.new_family_id()
        if not devices.consume(conn, device_code, family_id):
            raise InvalidGrant("the device code was already used")
        family = tokens.start_family(
            conn,
            family_id=family_id,
            application_arn=client_id,
            user_id=device.user_id,
            origin="device_code",
            issuer_arn=None,
            auth_time=device.decided_at,
            expires_at=device.decided_at + service.policy.session_duration,
        )
        return tokens.issue_tokens(
            conn,
            family,
            device.scopes,
            with_refresh=with_refresh,
            now=now,
            access_lifetime=access_lifetime,
        )

    result = await service.store.run_write(write)
    if isinstance(result, AwsError):
        raise result
    metrics.tokens_issued("device_code")
    return result
