"""What the browser tests share: Chromium through Playwright, a server with users that have
passwords, a loopback HTTP server that captures redirects, PKCE helpers."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from tests.serverproc import ACCOUNT, REGION, ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: where the pages' screenshots go: docs/screenshots only when asked for with
#: SSOOIDC_SCREENSHOTS=1 (so that a test run leaves the tracked images alone)
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SSOOIDC_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / f"ssooidc-screenshots-{os.getpid()}"
)
PASSWORD = "correct horse battery staple"
CALLBACK = "http://127.0.0.1/oauth/callback"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
TENANT: dict[str, Any] = {
    "identitystore": {
        "Users": [
            {
                "UserName": name,
                "DisplayName": name.title(),
                "Name": {"GivenName": name.title(), "FamilyName": "Browser"},
                "Emails": [{"Value": f"{name}@example.com"}],
                "Password": PASSWORD,
            }
            for name in ("alice", "bob", "mallory")
        ]
    },
    "ssoadmin": {
        "Applications": [
            {
                "Name": "files",
                "Description": "Team file storage",
                "Grants": {
                    "authorization_code": {"AuthorizationCode": {"RedirectUris": [CALLBACK]}},
                    "refresh_token": {"RefreshToken": {}},
                },
                "AuthenticationMethods": {
                    "IAM": {
                        "Iam": {
                            "ActorPolicy": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Principal": {"AWS": ACCOUNT},
                                        "Action": "sso-oauth:CreateTokenWithIAM",
                                        "Resource": "*",
                                    }
                                ],
                            }
                        }
                    }
                },
                "AccessScopes": [{"Scope": "files:read"}],
                "AssignmentRequired": True,
                "Assignments": [{"PrincipalType": "USER", "Principal": "alice"}],
            }
        ]
    },
}


def require_chromium() -> None:
    """Missing Chromium skips the browser tests, except under CI=true where it fails them."""
    if os.path.exists(CHROMIUM) or shutil.which("chromium"):
        return
    message = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Browser:
    server: ServerProcess
    context_factory: Any
    files_arn: str

    def oidc(self, signed: bool = False) -> Any:
        if signed:
            return self.server.client("sso-oidc")
        return boto3.client(
            "sso-oidc",
            endpoint_url=self.server.url,
            region_name=REGION,
            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
        )

    def page(self) -> Any:
        return self.context_factory().new_page()


def serve_browser(tmp: Path, *extra: str) -> Iterator[tuple[ServerProcess, str]]:
    server = ServerProcess(
        tmp,
        tenant=TENANT,
        extra_args=[
            "--allow-http-issuers",
            "--public-client-rate",
            "120",
            "--login-failure-delay-ms",
            "50",
            *extra,
        ],
    )
    server.start()
    try:
        admin = server.client("sso-admin")
        instance = admin.list_instances()["Instances"][0]
        apps = admin.list_applications(InstanceArn=instance["InstanceArn"])["Applications"]
        yield server, apps[0]["ApplicationArn"]
    finally:
        server.stop()


@dataclass
class Capture:
    """A loopback HTTP server that records the query of every request it gets."""

    port: int = 0
    queries: list[list[tuple[str, str]]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth/callback"

    def last(self) -> dict[str, str]:
        assert self.queries, "the redirect never arrived"
        return dict(self.queries[-1])


@contextmanager
def capturing() -> Iterator[Capture]:
    found = Capture()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path != "/oauth/callback":  # e.g. the browser asking for /favicon.ico
                self.send_error(404)
                return
            found.raw.append(query)
            found.queries.append(parse_qsl(query, keep_blank_values=True))
            body = b"<!doctype html><title>done</title><p>You may close this window."
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        httpd.shutdown()
        httpd.server_close()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(base: str, client_id: str, redirect_uri: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        **extra,
    }
    return f"{base}/authorize?{urlencode(params)}"


def sign_in(page: Any, user: str = "alice", password: str = PASSWORD) -> None:
    page.fill("#username", user)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button.primary")


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
