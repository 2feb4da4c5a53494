"""GET /start: the start URL (a profile's ``sso_start_url``): the signed-in user's applications."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ssooidc.http.pages.common import Browser
from ssooidc.services import identity_store


class StartPage:
    def __init__(self, browser: Browser) -> None:
        self.b = browser

    async def show(self, request: Request) -> Response:
        b = self.b
        session = b.session(request)
        if session is None:
            return b.redirect("/login?" + urlencode({"next": "/start"}))
        with b.service.store.read() as conn:
            catalog = b.service.catalog(conn)
            user = identity_store.get_user(conn, session.user_id)
            groups = identity_store.group_ids_of(conn, session.user_id)
        apps = sorted(
            (
                app
                for app in catalog.applications.values()
                if app.status == "ENABLED"
                and (session.user_id in app.assigned_users or groups & app.assigned_groups)
            ),
            key=lambda app: app.name.casefold(),
        )
        return b.page(
            request,
            "start.html",
            session=session,
            user_name=user.user_name if user else "",
            applications=[{"name": a.name, "description": a.description or ""} for a in apps],
        )
