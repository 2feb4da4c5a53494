"""What the factories of ``IsolatedTenant`` return: frozen records of the objects made, and
the grant types by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ssooidc.testing.endpoint import Credentials, Endpoint
from ssooidc.testing.issuer import TrustedIssuer

__all__ = [
    "AUTHORIZATION_CODE",
    "JWT_BEARER",
    "REFRESH_TOKEN",
    "TOKEN_EXCHANGE",
    "IamRole",
    "IamUser",
    "IdentityGroup",
    "IdentityUser",
    "RoleSession",
    "TipApplication",
]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
REFRESH_TOKEN = "refresh_token"
AUTHORIZATION_CODE = "authorization_code"


@dataclass(frozen=True)
class IdentityUser:
    """An identity-store user."""

    user_id: str
    user_name: str
    email: str
    display_name: str


@dataclass(frozen=True)
class IdentityGroup:
    """An identity-store group."""

    group_id: str
    display_name: str


@dataclass(frozen=True)
class IamUser:
    """An IAM user with one access key."""

    arn: str
    name: str
    credentials: Credentials


@dataclass(frozen=True)
class IamRole:
    """An IAM role."""

    arn: str
    name: str


@dataclass(frozen=True)
class TipApplication:
    """A customer managed application, and the IAM user its ActorPolicy lets call
    CreateTokenWithIAM for it."""

    arn: str
    name: str
    #: what its JwtBearer grant accepts as the assertion's ``aud`` (the first of ``audiences``)
    audience: str
    caller: IamUser
    issuer: TrustedIssuer | None
    redirect_uris: tuple[str, ...]
    endpoint: Endpoint = field(repr=False, compare=False)

    @property
    def credentials(self) -> Credentials:
        """The caller's access key."""
        return self.caller.credentials

    def client(self, service_name: str = "sso-oidc") -> Any:
        """A boto3 client signed with the caller's key."""
        return self.endpoint.client(service_name, self.caller.credentials)


@dataclass(frozen=True)
class RoleSession:
    """An identity-enhanced role session (sts AssumeRole with ``ProvidedContexts``)."""

    role_arn: str
    #: ``arn:aws:sts::<account>:assumed-role/<role>/<session name>``
    arn: str
    credentials: Credentials
    context: str
    endpoint: Endpoint = field(repr=False, compare=False)

    def client(self, service_name: str = "sts") -> Any:
        """A boto3 client signed with the session's credentials."""
        return self.endpoint.client(service_name, self.credentials)


Target = str | TipApplication
Principal = IdentityUser | IdentityGroup
