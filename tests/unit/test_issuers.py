"""Trusted token issuers' keys, fetched from a real TestIdentityProvider over HTTPS."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ssooidc.services import assertions
from ssooidc.services.clock import FrozenClock
from ssooidc.services.issuers import (
    IssuerKey,
    IssuerKeyCache,
    IssuerKeyError,
    parse_jwk,
    parse_jwks,
)
from ssooidc.testing.idp import CertificateAuthority, SigningKey, TestIdentityProvider

T = TypeVar("T")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """One CA for the module's providers."""
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def shared_idp(
    tmp_path_factory: pytest.TempPathFactory, ca: CertificateAuthority
) -> Iterator[TestIdentityProvider]:
    """A running RS256 provider shared by the module."""
    with TestIdentityProvider(tmp_path_factory.mktemp("idp"), ca=ca) as provider:
        yield provider


@pytest.fixture(scope="module")
def shared_other_idp(
    tmp_path_factory: pytest.TempPathFactory, ca: CertificateAuthority
) -> Iterator[TestIdentityProvider]:
    """A second running provider (ES256) shared by the module."""
    with TestIdentityProvider(tmp_path_factory.mktemp("other"), alg="ES256", ca=ca) as provider:
        yield provider


@pytest.fixture
def idp(shared_idp: TestIdentityProvider) -> TestIdentityProvider:
    """The RS256 provider, reset for this test."""
    shared_idp.reset()
    return shared_idp


@pytest.fixture
def other_idp(shared_other_idp: TestIdentityProvider) -> TestIdentityProvider:
    """The ES256 provider, reset for this test."""
    shared_other_idp.reset()
    return shared_other_idp


def trusting(ca: CertificateAuthority) -> ssl.SSLContext:
    """A client context that trusts the test CA."""
    return ssl.create_default_context(cafile=str(ca.ca_path))


def run(cache: IssuerKeyCache, scenario: Callable[[], Awaitable[T]]) -> T:
    """Run a scenario in a fresh event loop and close the cache afterwards."""

    async def main() -> T:
        try:
            return await scenario()
        finally:
            await cache.aclose()

    return asyncio.run(main())


def failure(cache: IssuerKeyCache, issuer: str, kid: str | None, alg: str = "RS256") -> str:
    """The IssuerKeyError message of one get_key."""

    async def scenario() -> str:
        with pytest.raises(IssuerKeyError) as info:
            await cache.get_key(issuer, kid, alg)
        return str(info.value)

    return run(cache, scenario)


# --- TLS and URLs -------------------------------------------------------------------------


def test_fetch_with_the_ca_works_and_the_key_verifies(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    cache = IssuerKeyCache(verify=trusting(ca))
    token = idp.mint(email="alice@example.com")
    a = assertions.peek(token)

    async def scenario() -> IssuerKey:
        assert cache.get_key_cached(a.iss, a.kid, a.alg) is None
        key = await cache.get_key(a.iss, a.kid, a.alg)
        assert cache.get_key_cached(a.iss, a.kid, a.alg) is key
        assert await cache.get_key(a.iss, a.kid, a.alg) is key
        return key

    key = run(cache, scenario)
    assert (key.kid, key.kty) == (idp.signing_key.kid, "RSA")
    assertions.verify_signature(a, key)
    assert (idp.discovery_count, idp.fetch_count) == (1, 1)


def test_es256_provider(other_idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    cache = IssuerKeyCache(verify=str(ca.ca_path))
    a = assertions.peek(other_idp.mint())
    key = run(cache, lambda: cache.get_key(a.iss, a.kid, "ES256"))
    assert (key.kty, key.crv) == ("EC", "P-256")
    assertions.verify_signature(a, key)


def test_without_the_ca_fails_cleanly(
    idp: TestIdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    message = failure(IssuerKeyCache(), idp.issuer_url, idp.signing_key.kid)
    assert "certificate verification failed" in message
    assert idp.issuer_url in message
    assert idp.signing_key.public_jwk()["n"][:16] not in message
    assert idp.discovery_count == 0


def test_ssl_cert_file_is_honoured(
    idp: TestIdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(idp.ca_path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    cache = IssuerKeyCache()
    key = run(cache, lambda: cache.get_key(idp.issuer_url, idp.signing_key.kid, "RS256"))
    assert key.kid == idp.signing_key.kid


def test_plain_http_needs_loopback_and_the_flag(tmp_path: Path, ca: CertificateAuthority) -> None:
    with TestIdentityProvider(tmp_path, ca=ca, tls=False) as plain:
        assert plain.issuer_url.startswith("http://127.0.0.1:")
        message = failure(IssuerKeyCache(), plain.issuer_url, plain.signing_key.kid)
        assert "uses http" in message
        assert plain.discovery_count == 0
        cache = IssuerKeyCache(allow_http_loopback=True)
        key = run(cache, lambda: cache.get_key(plain.issuer_url, plain.signing_key.kid, "RS256"))
        assert key.kid == plain.signing_key.kid


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com",
        "http://10.0.0.1:8080",
        "ftp://127.0.0.1/",
        "https://user:pass@idp.example.com",
        "https://idp.example.com/#frag",
        "not a url",
    ],
)
def test_unacceptable_issuer_urls_refused_without_io(url: str) -> None:
    message = failure(IssuerKeyCache(allow_http_loopback=True, timeout=0.5), url, "k")
    assert "IssuerUrl" in message


def test_localhost_http_allowed_with_flag(tmp_path: Path, ca: CertificateAuthority) -> None:
    with TestIdentityProvider(tmp_path, ca=ca, tls=False) as plain:
        plain.discovery_overrides = {"issuer": f"http://localhost:{plain.port}"}
        plain.discovery_overrides["jwks_uri"] = f"http://localhost:{plain.port}/jwks"
        cache = IssuerKeyCache(allow_http_loopback=True)
        issuer = f"http://localhost:{plain.port}"
        key = run(cache, lambda: cache.get_key(issuer, plain.signing_key.kid, "RS256"))
        assert key.kid == plain.signing_key.kid


def test_http_jwks_uri_refused(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    idp.discovery_overrides = {"jwks_uri": f"http://127.0.0.1:{idp.port}/jwks"}
    message = failure(IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, idp.signing_key.kid)
    assert "jwks_uri" in message and "http" in message
    assert idp.fetch_count == 0


# --- discovery ----------------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["https://evil.example.com", "{url}/", "{url}/tenant", None, 42])
def test_discovery_issuer_mismatch_refused(
    idp: TestIdentityProvider, ca: CertificateAuthority, issuer: Any
) -> None:
    idp.discovery_overrides = {
        "issuer": issuer.format(url=idp.issuer_url) if isinstance(issuer, str) else issuer
    }
    message = failure(IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, idp.signing_key.kid)
    assert "does not match the IssuerUrl" in message
    assert idp.fetch_count == 0


def test_configured_trailing_slash_must_match_discovery_exactly(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    message = failure(
        IssuerKeyCache(verify=trusting(ca)), idp.issuer_url + "/", idp.signing_key.kid
    )
    assert "does not match the IssuerUrl" in message
    assert idp.discovery_count == 1
    idp.discovery_overrides = {"issuer": idp.issuer_url + "/"}
    cache = IssuerKeyCache(verify=trusting(ca))
    key = run(cache, lambda: cache.get_key(idp.issuer_url + "/", idp.signing_key.kid, "RS256"))
    assert key.kid == idp.signing_key.kid
    assert idp.discovery_count == 2


def test_missing_jwks_uri_refused(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    idp.discovery_overrides = {"jwks_uri": None}
    message = failure(IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, idp.signing_key.kid)
    assert "no jwks_uri" in message


def test_http_error_status_refused(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    idp.fail_status = 404
    message = failure(IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, idp.signing_key.kid)
    assert "answered HTTP 404" in message


# --- size, redirects, time ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_oversize_jwks_refused(
    idp: TestIdentityProvider, ca: CertificateAuthority, stream: bool
) -> None:
    idp.stream_responses = stream
    idp.jwks_padding = 1 << 20
    message = failure(IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, idp.signing_key.kid)
    assert f"JWKS at {idp.jwks_url} exceeds {1 << 20} bytes" in message


def test_size_limit_boundary(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    idp.stream_responses = True
    idp.jwks_padding = 50_000
    size = len(json.dumps(idp.jwks()).encode())
    cache = IssuerKeyCache(verify=trusting(ca), max_bytes=size)
    key = run(cache, lambda: cache.get_key(idp.issuer_url, idp.signing_key.kid, "RS256"))
    assert key.kid == idp.signing_key.kid
    message = failure(IssuerKeyCache(verify=trusting(ca), max_bytes=size - 1), idp.issuer_url, "x")
    assert f"exceeds {size - 1} bytes" in message


@pytest.mark.parametrize("path", ["/jwks", "/.well-known/openid-configuration"])
def test_redirect_refused(
    idp: TestIdentityProvider, other_idp: TestIdentityProvider, ca: CertificateAuthority, path: str
) -> None:
    idp.redirects[path] = other_idp.issuer_url + path
    message = failure(IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, idp.signing_key.kid)
    assert "redirect (HTTP 302)" in message
    assert other_idp.discovery_count == other_idp.fetch_count == 0


def test_timeout_refused(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    idp.delay = 1.0
    started = time.monotonic()
    message = failure(
        IssuerKeyCache(verify=trusting(ca), timeout=0.2), idp.issuer_url, idp.signing_key.kid
    )
    assert time.monotonic() - started < 0.8
    assert "timed out" in message


def test_failing_issuer_does_not_block_another(
    idp: TestIdentityProvider, other_idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    idp.delay = 1.5
    cache = IssuerKeyCache(verify=trusting(ca), timeout=0.6)

    async def timed(call: Awaitable[IssuerKey]) -> tuple[float, IssuerKey | IssuerKeyError]:
        started = time.monotonic()
        try:
            result: IssuerKey | IssuerKeyError = await call
        except IssuerKeyError as exc:
            result = exc
        return time.monotonic() - started, result

    async def scenario() -> list[tuple[float, IssuerKey | IssuerKeyError]]:
        slow = timed(cache.get_key(idp.issuer_url, idp.signing_key.kid, "RS256"))
        slow_again = timed(cache.get_key(idp.issuer_url, idp.signing_key.kid, "RS256"))
        fast = timed(cache.get_key(other_idp.issuer_url, other_idp.signing_key.kid, "ES256"))
        return list(await asyncio.gather(slow, slow_again, fast))

    (slow_time, slow), (again_time, again), (fast_time, fast) = run(cache, scenario)
    assert isinstance(slow, IssuerKeyError) and "timed out" in str(slow)
    assert isinstance(again, IssuerKeyError) and "timed out" in str(again)
    assert isinstance(fast, IssuerKey) and fast.kid == other_idp.signing_key.kid
    assert fast_time < 0.4 < slow_time
    assert again_time < 1.0
    assert idp.discovery_count == 1


def test_concurrent_requests_share_one_fetch(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    idp.delay = 0.2
    cache = IssuerKeyCache(verify=trusting(ca))

    async def scenario() -> list[IssuerKey]:
        calls = [cache.get_key(idp.issuer_url, idp.signing_key.kid, "RS256") for _ in range(20)]
        return await asyncio.gather(*calls)

    keys = run(cache, scenario)
    assert len({id(key) for key in keys}) == 1
    assert (idp.discovery_count, idp.fetch_count) == (1, 1)


# --- caching and refetching ---------------------------------------------------------------


def test_unknown_kid_refetches_once_per_interval(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    clock = FrozenClock(1_000_000.0)
    cache = IssuerKeyCache(verify=trusting(ca), clock=clock, refetch_interval=60)
    url, kid = idp.issuer_url, idp.signing_key.kid

    async def scenario() -> list[int]:
        counts = []
        await cache.get_key(url, kid, "RS256")
        counts.append(idp.fetch_count)
        for _ in range(3):
            with pytest.raises(IssuerKeyError, match="no key with kid 'unknown'"):
                await cache.get_key(url, "unknown", "RS256")
            counts.append(idp.fetch_count)
        clock.advance(59)
        with pytest.raises(IssuerKeyError):
            await cache.get_key(url, "another", "RS256")
        counts.append(idp.fetch_count)
        clock.advance(1)
        with pytest.raises(IssuerKeyError):
            await cache.get_key(url, "another", "RS256")
        counts.append(idp.fetch_count)
        assert (await cache.get_key(url, kid, "RS256")).kid == kid
        counts.append(idp.fetch_count)
        return counts

    assert run(cache, scenario) == [1, 2, 2, 2, 2, 3, 3]
    assert idp.discovery_count == 1


def test_unknown_kid_on_first_fetch_counts_as_the_refetch(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    clock = FrozenClock(1_000_000.0)
    cache = IssuerKeyCache(verify=trusting(ca), clock=clock)

    async def scenario() -> None:
        for kid in ("unknown", "unknown", "other"):
            with pytest.raises(IssuerKeyError, match="no key with kid"):
                await cache.get_key(idp.issuer_url, kid, "RS256")
        assert idp.fetch_count == 1
        assert (await cache.get_key(idp.issuer_url, idp.signing_key.kid, "RS256")).kid
        assert idp.fetch_count == 1

    run(cache, scenario)


def test_rotation_is_picked_up_on_refetch(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    clock = FrozenClock(1_000_000.0)
    cache = IssuerKeyCache(verify=trusting(ca), clock=clock)
    old = idp.signing_key

    async def scenario() -> None:
        await cache.get_key(idp.issuer_url, old.kid, "RS256")
        new = idp.rotate_keys()
        a = assertions.peek(idp.mint())
        assert a.kid == new.kid != old.kid
        key = await cache.get_key(a.iss, a.kid, a.alg)
        assertions.verify_signature(a, key)
        assert idp.fetch_count == 2
        clock.advance(300)
        with pytest.raises(IssuerKeyError, match="no key with kid"):
            await cache.get_key(idp.issuer_url, old.kid, "RS256")
        assert idp.fetch_count == 3

    run(cache, scenario)


def test_rotation_keeping_the_old_key(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    cache = IssuerKeyCache(verify=trusting(ca))
    old = idp.signing_key
    new = idp.rotate_keys(keep_old=True)
    assert [key["kid"] for key in idp.jwks()["keys"]] == [old.kid, new.kid]

    async def scenario() -> tuple[IssuerKey, IssuerKey]:
        return (
            await cache.get_key(idp.issuer_url, old.kid, "RS256"),
            await cache.get_key(idp.issuer_url, new.kid, "RS256"),
        )

    first, second = run(cache, scenario)
    assert (first.kid, second.kid) == (old.kid, new.kid)
    assert idp.fetch_count == 1


def test_ttl_expiry_refetches(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    clock = FrozenClock(1_000_000.0)
    cache = IssuerKeyCache(verify=trusting(ca), clock=clock, ttl_seconds=300)
    url, kid = idp.issuer_url, idp.signing_key.kid

    async def scenario() -> None:
        await cache.get_key(url, kid, "RS256")
        clock.advance(299)
        assert cache.get_key_cached(url, kid, "RS256") is not None
        clock.advance(1)
        assert cache.get_key_cached(url, kid, "RS256") is None
        await cache.get_key(url, kid, "RS256")
        assert (idp.discovery_count, idp.fetch_count) == (2, 2)

    run(cache, scenario)


def test_failures_are_cached_for_the_negative_ttl(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    clock = FrozenClock(1_000_000.0)
    cache = IssuerKeyCache(verify=trusting(ca), clock=clock, negative_ttl=30)
    url, kid = idp.issuer_url, idp.signing_key.kid

    async def scenario() -> None:
        idp.fail_status = 500
        with pytest.raises(IssuerKeyError, match="HTTP 500"):
            await cache.get_key(url, kid, "RS256")
        idp.fail_status = None
        clock.advance(29)
        with pytest.raises(IssuerKeyError, match="HTTP 500"):
            await cache.get_key(url, kid, "RS256")
        assert idp.discovery_count == 1
        clock.advance(1)
        assert (await cache.get_key(url, kid, "RS256")).kid == kid
        assert idp.discovery_count == 2

    run(cache, scenario)


def test_failed_refetch_keeps_known_keys_until_ttl(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    clock = FrozenClock(1_000_000.0)
    cache = IssuerKeyCache(verify=trusting(ca), clock=clock)
    url, kid = idp.issuer_url, idp.signing_key.kid

    async def scenario() -> None:
        await cache.get_key(url, kid, "RS256")
        idp.fail_status = 503
        with pytest.raises(IssuerKeyError, match="HTTP 503"):
            await cache.get_key(url, "new-kid", "RS256")
        assert (await cache.get_key(url, kid, "RS256")).kid == kid
        clock.advance(300)
        with pytest.raises(IssuerKeyError, match="HTTP 503"):
            await cache.get_key(url, kid, "RS256")

    run(cache, scenario)


def test_cache_survives_a_new_event_loop(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    cache = IssuerKeyCache(verify=trusting(ca))
    first = asyncio.run(cache.get_key(idp.issuer_url, idp.signing_key.kid, "RS256"))
    new = idp.rotate_keys(keep_old=True)
    second = run(cache, lambda: cache.get_key(idp.issuer_url, new.kid, "RS256"))
    assert (first.kid, second.kid) == (idp.keys[0].kid, new.kid)
    assert idp.fetch_count == 2


# --- key selection ------------------------------------------------------------------------


def test_no_kid_uses_the_single_fitting_key(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    cache = IssuerKeyCache(verify=trusting(ca))
    a = assertions.peek(idp.mint(extra_headers={"kid": None}))
    assert a.kid is None
    key = run(cache, lambda: cache.get_key(a.iss, None, a.alg))
    assertions.verify_signature(a, key)


def test_no_kid_with_several_fitting_keys_refused(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    idp.rotate_keys(keep_old=True)
    message = failure(IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, None)
    assert "no kid and 2 keys fit algorithm RS256" in message


def test_key_must_fit_the_algorithm(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    message = failure(
        IssuerKeyCache(verify=trusting(ca)), idp.issuer_url, idp.signing_key.kid, "ES256"
    )
    assert "does not fit algorithm ES256" in message
    assert idp.fetch_count == 1


def test_jwk_alg_and_use_are_honoured(idp: TestIdentityProvider, ca: CertificateAuthority) -> None:
    spare = SigningKey.generate("RS256", kid="pinned")
    idp.extra_jwks = [
        spare.public_jwk(alg="RS384"),
        SigningKey.generate("RS256", kid="enc").public_jwk(use="enc"),
        SigningKey.generate("RS256", kid="wrap").public_jwk(key_ops=["wrapKey"]),
    ]
    cache = IssuerKeyCache(verify=trusting(ca))

    async def scenario() -> None:
        assert (await cache.get_key(idp.issuer_url, "pinned", "RS384")).kid == "pinned"
        with pytest.raises(IssuerKeyError, match="does not fit algorithm RS256"):
            await cache.get_key(idp.issuer_url, "pinned", "RS256")
        with pytest.raises(IssuerKeyError, match="not usable: its use is not sig"):
            await cache.get_key(idp.issuer_url, "enc", "RS256")
        with pytest.raises(IssuerKeyError, match="key_ops do not include verify"):
            await cache.get_key(idp.issuer_url, "wrap", "RS256")

    run(cache, scenario)
    assert idp.fetch_count == 1


def test_keys_with_private_parts_are_ignored(
    idp: TestIdentityProvider, ca: CertificateAuthority
) -> None:
    leaked = SigningKey.generate("ES256", kid="leaked")
    idp.extra_jwks = [leaked.private_jwk(), {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]
    cache = IssuerKeyCache(verify=trusting(ca))

    async def scenario() -> None:
        with pytest.raises(IssuerKeyError, match="private key material") as info:
            await cache.get_key(idp.issuer_url, "leaked", "ES256")
        assert leaked.private_jwk()["d"] not in str(info.value)
        with pytest.raises(IssuerKeyError, match="private key material"):
            await cache.get_key(idp.issuer_url, "hmac", "RS256")
        assert (await cache.get_key(idp.issuer_url, None, "RS256")).kid == idp.signing_key.kid

    run(cache, scenario)


def test_disallowed_algorithm_refused_without_io(idp: TestIdentityProvider) -> None:
    message = failure(IssuerKeyCache(), idp.issuer_url, idp.signing_key.kid, "HS256")
    assert message == "algorithm 'HS256' is not allowed"
    assert idp.discovery_count == 0


@pytest.mark.parametrize("document", [[], {"keys": {}}, {"nokeys": []}, "keys", {"keys": None}])
def test_malformed_jwks_documents_refused(document: Any) -> None:
    with pytest.raises(IssuerKeyError, match="keys list"):
        parse_jwks(document)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"kty": "RSA", "n": "!!", "e": "AQAB"}, "malformed RSA key"),
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, "malformed EC key"),
        ({"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}, "invalid EC key"),
        ({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}, "unsupported EC curve"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AA"}, "unsupported key type"),
        ({"kty": "RSA", "kid": 5}, "kid is not a string"),
        ({"kty": "RSA", "alg": "HS256"}, "its alg is not an allowed algorithm"),
        ("string", "not a JSON object"),
    ],
)
def test_bad_jwks_entries_are_skipped(entry: Any, reason: str) -> None:
    jwks = parse_jwks({"keys": [entry]})
    assert jwks.keys == ()
    if isinstance(entry, dict) and isinstance(entry.get("kid"), str):
        assert jwks.skipped[entry["kid"]] == reason
    assert parse_jwk(entry) == (None, reason)


# --- the test provider itself -------------------------------------------------------------


def test_mint_defaults_and_overrides(idp: TestIdentityProvider) -> None:
    a = assertions.peek(
        idp.mint(subject="s", email="e@x", audience=["a", "b"], lifetime=60, jti="j", team="t")
    )
    claims = dict(a.claims)
    assert claims["exp"] - claims["iat"] == 60
    assert {k: claims[k] for k in ("iss", "sub", "email", "aud", "jti", "team")} == {
        "iss": idp.issuer_url,
        "sub": "s",
        "email": "e@x",
        "aud": ["a", "b"],
        "jti": "j",
        "team": "t",
    }
    assert "nbf" not in claims
    removed = assertions.peek(idp.mint(jti="j", sub=None, not_before=5, issued_at=10))
    assert "sub" not in removed.claims
    assert (removed.claims["nbf"], removed.claims["iat"]) == (5, 10)


def test_provider_stops_serving(tmp_path: Path, ca: CertificateAuthority) -> None:
    provider = TestIdentityProvider(tmp_path, ca=ca)
    with pytest.raises(RuntimeError):
        _ = provider.issuer_url
    provider.start()
    url = provider.issuer_url
    provider.stop()
    message = failure(IssuerKeyCache(verify=trusting(ca), timeout=1), url, "k")
    assert "connection failed" in message
