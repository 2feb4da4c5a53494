"""GET/POST /device: the device authorization's browser side (RFC 8628 §3.3). The signed-in
user enters (or confirms) the user code, sees which client asks and for which scopes, and
approves or denies. Code look-ups are limited per client address."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ssooidc.http.pages.common import Browser, read_form
from ssooidc.services import devices
from ssooidc.services.browser_sessions import BrowserSession

MAX_CODE_TEXT = 32
NOT_FOUND = "That code is not valid, has expired, or was already used. Check it and try again."


class DevicePages:
    def __init__(self, browser: Browser) -> None:
        self.b = browser

    async def show(self, request: Request) -> Response:
        b = self.b
        typed = request.query_params.get("user_code", "")[:MAX_CODE_TEXT]
        session = b.session(request)
        if session is None:
            target = "/device" + ("?" + urlencode({"user_code": typed}) if typed else "")
            return b.redirect("/login?" + urlencode({"next": target}))
        if not typed:
            return self._entry(request, session, "", None)
        address = request.client.host if request.client else None
        if not b.device_limit.admit(address):
            wait = b.device_limit.retry_after(address)
            message = f"Too many codes tried from this address. Try again in {wait} seconds."
            return self._entry(request, session, typed, message, status=429)
        with b.service.store.read() as conn:
            found = devices.pending(conn, typed, b.service.now())
        if found is None:
            return self._entry(request, session, typed, NOT_FOUND, status=404)
        return b.page(
            request,
            "device_approve.html",
            session=session,
            user_code=found.user_code,
            client_name=found.client_name,
            scopes=found.scopes,
        )

    def _entry(
        self,
        request: Request,
        session: BrowserSession,
        typed: str,
        message: str | None,
        *,
        status: int = 200,
    ) -> Response:
        return self.b.page(
            request,
            "device_entry.html",
            status=status,
            session=session,
            user_code=typed,
            message=message,
        )

    async def decide(self, request: Request) -> Response:
        b = self.b
        session = b.session(request)
        form = await read_form(request)
        if form is None or session is None or not b.csrf_ok(request, form, session):
            return b.error(request, "The form expired or was not sent by this site.", status=403)
        user_code = form.get("user_code", "")[:MAX_CODE_TEXT]
        approve = form.get("decision") == "approve"
        decide = devices.approve_device if approve else devices.deny_device
        decided = await decide(b.service.store, user_code, session.user_id, now=b.service.now())
        if not decided:
            return self._entry(request, session, user_code, NOT_FOUND, status=404)
        return b.page(request, "device_done.html", session=session, approved=approve)
