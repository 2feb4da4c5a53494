"""Operations against real server processes: JSON access logs that carry every request id and
no secret, Prometheus metrics summed over workers, and /readyz following the store."""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import psycopg
import pytest
from botocore.exceptions import ClientError
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from ssooidc.observability.logs import AccessLog, JsonFormatter
from ssooidc.testing.idp import TestIdentityProvider
from tests import stores
from tests.integration.conftest import (
    ACCESS_TYPE,
    CALLER,
    JWT_BEARER,
    REDIRECT,
    REFRESH_TYPE,
    TOKEN_EXCHANGE,
    _with_instance_placeholder,
    actor_policy,
    craft_jwt,
    new_verifier,
    tenant,
    user_arn,
)
from tests.serverproc import ACCOUNT, ADMIN_SECRET, NO_RETRY, REGION, ServerProcess, free_port

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
PASSWORD = "observability-test-password-1"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Traffic:
    """Every response the test got (its request id and status), and every secret it saw."""

    def __init__(self, base_url: str) -> None:
        self.responses: list[tuple[str | None, int, str]] = []
        self.secrets: set[str] = set()
        self.web = httpx.Client(
            base_url=base_url,
            follow_redirects=False,
            timeout=10,
            event_hooks={"response": [self._web_response]},
        )

    def _web_response(self, response: httpx.Response) -> None:
        request = response.request
        self.responses.append(
            (response.headers.get("x-amzn-requestid"), response.status_code, request.url.path)
        )

    def watch(self, client: Any) -> Any:
        """Record a boto3 client's responses, and the signatures and tokens it sends."""

        def after_call(http_response: Any, model: Any, **_: Any) -> None:
            self.responses.append(
                (
                    http_response.headers.get("x-amzn-RequestId"),
                    http_response.status_code,
                    model.name,
                )
            )

        def before_send(request: Any, **_: Any) -> None:
            for name, value in request.headers.items():
                text = value.decode() if isinstance(value, bytes) else str(value)
                if name.lower() == "authorization" and "Signature=" in text:
                    self.secrets.add(text.split("Signature=", 1)[1])
                elif name.lower() in ("x-amz-security-token", "x-amz-sso_bearer_token"):
                    self.secrets.add(text)

        client.meta.events.register("after-call", after_call)
        client.meta.events.register("before-send", before_send)
        return client

    def keep(self, *values: Any) -> None:
        """Remember secrets; a dict's long string values are all taken as secrets."""
        for value in values:
            if isinstance(value, dict):
                self.keep(*(v for k, v in value.items() if k != "ResponseMetadata"))
            elif isinstance(value, str) and len(value) >= 8:
                self.secrets.add(value)


def cookie(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {response.headers}")


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    return {html.unescape(k): html.unescape(v) for k, v in HIDDEN.findall(page.text)}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def log_entries(server: ServerProcess) -> list[dict[str, Any]]:
    """Every line of the log but the start-up banner's, each parsed as JSON (fails on any
    other line)."""
    lines = server.log().splitlines()
    listening = max(i for i, line in enumerate(lines) if line.startswith("ssooidc: listening on"))
    banner = [line for line in lines[: listening + 1] if not line.startswith("{")]
    for line in banner:
        assert line.startswith(("ssooidc: ", "  ")), line
    return [json.loads(line) for line in lines if line not in banner]


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    found = False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        sample, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in sample for k, v in labels.items()):
            total += float(value)
            found = True
    return total if found else 0.0


def observability_tenant(idp: TestIdentityProvider, dead_issuer: str) -> dict[str, Any]:
    """The shared test tenant, with a password for alice, and an application trusting an
    issuer that does not answer."""
    document = _with_instance_placeholder(copy.deepcopy(tenant(idp.issuer_url)))
    for user in document["identitystore"]["Users"]:
        if user["UserName"] == "alice":
            user["Password"] = PASSWORD
    admin = document["ssoadmin"]
    admin["TrustedTokenIssuers"].append(
        {
            "Name": "dead-idp",
            "TrustedTokenIssuerType": "OIDC_JWT",
            "TrustedTokenIssuerConfiguration": {
                "OidcJwtConfiguration": {
                    "IssuerUrl": dead_issuer,
                    "ClaimAttributePath": "email",
                    "IdentityStoreAttributePath": "emails.value",
                    "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                }
            },
        }
    )
    admin["Applications"].append(
        {
            "Name": "dead-app",
            "Grants": {
                JWT_BEARER: {
                    "JwtBearer": {
                        "AuthorizedTokenIssuers": [
                            {"TrustedTokenIssuer": "dead-idp", "AuthorizedAudiences": ["dead"]}
                        ]
                    }
                }
            },
            "AuthenticationMethods": {
                "IAM": {"Iam": {"ActorPolicy": actor_policy(user_arn("caller"))}}
            },
            "AssignmentRequired": False,
        }
    )
    return document


def sign_in(t: Traffic) -> str:
    """The browser sign-in: the form, then its POST; the session cookie's value."""
    form = t.web.get("/login")
    assert form.status_code == 200
    pre = cookie(form, "ssooidc_pre")
    csrf = hidden_fields(form)["csrf_token"]
    t.keep(pre, csrf)
    wrong = t.web.post(
        "/login",
        data={
            "csrf_token": csrf,
            "next": "/start",
            "username": "alice",
            "password": "not-it-at-all",
        },
        headers={"Cookie": f"ssooidc_pre={pre}"},
    )
    assert wrong.status_code == 401
    done = t.web.post(
        "/login",
        data={"csrf_token": csrf, "next": "/start", "username": "alice", "password": PASSWORD},
        headers={"Cookie": f"ssooidc_pre={pre}"},
    )
    assert done.status_code == 303, done.text
    session = cookie(done, "ssooidc_session")
    t.keep(session)
    return session


def browser_code(t: Traffic, session: str, client_id: str, verifier: str) -> str:
    """/authorize and its consent for ``client_id``; the code the redirect carries."""
    jar = {"Cookie": f"ssooidc_session={session}"}
    consent = t.web.get(
        "/authorize",
        params={
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "state": "state-of-the-test",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            "scopes": "openid backend:read",
        },
        headers=jar,
    )
    assert consent.status_code == 200, consent.text
    fields = hidden_fields(consent)
    t.keep(fields["csrf_token"])
    back = t.web.post("/authorize", data={**fields, "decision": "allow"}, headers=jar)
    assert back.status_code == 302
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    t.keep(code)
    return code


def approve_device(t: Traffic, session: str, user_code: str) -> None:
    jar = {"Cookie": f"ssooidc_session={session}"}
    page = t.web.get("/device", params={"user_code": user_code}, headers=jar)
    assert page.status_code == 200, page.text
    fields = hidden_fields(page)
    t.keep(fields["csrf_token"])
    done = t.web.post("/device", data={**fields, "decision": "approve"}, headers=jar)
    assert done.status_code == 200, done.text


def refused(call: Any, expected: str, /, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == expected, info.value.response


def test_a_whole_run_logs_every_request_as_json_with_its_id_and_no_secret(
    tmp_path: Path, idp: TestIdentityProvider
) -> None:
    dead_issuer = f"https://127.0.0.1:{free_port()}"
    server = ServerProcess(
        tmp_path / "d",
        tenant=observability_tenant(idp, dead_issuer),
        env={"SSL_CERT_FILE": str(idp.ca_path)},
    ).start()
    t = Traffic(server.url)
    t.keep(ADMIN_SECRET, CALLER[1], PASSWORD)
    try:
        admin = t.watch(server.client("sso-admin"))
        instance = admin.list_instances()["Instances"][0]
        apps = {
            a["Name"]: a["ApplicationArn"]
            for a in admin.list_applications(InstanceArn=instance["InstanceArn"])["Applications"]
        }
        oidc = t.watch(server.client("sso-oidc", *CALLER))

        # jwt-bearer, refresh, token exchange
        assertion = idp.mint(subject="alice", email="alice@example.com", audience="backend")
        t.keep(assertion)
        first = oidc.create_token_with_iam(
            clientId=apps["backend"], grantType=JWT_BEARER, assertion=assertion
        )
        t.keep(first)
        refused(
            oidc.create_token_with_iam,
            "InvalidGrantException",
            clientId=apps["backend"],
            grantType=JWT_BEARER,
            assertion=assertion,
        )
        refreshed = oidc.create_token_with_iam(
            clientId=apps["backend"], grantType="refresh_token", refreshToken=first["refreshToken"]
        )
        t.keep(refreshed)
        exchanged = oidc.create_token_with_iam(
            clientId=apps["reports"],
            grantType=TOKEN_EXCHANGE,
            subjectToken=refreshed["accessToken"],
            subjectTokenType=ACCESS_TYPE,
            requestedTokenType=REFRESH_TYPE,
        )
        t.keep(exchanged)
        bogus = "aor" + "x" * 43
        t.keep(bogus)
        refused(
            oidc.create_token_with_iam,
            "InvalidGrantException",
            clientId=apps["backend"],
            grantType="refresh_token",
            refreshToken=bogus,
        )
        refused(
            oidc.create_token_with_iam,
            "InvalidGrantException",
            clientId=apps["reports"],
            grantType=TOKEN_EXCHANGE,
            subjectToken="aoa" + "y" * 43,
            subjectTokenType=ACCESS_TYPE,
        )
        t.keep("aoa" + "y" * 43)
        wrong_secret = "not-the-callers-secret-access-key-000001"
        t.keep(wrong_secret)
        wrongly_signed = t.watch(server.client("sso-oidc", CALLER[0], wrong_secret))
        with pytest.raises(ClientError):
            wrongly_signed.create_token_with_iam(
                clientId=apps["backend"], grantType=JWT_BEARER, assertion=assertion
            )
        # a trusted issuer that does not answer
        dead_assertion = craft_jwt(
            {"alg": "RS256", "kid": "k1", "typ": "JWT"},
            {
                "iss": dead_issuer,
                "aud": "dead",
                "sub": "alice",
                "email": "alice@example.com",
                "iat": int(time.time()),
                "exp": int(time.time()) + 300,
                "jti": "dead-jti-1",
            },
            b"signature-bytes-of-the-dead-issuer",
        )
        t.keep(dead_assertion)
        refused(
            oidc.create_token_with_iam,
            "InvalidGrantException",
            clientId=apps["dead-app"],
            grantType=JWT_BEARER,
            assertion=dead_assertion,
        )

        # the browser: sign-in, then an authorization code redeemed once, refused the second time
        session = sign_in(t)
        verifier = new_verifier()
        t.keep(verifier)
        code = browser_code(t, session, apps["backend"], verifier)
        by_code = oidc.create_token_with_iam(
            clientId=apps["backend"],
            grantType="authorization_code",
            code=code,
            redirectUri=REDIRECT,
            codeVerifier=verifier,
        )
        t.keep(by_code)
        refused(
            oidc.create_token_with_iam,
            "InvalidGrantException",
            clientId=apps["backend"],
            grantType="authorization_code",
            code=code,
            redirectUri=REDIRECT,
            codeVerifier=verifier,
        )

        # control plane with secrets in its answers: iam access keys, sts sessions
        iam = t.watch(server.client("iam"))
        iam.create_user(UserName="obs-temp")
        key = iam.create_access_key(UserName="obs-temp")["AccessKey"]
        t.keep(key["SecretAccessKey"])
        role = iam.create_role(
            RoleName="obs-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": user_arn("obs-temp")},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]
        sts = t.watch(server.client("sts", key["AccessKeyId"], key["SecretAccessKey"]))
        assert sts.get_caller_identity()["Arn"] == user_arn("obs-temp")
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="obs")["Credentials"]
        t.keep(creds["SecretAccessKey"], creds["SessionToken"])
        session_sts = t.watch(
            server.client(
                "sts", creds["AccessKeyId"], creds["SecretAccessKey"], token=creds["SessionToken"]
            )
        )
        assert ":assumed-role/obs-role/obs" in session_sts.get_caller_identity()["Arn"]
        refused(
            t.watch(server.client("iam")).get_user,
            "NoSuchEntity",
            UserName="nobody-at-all",
        )
        identitystore = t.watch(server.client("identitystore"))
        identitystore.list_users(IdentityStoreId=instance["IdentityStoreId"])

        # a public client: RegisterClient, the device flow, the portal, refresh, failures
        public = t.watch(server.client("sso-oidc"))
        client = public.register_client(
            clientName="obs-cli", clientType="public", scopes=["sso:account:access"]
        )
        t.keep(client["clientSecret"])
        started = public.start_device_authorization(
            clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl=server.url
        )
        t.keep(started["deviceCode"], started["userCode"], started["userCode"].replace("-", ""))
        refused(
            public.create_token,
            "AuthorizationPendingException",
            clientId=client["clientId"],
            clientSecret=client["clientSecret"],
            grantType=DEVICE,
            deviceCode=started["deviceCode"],
        )
        approve_device(t, session, started["userCode"])
        device_tokens = public.create_token(
            clientId=client["clientId"],
            clientSecret=client["clientSecret"],
            grantType=DEVICE,
            deviceCode=started["deviceCode"],
        )
        t.keep(device_tokens)
        refused(
            public.create_token,
            "InvalidClientException",
            clientId=client["clientId"],
            clientSecret="wrong-" + client["clientSecret"],
            grantType=DEVICE,
            deviceCode=started["deviceCode"],
        )
        renewed = public.create_token(
            clientId=client["clientId"],
            clientSecret=client["clientSecret"],
            grantType="refresh_token",
            refreshToken=device_tokens["refreshToken"],
        )
        t.keep(renewed)
        portal = t.watch(
            boto3.client("sso", endpoint_url=server.url, region_name=REGION, config=NO_RETRY)
        )
        portal.list_accounts(accessToken=renewed["accessToken"])
        refused(portal.list_accounts, "UnauthorizedException", accessToken="aoa" + "z" * 43)
        portal.logout(accessToken=renewed["accessToken"])

        # odd requests: a 404 and a 405 with would-be secrets in the query, pages, keys
        t.keep("secret-in-a-query-string-0001")
        assert (
            t.web.get("/no/such/page?access_token=secret-in-a-query-string-0001").status_code == 404
        )
        assert t.web.get("/token?code=secret-in-a-query-string-0001").status_code == 405
        assert (
            t.web.post("/", headers={"X-Amz-Target": "Made.Up"}, content=b"{}").status_code == 400
        )
        for path in (
            "/healthz",
            "/readyz",
            "/start",
            "/static/style.css",
            "/.well-known/openid-configuration",
        ):
            assert t.web.get(path).status_code in (200, 303)
        exposition = t.web.get("/metrics")
        assert exposition.headers["content-type"].startswith("text/plain")
    finally:
        assert server.stop() == 0

    # every response carried a request id, and its log line has that id, status and operation
    entries = log_entries(server)
    access = {e["request_id"]: e for e in entries if e["logger"] == "ssooidc.access"}
    assert len(access) == len([e for e in entries if e["logger"] == "ssooidc.access"])
    assert len(t.responses) > 40
    for request_id, status, what in t.responses:
        assert request_id is not None and UUID.fullmatch(request_id), (what, request_id)
        entry = access[request_id]
        assert entry["status"] == status, (what, entry)
        if not what.startswith("/"):
            assert entry["operation"] == what, entry
    for entry in access.values():
        assert set(entry) >= {
            "time",
            "request_id",
            "method",
            "path",
            "operation",
            "status",
            "error",
            "duration_ms",
            "client",
            "principal",
            "application",
        }
        assert "?" not in entry["path"]
        assert entry["client"] == "127.0.0.1"
    token_lines = [
        e for e in access.values() if e["operation"] == "CreateTokenWithIAM" and e["status"] == 200
    ]
    assert {e["grant"] for e in token_lines} == {
        JWT_BEARER,
        "refresh_token",
        TOKEN_EXCHANGE,
        "authorization_code",
    }
    assert all(e["principal"] == user_arn("caller") for e in token_lines)
    assert {e["application"] for e in token_lines} == {apps["backend"], apps["reports"]}
    refusals = [e for e in access.values() if e["error"] == "InvalidGrantException"]
    assert len(refusals) == 5
    assert any(
        e["operation"] == "CreateAccessKey"
        and e["principal"] == f"arn:aws:iam::{ACCOUNT}:user/admin"
        for e in access.values()
    )
    assert any(e["operation"] == "unknown" and e["status"] == 400 for e in access.values())
    assert any(e["operation"] == "unmatched" and e["status"] == 404 for e in access.values())
    assert any(e["operation"] == "/login" and e["method"] == "POST" for e in access.values())
    # the issuer that does not answer was logged (as JSON) with its URL, never the assertion
    assert any(
        e["level"] == "warning" and dead_issuer in e["message"]
        for e in entries
        if e["logger"] != "ssooidc.access"
    )
    # nothing failed inside the server
    assert not [e for e in entries if e["level"] == "error"]
    # no secret anywhere in the whole log
    log = server.log()
    assert len(t.secrets) > 40
    for secret in t.secrets:
        assert secret not in log, secret[:12]

    # and the metrics of the run, scraped from the server before it stopped
    text = exposition.text
    for grant in (
        "jwt-bearer",
        "refresh_token",
        "token-exchange",
        "authorization_code",
        "device_code",
    ):
        assert metric(text, "ssooidc_tokens_issued_total", grant=grant) >= 1, grant
    assert metric(text, "ssooidc_tokens_issued_total", grant="jwt-bearer") == 1
    assert metric(text, "ssooidc_errors_total", code="InvalidGrantException") == 5
    assert (
        metric(
            text,
            "ssooidc_request_duration_seconds_count",
            operation="CreateTokenWithIAM",
            status="200",
        )
        == 4
    )
    assert metric(text, "ssooidc_issuer_fetches_total", issuer=idp.issuer_url, document="jwks") == 1
    assert metric(text, "ssooidc_issuer_fetch_failures_total", issuer=dead_issuer) == 1
    assert metric(text, "ssooidc_issuer_fetch_failures_total", issuer=idp.issuer_url) == 0
    assert metric(text, "ssooidc_store_write_seconds_count") >= 5


def test_metrics_are_summed_over_every_worker(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d", workers=2).start()
    try:
        pids: set[int] = set()
        sent = 0
        deadline = time.monotonic() + 60
        # New connections until both workers have answered some of them.
        while len(pids) < 2 or sent < 20:
            assert time.monotonic() < deadline, "one worker answered every request"
            response = httpx.get(f"{server.url}/.well-known/openid-configuration", timeout=10)
            assert response.status_code == 200
            sent += 1
            if sent % 10 == 0:
                lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
                pids = {
                    x["pid"]
                    for x in lines
                    if x.get("operation") == "/.well-known/openid-configuration"
                }
        time.sleep(0.2)  # the last access line is written after its response
        counts = set()
        for _ in range(6):  # scrapes answered by either worker agree
            text = httpx.get(f"{server.url}/metrics", timeout=10).text
            counts.add(
                metric(
                    text,
                    "ssooidc_request_duration_seconds_count",
                    operation="/.well-known/openid-configuration",
                    status="200",
                )
            )
        assert counts == {float(sent)}
        served = {
            json.loads(x)["pid"]
            for x in server.log().splitlines()
            if x.startswith("{") and '"operation":"/metrics"' in x
        }
        assert served  # the scrapes were answered (by one worker or both)
    finally:
        assert server.stop() == 0
    directory = tmp_path / "d" / "metrics"
    assert [p.name.startswith("serve-") for p in directory.iterdir()] == [True]


def test_the_metrics_directory_is_emptied_at_start(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d").start()
    try:
        httpx.get(f"{server.url}/.well-known/openid-configuration", timeout=10)
    finally:
        server.stop()
    server.start()
    try:
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert (
            metric(
                text,
                "ssooidc_request_duration_seconds_count",
                operation="/.well-known/openid-configuration",
            )
            == 0
        )
    finally:
        server.stop()
    assert len(list((tmp_path / "d" / "metrics").iterdir())) == 1


def test_text_log_format_from_the_environment(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "d", env={"SSOOIDC_LOG_FORMAT": "text"}).start()
    try:
        response = httpx.get(f"{server.url}/healthz", timeout=10)
    finally:
        server.stop()
    request_id = response.headers["x-amzn-requestid"]
    lines = [x for x in server.log().splitlines() if request_id in x]
    assert len(lines) == 1
    assert " INFO ssooidc.access " in lines[0] and " GET /healthz /healthz 200 - " in lines[0]
    assert not lines[0].startswith("{")


def test_serve_help_lists_the_operations_options() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "ssooidc", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--log-format {json,text}" in text and "SSOOIDC_LOG_FORMAT" in text
    assert "--purge-interval" in text and "SSOOIDC_PURGE_INTERVAL" in text


# -- /readyz follows the store ---------------------------------------------------------------


def ready(server: ServerProcess) -> int:
    return httpx.get(f"{server.url}/readyz", timeout=10).status_code


def test_readyz_on_sqlite_fails_while_the_database_file_is_gone(tmp_path: Path) -> None:
    data = tmp_path / "d"
    server = ServerProcess(data, database_url=f"sqlite:///{data / 'ssooidc.db'}").start()
    database = data / "ssooidc.db"
    moved = data / "moved.db"
    try:
        assert ready(server) == 200
        # The server's open connections would go on reading the renamed file; a restart
        # would not find it: not ready.
        os.rename(database, moved)
        database.mkdir()
        try:
            assert ready(server) == 503
            assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        finally:
            database.rmdir()
            os.rename(moved, database)
        assert ready(server) == 200
    finally:
        server.stop()
    assert "readiness check failed" in server.log()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    try:
        stores.check_postgres()
    except psycopg.Error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("no PostgreSQL server answers")
    url = stores.new_postgres_database()
    try:
        yield url
    finally:
        stores.drop_postgres_database(url)


def test_readyz_on_postgresql_fails_while_the_database_refuses_connections(
    tmp_path: Path, postgres_database: str
) -> None:
    name = postgres_database.rsplit("/", 1)[1]
    server = ServerProcess(tmp_path / "d", database_url=postgres_database).start()
    try:
        assert ready(server) == 200
        with psycopg.connect(stores.POSTGRES, autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
            )
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            try:
                assert ready(server) == 503
                assert ready(server) == 503
            finally:
                admin.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name))
                )
        assert ready(server) == 200
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert metric(text, "ssooidc_store_pool_size") == 5
        assert metric(text, "ssooidc_store_pool_checked_out") == 0
    finally:
        server.stop()
    assert "is not currently accepting connections" in server.log()


# -- the log line builders, without a server -------------------------------------------------


def test_access_lines_escape_what_the_client_sent(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        access = AccessLog("json", fd=fd)
        access.request(
            request_id="r-1",
            method="GET",
            path='/a"b\n{"status":200}\u2028é' + "x" * 1000,
            operation="unmatched",
            status=404,
            error="NotFoundException",
            duration=0.0012345,
            client=None,
            application='"},{"forged":true',
        )
        text = AccessLog("text", fd=fd)
        text.request(
            request_id="r-2",
            method="GET",
            path="/x y\nz",
            operation="unmatched",
            status=404,
            error=None,
            duration=0.001,
            client="127.0.0.1",
        )
    finally:
        os.close(fd)
    first, second = path.read_text().splitlines()
    entry = json.loads(first)
    assert entry["path"].startswith('/a"b\n{"status":200}\u2028é')
    assert len(entry["path"]) == 256
    assert entry["application"] == '"},{"forged":true' and "forged" not in entry
    assert entry["status"] == 404 and entry["duration_ms"] == 1.234 and entry["client"] is None
    assert first.isascii()
    assert second.split()[3:8] == ["r-2", "GET", "/x\\u0020y\\nz", "unmatched", "404"]


def test_sql_errors_are_logged_without_their_parameters() -> None:
    secret = "aoa" + os.urandom(8).hex()  # not in any source line a traceback shows
    engine = create_engine("sqlite://")
    with pytest.raises(DBAPIError) as info, engine.connect() as conn:
        conn.execute(text("SELECT * FROM missing WHERE x = :v"), {"v": secret})
    assert secret in str(info.value)
    exc = info.value
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "failed", None, (type(exc), exc, exc.__traceback__)
    )
    entry = json.loads(JsonFormatter().format(record))
    assert "no such table" in entry["exception"]
    assert secret not in entry["exception"]
