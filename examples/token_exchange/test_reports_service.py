"""The reports service, with the frontend that calls it built by the factories: the exchange
succeeds for an authorized target and is refused otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from reports_service import NotAuthorized, ReportsService

from ssooidc.testing import JWT_BEARER, IdentityUser, TipApplication, TrustedIssuer
from ssooidc.testing.plugin import EndpointEnvironment


def frontend_token(app: TipApplication, user: IdentityUser, issuer: TrustedIssuer) -> str:
    """What the frontend holds after signing the user in (jwt-bearer)."""
    answer = app.client().create_token_with_iam(
        clientId=app.arn,
        grantType=JWT_BEARER,
        assertion=issuer.mint(email=user.email, audience=app.audience),
    )
    token: str = answer["accessToken"]
    return token


@pytest.fixture
def reports(
    ssooidc_endpoint: EndpointEnvironment, tip_application: Callable[..., TipApplication]
) -> tuple[ReportsService, TipApplication]:
    app = tip_application("reports", grants=["token-exchange"], scopes=["reports:read"])
    ssooidc_endpoint.use(app)  # the service runs as its own IAM principal
    return ReportsService(app.arn), app


def test_a_frontend_whose_scope_names_the_service_gets_a_report(
    reports: tuple[ReportsService, TipApplication],
    tip_application: Callable[..., TipApplication],
    identity_user: Callable[..., IdentityUser],
    trusted_issuer: TrustedIssuer,
) -> None:
    service, reports_app = reports
    alice = identity_user("alice")
    frontend = tip_application("frontend", scopes={"reports:read": [reports_app]})
    report = service.monthly_report(frontend_token(frontend, alice, trusted_issuer))
    assert report["for"] == alice.user_id


def test_a_frontend_not_authorized_for_the_service_is_refused(
    reports: tuple[ReportsService, TipApplication],
    tip_application: Callable[..., TipApplication],
    identity_user: Callable[..., IdentityUser],
    trusted_issuer: TrustedIssuer,
) -> None:
    service, _ = reports
    other = tip_application("other-service", grants=["token-exchange"])
    frontend = tip_application("frontend", scopes={"reports:read": [other]})
    token = frontend_token(frontend, identity_user(), trusted_issuer)
    with pytest.raises(NotAuthorized, match="no scope of the subject token authorizes"):
        service.monthly_report(token)


def test_an_access_token_that_was_never_issued_is_refused(
    reports: tuple[ReportsService, TipApplication],
) -> None:
    service, _ = reports
    with pytest.raises(NotAuthorized, match="not a live access token"):
        service.caller("aoa-not-a-token")


def test_the_exchanged_token_carries_the_user_into_a_role_session(
    reports: tuple[ReportsService, TipApplication],
    tip_application: Callable[..., TipApplication],
    identity_user: Callable[..., IdentityUser],
    trusted_issuer: TrustedIssuer,
    assume_role_with_context: Callable[..., Any],
) -> None:
    service, reports_app = reports
    frontend = tip_application("frontend", scopes={"reports:read": [reports_app]})
    alice = identity_user()
    caller = service.caller(frontend_token(frontend, alice, trusted_issuer))
    assert caller.scopes >= {"reports:read", "sts:identity_context"}
    session = assume_role_with_context(caller.identity_context, caller=reports_app)
    assert session.client("sts").get_caller_identity()["Arn"] == session.arn
