"""What every grant receives and returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ssooidc.services.catalog import Application, Catalog
from ssooidc.services.token_service import TokenService


@dataclass(frozen=True)
class TokenRequest:
    """A CreateTokenWithIAM (or CreateToken) request whose members have the right types."""

    client_id: str
    grant_type: str
    code: str | None = None
    refresh_token: str | None = None
    assertion: str | None = None
    scope: tuple[str, ...] | None = None
    redirect_uri: str | None = None
    subject_token: str | None = None
    subject_token_type: str | None = None
    requested_token_type: str | None = None
    code_verifier: str | None = None


class Grant(Protocol):
    """One grant type: the members it needs, and its single issue path (rows 8 to 10)."""

    grant_type: ClassVar[str]
    required: ClassVar[tuple[str, ...]]

    async def issue(
        self, service: TokenService, catalog: Catalog, app: Application, request: TokenRequest
    ) -> dict[str, Any]: ...
