"""Verifying a jwt-bearer assertion: RFC 7523 section 3, RFC 8725 and the spec's rules.

Three steps, so that the caller can pick the issuer and fetch its key in between:
``peek`` (size, shape and header, before any signature work), ``verify_signature``
(cryptography directly, with module-level padding and hash objects) and ``check_claims``.
Every failure is an InvalidGrant whose description names the failed check and never
carries key material.

Decisions: JSON with duplicate member names is refused in the header and the claims; a
header ``kid`` must be a string; without ``iat`` the lifetime limit counts from now; the
``exp`` returned is rounded up, so a replay record kept until ``exp + leeway`` outlives the
assertion; the claim attribute path is always read as nested objects (a top-level member
whose name contains a dot is not consulted); an empty string there fails.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ssooidc.errors import InvalidGrant
from ssooidc.services.issuers import IssuerKey, PublicKey, key_fits_alg

ALLOWED_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
MAX_ASSERTION_BYTES = 16 * 1024
FORBIDDEN_HEADERS = ("jwk", "jku", "x5u", "x5c", "crit")
MAX_CLAIM_PATH_SEGMENTS = 3

VerificationKey = IssuerKey | PublicKey

_SHA = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
_EC_SIZES = {"256": 32, "384": 48, "512": 66}
_PKCS1 = padding.PKCS1v15()
_PSS = {
    bits: padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    for bits, digest in _SHA.items()
}
_ECDSA = {bits: ec.ECDSA(digest) for bits, digest in _SHA.items()}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class UnverifiedAssertion:
    """A parsed assertion whose signature and claims have not been checked yet."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any] = field(repr=False)
    iss: str
    kid: str | None
    alg: str
    raw: str = field(repr=False)
    signing_input: bytes = field(repr=False, default=b"")
    signature: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class ClaimsCheck:
    """What the grant needs from an assertion whose claims passed every check."""

    jti: str
    exp: int
    subject: str
    attribute_value: str
    issuer: str
    audience: str


def _decode_segment(segment: str, what: str) -> bytes:
    """Strict unpadded base64url, or InvalidGrant naming the segment."""
    if len(segment) % 4 == 1 or _B64URL.fullmatch(segment) is None:
        raise InvalidGrant(f"assertion {what} is not valid base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidGrant(f"assertion {what} is not valid base64url") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object hook that refuses repeated member names."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constants(name: str) -> Any:
    """A JSON constant hook that refuses NaN and Infinity."""
    raise ValueError(f"{name} is not JSON")


def _decode_json_object(segment: str, what: str) -> dict[str, Any]:
    """A base64url segment holding a UTF-8 JSON object, or InvalidGrant."""
    data = _decode_segment(segment, what)
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        )
    except (ValueError, RecursionError):
        raise InvalidGrant(f"assertion {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidGrant(f"assertion {what} is not a JSON object")
    return value


def _shown(value: Any) -> str:
    """A short printable form of an untrusted header value."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 32 else text[:32] + "..."


def peek(assertion: str) -> UnverifiedAssertion:
    """Parse an assertion's shape and header without trusting it; raises InvalidGrant."""
    if not isinstance(assertion, str):
        raise InvalidGrant("assertion is not a string")
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise InvalidGrant(f"assertion exceeds {MAX_ASSERTION_BYTES} bytes")
    if not assertion.isascii():
        raise InvalidGrant("assertion is not a compact JWS")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise InvalidGrant(f"assertion is not a compact JWS (3 parts expected, got {len(parts)})")
    header_part, payload_part, signature_part = parts
    if not header_part or not payload_part:
        raise InvalidGrant("assertion is not a compact JWS (empty header or payload)")
    if not signature_part:
        raise InvalidGrant("assertion is not signed")
    header = _decode_json_object(header_part, "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise InvalidGrant("assertion header has no alg")
    if alg not in ALLOWED_ALGS:
        raise InvalidGrant(f"assertion algorithm {_shown(alg)} is not allowed")
    for name in FORBIDDEN_HEADERS:
        if name in header:
            raise InvalidGrant(f"assertion header {name} is not allowed")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidGrant("assertion header kid is not a string")
    claims = _decode_json_object(payload_part, "payload")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidGrant("assertion iss is missing or not a string")
    signature = _decode_segment(signature_part, "signature")
    return UnverifiedAssertion(
        header=MappingProxyType(header),
        claims=MappingProxyType(claims),
        iss=iss,
        kid=kid,
        alg=alg,
        raw=assertion,
        signing_input=f"{header_part}.{payload_part}".encode("ascii"),
        signature=signature,
    )


def verify_signature(a: UnverifiedAssertion, key: VerificationKey) -> None:
    """Check the assertion's signature with the issuer's key; raises InvalidGrant."""
    alg = a.alg
    if alg not in ALLOWED_ALGS:
        raise InvalidGrant(f"assertion algorithm {_shown(alg)} is not allowed")
    if isinstance(key, IssuerKey):
        if not key.fits(alg):
            raise InvalidGrant(f"assertion key does not fit algorithm {alg}")
        public_key = key.public_key
    else:
        if not key_fits_alg(key, alg):
            raise InvalidGrant(f"assertion key does not fit algorithm {alg}")
        public_key = key
    bits = alg[2:]
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            pad = _PKCS1 if alg[0] == "R" else _PSS[bits]
            public_key.verify(a.signature, a.signing_input, pad, _SHA[bits])
        else:
            size = _EC_SIZES[bits]
            if len(a.signature) != 2 * size:
                raise InvalidSignature
            r = int.from_bytes(a.signature[:size], "big")
            s = int.from_bytes(a.signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), a.signing_input, _ECDSA[bits])
    except InvalidSignature:
        raise InvalidGrant("assertion signature is invalid") from None


def _iso(timestamp: float) -> str:
    """A timestamp as ISO-8601 UTC, or the number when out of range."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return str(timestamp)


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    """A NumericDate claim: a finite int or float, never a bool."""
    if name not in claims:
        if required:
            raise InvalidGrant(f"assertion {name} is missing")
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidGrant(f"assertion {name} is not a number")
    return float(value)


def _string(claims: Mapping[str, Any], name: str) -> str:
    """A required non-empty string claim."""
    if name not in claims:
        raise InvalidGrant(f"assertion {name} is missing")
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise InvalidGrant(f"assertion {name} is not a non-empty string")
    return value


def _attribute(claims: Mapping[str, Any], path: str) -> str:
    """The string at a dotted claim path of at most three segments."""
    segments = path.split(".")
    if not path or len(segments) > MAX_CLAIM_PATH_SEGMENTS or not all(segments):
        raise InvalidGrant(f"claim attribute path {_shown(path)} is not usable")
    value: Any = claims
    for segment in segments:
        if not isinstance(value, Mapping) or segment not in value:
            raise InvalidGrant(f"assertion claim {path} is missing")
        value = value[segment]
    if not isinstance(value, str):
        raise InvalidGrant(f"assertion claim {path} is not a string")
    if not value:
        raise InvalidGrant(f"assertion claim {path} is empty")
    return value


def check_claims(
    a: UnverifiedAssertion,
    *,
    authorized_audiences: Collection[str],
    claim_attribute_path: str,
    now: float,
    leeway: int = 60,
    max_lifetime: int = 86400,
    issuer: str | None = None,
) -> ClaimsCheck:
    """Check required claims, times, audience and the mapped attribute; raises InvalidGrant."""
    claims = a.claims
    iss = _string(claims, "iss")
    if issuer is not None and iss != issuer:
        raise InvalidGrant("assertion issuer is not the trusted token issuer")
    subject = _string(claims, "sub")
    if "aud" not in claims:
        raise InvalidGrant("assertion aud is missing")
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(v, str) for v in audiences):
        raise InvalidGrant("assertion aud is not a string or a list of strings")
    jti = _string(claims, "jti")
    exp = _number(claims, "exp", required=True)
    assert exp is not None
    nbf = _number(claims, "nbf", required=False)
    iat = _number(claims, "iat", required=False)
    if exp <= now - leeway:
        raise InvalidGrant(f"assertion expired at {_iso(exp)}")
    if nbf is not None and nbf > now + leeway:
        raise InvalidGrant(f"assertion not valid before {_iso(nbf)}")
    if iat is not None and iat > now + leeway:
        raise InvalidGrant(f"assertion issued in the future at {_iso(iat)}")
    start = now if iat is None else iat
    if exp - start > max_lifetime:
        raise InvalidGrant(f"assertion lifetime exceeds {max_lifetime} seconds")
    audience = next((v for v in audiences if v in authorized_audiences), None)
    if audience is None:
        raise InvalidGrant("assertion audience not authorized")
    value = _attribute(claims, claim_attribute_path)
    return ClaimsCheck(
        jti=jti,
        exp=math.ceil(exp),
        subject=subject,
        attribute_value=value,
        issuer=iss,
        audience=audience,
    )
