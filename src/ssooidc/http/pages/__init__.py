"""The browser pages: sign-in, /authorize consent, the device page, the start page."""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ssooidc.http.pages.authorize import AuthorizePages
from ssooidc.http.pages.common import Browser, BrowserOptions
from ssooidc.http.pages.device import DevicePages
from ssooidc.http.pages.login import LoginPages
from ssooidc.http.pages.start import StartPage
from ssooidc.services.token_service import TokenService

__all__ = ["BrowserOptions", "page_routes"]

STYLESHEET = files("ssooidc.http.pages").joinpath("static/style.css").read_bytes()


async def stylesheet(request: Request) -> Response:
    return Response(
        STYLESHEET,
        media_type="text/css",
        headers={
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


def page_routes(service: TokenService, options: BrowserOptions) -> list[Route]:
    browser = Browser(service, options)
    login = LoginPages(browser)
    authorize = AuthorizePages(browser)
    device = DevicePages(browser)
    start = StartPage(browser)
    return [
        Route("/login", login.show, methods=["GET"]),
        Route("/login", login.submit, methods=["POST"]),
        Route("/signout", login.signout, methods=["POST"]),
        Route("/authorize", authorize.show, methods=["GET"]),
        Route("/authorize", authorize.decide, methods=["POST"]),
        Route("/device", device.show, methods=["GET"]),
        Route("/device", device.decide, methods=["POST"]),
        Route("/start", start.show, methods=["GET"]),
        Route("/static/style.css", stylesheet, methods=["GET"]),
    ]
