"""What every page shares: templates, security headers, the session and pre-session cookies,
CSRF tokens, and form parsing."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ssooidc.services import browser_sessions, keys, passwords
from ssooidc.services.browser_sessions import BrowserSession
from ssooidc.services.rate_limit import AddressLimiter
from ssooidc.services.token_service import TokenService
from ssooidc.services.trusted_issuers import is_loopback

SESSION_COOKIE = "ssooidc_session"
PRE_COOKIE = "ssooidc_pre"  # binds the CSRF token of forms shown before sign-in
MAX_FORM = 16 * 1024
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{targets}; "
    "frame-ancestors 'none'; base-uri 'none'"
)
ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|http://\[::1\](:[0-9]{1,5})?")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP.format(targets=""),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


@dataclass(frozen=True)
class BrowserOptions:
    """The sign-in throttle and the device page's limit (config.py has their options)."""

    max_failures: int = 5
    max_failures_per_address: int = 20
    lockout: int = 900
    failure_delay: float = 0.5
    device_entry_rate: int = 20


class Browser:
    """The pages of one process: the token service, templates, throttles."""

    def __init__(self, service: TokenService, options: BrowserOptions) -> None:
        self.service = service
        self.options = options
        self.templates = Environment(
            loader=PackageLoader("ssooidc.http.pages", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.throttle = passwords.SignInThrottle(
            service.clock,
            max_per_user=options.max_failures,
            max_per_address=options.max_failures_per_address,
            lockout=options.lockout,
        )
        self.device_limit = AddressLimiter(options.device_entry_rate, service.clock)
        self._csrf_key: bytes | None = None
        public = urlsplit(service.policy.public_url)
        # Secure cookies, except on loopback HTTP in development (security.md, "Browser").
        self.secure_cookies = not (
            service.policy.development
            and public.scheme == "http"
            and is_loopback(public.hostname or "")
        )

    # -- rendering ------------------------------------------------------------------------

    def page(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        session: BrowserSession | None = None,
        form_target: str | None = None,
        **context: Any,
    ) -> Response:
        """A page; its forms carry the CSRF token bound to the session, or to a pre-session
        cookie set here when the browser has none. ``form_target``: the origin a form's answer
        redirects to (the consent page's redirect URI), which CSP ``form-action`` must allow,
        since browsers apply it to the redirects that follow a form submission too."""
        pre = None
        if session is not None:
            binding = session.session_id
        else:
            binding = request.cookies.get(PRE_COOKIE) or ""
            if not _plausible(binding):
                binding = pre = secrets.token_urlsafe(32)
        html = self.templates.get_template(template).render(
            csrf=browser_sessions.csrf_token(self.csrf_key(), binding),
            signed_in=session is not None,
            **context,
        )
        headers = dict(SECURITY_HEADERS)
        if form_target is not None and ORIGIN.fullmatch(form_target):
            headers["Content-Security-Policy"] = CSP.format(targets=" " + form_target)
        response = HTMLResponse(html, status_code=status, headers=headers)
        if pre is not None:
            self.set_cookie(response, PRE_COOKIE, pre, max_age=3600)
        return response

    def error(self, request: Request, message: str, *, status: int = 400) -> Response:
        return self.page(
            request, "error.html", status=status, session=self.session(request), message=message
        )

    @staticmethod
    def redirect(url: str, status: int = 303) -> Response:
        return RedirectResponse(url, status_code=status, headers=SECURITY_HEADERS)

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.secure_cookies,
            httponly=True,
            samesite="lax",
        )

    def clear_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path="/", secure=self.secure_cookies, httponly=True, samesite="lax"
        )

    # -- sessions and CSRF ----------------------------------------------------------------

    def csrf_key(self) -> bytes:
        if self._csrf_key is None:
            with self.service.store.read() as conn:
                root = keys.instance_secret(
                    conn, self.service.box, keys.CONTEXT_SECRET, self.service.now()
                )
            self._csrf_key = hmac.new(root, b"ssooidc browser csrf", hashlib.sha256).digest()
        return self._csrf_key

    def session(self, request: Request) -> BrowserSession | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not _plausible(session_id):
            return None
        with self.service.store.read() as conn:
            return browser_sessions.find(conn, session_id, self.service.now())

    def csrf_ok(
        self, request: Request, form: dict[str, str], session: BrowserSession | None
    ) -> bool:
        binding = session.session_id if session else request.cookies.get(PRE_COOKIE)
        return browser_sessions.csrf_ok(self.csrf_key(), binding, form.get("csrf_token"))


async def read_form(request: Request) -> dict[str, str] | None:
    """An application/x-www-form-urlencoded body as a dict (the first value of each name);
    None when it is not one, or too large."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def safe_next(value: str | None, default: str = "/start") -> str:
    """Only a same-origin relative path: ``/x``, never ``//host``, ``/\\host`` or a URL."""
    if not value or len(value) > 4096 or not value.startswith("/"):
        return default
    if value.startswith(("//", "/\\")) or any(c in value for c in "\\\r\n\t\x00"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def _plausible(value: str | None) -> bool:
    return bool(value) and len(value or "") <= 128 and (value or "").isascii()
