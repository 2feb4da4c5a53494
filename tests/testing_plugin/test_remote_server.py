"""``--ssooidc-url``: a test run against a server that is already running (one shared by a CI
job) starts none, isolates its objects by name, and leaves the server as it found it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ssooidc.testing import InProcessServer
from tests import stores

pytest_plugins = ["pytester"]

REMOTE_TESTS = """
import os

import pytest

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def test_is_the_running_server(ssooidc_server):
    assert ssooidc_server.mode == "remote"
    assert ssooidc_server.url == os.environ["EXPECTED_URL"]


@pytest.mark.parametrize("run", range(2))
def test_tokens_and_a_role_session(
    run, tip_application, identity_user, identity_group, trusted_issuer, assume_role_with_context
):
    alice = identity_user("alice")
    group = identity_group("readers", members=[alice])
    reports = tip_application("reports", grants=["token-exchange"], scopes=["r:read"])
    app = tip_application(
        "web", scopes=["r:read"], authorized_targets=[reports],
        assignment_required=True, assignments=[group],
    )
    tokens = app.client().create_token_with_iam(
        clientId=app.arn,
        grantType=JWT_BEARER,
        assertion=trusted_issuer.mint(email=alice.email, audience=app.audience),
    )
    reports.client().create_token_with_iam(
        clientId=reports.arn,
        grantType=TOKEN_EXCHANGE,
        subjectToken=tokens["accessToken"],
        subjectTokenType="urn:ietf:params:oauth:token-type:access_token",
    )
    trusted_issuer.rotate_keys()
    assert assume_role_with_context(tokens["idToken"], caller=app).arn
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[InProcessServer, Path]]:
    """A server started apart from the inner run, trusting a CA kept in a directory."""
    ca_dir = tmp_path / "ca"
    ca_path = subprocess.run(
        [sys.executable, "-m", "ssooidc.testing", "ca", str(ca_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    data_dir = tmp_path / "server"
    server = InProcessServer(
        data_dir, issuer_ca=Path(ca_path), database_url=stores.new_database(data_dir)
    )
    server.start()
    try:
        yield server, ca_dir
    finally:
        server.stop()
        stores.release(server.database_url)


def test_a_run_against_a_running_server_leaves_it_as_it_was(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    running: tuple[InProcessServer, Path],
) -> None:
    server, ca_dir = running
    monkeypatch.setenv("SSOOIDC_ADMIN_ACCESS_KEY_ID", server.admin.access_key_id)
    monkeypatch.setenv("SSOOIDC_ADMIN_SECRET_ACCESS_KEY", server.admin.secret_access_key)
    monkeypatch.setenv("EXPECTED_URL", server.url)
    pytester.makepyfile(REMOTE_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ssooidc-url", server.url, "--ssooidc-ca-dir", str(ca_dir)
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"ssooidc: the server at {server.url}"])
    assert "test server started" not in result.stdout.str()

    # Nothing is left: the tenant exports as empty as a fresh server's.
    exported = subprocess.run(
        [sys.executable, "-m", "ssooidc", "export", *server.store_args()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert not [
        objects
        for section in yaml.safe_load(exported).values()
        for objects in section.values()
        if objects
    ]


def test_without_the_administrator_key_the_run_is_refused(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSOOIDC_ADMIN_ACCESS_KEY_ID", raising=False)
    pytester.makepyfile("def test_x(ssooidc_server):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ssooidc-url", "http://127.0.0.1:9"
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*needs the administrator's key in SSOOIDC_ADMIN_ACCESS_KEY_ID*"])
