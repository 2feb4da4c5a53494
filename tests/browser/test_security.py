"""Sign-in failures and lockout, CSRF, open redirects, headers and cookies."""

from __future__ import annotations

import re

import httpx

from tests.browser.support import (
    CALLBACK,
    PASSWORD,
    Browser,
    Capture,
    authorize_url,
    pkce,
    shot,
    sign_in,
)

FAILED = "The user name or password is incorrect."
LOCKED = "Too many failed sign-ins"


def test_wrong_password_then_lockout(web: Browser) -> None:
    page = web.page()
    page.goto(f"{web.server.url}/login")
    sign_in(page, "mallory", "wrong")
    page.wait_for_selector("[role=alert]")
    assert page.locator("[role=alert]").inner_text() == FAILED
    # An unknown user gets the very same message.
    sign_in(page, "nobody-here", "wrong")
    page.wait_for_selector(f"text={FAILED}")
    for _ in range(4):
        sign_in(page, "mallory", "wrong")
        page.wait_for_selector("[role=alert]")
    assert LOCKED in page.locator("[role=alert]").inner_text()
    # While locked, the right password is refused too.
    sign_in(page, "mallory", PASSWORD)
    page.wait_for_selector("[role=alert]")
    assert LOCKED in page.locator("[role=alert]").inner_text()
    assert page.url.startswith(f"{web.server.url}/login")
    assert not [c for c in page.context.cookies() if c["name"] == "ssooidc_session"]


def test_csrf_refused(web: Browser) -> None:
    page = web.page()
    page.goto(f"{web.server.url}/login")
    form = {"username": "alice", "password": PASSWORD}
    missing = page.request.post(f"{web.server.url}/login", form=form)
    assert missing.status == 403
    wrong = page.request.post(f"{web.server.url}/login", form={**form, "csrf_token": "0" * 64})
    assert wrong.status == 403
    sign_in(page)
    page.wait_for_url(f"{web.server.url}/start")
    client = web.oidc().register_client(
        clientName="csrf",
        clientType="public",
        grantTypes=["authorization_code"],
        redirectUris=[CALLBACK],
    )
    _verifier, challenge = pkce()
    decision = {
        "response_type": "code",
        "client_id": client["clientId"],
        "redirect_uri": CALLBACK,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "decision": "allow",
    }
    for extra in ({}, {"csrf_token": "f" * 64}):
        response = page.request.post(
            f"{web.server.url}/authorize", form={**decision, **extra}, max_redirects=0
        )
        assert response.status == 403
        assert "location" not in response.headers
    signout = page.request.post(f"{web.server.url}/signout", form={}, max_redirects=0)
    assert signout.status == 403
    device = page.request.post(
        f"{web.server.url}/device", form={"user_code": "BCDF-GHJK", "decision": "approve"}
    )
    assert device.status == 403


def test_unregistered_redirect_uri_gets_an_error_page(web: Browser, capture: Capture) -> None:
    client = web.oidc().register_client(
        clientName="redirects",
        clientType="public",
        grantTypes=["authorization_code"],
        redirectUris=[CALLBACK],
    )
    _verifier, challenge = pkce()
    page = web.page()
    for evil in ("https://evil.example/cb", f"http://127.0.0.1:{capture.port}/elsewhere"):
        url = authorize_url(
            web.server.url,
            client["clientId"],
            evil,
            state="x",
            code_challenge_method="S256",
            code_challenge=challenge,
        )
        response = page.goto(url)
        assert response is not None and response.status == 400
        assert page.url.startswith(f"{web.server.url}/authorize?")
        assert "not registered" in page.locator("[role=alert]").inner_text()
    shot(page, "error")
    unknown = page.goto(authorize_url(web.server.url, "no-such-client", capture.redirect_uri))
    assert unknown is not None and unknown.status == 400
    assert capture.queries == []


def test_next_parameter_never_leaves_the_site(web: Browser) -> None:
    page = web.page()
    for target in ("https://evil.example", "//evil.example/x", "/\\evil.example"):
        page.goto(f"{web.server.url}/login?next={target}")
        sign_in(page)
        page.wait_for_url(f"{web.server.url}/start")
        page.click("text=Sign out")
        page.wait_for_url(f"{web.server.url}/login")


def test_headers_and_cookies(web: Browser) -> None:
    page = web.page()
    response = page.goto(f"{web.server.url}/login")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "<script" not in page.content()
    sign_in(page)
    page.wait_for_url(f"{web.server.url}/start")
    first = {c["name"]: c for c in page.context.cookies()}["ssooidc_session"]
    assert first["httpOnly"] and first["sameSite"] == "Lax"
    # A new sign-in gets a new session id.
    page.goto(f"{web.server.url}/login?next=/start")
    page.click("text=Sign out")
    sign_in(page)
    page.wait_for_url(f"{web.server.url}/start")
    second = {c["name"]: c for c in page.context.cookies()}["ssooidc_session"]
    assert second["value"] != first["value"]


def test_device_code_entry_is_rate_limited(web: Browser) -> None:
    """Runs last in this module: it uses up the address's look-ups (20 a minute)."""
    with httpx.Client(base_url=web.server.url, timeout=10) as http:
        page = http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        form = {"csrf_token": token.group(1), "username": "bob", "password": PASSWORD}
        assert http.post("/login", data=form).status_code == 303
        statuses = [http.get("/device?user_code=BCDF-GHJK").status_code for _ in range(21)]
    assert statuses[:20] == [404] * 20
    assert statuses[20] == 429
