"""The web API's tests: its code runs unchanged against a real token service, with one
fixture setting the endpoint variables and a few factories building the tenant it needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from web_api import TokenBroker, build_api

from ssooidc.testing import IdentityUser, TipApplication, TrustedIssuer, serve_app
from ssooidc.testing.plugin import EndpointEnvironment


class FakeClock:
    """The broker's time: moved by the test, never slept."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    client: httpx.Client
    broker: TokenBroker
    clock: FakeClock
    app: TipApplication
    alice: IdentityUser
    issuer: TrustedIssuer

    def sign_in(self) -> str:
        assertion = self.issuer.mint(email=self.alice.email, audience=self.app.audience)
        answer = self.client.post("/sessions", headers={"Authorization": f"Bearer {assertion}"})
        assert answer.status_code == 201, answer.text
        session: str = answer.json()["session"]
        return session


@pytest.fixture
def web(
    ssooidc_endpoint: EndpointEnvironment,
    tip_application: Callable[..., TipApplication],
    identity_user: Callable[..., IdentityUser],
    iam_role: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> Iterator[Setup]:
    alice = identity_user("alice")
    app = tip_application("web-api", assignment_required=True, assignments=[alice])
    role = iam_role("data-reader", trusted=app)
    ssooidc_endpoint.use(app)  # the API runs as the application's IAM principal
    clock = FakeClock()
    broker = TokenBroker(app.arn, role.arn, clock=clock)
    with serve_app(build_api(broker)) as url, httpx.Client(base_url=url) as client:
        yield Setup(client, broker, clock, app, alice, trusted_issuer)


def test_the_api_acts_for_the_signed_in_user(web: Setup) -> None:
    session = web.sign_in()
    me = web.client.get("/me", headers={"X-Session": session})
    assert me.status_code == 200, me.text
    assert me.json()["user_id"] == web.alice.user_id
    assert "assumed-role/data-reader-" in me.json()["role_session"]


def test_tokens_are_refreshed_before_they_expire(web: Setup) -> None:
    session = web.sign_in()
    before = web.broker.sessions[session]
    web.clock.now = before.expires_at - 10
    assert web.client.get("/me", headers={"X-Session": session}).status_code == 200
    after = web.broker.sessions[session]
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token  # refresh tokens rotate


def test_an_expired_identity_provider_token_is_refused(web: Setup) -> None:
    assertion = web.issuer.mint_expired(email=web.alice.email, audience=web.app.audience)
    answer = web.client.post("/sessions", headers={"Authorization": f"Bearer {assertion}"})
    assert answer.status_code == 401
    assert answer.json()["error"].startswith("assertion expired at ")


def test_a_user_not_assigned_to_the_application_is_refused(
    web: Setup, identity_user: Callable[..., IdentityUser]
) -> None:
    mallory = identity_user("mallory")
    assertion = web.issuer.mint(email=mallory.email, audience=web.app.audience)
    answer = web.client.post("/sessions", headers={"Authorization": f"Bearer {assertion}"})
    assert answer.status_code == 401
