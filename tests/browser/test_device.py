"""The device flow through a real browser while a botocore client polls CreateToken."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.browser.support import DEVICE, Browser, shot, sign_in


def poll_until_decided(web: Browser, client: dict[str, str], device_code: str) -> dict[str, Any]:
    oidc = web.oidc()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return {
                "tokens": oidc.create_token(
                    clientId=client["clientId"],
                    clientSecret=client["clientSecret"],
                    grantType=DEVICE,
                    deviceCode=device_code,
                )
            }
        except oidc.exceptions.AuthorizationPendingException:
            time.sleep(1.1)
        except oidc.exceptions.SlowDownException:
            time.sleep(6)
        except oidc.exceptions.AccessDeniedException:
            return {"denied": True}
    return {"timeout": True}


def start(web: Browser) -> tuple[dict[str, str], dict[str, Any]]:
    oidc = web.oidc()
    client = oidc.register_client(clientName="Device test CLI", clientType="public")
    started = oidc.start_device_authorization(
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        startUrl=f"{web.server.url}/start",
    )
    return client, started


def in_thread(web: Browser, client: dict[str, str], device_code: str) -> tuple[Any, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        result.update(poll_until_decided(web, client, device_code))

    thread = threading.Thread(target=run, daemon=True)  # gives up after 60 s
    thread.start()
    return thread, result


def test_device_flow_approved_while_polling(web: Browser) -> None:
    client, started = start(web)
    thread, result = in_thread(web, client, started["deviceCode"])
    page = web.page()
    page.goto(f"{web.server.url}/device")
    sign_in(page)
    page.wait_for_selector("#user_code")
    shot(page, "device-entry")
    page.fill("#user_code", started["userCode"].lower())
    page.click("button.primary")
    page.wait_for_selector("text=Approve this request?")
    assert page.locator(".code-display").inner_text() == started["userCode"]
    assert page.locator(".client").inner_text() == "Device test CLI"
    shot(page, "device-approval")
    page.click("button[value=approve]")
    page.wait_for_selector("text=Request approved")
    thread.join(30)
    assert result.get("tokens", {}).get("accessToken"), result


def test_device_flow_denied_from_complete_uri(web: Browser) -> None:
    client, started = start(web)
    thread, result = in_thread(web, client, started["deviceCode"])
    page = web.page()
    page.goto(started["verificationUriComplete"])
    sign_in(page, "bob")
    page.wait_for_selector("text=Approve this request?")
    page.click("button[value=deny]")
    page.wait_for_selector("text=Request denied")
    thread.join(30)
    assert result == {"denied": True}


def test_unknown_user_code_is_refused(web: Browser) -> None:
    page = web.page()
    page.goto(f"{web.server.url}/device?user_code=BCDF-GHJK")
    sign_in(page)
    page.wait_for_selector("[role=alert]")
    assert "not valid" in page.locator("[role=alert]").inner_text()
