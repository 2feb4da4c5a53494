"""The quickest end-to-end path: a jwt-bearer exchange through real boto3."""

from __future__ import annotations

from tests.integration.conftest import Tenant


def test_jwt_bearer_returns_tokens(tenant_server: Tenant) -> None:
    result = tenant_server.jwt_tokens()
    assert result["accessToken"].startswith("aoa")
    assert result["refreshToken"].startswith("aor")
    assert result["tokenType"] == "Bearer"
