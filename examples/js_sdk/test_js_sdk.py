"""The AWS SDK for JavaScript v3 (``@aws-sdk/client-sso-oidc``) reaches the test server through
the same variables as boto3: a non-Python client works unchanged.

Needs node and ``npm ci`` in this folder (``scripts/setup`` runs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ssooidc.testing import Endpoint, TipApplication, TrustedIssuer

HERE = Path(__file__).resolve().parent


def node_or_skip() -> str:
    """node, with this folder's packages installed; missing is a skip, or under CI a failure."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (HERE / "node_modules" / "@aws-sdk" / "client-sso-oidc").is_dir():
        problem = f"run `npm ci` in {HERE.name}/ first (scripts/setup does)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    assert node is not None
    return node


def exchange(
    server: Endpoint, app: TipApplication, assertion: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node_or_skip(), "exchange.mjs", app.arn, assertion],
        cwd=HERE,
        env=server.environ(app.credentials),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_javascript_sdk_gets_and_refreshes_tokens(
    ssooidc_server: Endpoint,
    tip_application: Callable[..., TipApplication],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
    assume_role_with_context: Callable[..., Any],
) -> None:
    alice = identity_user()
    app = tip_application(scopes=["files:read"])
    run = exchange(
        ssooidc_server, app, trusted_issuer.mint(email=alice.email, audience=app.audience)
    )
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["user"] == alice.user_id
    assert answer["application"] == app.arn
    assert "files:read" in answer["scope"]
    assert answer["refreshTokenRotated"] is True
    # The context it got opens an identity-enhanced session like boto3's does.
    assert assume_role_with_context(answer["identityContext"], caller=app).arn


def test_the_javascript_sdk_sees_the_modelled_refusal(
    ssooidc_server: Endpoint,
    tip_application: Callable[..., TipApplication],
    identity_user: Callable[..., Any],
    trusted_issuer: TrustedIssuer,
) -> None:
    alice = identity_user()
    app = tip_application()
    run = exchange(
        ssooidc_server, app, trusted_issuer.mint_expired(email=alice.email, audience=app.audience)
    )
    assert run.returncode == 1
    # (the lines before the last may be the SDK's warnings about the node version)
    assert run.stderr.splitlines()[-1].startswith("InvalidGrantException: assertion expired at ")
