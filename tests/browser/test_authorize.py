"""The authorization code flow with PKCE through a real browser, redeemed by CreateToken (a
registered public client) and by CreateTokenWithIAM (an application); consent denied."""

from __future__ import annotations

from tests.browser.support import (
    CALLBACK,
    Browser,
    Capture,
    authorize_url,
    pkce,
    shot,
    sign_in,
)


def register(web: Browser) -> dict[str, str]:
    return web.oidc().register_client(  # type: ignore[no-any-return]
        clientName="Browser test CLI",
        clientType="public",
        grantTypes=["authorization_code", "refresh_token"],
        redirectUris=[CALLBACK],
        scopes=["sso:account:access"],
    )


def test_code_with_pkce_redeemed_by_create_token(web: Browser, capture: Capture) -> None:
    client = register(web)
    verifier, challenge = pkce()
    page = web.page()
    page.goto(
        authorize_url(
            web.server.url,
            client["clientId"],
            capture.redirect_uri,
            state="st-123",
            code_challenge_method="S256",
            code_challenge=challenge,
            scopes="sso:account:access",
        )
    )
    assert page.url.startswith(f"{web.server.url}/login?next=")
    shot(page, "login")
    sign_in(page)
    page.wait_for_selector("text=Allow access?")
    assert page.locator(".client").inner_text() == "Browser test CLI"
    assert "sso:account:access" in page.locator(".scopes").inner_text()
    shot(page, "consent")
    page.click("button[value=allow]")
    page.wait_for_url(f"{capture.redirect_uri}*")
    query = capture.last()
    assert query["state"] == "st-123"
    assert capture.raw[-1].startswith("code=")  # code before state
    tokens = web.oidc().create_token(
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType="authorization_code",
        code=query["code"],
        redirectUri=capture.redirect_uri,
        codeVerifier=verifier,
    )
    assert tokens["accessToken"] and tokens["refreshToken"]
    # A code is redeemed once.
    oidc = web.oidc()
    try:
        oidc.create_token(
            clientId=client["clientId"],
            clientSecret=client["clientSecret"],
            grantType="authorization_code",
            code=query["code"],
            redirectUri=capture.redirect_uri,
            codeVerifier=verifier,
        )
    except oidc.exceptions.InvalidGrantException:
        pass
    else:
        raise AssertionError("a second redemption succeeded")


def test_code_redeemed_by_create_token_with_iam(web: Browser, capture: Capture) -> None:
    verifier, challenge = pkce()
    page = web.page()
    page.goto(
        authorize_url(
            web.server.url,
            web.files_arn,
            capture.redirect_uri,
            state="iam-state",
            code_challenge_method="S256",
            code_challenge=challenge,
            scope="openid files:read",
        )
    )
    sign_in(page)
    page.wait_for_selector("text=Allow access?")
    assert page.locator(".client").inner_text() == "files"
    page.click("button[value=allow]")
    page.wait_for_url(f"{capture.redirect_uri}*")
    query = capture.last()
    assert query["state"] == "iam-state"
    result = web.oidc(signed=True).create_token_with_iam(
        clientId=web.files_arn,
        grantType="authorization_code",
        code=query["code"],
        redirectUri=capture.redirect_uri,
        codeVerifier=verifier,
    )
    assert set(result["scope"]) == {"openid", "files:read"}
    assert result["idToken"] and result["refreshToken"]

    # The start page lists the application assigned to the signed-in user.
    page.goto(f"{web.server.url}/start")
    assert "files" in page.locator(".apps").inner_text()
    shot(page, "start")


def test_denied_consent_returns_access_denied(web: Browser, capture: Capture) -> None:
    client = register(web)
    _verifier, challenge = pkce()
    page = web.page()
    page.goto(
        authorize_url(
            web.server.url,
            client["clientId"],
            capture.redirect_uri,
            state="deny-me",
            code_challenge_method="S256",
            code_challenge=challenge,
        )
    )
    sign_in(page)
    page.click("button[value=deny]")
    page.wait_for_url(f"{capture.redirect_uri}*")
    assert capture.raw[-1].startswith("error=access_denied&state=deny-me")
    assert "code" not in capture.last()


def test_unassigned_user_is_refused_by_the_application(web: Browser, capture: Capture) -> None:
    _verifier, challenge = pkce()
    page = web.page()
    page.goto(
        authorize_url(
            web.server.url,
            web.files_arn,
            capture.redirect_uri,
            state="bob",
            code_challenge_method="S256",
            code_challenge=challenge,
        )
    )
    sign_in(page, "bob")
    page.wait_for_url(f"{capture.redirect_uri}*")
    assert capture.last()["error"] == "access_denied"
    assert capture.last()["state"] == "bob"


def test_other_errors_go_back_with_state(web: Browser, capture: Capture) -> None:
    client = register(web)
    page = web.page()
    sign_in_first(web, page)
    # No PKCE from a public client, then a scope it did not register.
    page.goto(authorize_url(web.server.url, client["clientId"], capture.redirect_uri, state="s1"))
    assert capture.last() == {
        "error": "invalid_request",
        "state": "s1",
        "error_description": "code_challenge is required (PKCE S256)",
    }
    _verifier, challenge = pkce()
    page.goto(
        authorize_url(
            web.server.url,
            client["clientId"],
            capture.redirect_uri,
            state="s2",
            code_challenge_method="plain",
            code_challenge=challenge,
        )
    )
    assert capture.last()["error"] == "invalid_request"
    page.goto(
        authorize_url(
            web.server.url,
            client["clientId"],
            capture.redirect_uri,
            state="s3",
            code_challenge_method="S256",
            code_challenge=challenge,
            scopes="files:read",
        )
    )
    assert capture.last()["error"] == "invalid_scope"


def sign_in_first(web: Browser, page: object) -> None:
    page.goto(f"{web.server.url}/login")  # type: ignore[attr-defined]
    sign_in(page)
    page.wait_for_url(f"{web.server.url}/start")  # type: ignore[attr-defined]
