"""The instance's keys: ID-token signing keys (in the store, encrypted, shared by every process),
the JWKS that publishes them, and the secret that seals STS identity contexts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import Connection, insert, select

from ssooidc.services.at_rest import SecretBox
from ssooidc.store import tables as t

ID_TOKEN = "id_token"
DEMO_IDP = "demo_idp"
CONTEXT_SECRET = "identity_context"

Key = ECKey | RSAKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: Key
    public_jwk: dict[str, Any]


def generate(alg: str) -> Key:
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    raise ValueError(f"unsupported signing algorithm {alg}")


def create_signing_key(
    conn: Connection, box: SecretBox, *, purpose: str, alg: str, now: float
) -> SigningKey:
    """A new key of ``purpose``, stored encrypted, public part ready for the JWKS."""
    key = generate(alg)
    kid = uuid.uuid4().hex
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    conn.execute(
        insert(t.signing_keys).values(
            kid=kid,
            purpose=purpose,
            alg=alg,
            private_enc=box.seal(key.as_pem(private=True), f"signing-key:{kid}"),
            public_jwk=public,
            created_at=now,
        )
    )
    return SigningKey(kid, alg, key, public)


def current_signing_key(conn: Connection, box: SecretBox, purpose: str) -> SigningKey | None:
    """The newest key of ``purpose`` that is not retired."""
    row = conn.execute(
        select(t.signing_keys)
        .where(t.signing_keys.c.purpose == purpose, t.signing_keys.c.retired_at.is_(None))
        .order_by(t.signing_keys.c.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    pem = box.open(row.private_enc, f"signing-key:{row.kid}")
    key: Key = ECKey.import_key(pem) if row.alg.startswith("ES") else RSAKey.import_key(pem)
    return SigningKey(row.kid, row.alg, key, dict(row.public_jwk))


def published_keys(conn: Connection, purpose: str, now: float) -> list[dict[str, Any]]:
    """The JWKS: every key of ``purpose`` not retired, or retired but still verifying tokens."""
    rows = conn.execute(
        select(
            t.signing_keys.c.public_jwk, t.signing_keys.c.retired_at, t.signing_keys.c.publish_until
        )
        .where(t.signing_keys.c.purpose == purpose)
        .order_by(t.signing_keys.c.created_at.desc())
    )
    return [
        dict(r.public_jwk)
        for r in rows
        if r.retired_at is None or (r.publish_until is not None and r.publish_until > now)
    ]


class JwtSigner:
    """Signs ID tokens with one key: the header segment made once, the signature computed by
    ``cryptography`` directly (RFC 7515 §7.1 compact form; RFC 7518 §3.3, §3.4). Each ID token
    costs one signature on the token path, and this is several times cheaper than assembling
    the JWS through the JOSE library's generic layer; tests verify its output with joserfc."""

    def __init__(self, key: SigningKey) -> None:
        self.kid = key.kid
        self.alg = key.alg
        header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
        self._header = _b64(json.dumps(header, separators=(",", ":")).encode())
        private = key.key.private_key
        if isinstance(private, ec.EllipticCurvePrivateKey) and key.alg == "ES256":
            self._ec: ec.EllipticCurvePrivateKey | None = private
            self._rsa: rsa.RSAPrivateKey | None = None
        elif isinstance(private, rsa.RSAPrivateKey) and key.alg == "RS256":
            self._ec, self._rsa = None, private
        else:
            raise ValueError(f"cannot sign {key.alg} with this key")

    def _sign(self, data: bytes) -> bytes:
        if self._ec is not None:
            return _ecdsa_raw(self._ec.sign(data, ec.ECDSA(hashes.SHA256())), 32)
        assert self._rsa is not None
        return self._rsa.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign(self, claims: dict[str, Any]) -> str:
        payload = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        signing_input = f"{self._header}.{payload}"
        return f"{signing_input}.{_b64(self._sign(signing_input.encode()))}"


def _ecdsa_raw(der: bytes, size: int) -> bytes:
    """DER ECDSA signature to the fixed-size r || s form JWS uses (RFC 7518 §3.4)."""
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign_jwt(key: SigningKey, claims: dict[str, Any]) -> str:
    """A compact JWS of ``claims`` with ``kid`` and ``typ`` in the header."""
    return JwtSigner(key).sign(claims)


def instance_secret(conn: Connection, box: SecretBox, name: str, now: float) -> bytes:
    """A random instance-wide secret, made on first use, stored encrypted."""
    row = conn.execute(
        select(t.secrets_table.c.value_enc).where(t.secrets_table.c.name == name)
    ).first()
    if row is not None:
        return box.open(row.value_enc, f"secret:{name}")
    value = secrets.token_bytes(32)
    conn.execute(
        insert(t.secrets_table).values(
            name=name, value_enc=box.seal(value, f"secret:{name}"), created_at=now
        )
    )
    return value


class ContextSealer:
    """Seals and opens ``sts:identity_context`` values: signed, opaque, under 2048 characters."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def seal(self, fields: dict[str, Any]) -> str:
        body = _b64(json.dumps(fields, separators=(",", ":"), sort_keys=True).encode())
        mac = _b64(hmac.digest(self._secret, body.encode(), hashlib.sha256))
        return f"{body}.{mac}"

    def open(self, value: str) -> dict[str, Any] | None:
        """The sealed fields, or None when the value was not sealed by this instance."""
        body, _, mac = value.partition(".")
        expected = _b64(hmac.digest(self._secret, body.encode(), hashlib.sha256))
        if not mac or not hmac.compare_digest(mac, expected):
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, UnicodeDecodeError):
            return None
        return fields if isinstance(fields, dict) else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
