"""Public clients registered through RegisterClient (the AWS CLI, SDKs): the checks on their
metadata, their registration, their authentication by id and secret, and redirect matching."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import Connection, insert

from ssooidc.errors import (
    InvalidClient,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidScope,
    UnsupportedGrantType,
)
from ssooidc.services import tokens
from ssooidc.services.applications import DEFAULT_SCOPES, oauth_client_id
from ssooidc.services.catalog import Application
from ssooidc.services.trusted_issuers import is_loopback
from ssooidc.store import public_records
from ssooidc.store import tables as t
from ssooidc.store.engine import Store
from ssooidc.store.hot import json_value

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("authorization_code", DEVICE_CODE, "refresh_token")
# The scopes any registration may name; an entitled application adds its access scopes.
KNOWN_SCOPES = ("sso:account:access", *DEFAULT_SCOPES)
SECRET_LIFETIME = 90 * 24 * 3600  # [AWS] clientSecretExpiresAt is 90 days after issue
MAX_NAME = 128
MAX_URI = 2048
MAX_REDIRECT_URIS = 10
MAX_SCOPES = 25
_NO_SECRET = hashlib.sha256(b"no such client").digest()


@dataclass(frozen=True)
class ClientMetadata:
    """A RegisterClient request that passed every check."""

    client_name: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    issuer_url: str | None = None
    entitled_application_arn: str | None = None


@dataclass(frozen=True)
class Registration:
    client_id: str
    client_name: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    issuer_url: str | None
    entitled_application_arn: str | None
    issued_at: float
    secret_expires_at: float

    def allows(self, grant_type: str) -> bool:
        """A registration that named grants may use only those; one that named none, all."""
        return not self.grant_types or grant_type in self.grant_types

    @property
    def with_refresh(self) -> bool:
        """[AWS] registered scopes earn a refresh token (and a 1-hour access token); without
        scopes the access token lasts the session and there is no refresh token."""
        return bool(self.scopes) and self.allows("refresh_token")

    def access_lifetime(self, session_duration: int) -> int:
        return tokens.ACCESS_TOKEN_LIFETIME if self.scopes else session_duration


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# -- metadata -------------------------------------------------------------------------------


def check_metadata(
    *,
    client_name: str,
    client_type: str,
    scopes: Sequence[str] = (),
    redirect_uris: Sequence[str] = (),
    grant_types: Sequence[str] = (),
    issuer_url: str | None = None,
    entitled_application_arn: str | None = None,
    applications: Mapping[str, Application] | None = None,
) -> ClientMetadata:
    """RegisterClient's checks, in order: type, name, entitled application, grants, redirect
    URIs, scopes. With an entitled application, its configuration bounds the other three."""
    if client_type != "public":
        raise InvalidClientMetadata("clientType must be public")
    if not 1 <= len(client_name) <= MAX_NAME:
        raise InvalidClientMetadata(f"clientName must be 1 to {MAX_NAME} characters")
    if issuer_url is not None and len(issuer_url) > MAX_URI:
        raise InvalidClientMetadata(f"issuerUrl must be at most {MAX_URI} characters")
    app = None
    if entitled_application_arn is not None:
        app = (applications or {}).get(entitled_application_arn)
        if app is None or app.status != "ENABLED":
            raise InvalidClientMetadata(
                "entitledApplicationArn is not an enabled application of this instance"
            )
    grants = tuple(dict.fromkeys(grant_types))
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise UnsupportedGrantType(f"grant type {grant[:100]!r} is not supported")
    if "authorization_code" in grants and DEVICE_CODE in grants:
        raise InvalidRequest("authorization_code and device_code cannot be registered together")
    if app is not None:
        for grant in grants:
            if grant != DEVICE_CODE and grant not in app.grants:
                raise InvalidClientMetadata(f"the entitled application has no {grant} grant")
    uris = tuple(dict.fromkeys(redirect_uris))
    if len(uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"at most {MAX_REDIRECT_URIS} redirect URIs may be registered")
    for uri in uris:
        check_redirect_uri(uri)
    if "authorization_code" in grants and not uris:
        raise InvalidRedirectUri("the authorization_code grant needs a redirect URI")
    app_uris = _application_redirect_uris(app)
    if app_uris is not None:
        for uri in uris:
            if not any(redirect_uri_matches(allowed, uri) for allowed in app_uris):
                raise InvalidRedirectUri(f"{uri[:200]} is not a redirect URI of the application")
    known = set(KNOWN_SCOPES) | set(app.access_scopes if app is not None else ())
    wanted = tuple(dict.fromkeys(scopes))
    if len(wanted) > MAX_SCOPES:
        raise InvalidScope(f"at most {MAX_SCOPES} scopes may be registered")
    for scope in wanted:
        if scope not in known:
            raise InvalidScope(f"scope {scope[:100]!r} is not known")
    return ClientMetadata(
        client_name=client_name,
        scopes=wanted,
        redirect_uris=uris,
        grant_types=grants,
        issuer_url=issuer_url,
        entitled_application_arn=entitled_application_arn,
    )


def _application_redirect_uris(app: Application | None) -> list[str] | None:
    if app is None or "authorization_code" not in app.grants:
        return None
    grant = app.grants["authorization_code"].get("AuthorizationCode", {})
    return list(grant.get("RedirectUris", [])) or None


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return None
    return parts


def check_redirect_uri(uri: str) -> None:
    """HTTPS, or HTTP on a loopback address (RFC 8252 §7.3); absolute, no fragment."""
    parts = _split(uri) if len(uri) <= MAX_URI else None
    if parts is None or parts.fragment or not parts.hostname or parts.username is not None:
        raise InvalidRedirectUri(f"{uri[:200]} is not a valid redirect URI")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise InvalidRedirectUri(f"{uri[:200]} must be HTTPS or HTTP on a loopback address")


def redirect_uri_matches(registered: str, presented: str) -> bool:
    """Exact match, except that a loopback HTTP URI matches on any port (RFC 8252 §7.3: the
    AWS CLI registers ``http://127.0.0.1/oauth/callback`` and listens on a port of its own)."""
    if registered == presented:
        return True
    r, p = _split(registered), _split(presented)
    if r is None or p is None or r.scheme != "http" or p.scheme != "http":
        return False
    if not r.hostname or r.hostname != p.hostname or not is_loopback(r.hostname):
        return False
    if r.username is not None or p.username is not None or p.fragment:
        return False
    return (r.path, r.query) == (p.path, p.query)


# -- registration and authentication --------------------------------------------------------


async def register(
    store: Store, metadata: ClientMetadata, *, region: str, now: float
) -> tuple[Registration, str]:
    """Store a registration; the secret is returned once and kept only as its SHA-256."""
    secret = tokens.new_secret("aos")
    registration = Registration(
        client_id=oauth_client_id(region),
        client_name=metadata.client_name,
        scopes=metadata.scopes,
        redirect_uris=metadata.redirect_uris,
        grant_types=metadata.grant_types,
        issuer_url=metadata.issuer_url,
        entitled_application_arn=metadata.entitled_application_arn,
        issued_at=float(int(now)),
        secret_expires_at=float(int(now) + SECRET_LIFETIME),
    )
    async with store.transaction() as conn:
        conn.execute(
            insert(t.oidc_clients).values(
                client_id=registration.client_id,
                secret_hash=secret_hash(secret),
                client_name=registration.client_name,
                client_type="public",
                scopes=list(registration.scopes),
                redirect_uris=list(registration.redirect_uris),
                grant_types=list(registration.grant_types),
                issuer_url=registration.issuer_url,
                entitled_application_arn=registration.entitled_application_arn,
                issued_at=registration.issued_at,
                secret_expires_at=registration.secret_expires_at,
            )
        )
    return registration, secret


def authenticate(conn: Connection, client_id: str, client_secret: str, now: float) -> Registration:
    """The live registration with this id and secret (the secret compared in constant time)."""
    row = public_records.client(conn, client_id)
    presented = secret_hash(client_secret)
    if row is None:
        hmac.compare_digest(presented, _NO_SECRET)
        raise InvalidClient("clientId or clientSecret is not valid")
    if not hmac.compare_digest(presented, bytes(row[1])):
        raise InvalidClient("clientId or clientSecret is not valid")
    registration = _registration(row)
    if registration.secret_expires_at <= now:
        raise InvalidClient("the client's registration has expired; register again")
    return registration


def lookup(conn: Connection, client_id: str, now: float) -> Registration | None:
    """The live registration with this id (no secret: the browser's /authorize names only the
    client id), or None."""
    row = public_records.client(conn, client_id) if len(client_id) <= 256 else None
    if row is None:
        return None
    registration = _registration(row)
    return registration if registration.secret_expires_at > now else None


def _registration(row: Any) -> Registration:
    return Registration(
        client_id=row[0],
        client_name=row[2],
        scopes=tuple(json_value(row[3])),
        redirect_uris=tuple(json_value(row[4])),
        grant_types=tuple(json_value(row[5])),
        issuer_url=row[6],
        entitled_application_arn=row[7],
        issued_at=row[8],
        secret_expires_at=row[9],
    )
