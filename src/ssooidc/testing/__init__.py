"""ssooidc for test suites: the pytest plugin, test servers, a test identity provider, and
factories for isolated tenant objects (``docs/testing.md``).

The names below are loaded on first use, so that importing the plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ssooidc.testing.asgi import serve_app
    from ssooidc.testing.endpoint import Credentials, Endpoint
    from ssooidc.testing.factories import IsolatedTenant
    from ssooidc.testing.idp import CertificateAuthority, TestIdentityProvider
    from ssooidc.testing.issuer import MISBEHAVIOURS, IssuerHost, TrustedIssuer
    from ssooidc.testing.objects import (
        AUTHORIZATION_CODE,
        JWT_BEARER,
        REFRESH_TOKEN,
        TOKEN_EXCHANGE,
        IamRole,
        IamUser,
        IdentityGroup,
        IdentityUser,
        RoleSession,
        TipApplication,
    )
    from ssooidc.testing.server import InProcessServer, LocalServer, SubprocessServer

_EXPORTS = {
    "serve_app": "asgi",
    "Credentials": "endpoint",
    "Endpoint": "endpoint",
    "InProcessServer": "server",
    "SubprocessServer": "server",
    "LocalServer": "server",
    "TestIdentityProvider": "idp",
    "CertificateAuthority": "idp",
    "TrustedIssuer": "issuer",
    "IssuerHost": "issuer",
    "MISBEHAVIOURS": "issuer",
    "IsolatedTenant": "factories",
    "IdentityUser": "objects",
    "IdentityGroup": "objects",
    "IamUser": "objects",
    "IamRole": "objects",
    "TipApplication": "objects",
    "RoleSession": "objects",
    "JWT_BEARER": "objects",
    "TOKEN_EXCHANGE": "objects",
    "REFRESH_TOKEN": "objects",
    "AUTHORIZATION_CODE": "objects",
}

__all__ = [
    "AUTHORIZATION_CODE",
    "JWT_BEARER",
    "MISBEHAVIOURS",
    "REFRESH_TOKEN",
    "TOKEN_EXCHANGE",
    "CertificateAuthority",
    "Credentials",
    "Endpoint",
    "IamRole",
    "IamUser",
    "IdentityGroup",
    "IdentityUser",
    "InProcessServer",
    "IsolatedTenant",
    "IssuerHost",
    "LocalServer",
    "RoleSession",
    "SubprocessServer",
    "TestIdentityProvider",
    "TipApplication",
    "TrustedIssuer",
    "serve_app",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
