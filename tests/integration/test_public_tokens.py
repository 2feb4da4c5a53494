"""CreateToken (unsigned) for public clients: the device_code, authorization_code and
refresh_token grants against a real server, and botocore's own SSO token provider refreshing
a cached token through it."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ssooidc.services import devices, tokens
from ssooidc.store import tables
from tests.integration.public_support import (
    CALLBACK,
    DEVICE,
    Public,
    digest,
    refused,
    serve_public,
)
from tests.serverproc import REGION


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Public]:
    yield from serve_public(tmp_path_factory)


# -- CreateToken: device_code ---------------------------------------------------------------------


def test_device_flow_end_to_end(public: Public) -> None:
    client = public.register(clientName="aws-cli", scopes=["sso:account:access"])
    started = public.start(client)
    response = refused(
        public.oidc().create_token,
        "AuthorizationPendingException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )
    assert response["error"] == "authorization_pending"
    with public.store.read() as conn:
        shown = devices.pending(conn, started["userCode"].lower(), time.time())
    assert shown is not None and shown.client_name == "aws-cli"
    assert shown.scopes == ("sso:account:access",)
    public.approve(started["userCode"])
    result = public.poll(client, started["deviceCode"])
    assert result["accessToken"].startswith("aoa")
    assert result["refreshToken"].startswith("aor")
    assert result["tokenType"] == "Bearer"
    assert result["expiresIn"] == 3600
    assert "idToken" not in result
    with public.store.read() as conn:
        stored = tokens.find_token(conn, result["accessToken"], "access")
    assert stored is not None and stored.application_arn == client["clientId"]
    assert stored.family.user_id == public.user_id("alice")
    assert stored.scopes == ("sso:account:access",)
    refused(
        public.oidc().create_token,
        "InvalidGrantException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )


def test_registration_without_scopes_gets_a_session_long_token_and_no_refresh(
    public: Public,
) -> None:
    _client, result = public.device_tokens()
    assert "refreshToken" not in result
    assert 8 * 3600 - 60 <= result["expiresIn"] <= 8 * 3600


def test_polling_too_quickly_is_told_to_slow_down(public: Public) -> None:
    client = public.register()
    started = public.start(client)
    where = tables.device_authorizations.c.device_code_hash == digest(started["deviceCode"])
    poll = {
        "clientId": client["clientId"],
        "clientSecret": client["clientSecret"],
        "grantType": DEVICE,
        "deviceCode": started["deviceCode"],
    }
    oidc = public.oidc()
    # The AWS CLI polls twice without a pause: both are merely pending.
    refused(oidc.create_token, "AuthorizationPendingException", **poll)
    refused(oidc.create_token, "AuthorizationPendingException", **poll)
    response = refused(oidc.create_token, "SlowDownException", **poll)
    assert response["error"] == "slow_down"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with public.store.read() as conn:
        assert (
            conn.execute(select(tables.device_authorizations.c.interval).where(where)).scalar_one()
            == 6
        )
    # A client that waited the interval is pending again.
    public.set_column(tables.device_authorizations, where, last_polled_at=time.time() - 6)
    refused(oidc.create_token, "AuthorizationPendingException", **poll)


def test_denied_device_is_access_denied(public: Public) -> None:
    client = public.register()
    started = public.start(client)
    user_id = public.user_id("alice")
    assert asyncio.run(devices.deny_device(public.store, started["userCode"], user_id))
    assert not asyncio.run(devices.approve_device(public.store, started["userCode"], user_id))
    refused(
        public.oidc().create_token,
        "AccessDeniedException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )


def test_expired_device_code_is_expired_token(public: Public) -> None:
    client = public.register()
    started = public.start(client)
    public.set_column(
        tables.device_authorizations,
        tables.device_authorizations.c.device_code_hash == digest(started["deviceCode"]),
        expires_at=time.time() - 1,
    )
    assert not asyncio.run(
        devices.approve_device(public.store, started["userCode"], public.user_id("alice"))
    )
    refused(
        public.oidc().create_token,
        "ExpiredTokenException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )


def test_concurrent_polls_after_approval_yield_one_token(public: Public) -> None:
    client = public.register(scopes=["sso:account:access"])
    started = public.start(client)
    public.approve(started["userCode"])
    attempts = 4
    clients = [public.oidc() for _ in range(attempts)]
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(oidc: Any) -> None:
        barrier.wait()
        try:
            oidc.create_token(
                clientId=client["clientId"],
                clientSecret=client["clientSecret"],
                grantType=DEVICE,
                deviceCode=started["deviceCode"],
            )
            outcome = "tokens"
        except oidc.exceptions.InvalidGrantException:
            outcome = "invalid_grant"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["invalid_grant"] * (attempts - 1) + ["tokens"]


def test_device_code_needs_an_enabled_user_and_its_own_client(public: Public) -> None:
    client = public.register()
    started = public.start(client)
    public.approve(started["userCode"], "carol")  # disabled
    refused(
        public.oidc().create_token,
        "AccessDeniedException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )
    other = public.register()
    started = public.start(client)
    response = refused(
        public.oidc().create_token,
        "InvalidGrantException",
        clientId=other["clientId"],
        clientSecret=other["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )
    assert "not valid for this client" in response["error_description"]


def test_entitled_application_requires_an_assigned_user(public: Public) -> None:
    entitled = {"entitledApplicationArn": public.files_arn, "scopes": ["files:read"]}
    client = public.register(**entitled)
    started = public.start(client)
    public.approve(started["userCode"], "bob")  # not assigned to the application
    refused(
        public.oidc().create_token,
        "AccessDeniedException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE,
        deviceCode=started["deviceCode"],
    )
    _client, result = public.device_tokens("alice", **entitled)
    assert result["refreshToken"].startswith("aor")


def test_create_token_checks_grant_type_and_members(public: Public) -> None:
    client = public.register(grantTypes=[DEVICE])
    credentials = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    oidc = public.oidc()
    refused(
        oidc.create_token,
        "UnsupportedGrantTypeException",
        grantType="urn:ietf:params:oauth:grant-type:jwt-bearer",
        **credentials,
    )
    refused(oidc.create_token, "InvalidRequestException", grantType=DEVICE, **credentials)
    refused(
        oidc.create_token,
        "UnauthorizedClientException",
        grantType="authorization_code",
        code="x",
        redirectUri=CALLBACK,
        **credentials,
    )


# -- CreateToken: authorization_code and refresh_token --------------------------------------------


def mint_code(public: Public, client_id: str, redirect_uri: str, verifier: str) -> str:
    challenge = base64.urlsafe_b64encode(digest(verifier)).rstrip(b"=").decode()
    now = time.time()
    with public.store.write_sync() as conn:
        return tokens.mint_code(
            conn,
            client_id=client_id,
            redirect_uri=redirect_uri,
            user_id=public.user_id("alice"),
            scopes=("sso:account:access",),
            code_challenge=challenge,
            code_challenge_method="S256",
            auth_time=now,
            now=now,
        )


def test_authorization_code_with_pkce_and_any_loopback_port(public: Public) -> None:
    client = public.register(
        grantTypes=["authorization_code", "refresh_token"],
        redirectUris=[CALLBACK],
        scopes=["sso:account:access"],
    )
    verifier = "v" * 64
    redirect = "http://127.0.0.1:54321/oauth/callback"
    code = mint_code(public, client["clientId"], redirect, verifier)
    redeem = {
        "clientId": client["clientId"],
        "clientSecret": client["clientSecret"],
        "grantType": "authorization_code",
        "redirectUri": redirect,
    }
    oidc = public.oidc()
    refused(oidc.create_token, "InvalidGrantException", code=code, codeVerifier="w" * 64, **redeem)
    result = oidc.create_token(code=code, codeVerifier=verifier, **redeem)
    assert result["refreshToken"].startswith("aor") and result["expiresIn"] == 3600
    refused(oidc.create_token, "InvalidGrantException", code=code, codeVerifier=verifier, **redeem)
    # Another path on the loopback address is not the registered redirect URI.
    elsewhere = "http://127.0.0.1:54321/other"
    code = mint_code(public, client["clientId"], elsewhere, verifier)
    response = refused(
        oidc.create_token,
        "InvalidGrantException",
        code=code,
        codeVerifier=verifier,
        **{**redeem, "redirectUri": elsewhere},
    )
    assert "registered redirect URI" in response["error_description"]


def test_refresh_rotates_with_a_30_second_grace(public: Public) -> None:
    client, first = public.device_tokens(scopes=["sso:account:access"])
    second = public.refresh(client, first["refreshToken"])
    assert second["refreshToken"] != first["refreshToken"]
    assert second["expiresIn"] == 3600 and second["accessToken"].startswith("aoa")
    # Within 30 s a rotated token works again (CLI processes sharing one cache file).
    again = public.refresh(client, first["refreshToken"])
    assert again["refreshToken"] not in (first["refreshToken"], second["refreshToken"])
    # Past the grace it is a reuse: refused, and the whole family is revoked.
    with public.store.read() as conn:
        consumed_at = conn.execute(
            select(tables.tokens.c.consumed_at).where(
                tables.tokens.c.token_hash == digest(first["refreshToken"])
            )
        ).scalar_one()
    public.set_column(
        tables.tokens,
        tables.tokens.c.token_hash == digest(first["refreshToken"]),
        consumed_at=consumed_at - 31,
    )
    credentials = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    oidc = public.oidc()
    for token in (first["refreshToken"], again["refreshToken"]):
        refused(
            oidc.create_token,
            "InvalidGrantException",
            grantType="refresh_token",
            refreshToken=token,
            **credentials,
        )


def test_refresh_is_bound_to_the_client_and_the_session(public: Public) -> None:
    client, first = public.device_tokens(scopes=["sso:account:access"])
    other = public.register(scopes=["sso:account:access"])
    refused(
        public.oidc().create_token,
        "InvalidGrantException",
        clientId=other["clientId"],
        clientSecret=other["clientSecret"],
        grantType="refresh_token",
        refreshToken=first["refreshToken"],
    )
    with public.store.read() as conn:
        stored = tokens.find_token(conn, first["refreshToken"], "refresh")
    assert stored is not None
    public.set_column(
        tables.token_families,
        tables.token_families.c.family_id == stored.family.family_id,
        expires_at=time.time() - 1,
    )
    refused(
        public.oidc().create_token,
        "ExpiredTokenException",
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType="refresh_token",
        refreshToken=first["refreshToken"],
    )


# -- botocore's SSO token provider ---------------------------------------------------------------

PROVIDER = """
import json
import botocore.session
from botocore.tokens import SSOTokenProvider

session = botocore.session.Session(profile="p")
token = SSOTokenProvider(session).load_token().get_frozen_token()
print(json.dumps({"token": token.token}))
"""


def test_botocore_sso_token_provider_refreshes_through_create_token(
    public: Public, tmp_path: Path
) -> None:
    client, first = public.device_tokens(scopes=["sso:account:access"])
    start_url = f"{public.server.url}/start"
    aws = tmp_path / ".aws"
    (aws / "sso" / "cache").mkdir(parents=True)
    (aws / "config").write_text(
        f"[sso-session s]\nsso_start_url = {start_url}\nsso_region = {REGION}\n\n"
        "[profile p]\nsso_session = s\n"
    )

    def stamp(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    now = dt.datetime.now(dt.UTC)
    cache = aws / "sso" / "cache" / f"{hashlib.sha1(b's').hexdigest()}.json"
    cache.write_text(
        json.dumps(
            {
                "startUrl": start_url,
                "region": REGION,
                "accessToken": first["accessToken"],
                "expiresAt": stamp(now + dt.timedelta(minutes=5)),  # inside the refresh window
                "clientId": client["clientId"],
                "clientSecret": client["clientSecret"],
                "registrationExpiresAt": stamp(
                    dt.datetime.fromtimestamp(client["clientSecretExpiresAt"], dt.UTC)
                ),
                "refreshToken": first["refreshToken"],
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(aws / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"),
        AWS_ENDPOINT_URL_SSO_OIDC=public.server.url,
    )
    done = subprocess.run(
        [sys.executable, "-c", PROVIDER], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["token"]
    cached = json.loads(cache.read_text())
    assert token == cached["accessToken"] != first["accessToken"]
    assert (
        cached["refreshToken"].startswith("aor") and cached["refreshToken"] != first["refreshToken"]
    )
    expires = dt.datetime.strptime(cached["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert dt.timedelta(minutes=55) < expires - now <= dt.timedelta(minutes=61)
    with public.store.read() as conn:
        stored = tokens.find_token(conn, token, "access")
    assert stored is not None and stored.application_arn == client["clientId"]
