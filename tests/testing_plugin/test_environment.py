"""``ssooidc_endpoint`` points clients that build themselves at the server for one test and
puts every variable back afterwards; ``env()`` holds exactly the variables botocore reads."""

from __future__ import annotations

import pytest

from ssooidc.testing import Credentials, Endpoint

pytest_plugins = ["pytester"]

ENV_TESTS = """
import os

import boto3

SERVICES = ("SSO_OIDC", "SSO_ADMIN", "IDENTITYSTORE", "IAM", "STS", "SSO")


def test_points_every_service_at_the_server(ssooidc_endpoint, ssooidc_server):
    for service in SERVICES:
        assert os.environ["AWS_ENDPOINT_URL_" + service] == ssooidc_server.url
    for cleared in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        assert cleared not in os.environ
    assert os.environ["AWS_ACCESS_KEY_ID"] == ssooidc_server.admin.access_key_id
    assert boto3.client("sso-oidc").meta.endpoint_url == ssooidc_server.url
    assert boto3.client("sts").get_caller_identity()["Arn"].endswith(":user/admin")
    # Other services are left alone.
    assert "amazonaws.com" in boto3.client("s3").meta.endpoint_url


def test_use_switches_the_key(ssooidc_endpoint, iam_user):
    principal = iam_user()
    ssooidc_endpoint.use(principal)
    assert boto3.client("sts").get_caller_identity()["Arn"] == principal.arn


def test_everything_is_put_back_after():
    assert os.environ["AWS_ACCESS_KEY_ID"] == "outer-key-id"
    assert os.environ["AWS_SESSION_TOKEN"] == "outer-session-token"
    assert os.environ["AWS_PROFILE"] == "outer-profile"
    assert os.environ["AWS_REGION"] == "eu-north-1"
    assert not [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]
"""


def test_variables_are_set_for_the_test_and_restored_after(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "outer-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "outer-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "outer-session-token")
    monkeypatch.setenv("AWS_PROFILE", "outer-profile")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    pytester.makepyfile(ENV_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_env_names_one_endpoint_variable_per_service_and_the_key() -> None:
    endpoint = Endpoint(
        "http://127.0.0.1:9/", region="eu-west-1", admin=Credentials("AKIAEXAMPLE", "secret")
    )
    role = Credentials("ASIAEXAMPLE", "secret2", "token")
    assert endpoint.env(role) == {
        "AWS_ENDPOINT_URL_SSO_OIDC": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_SSO_ADMIN": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_IDENTITYSTORE": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:9",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret2",
        "AWS_SESSION_TOKEN": "token",
    }
    environ = endpoint.environ(
        base={"PATH": "/bin", "AWS_PROFILE": "dev", "AWS_SESSION_TOKEN": "x"}
    )
    assert environ["PATH"] == "/bin"
    assert "AWS_PROFILE" not in environ and "AWS_SESSION_TOKEN" not in environ
    assert environ["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE"
