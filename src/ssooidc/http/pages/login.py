"""Sign-in and sign-out: identity-store users with argon2id passwords, a generic error, a
throttle per user name and per client address, and a new session id on every sign-in."""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from ssooidc.http.pages.authorize import origin_after_sign_in
from ssooidc.http.pages.common import PRE_COOKIE, SESSION_COOKIE, Browser, read_form, safe_next
from ssooidc.services import browser_sessions, identity_store, passwords

MAX_USER_NAME = 128
FAILED = "The user name or password is incorrect."
LOCKED = "Too many failed sign-ins. Wait a while, then try again."


class LoginPages:
    def __init__(self, browser: Browser) -> None:
        self.b = browser

    async def show(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        session = self.b.session(request)
        if session is not None:
            return self.b.redirect(target)
        return self.b.page(
            request,
            "login.html",
            next=target,
            user_name="",
            message=None,
            form_target=origin_after_sign_in(self.b, target),
        )

    async def submit(self, request: Request) -> Response:
        b = self.b
        form = await read_form(request)
        if form is None or not b.csrf_ok(request, form, None):
            return b.error(request, "The form expired or was not sent by this site.", status=403)
        target = safe_next(form.get("next"))
        user_name = form.get("username", "").strip()[:MAX_USER_NAME]
        password = form.get("password", "")
        address = request.client.host if request.client else None

        def again(message: str, status: int) -> Response:
            return b.page(
                request,
                "login.html",
                status=status,
                next=target,
                user_name=user_name,
                message=message,
                form_target=origin_after_sign_in(b, target),
            )

        if b.throttle.locked(user_name, address):
            return again(LOCKED, 429)
        user_id = await asyncio.to_thread(self._verify, user_name, password)
        if user_id is None:
            b.throttle.failed(user_name, address)
            await asyncio.sleep(b.options.failure_delay)
            if b.throttle.locked(user_name, address):
                return again(LOCKED, 429)
            return again(FAILED, 401)
        b.throttle.succeeded(user_name)
        now = b.service.now()
        old = request.cookies.get(SESSION_COOKIE)
        lifetime = b.service.policy.session_duration

        def write(conn: Connection) -> browser_sessions.BrowserSession:
            if old:
                browser_sessions.end(conn, old[:128])
            return browser_sessions.create(conn, user_id, now, lifetime)

        session = await b.service.store.run_write(write)
        response = b.redirect(target)
        b.set_cookie(response, SESSION_COOKIE, session.session_id, max_age=lifetime)
        b.clear_cookie(response, PRE_COOKIE)
        return response

    def _verify(self, user_name: str, password: str) -> str | None:
        """The user's id when the name and password match an enabled user; the same work
        (one argon2 verification) whether or not the user exists."""
        service = self.b.service
        with service.store.read() as conn:
            store_id = service.catalog(conn).instance.identity_store_id
            user_id = (
                identity_store.find_user_by_name(conn, store_id, user_name) if user_name else None
            )
            user = identity_store.get_user(conn, user_id) if user_id else None
            stored = passwords.password_hash_of(conn, user_id) if user_id else None
        ok = passwords.verify(stored, password)
        if not ok or user is None or not user.enabled:
            return None
        return user.user_id

    async def signout(self, request: Request) -> Response:
        b = self.b
        session = b.session(request)
        form = await read_form(request)
        if session is None:
            response = b.redirect("/login")
            b.clear_cookie(response, SESSION_COOKIE)
            return response
        if form is None or not b.csrf_ok(request, form, session):
            return b.error(request, "The form expired or was not sent by this site.", status=403)
        session_id = session.session_id
        await b.service.store.run_write(lambda conn: browser_sessions.end(conn, session_id))
        response = b.redirect("/login")
        b.clear_cookie(response, SESSION_COOKIE)
        return response
