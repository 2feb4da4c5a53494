"""Settings: every option has its SSOOIDC_* variable, and bad values are refused clearly."""

from __future__ import annotations

import pytest

from ssooidc.cli import build_parser
from ssooidc.config import options, settings_from


def test_serve_help_lists_every_option_with_its_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for _name, opt in options():
        assert opt.flag in text
        assert opt.env in text
    for contract in (
        "--host",
        "--port",
        "--data-dir",
        "--database-url",
        "--region",
        "--account-id",
        "--issuer-url",
        "--workers",
        "--config",
        "--demo",
        "--allow-http-issuers",
    ):
        assert contract in text


def test_environment_then_flags_override_defaults() -> None:
    settings = settings_from(
        {"port": 9000},
        environ={"SSOOIDC_PORT": "8500", "SSOOIDC_DEMO": "true", "SSOOIDC_REGION": "eu-west-1"},
    )
    assert settings.port == 9000
    assert settings.demo is True
    assert settings.region == "eu-west-1"
    assert settings.development is True
    assert settings.public_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SSOOIDC_SESSION_DURATION": "60"}, "session-duration"),
        ({"SSOOIDC_SESSION_DURATION": str(91 * 24 * 3600)}, "session-duration"),
        ({"SSOOIDC_ACCOUNT_ID": "12"}, "account-id"),
        ({"SSOOIDC_ID_TOKEN_ALG": "HS256"}, "id-token-alg"),
        ({"SSOOIDC_PORT": "eighty"}, "SSOOIDC_PORT"),
        ({"SSOOIDC_DEMO": "maybe"}, "SSOOIDC_DEMO"),
        ({"SSOOIDC_WORKERS": "0"}, "workers"),
        ({"SSOOIDC_PUBLIC_CLIENT_RATE": "-1"}, "public-client-rate"),
    ],
)
def test_bad_settings_are_refused_naming_the_option(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from(environ=environ)


def test_issuer_url_is_the_public_base() -> None:
    settings = settings_from({"issuer_url": "https://sso.example.com/"}, environ={})
    assert settings.public_url == "https://sso.example.com"
