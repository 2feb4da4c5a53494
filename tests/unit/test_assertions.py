"""jwt-bearer assertion checks: peek, verify_signature and check_claims."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, RSAKey

from ssooidc.errors import InvalidGrant
from ssooidc.services import assertions
from ssooidc.services.assertions import (
    ALLOWED_ALGS,
    MAX_ASSERTION_BYTES,
    UnverifiedAssertion,
    check_claims,
    peek,
    verify_signature,
)
from ssooidc.services.issuers import IssuerKey, parse_jwk
from ssooidc.testing.idp import SigningKey

NOW = 1_800_000_000
ISSUER = "https://idp.example.com"


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    """A JSON value as a JWS segment."""
    return b64(json.dumps(value).encode())


def claims_for(**overrides: Any) -> dict[str, Any]:
    """Valid claims at NOW; a None override removes the claim."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "subject-1",
        "aud": "app",
        "jti": "jti-1",
        "iat": NOW - 10,
        "exp": NOW + 300,
        "email": "Alice@Example.com",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def unsigned(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A token with a dummy signature, for checks that never reach the signature."""
    return f"{segment(header or {'alg': 'RS256', 'kid': 'k1'})}.{segment(claims)}.c2ln"


def claims_check(claims: dict[str, Any], **kwargs: Any) -> assertions.ClaimsCheck:
    """check_claims on a peeked token with defaults for the test issuer."""
    options: dict[str, Any] = {
        "authorized_audiences": {"app"},
        "claim_attribute_path": "email",
        "now": NOW,
    }
    options.update(kwargs)
    return check_claims(peek(unsigned(claims)), **options)


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    """The description of the InvalidGrant that ``call`` raises."""
    with pytest.raises(InvalidGrant) as info:
        call(*args, **kwargs)
    return info.value.description


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    """An RS256 key shared by the module."""
    return SigningKey.generate("RS256", kid="rsa-1")


@pytest.fixture(scope="module")
def keys(rsa_key: SigningKey) -> dict[str, SigningKey]:
    """One signing key per allowed algorithm (RSA algorithms share one RSA key)."""
    result = {}
    for alg in sorted(ALLOWED_ALGS):
        if alg.startswith(("RS", "PS")):
            result[alg] = SigningKey(alg, rsa_key.private_key, f"{alg}-kid")
        else:
            result[alg] = SigningKey.generate(alg, kid=f"{alg}-kid")
    return result


def issuer_key(key: SigningKey, **members: Any) -> IssuerKey:
    """The key as the issuer cache would hand it over."""
    parsed, reason = parse_jwk(key.public_jwk(**members))
    assert parsed is not None, reason
    return parsed


def signed(key: SigningKey, claims: dict[str, Any] | None = None, **header: Any) -> str:
    """A token signed by ``key``."""
    return key.sign({"alg": key.alg, "kid": key.kid, **header}, claims or claims_for())


# --- peek ---------------------------------------------------------------------------------


def test_peek_reads_header_and_issuer(rsa_key: SigningKey) -> None:
    token = signed(rsa_key)
    a = peek(token)
    assert (a.alg, a.kid, a.iss) == ("RS256", "rsa-1", ISSUER)
    assert a.claims["sub"] == "subject-1"
    assert a.raw == token
    assert a.signing_input == token.rsplit(".", 1)[0].encode()
    assert token not in repr(a) and "subject-1" not in repr(a)


def test_peek_without_kid() -> None:
    assert peek(unsigned(claims_for(), {"alg": "ES256"})).kid is None


def test_alg_none_without_signature_refused(rsa_key: SigningKey) -> None:
    token = rsa_key.sign({"alg": "none"}, claims_for(), alg="none")
    assert token.endswith(".")
    assert refused(peek, token) == "assertion is not signed"


def test_alg_none_with_signature_refused() -> None:
    token = unsigned(claims_for(), {"alg": "none"})
    assert refused(peek, token) == "assertion algorithm none is not allowed"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "EdDSA", "RSA-OAEP", "rs256", ""])
def test_disallowed_algorithms_refused(alg: str) -> None:
    token = unsigned(claims_for(), {"alg": alg})
    assert refused(peek, token) == f"assertion algorithm {alg} is not allowed"


def test_hmac_with_public_key_as_secret_refused(rsa_key: SigningKey) -> None:
    token = rsa_key.sign({"alg": "HS256", "kid": rsa_key.kid}, claims_for(), alg="HS256")
    assert "HS256 is not allowed" in refused(peek, token)


@pytest.mark.parametrize("alg", [None, 256, ["RS256"]])
def test_missing_or_non_string_alg_refused(alg: Any) -> None:
    header = {"kid": "k"} if alg is None else {"alg": alg}
    assert refused(peek, unsigned(claims_for(), header)) == "assertion header has no alg"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jwk", {"kty": "oct", "k": "c2VjcmV0"}),
        ("jku", "https://attacker.example/jwks"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIB"]),
        ("crit", ["exp"]),
    ],
)
def test_key_carrying_and_crit_headers_refused(name: str, value: Any) -> None:
    token = unsigned(claims_for(), {"alg": "RS256", "kid": "k1", name: value})
    assert refused(peek, token) == f"assertion header {name} is not allowed"


def test_non_string_kid_refused() -> None:
    token = unsigned(claims_for(), {"alg": "RS256", "kid": 7})
    assert refused(peek, token) == "assertion header kid is not a string"


def test_oversize_refused_before_parsing() -> None:
    token = "!" * (MAX_ASSERTION_BYTES + 1)
    assert refused(peek, token) == f"assertion exceeds {MAX_ASSERTION_BYTES} bytes"


def test_exactly_max_size_accepted_and_one_more_refused() -> None:
    header = segment({"alg": "RS256", "kid": "k1"})
    pad = MAX_ASSERTION_BYTES * 3 // 4
    while True:
        prefix = f"{header}.{segment(claims_for(pad='x' * pad))}."
        room = MAX_ASSERTION_BYTES - len(prefix)
        if room >= 2 and room % 4 != 1:
            break
        pad -= 1
    token = prefix + "A" * room
    assert len(token) == MAX_ASSERTION_BYTES
    assert peek(token).claims["sub"] == "subject-1"
    assert refused(peek, token + "A") == f"assertion exceeds {MAX_ASSERTION_BYTES} bytes"


@pytest.mark.parametrize("parts", [1, 2, 4, 5])
def test_wrong_number_of_parts_refused(parts: int) -> None:
    token = ".".join([segment({"alg": "RS256"}), segment(claims_for()), "c2ln", "eA", "eA"][:parts])
    assert refused(peek, token) == (
        f"assertion is not a compact JWS (3 parts expected, got {parts})"
    )


def test_empty_header_or_payload_refused() -> None:
    assert "empty header" in refused(peek, f".{segment(claims_for())}.c2ln")
    assert "empty header or payload" in refused(peek, f"{segment({'alg': 'RS256'})}..c2ln")


@pytest.mark.parametrize(
    ("token", "what"),
    [
        ("e30!.e30.c2ln", "header"),
        ("e30=.e30.c2ln", "header"),
        ("eyJhbGciOiJSUzI1NiJ9A.e30.c2ln", "header"),
        (f"{segment({'alg': 'RS256'})}.e3+0.c2ln", "payload"),
        (f"{segment({'alg': 'RS256'})}.{segment(claims_for())}.c2l/", "signature"),
    ],
)
def test_bad_base64_refused(token: str, what: str) -> None:
    assert refused(peek, token) == f"assertion {what} is not valid base64url"


@pytest.mark.parametrize(
    ("header_raw", "payload_raw", "message"),
    [
        (b"{not json", json.dumps(claims_for()).encode(), "assertion header is not valid JSON"),
        (b'{"alg":"RS256"}', b"{not json", "assertion payload is not valid JSON"),
        (b'["RS256"]', json.dumps(claims_for()).encode(), "assertion header is not a JSON object"),
        (b'{"alg":"RS256"}', b'"just a string"', "assertion payload is not a JSON object"),
        (b'{"alg":"RS256","alg":"HS256"}', b"{}", "assertion header is not valid JSON"),
        (b'{"alg":"RS256"}', b'{"iss":"a","iss":"b"}', "assertion payload is not valid JSON"),
        (b'{"alg":"RS256"}', b'{"iss":"a","exp":NaN}', "assertion payload is not valid JSON"),
        (b'{"alg":"RS256"}', b'{"iss":"\xff"}', "assertion payload is not valid JSON"),
    ],
)
def test_bad_json_refused(header_raw: bytes, payload_raw: bytes, message: str) -> None:
    token = f"{b64(header_raw)}.{b64(payload_raw)}.c2ln"
    assert refused(peek, token) == message


def test_non_ascii_refused() -> None:
    assert refused(peek, "é" + unsigned(claims_for())) == "assertion is not a compact JWS"


@pytest.mark.parametrize("iss", [None, "", 42, ["https://idp.example.com"]])
def test_missing_or_bad_iss_refused_by_peek(iss: Any) -> None:
    claims = claims_for(iss=iss)
    assert refused(peek, unsigned(claims)) == "assertion iss is missing or not a string"


def test_non_string_assertion_refused() -> None:
    assert refused(peek, b"a.b.c") == "assertion is not a string"


# --- verify_signature ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", sorted(ALLOWED_ALGS))
def test_every_allowed_algorithm_verifies(keys: dict[str, SigningKey], alg: str) -> None:
    key = keys[alg]
    a = peek(signed(key))
    assert a.alg == alg
    verify_signature(a, issuer_key(key))
    verify_signature(a, key.public_key)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_tampered_payload_refused(keys: dict[str, SigningKey], alg: str) -> None:
    token = signed(keys[alg])
    header, _, signature = token.split(".")
    forged = f"{header}.{segment(claims_for(sub='admin'))}.{signature}"
    a = peek(forged)
    assert refused(verify_signature, a, issuer_key(keys[alg])) == "assertion signature is invalid"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_wrong_key_refused(alg: str, keys: dict[str, SigningKey]) -> None:
    other = SigningKey.generate(alg)
    a = peek(signed(keys[alg]))
    message = refused(verify_signature, a, issuer_key(other))
    assert message == "assertion signature is invalid"
    assert other.public_jwk()["kty"] not in message


def test_rs256_signature_is_not_accepted_as_ps256(keys: dict[str, SigningKey]) -> None:
    token = signed(keys["RS256"])
    _, payload, signature = token.split(".")
    relabelled = f"{segment({'alg': 'PS256', 'kid': 'PS256-kid'})}.{payload}.{signature}"
    a = peek(relabelled)
    assert refused(verify_signature, a, issuer_key(keys["PS256"])) == (
        "assertion signature is invalid"
    )


def test_key_type_must_fit_algorithm(keys: dict[str, SigningKey]) -> None:
    rs = peek(signed(keys["RS256"]))
    es = peek(signed(keys["ES256"]))
    assert refused(verify_signature, rs, issuer_key(keys["ES256"])) == (
        "assertion key does not fit algorithm RS256"
    )
    assert refused(verify_signature, es, issuer_key(keys["RS256"])) == (
        "assertion key does not fit algorithm ES256"
    )
    assert refused(verify_signature, es, keys["ES384"].public_key) == (
        "assertion key does not fit algorithm ES256"
    )


def test_jwk_alg_member_must_match(keys: dict[str, SigningKey]) -> None:
    a = peek(signed(keys["RS256"]))
    pinned = issuer_key(keys["RS256"], alg="RS384")
    assert refused(verify_signature, a, pinned) == "assertion key does not fit algorithm RS256"


def test_small_rsa_key_refused() -> None:
    weak = SigningKey("RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024), "w")
    a = peek(signed(weak))
    assert refused(verify_signature, a, weak.public_key) == (
        "assertion key does not fit algorithm RS256"
    )
    assert parse_jwk(weak.public_jwk())[0] is None


def test_ecdsa_signature_of_wrong_length_refused(keys: dict[str, SigningKey]) -> None:
    header, payload, signature = signed(keys["ES256"]).split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    padded = raw[:32] + b"\x00" + raw[32:]
    for bad in (raw[:-1], raw + b"\x00", b"\x00" * 64, padded, b"\x00" + raw):
        a = peek(f"{header}.{payload}.{b64(bad)}")
        assert refused(verify_signature, a, issuer_key(keys["ES256"])) == (
            "assertion signature is invalid"
        )


def test_verify_refuses_disallowed_alg_even_if_constructed(keys: dict[str, SigningKey]) -> None:
    good = peek(signed(keys["RS256"]))
    forged = UnverifiedAssertion(
        header={"alg": "HS256"},
        claims=good.claims,
        iss=good.iss,
        kid=None,
        alg="HS256",
        raw=good.raw,
        signing_input=good.signing_input,
        signature=good.signature,
    )
    assert refused(verify_signature, forged, keys["RS256"].public_key) == (
        "assertion algorithm HS256 is not allowed"
    )


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES512"])
def test_interoperates_with_joserfc(keys: dict[str, SigningKey], alg: str) -> None:
    key = keys[alg]
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jose_key = (RSAKey if isinstance(key.private_key, rsa.RSAPrivateKey) else ECKey).import_key(pem)
    theirs = jose_jwt.encode({"alg": alg, "kid": key.kid}, claims_for(), jose_key, algorithms=[alg])
    verify_signature(peek(theirs), issuer_key(key))
    ours = signed(key)
    assert jws.deserialize_compact(ours, jose_key, algorithms=[alg]).headers()["alg"] == alg


def test_ec_key_from_jwk_uses_fixed_length_coordinates(keys: dict[str, SigningKey]) -> None:
    jwk = keys["ES512"].public_jwk()
    assert len(base64.urlsafe_b64decode(jwk["x"] + "==")) == 66
    parsed = issuer_key(keys["ES512"])
    assert isinstance(parsed.public_key, ec.EllipticCurvePublicKey)
    assert parsed.crv == "P-521"


# --- check_claims -------------------------------------------------------------------------


def test_claims_happy_path() -> None:
    result = claims_check(claims_for())
    assert result.jti == "jti-1"
    assert result.exp == NOW + 300
    assert result.subject == "subject-1"
    assert result.attribute_value == "Alice@Example.com"
    assert result.issuer == ISSUER
    assert result.audience == "app"


@pytest.mark.parametrize("name", ["sub", "aud", "jti", "exp", "email"])
def test_each_required_claim_missing_refused(name: str) -> None:
    message = refused(claims_check, claims_for(**{name: None}))
    expected = "assertion claim email is missing" if name == "email" else f"{name} is missing"
    assert message.endswith(expected)


def test_iss_missing_refused_by_check_claims() -> None:
    good = peek(unsigned(claims_for()))
    without = UnverifiedAssertion(
        header=good.header,
        claims={k: v for k, v in good.claims.items() if k != "iss"},
        iss=good.iss,
        kid=None,
        alg="RS256",
        raw=good.raw,
    )
    message = refused(
        check_claims, without, authorized_audiences={"app"}, claim_attribute_path="sub", now=NOW
    )
    assert message == "assertion iss is missing"


def test_issuer_must_match_when_given() -> None:
    assert claims_check(claims_for(), issuer=ISSUER).issuer == ISSUER
    assert refused(claims_check, claims_for(), issuer=ISSUER + "/") == (
        "assertion issuer is not the trusted token issuer"
    )


@pytest.mark.parametrize(("name", "value"), [("sub", ""), ("sub", 5), ("jti", ""), ("jti", [1])])
def test_sub_and_jti_must_be_non_empty_strings(name: str, value: Any) -> None:
    assert refused(claims_check, claims_for(**{name: value})) == (
        f"assertion {name} is not a non-empty string"
    )


@pytest.mark.parametrize(
    ("aud", "ok"),
    [
        ("app", True),
        (["other", "app"], True),
        (["app"], True),
        ("other", False),
        (["other", "third"], False),
        ([], False),
        ("App", False),
    ],
)
def test_audience_string_or_list(aud: Any, ok: bool) -> None:
    if ok:
        assert claims_check(claims_for(aud=aud)).audience == "app"
    else:
        assert refused(claims_check, claims_for(aud=aud)) == "assertion audience not authorized"


@pytest.mark.parametrize("aud", [42, {"app": True}, ["app", 3], True])
def test_audience_of_wrong_type_refused(aud: Any) -> None:
    assert refused(claims_check, claims_for(aud=aud)) == (
        "assertion aud is not a string or a list of strings"
    )


def test_authorized_audiences_come_from_the_caller() -> None:
    claims = claims_for(aud=["a", "b"])
    assert claims_check(claims, authorized_audiences=["b"]).audience == "b"
    assert "not authorized" in refused(claims_check, claims, authorized_audiences=[])


def test_expiry_with_leeway_boundary() -> None:
    assert claims_check(claims_for(exp=NOW - 59)).exp == NOW - 59
    message = refused(claims_check, claims_for(exp=NOW - 60))
    assert message == "assertion expired at 2027-01-15T07:59:00Z"
    assert "expired" in refused(claims_check, claims_for(exp=NOW - 1), leeway=0)
    assert claims_check(claims_for(exp=NOW + 1), leeway=0).exp == NOW + 1


def test_not_before_with_leeway_boundary() -> None:
    assert claims_check(claims_for(nbf=NOW + 60)).jti == "jti-1"
    message = refused(claims_check, claims_for(nbf=NOW + 61))
    assert message == "assertion not valid before 2027-01-15T08:01:01Z"


def test_issued_at_in_future_with_leeway_boundary() -> None:
    assert claims_check(claims_for(iat=NOW + 60)).jti == "jti-1"
    message = refused(claims_check, claims_for(iat=NOW + 61))
    assert message == "assertion issued in the future at 2027-01-15T08:01:01Z"


def test_lifetime_limit() -> None:
    assert claims_check(claims_for(iat=NOW - 100, exp=NOW - 100 + 86400)).jti == "jti-1"
    message = refused(claims_check, claims_for(iat=NOW - 100, exp=NOW - 100 + 86401))
    assert message == "assertion lifetime exceeds 86400 seconds"
    assert "lifetime" in refused(claims_check, claims_for(iat=NOW, exp=NOW + 600), max_lifetime=300)


def test_lifetime_without_iat_counts_from_now() -> None:
    assert claims_check(claims_for(iat=None, exp=NOW + 86400)).jti == "jti-1"
    assert "lifetime" in refused(claims_check, claims_for(iat=None, exp=NOW + 86401))


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["1800000000", True, False, None, [NOW], {"t": NOW}])
def test_numeric_dates_must_be_numbers(name: str, value: Any) -> None:
    claims = claims_for()
    claims[name] = value
    assert refused(claims_check, claims) == f"assertion {name} is not a number"


def test_infinite_exp_refused() -> None:
    payload = json.dumps(claims_for(exp=None)).replace("}", ', "exp": 1e400}')
    a = peek(f"{segment({'alg': 'RS256'})}.{b64(payload.encode())}.c2ln")
    assert math.isinf(a.claims["exp"])
    message = refused(
        check_claims, a, authorized_audiences={"app"}, claim_attribute_path="email", now=NOW
    )
    assert message == "assertion exp is not a number"


def test_fractional_exp_rounds_up() -> None:
    assert claims_check(claims_for(exp=NOW + 10.2)).exp == NOW + 11


def test_dotted_claim_paths() -> None:
    claims = claims_for(custom={"user": {"email": "deep@example.com"}, "id": "e-1"})
    assert claims_check(claims, claim_attribute_path="custom.id").attribute_value == "e-1"
    deep = claims_check(claims, claim_attribute_path="custom.user.email")
    assert deep.attribute_value == "deep@example.com"
    assert claims_check(claims, claim_attribute_path="sub").attribute_value == "subject-1"


def test_literal_dotted_member_is_not_consulted() -> None:
    claims = claims_for(**{"custom.id": "flat"})
    assert refused(claims_check, claims, claim_attribute_path="custom.id") == (
        "assertion claim custom.id is missing"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a@example.com"], "assertion claim custom.email is not a string"),
        ({"value": "a@example.com"}, "assertion claim custom.email is not a string"),
        (42, "assertion claim custom.email is not a string"),
        (4.2, "assertion claim custom.email is not a string"),
        (True, "assertion claim custom.email is not a string"),
        (None, "assertion claim custom.email is not a string"),
        ("", "assertion claim custom.email is empty"),
    ],
)
def test_claim_path_value_must_be_a_string(value: Any, message: str) -> None:
    claims = claims_for(custom={"email": value})
    assert refused(claims_check, claims, claim_attribute_path="custom.email") == message


def test_claim_path_through_non_object_refused() -> None:
    claims = claims_for(custom=["x"])
    assert refused(claims_check, claims, claim_attribute_path="custom.email") == (
        "assertion claim custom.email is missing"
    )


@pytest.mark.parametrize("path", ["a.b.c.d", "", "a..b", ".a", "a."])
def test_unusable_claim_paths_refused(path: str) -> None:
    claims = claims_for(a={"b": {"c": {"d": "x"}}})
    assert refused(claims_check, claims, claim_attribute_path=path).startswith(
        "claim attribute path"
    )
