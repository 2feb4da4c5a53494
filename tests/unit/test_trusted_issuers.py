"""The checks on trusted token issuers and access scopes that the service enforces itself."""

from __future__ import annotations

import pytest

from ssooidc.errors import Validation
from ssooidc.services.applications import SCOPE_PATTERN, check_redirect_uri
from ssooidc.services.trusted_issuers import (
    CLAIM_PATH_PATTERN,
    check_issuer_configuration,
    check_issuer_url,
    is_loopback,
)


@pytest.mark.parametrize(
    "path", ["email", "preferred_username", "address.locality", "a.b.c", "a_b.c", "ünïcode"]
)
def test_claim_attribute_paths_the_model_allows(path: str) -> None:
    assert CLAIM_PATH_PATTERN.fullmatch(path)


@pytest.mark.parametrize("path", ["", "a.b.c.d", "a_b.c_d", "a..b", ".a", "a.", "a1", "a-b", "a b"])
def test_claim_attribute_paths_the_model_refuses(path: str) -> None:
    assert not CLAIM_PATH_PATTERN.fullmatch(path)


@pytest.mark.parametrize("scope", ["read", "app:read", "app:read:all", "A_1:b_2"])
def test_scopes_of_one_to_three_parts(scope: str) -> None:
    assert SCOPE_PATTERN.fullmatch(scope)


@pytest.mark.parametrize("scope", ["", "a:b:c:d", "a b", "a-b", "a:", ":a", "x" * 51])
def test_scopes_refused(scope: str) -> None:
    assert not SCOPE_PATTERN.fullmatch(scope)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "localhost.example.com", "::2"])
def test_hosts_that_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_issuer_urls_are_https_and_loopback_http_only_in_development() -> None:
    assert check_issuer_url("https://idp.example.com", development=False)
    assert check_issuer_url("http://127.0.0.1:8443/idp", development=True)
    with pytest.raises(Validation, match="--allow-http-issuers"):
        check_issuer_url("http://127.0.0.1:8443/idp", development=False)
    for url in ("http://idp.example.com", "ftp://idp.example.com", "https://", 42):
        with pytest.raises(Validation):
            check_issuer_url(url, development=True)


def test_an_issuer_configuration_is_checked_member_by_member() -> None:
    good = {
        "OidcJwtConfiguration": {
            "IssuerUrl": "https://idp.example.com",
            "ClaimAttributePath": "email",
            "IdentityStoreAttributePath": "emails.value",
            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
        }
    }
    assert check_issuer_configuration(good, development=False) == good
    for member, value in [
        ("ClaimAttributePath", "a-b"),
        ("IdentityStoreAttributePath", "addresses.region"),
        ("JwksRetrievalOption", "STATIC"),
    ]:
        bad = {"OidcJwtConfiguration": {**good["OidcJwtConfiguration"], member: value}}
        with pytest.raises(Validation, match=member):
            check_issuer_configuration(bad, development=False)


@pytest.mark.parametrize(
    "uri",
    ["https://app.example.com/cb", "http://127.0.0.1:8400/cb", "http://localhost/cb"],
)
def test_redirect_uris_accepted(uri: str) -> None:
    check_redirect_uri(uri)


@pytest.mark.parametrize(
    "uri", ["http://app.example.com/cb", "https://app.example.com/cb#frag", "app", None]
)
def test_redirect_uris_refused(uri: object) -> None:
    with pytest.raises(Validation):
        check_redirect_uri(uri)
