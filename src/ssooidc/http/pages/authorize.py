"""GET/POST /authorize: the authorization code flow's browser side (RFC 6749 §4.1, PKCE RFC
7636, as the AWS CLI v2 drives it). An unknown client or unregistered redirect URI gets an error
page, never a redirect (RFC 6749 §4.1.2.1); other errors go back to the client with ``error``
and ``state``; a signed-in user sees a consent page with Allow and Deny."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from ssooidc.errors import AwsError
from ssooidc.http.pages.common import Browser, read_form
from ssooidc.services import clients, tokens
from ssooidc.services.browser_sessions import BrowserSession
from ssooidc.services.catalog import Application, Catalog

CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
MAX_STATE = 2048
MAX_SCOPE_TEXT = 4096
PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
    "scopes",
)


class PageError(Exception):
    """Shown to the user; nothing is sent to the client."""


class RedirectError(Exception):
    """Sent back to the client's (registered) redirect URI."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str):
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description


@dataclass(frozen=True)
class AuthRequest:
    client_id: str  # an application ARN, or a registered client's id
    client_name: str
    kind: str  # "application" or "client"
    redirect_uri: str
    state: str | None
    scopes: tuple[str, ...]
    code_challenge: str | None
    app: Application | None  # the application, or a client's entitled application

    def hidden(self) -> dict[str, str]:
        """The request as the consent form carries it back."""
        values = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scopes": " ".join(self.scopes),
        }
        if self.state is not None:
            values["state"] = self.state
        if self.code_challenge is not None:
            values["code_challenge"] = self.code_challenge
            values["code_challenge_method"] = "S256"
        return values


def back_to_client(redirect_uri: str, values: list[tuple[str, str]], state: str | None) -> str:
    """``redirect_uri`` with ``values`` then ``state`` added to its query (code before state:
    some drivers slice the raw query)."""
    if state is not None:
        values = [*values, ("state", state)]
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(values)


def parse(params: dict[str, str], catalog: Catalog, conn: Connection, now: float) -> AuthRequest:
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if not client_id:
        raise PageError("The request names no client (client_id is missing).")
    app = catalog.applications.get(client_id)
    registration = None if app is not None else clients.lookup(conn, client_id, now)
    if app is not None:
        if app.status != "ENABLED" or "authorization_code" not in app.grants:
            raise PageError("This application does not accept browser sign-in.")
        grant = app.grants["authorization_code"].get("AuthorizationCode", {})
        registered = list(grant.get("RedirectUris", []))
        name, kind, allowed = app.name, "application", set(app.all_scopes())
        bound_app: Application | None = app
    elif registration is not None:
        if not registration.allows("authorization_code") or not registration.redirect_uris:
            raise PageError("This client did not register for browser sign-in.")
        registered = list(registration.redirect_uris)
        name, kind, allowed = registration.client_name, "client", set(registration.scopes)
        bound_app = None
        if registration.entitled_application_arn is not None:
            bound_app = catalog.applications.get(registration.entitled_application_arn)
            if bound_app is None or bound_app.status != "ENABLED":
                raise PageError("This client's application is not enabled.")
    else:
        raise PageError("The client is not known to this server.")
    if not redirect_uri or not any(
        clients.redirect_uri_matches(r, redirect_uri) for r in registered
    ):
        raise PageError("The redirect URI is not registered for this client.")
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE:
        raise RedirectError(redirect_uri, None, "invalid_request", "state is too long")

    def refuse(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, state, error, description)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        if kind == "client" or method is not None:
            raise refuse("invalid_request", "code_challenge is required (PKCE S256)")
    elif method != "S256":
        raise refuse("invalid_request", "code_challenge_method must be S256")
    elif not CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "code_challenge is not valid")
    scope_text = params.get("scopes", params.get("scope", ""))
    if len(scope_text) > MAX_SCOPE_TEXT:
        raise refuse("invalid_scope", "too many scopes")
    wanted = tuple(dict.fromkeys(scope_text.split()))
    if any(scope not in allowed for scope in wanted):
        raise refuse("invalid_scope", "a requested scope is not available to this client")
    scopes = wanted or tuple(sorted(allowed))
    return AuthRequest(client_id, name, kind, redirect_uri, state, scopes, challenge, bound_app)


def origin_after_sign_in(browser: Browser, target: str) -> str | None:
    """The origin of the registered redirect URI that a sign-in's ``next`` (an /authorize
    request) ends at: the sign-in form's CSP ``form-action`` must allow it, because browsers
    apply it to the whole chain of redirects that follows a form submission."""
    path, _, query = target.partition("?")
    if path != "/authorize":
        return None
    params = {k: v for k, v in parse_qsl(query) if k in (*PARAMS, "scope")}
    service = browser.service
    try:
        with service.store.read() as conn:
            parse(params, service.catalog(conn), conn, service.now())
    except PageError:
        return None
    except RedirectError as exc:
        return _origin(exc.redirect_uri)
    return _origin(params["redirect_uri"])


class AuthorizePages:
    def __init__(self, browser: Browser) -> None:
        self.b = browser

    def _parse(self, params: dict[str, str]) -> AuthRequest:
        service = self.b.service
        with service.store.read() as conn:
            return parse(params, service.catalog(conn), conn, service.now())

    def _check_user(self, auth: AuthRequest, session: BrowserSession) -> None:
        """The user may use the application (assigned, where assignment is required)."""
        if auth.app is None:
            return
        app = auth.app
        service = self.b.service
        with service.store.read() as conn:
            try:
                service.check_user(conn, app, session.user_id)
            except AwsError:
                raise RedirectError(
                    auth.redirect_uri,
                    auth.state,
                    "access_denied",
                    "the user is not assigned to the application",
                ) from None

    def _refused(self, request: Request, exc: PageError | RedirectError) -> Response:
        if isinstance(exc, PageError):
            return self.b.error(request, str(exc))
        url = back_to_client(exc.redirect_uri, [("error", exc.error)], exc.state)
        url += "&" + urlencode([("error_description", exc.description)])
        return self.b.redirect(url, status=302)

    async def show(self, request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if k in (*PARAMS, "scope")}
        try:
            auth = self._parse(params)
            session = self.b.session(request)
            if session is None:
                target = "/authorize?" + urlencode(params)
                return self.b.redirect("/login?" + urlencode({"next": target}))
            self._check_user(auth, session)
        except (PageError, RedirectError) as exc:
            return self._refused(request, exc)
        return self.b.page(
            request,
            "consent.html",
            session=session,
            client_name=auth.client_name,
            kind=auth.kind,
            scopes=auth.scopes,
            redirect_host=_host(auth.redirect_uri),
            hidden=auth.hidden(),
            form_target=_origin(auth.redirect_uri),
        )

    async def decide(self, request: Request) -> Response:
        b = self.b
        session = b.session(request)
        form = await read_form(request)
        if form is None or session is None or not b.csrf_ok(request, form, session):
            return b.error(request, "The form expired or was not sent by this site.", status=403)
        try:
            auth = self._parse({k: v for k, v in form.items() if k in PARAMS})
            if form.get("decision") != "allow":
                raise RedirectError(
                    auth.redirect_uri, auth.state, "access_denied", "the user denied the request"
                )
            self._check_user(auth, session)
        except (PageError, RedirectError) as exc:
            return self._refused(request, exc)
        now = b.service.now()
        user_id, auth_time = session.user_id, session.auth_time

        def write(conn: Connection) -> str:
            return tokens.mint_code(
                conn,
                client_id=auth.client_id,
                redirect_uri=auth.redirect_uri,
                user_id=user_id,
                scopes=auth.scopes,
                code_challenge=auth.code_challenge,
                code_challenge_method="S256" if auth.code_challenge else None,
                auth_time=auth_time,
                now=now,
            )

        code = await b.service.store.run_write(write)
        return b.redirect(back_to_client(auth.redirect_uri, [("code", code)], auth.state), 302)


def _host(uri: str) -> str:
    return urlsplit(uri).netloc


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"
