"""The authorization-code flow with PKCE in a real browser: Playwright drives Debian's
Chromium (``/usr/bin/chromium``; Playwright's own browser download is never used) from the
application's ``/login`` through ssooidc's sign-in and consent pages and back.

Setting a user's password needs a server the tests started (no AWS API sets one), so these
tests skip against ``--ssooidc-url``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from files_app import build_files_app

from ssooidc.testing import Endpoint, IdentityUser, IsolatedTenant, TipApplication, serve_app
from ssooidc.testing.plugin import EndpointEnvironment

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def files(
    ssooidc_server: Endpoint,
    ssooidc_endpoint: EndpointEnvironment,
    tip_application: Callable[..., TipApplication],
) -> Iterator[tuple[str, TipApplication]]:
    if ssooidc_server.mode == "remote":
        pytest.skip("a password can be set only on a server the tests started")
    app = tip_application(
        "files",
        grants=["authorization_code", "refresh_token"],
        scopes=["files:read"],
        assignment_required=True,
    )
    ssooidc_endpoint.use(app)
    with serve_app(build_files_app(app.arn)) as url:
        yield url, app


def sign_in(page: Any, user: IdentityUser) -> None:
    page.fill("#username", user.user_name)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button.primary")


def test_an_assigned_user_signs_in_with_pkce(
    files: tuple[str, TipApplication],
    identity_user: Callable[..., IdentityUser],
    ssooidc_tenant: IsolatedTenant,
    page: Any,
) -> None:
    url, app = files
    alice = identity_user("alice", password=PASSWORD)
    ssooidc_tenant.assign(app, alice)
    page.goto(f"{url}/login")
    sign_in(page, alice)
    page.wait_for_selector("text=Allow access?")
    page.click("button[value=allow]")
    page.wait_for_url(f"{url}/callback*")
    assert page.locator("#user").inner_text() == alice.user_id
    assert page.locator("#scopes").inner_text().split() == ["openid", "files:read"]


def test_a_user_not_assigned_gets_access_denied(
    files: tuple[str, TipApplication],
    identity_user: Callable[..., IdentityUser],
    page: Any,
) -> None:
    url, _ = files
    mallory = identity_user("mallory", password=PASSWORD)
    page.goto(f"{url}/login")
    sign_in(page, mallory)
    page.wait_for_url(f"{url}/callback*")
    assert page.locator("#error").inner_text() == "access_denied"
