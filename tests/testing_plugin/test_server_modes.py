"""Both server modes, started by the plugin in a pytest run of its own, serve a whole
jwt-bearer flow; in-process is the default; the store may be PostgreSQL."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests import stores

pytest_plugins = ["pytester"]

JWT_FLOW = """
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_jwt_bearer(ssooidc_server, tip_application, identity_user, trusted_issuer):
    assert ssooidc_server.mode == "{mode}"
    with open("database-url", "w") as out:
        out.write(ssooidc_server.database_url)
    alice = identity_user()
    app = tip_application()
    tokens = app.client("sso-oidc").create_token_with_iam(
        clientId=app.arn,
        grantType=JWT_BEARER,
        assertion=trusted_issuer.mint(email=alice.email, audience=app.audience),
    )
    assert tokens["idToken"]
"""


@pytest.mark.parametrize("mode", ["in-process", "subprocess"])
def test_each_mode_serves_a_jwt_bearer_flow(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(JWT_FLOW.replace("{mode}", mode))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ssooidc-mode", mode)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"ssooidc: {mode} test server started in * s"])
    assert (pytester.path / "database-url").read_text().startswith("sqlite:///")


def test_in_process_is_the_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(JWT_FLOW.replace("{mode}", "in-process"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_postgresql_url_gets_a_new_database_dropped_after(pytester: pytest.Pytester) -> None:
    try:
        stores.check_postgres()
    except psycopg.Error as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL does not answer: {exc}")
    pytester.makepyfile(JWT_FLOW.replace("{mode}", "in-process"))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ssooidc-database-url", stores.POSTGRES
    )
    result.assert_outcomes(passed=1)
    used = (pytester.path / "database-url").read_text()
    assert used.startswith("postgresql+psycopg://")
    name = used.rsplit("/", 1)[1]
    with psycopg.connect(stores.POSTGRES, autocommit=True, connect_timeout=5) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert left == []
