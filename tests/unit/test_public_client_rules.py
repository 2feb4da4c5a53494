"""The pure rules of the public clients: redirect URIs, registration metadata, user codes,
device polling pace and the per-address limit."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssooidc.errors import (
    AwsError,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidScope,
    UnsupportedGrantType,
)
from ssooidc.services import clients, devices
from ssooidc.services.clock import FrozenClock
from ssooidc.services.rate_limit import AddressLimiter

# -- redirect URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "presented", "matches"),
    [
        ("http://127.0.0.1/oauth/callback", "http://127.0.0.1:54321/oauth/callback", True),
        ("http://127.0.0.1:8000/oauth/callback", "http://127.0.0.1:9/oauth/callback", True),
        ("http://[::1]/cb", "http://[::1]:4000/cb", True),
        ("http://localhost/cb", "http://localhost:4000/cb", True),
        ("https://app.example.com/cb", "https://app.example.com/cb", True),
        ("https://app.example.com/cb", "https://app.example.com:444/cb", False),
        ("http://127.0.0.1/oauth/callback", "http://127.0.0.1:1/oauth/other", False),
        ("http://127.0.0.1/cb", "http://localhost:1/cb", False),
        ("http://127.0.0.1/cb", "http://127.0.0.1:1/cb?x=1", False),
        ("http://127.0.0.1/cb", "http://user@127.0.0.1:1/cb", False),
        ("http://127.0.0.1/cb", "http://127.0.0.1:1/cb#frag", False),
        ("http://127.0.0.1/cb", "http://127.0.0.1:notaport/cb", False),
        ("http://example.com/cb", "http://example.com:8080/cb", False),
    ],
)
def test_loopback_redirects_match_on_any_port_only(
    registered: str, presented: str, matches: bool
) -> None:
    assert clients.redirect_uri_matches(registered, presented) is matches


@given(st.text(max_size=300))
def test_redirect_checks_never_fail_unexpectedly(text: str) -> None:
    with contextlib.suppress(InvalidRedirectUri):
        clients.check_redirect_uri(text)
    assert isinstance(clients.redirect_uri_matches(text, text + "x"), bool)


# -- metadata -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({"client_type": "confidential"}, InvalidClientMetadata),
        ({"client_name": ""}, InvalidClientMetadata),
        ({"grant_types": ["password"]}, UnsupportedGrantType),
        (
            {
                "grant_types": ["authorization_code", clients.DEVICE_CODE],
                "redirect_uris": ["https://a/cb"],
            },
            InvalidRequest,
        ),
        ({"grant_types": ["authorization_code"]}, InvalidRedirectUri),
        (
            {"redirect_uris": ["https://a/cb"] * 2 + [f"https://a/{i}" for i in range(10)]},
            InvalidRedirectUri,
        ),
        ({"scopes": ["sso:account:access", "unknown:scope"]}, InvalidScope),
        ({"entitled_application_arn": "arn:aws:sso::1:application/x/apl-1"}, InvalidClientMetadata),
    ],
)
def test_bad_metadata_is_refused_with_its_error(
    members: dict[str, object], error: type[AwsError]
) -> None:
    arguments: dict[str, object] = {"client_name": "cli", "client_type": "public", **members}
    with pytest.raises(error):
        clients.check_metadata(**arguments)  # type: ignore[arg-type]


def test_metadata_is_deduplicated_and_kept() -> None:
    metadata = clients.check_metadata(
        client_name="cli",
        client_type="public",
        scopes=["sso:account:access", "sso:account:access", "openid"],
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=["http://127.0.0.1/oauth/callback"],
    )
    assert metadata.scopes == ("sso:account:access", "openid")
    assert metadata.grant_types == ("authorization_code", "refresh_token")


def test_registration_scopes_decide_refresh_and_lifetime() -> None:
    base = clients.Registration("c", "n", (), (), (), None, None, 0.0, 1.0)
    scoped = clients.Registration("c", "n", ("sso:account:access",), (), (), None, None, 0.0, 1.0)
    assert not base.with_refresh and base.access_lifetime(28800) == 28800
    assert scoped.with_refresh and scoped.access_lifetime(28800) == 3600
    device_only = clients.Registration(
        "c", "n", ("sso:account:access",), (), (clients.DEVICE_CODE,), None, None, 0.0, 1.0
    )
    assert not device_only.with_refresh
    assert device_only.allows(clients.DEVICE_CODE) and not device_only.allows("authorization_code")


# -- user codes and polling -------------------------------------------------------------------


def test_user_codes_use_the_alphabet_and_read_back_in_any_form() -> None:
    code = devices.new_user_code()
    assert len(code) == 8 and set(code) <= set(devices.USER_CODE_ALPHABET)
    shown = devices.display_user_code(code)
    assert shown[4] == "-"
    for typed in (shown, shown.lower(), code, f" {shown[:4]} {shown[5:]} "):
        assert devices.normalize_user_code(typed) == code
    for bad in ("", "ABCD-EFGH", "BCDF-GHJ", "BCDF-GHJKL", "BCDF-GHJ0"):
        assert devices.normalize_user_code(bad) is None


def test_polling_pace_allows_a_first_burst_of_two_then_slows_down() -> None:
    too_quick, last, interval = devices.pace(None, 1, 100.0)
    assert not too_quick and interval == 1
    too_quick, last, interval = devices.pace(last, interval, 100.01)  # the CLI's second poll
    assert not too_quick
    too_quick, last, interval = devices.pace(last, interval, 100.02)
    assert too_quick and interval == 6  # RFC 8628 §3.5: 5 s more
    too_quick, last, interval = devices.pace(last, interval, 100.02 + 5.9)
    assert not too_quick and interval == 6


# -- per-address limit --------------------------------------------------------------------------


def test_address_limiter_allows_a_burst_then_refills() -> None:
    clock = FrozenClock(1000.0)
    limiter = AddressLimiter(20, clock)
    assert all(limiter.admit("10.0.0.1") for _ in range(20))
    assert not limiter.admit("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 3
    assert limiter.admit("10.0.0.2")  # another address has its own bucket
    clock.advance(3)
    assert limiter.admit("10.0.0.1")
    assert not limiter.admit("10.0.0.1")
    clock.advance(600)
    assert sum(limiter.admit("10.0.0.1") for _ in range(30)) == 20  # never more than the burst


def test_address_limiter_off_and_bounded() -> None:
    clock = FrozenClock(0.0)
    assert all(AddressLimiter(0, clock).admit("a") for _ in range(1000))
    limiter = AddressLimiter(1, clock)
    for i in range(10_050):
        limiter.admit(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) <= 10_000
