"""One module per grant type; ``GRANTS`` assembles them."""

from __future__ import annotations

from ssooidc.grants.authorization_code import AuthorizationCodeGrant
from ssooidc.grants.base import Grant, TokenRequest
from ssooidc.grants.jwt_bearer import JwtBearerGrant
from ssooidc.grants.refresh_token import RefreshTokenGrant
from ssooidc.grants.token_exchange import TokenExchangeGrant

GRANTS: dict[str, Grant] = {
    g.grant_type: g
    for g in (JwtBearerGrant(), RefreshTokenGrant(), AuthorizationCodeGrant(), TokenExchangeGrant())
}

__all__ = ["GRANTS", "Grant", "TokenRequest"]
