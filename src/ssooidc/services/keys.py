"""The instance's keys: ID-token signing keys (in the store, encrypted, shared by every process),
the JWKS that publishes them, and the secret that seals STS identity contexts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import Connection, insert, select, update

from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import bump_generation
from ssooidc.store import tables as t

ID_TOKEN = "id_token"
DEMO_IDP = "demo_idp"
#: the longest an ID token lives: a key stays published this long after it last signed
TOKEN_LIFETIME = 3600.0
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


#: how long a key of a scheduled or ``keys rotate`` rotation is published before it signs: the
#: JWKS answer's ``Cache-Control: max-age``, so relying parties holding a cached JWKS meet the
#: new ``kid`` only after their cache has expired
PREPUBLISH = 300.0


@dataclass(frozen=True)
class KeyInfo:
    """A signing key's place in the schedule, and its public JWK (no private part)."""

    kid: str
    alg: str
    created_at: float
    active_from: float
    retired_at: float | None
    publish_until: float | None
    public_jwk: dict[str, Any] = field(compare=False, repr=False)


def create_signing_key(
    conn: Connection,
    box: SecretBox,
    *,
    purpose: str,
    alg: str,
    now: float,
    active_from: float | None = None,
) -> SigningKey:
    """A new key of ``purpose``, stored encrypted, public part ready for the JWKS; it signs
    from ``active_from`` (default: at once)."""
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
            active_from=now if active_from is None else active_from,
        )
    )
    return SigningKey(kid, alg, key, public)


def key_schedule(conn: Connection, purpose: str) -> tuple[KeyInfo, ...]:
    """Every key of ``purpose``, oldest first."""
    c = t.signing_keys.c
    rows = conn.execute(
        select(
            c.kid, c.alg, c.created_at, c.active_from, c.retired_at, c.publish_until, c.public_jwk
        )
        .where(c.purpose == purpose)
        .order_by(c.active_from, c.created_at)
    )
    return tuple(KeyInfo(*row[:-1], public_jwk=dict(row[-1])) for row in rows)


def signing_kid(schedule: tuple[KeyInfo, ...], now: float) -> str | None:
    """The key that signs at ``now``: the newest unrevoked key whose time has come (or, when
    none has come yet, the oldest unrevoked one)."""
    live = [k for k in schedule if k.retired_at is None]
    if not live:
        return None
    chosen = live[0]
    for info in live:
        if info.active_from <= now:
            chosen = info
    return chosen.kid


def signing_key(conn: Connection, box: SecretBox, kid: str) -> SigningKey | None:
    row = conn.execute(select(t.signing_keys).where(t.signing_keys.c.kid == kid)).first()
    if row is None:
        return None
    pem = box.open(row.private_enc, f"signing-key:{row.kid}")
    key: Key = ECKey.import_key(pem) if row.alg.startswith("ES") else RSAKey.import_key(pem)
    return SigningKey(row.kid, row.alg, key, dict(row.public_jwk))


def current_signing_key(
    conn: Connection, box: SecretBox, purpose: str, now: float | None = None
) -> SigningKey | None:
    """The key of ``purpose`` that signs now."""
    kid = signing_kid(key_schedule(conn, purpose), time.time() if now is None else now)
    return None if kid is None else signing_key(conn, box, kid)


def published(schedule: tuple[KeyInfo, ...], now: float, lifetime: float) -> list[KeyInfo]:
    """The keys a JWKS shows at ``now``: every unrevoked key that signs now or will sign
    later, and every key that signed within the last ``lifetime`` seconds (the longest a token
    it signed lives); a revoked key only until its ``publish_until``."""
    signing = signing_kid(schedule, now)
    live = [k for k in schedule if k.retired_at is None]
    out: list[KeyInfo] = []
    for index, info in enumerate(live):
        if info.kid == signing or info.active_from > now:
            out.append(info)
            continue
        # superseded: the first later key whose time has come took over at its active_from
        successors = [k.active_from for k in live[index + 1 :] if k.active_from <= now]
        if successors and min(successors) + lifetime > now:
            out.append(info)
    out += [
        k
        for k in schedule
        if k.retired_at is not None and k.publish_until is not None and k.publish_until > now
    ]
    return sorted(out, key=lambda k: k.active_from, reverse=True)


def published_keys(
    conn: Connection, purpose: str, now: float, lifetime: float = TOKEN_LIFETIME
) -> list[dict[str, Any]]:
    """The JWKS of ``purpose``: see ``published``."""
    return [dict(k.public_jwk) for k in published(key_schedule(conn, purpose), now, lifetime)]


def rotate(
    conn: Connection,
    box: SecretBox,
    *,
    purpose: str,
    alg: str,
    now: float,
    prepublish: float = PREPUBLISH,
) -> SigningKey:
    """A new key that is published at once and signs from ``now + prepublish``; the key it
    replaces stays published while tokens it signed live. Every process sees it at its next
    request (the generation moves)."""
    key = create_signing_key(
        conn,
        box,
        purpose=purpose,
        alg=alg,
        now=now,
        active_from=_after_the_newest(key_schedule(conn, purpose), now + prepublish),
    )
    bump_generation(conn)
    return key


def _after_the_newest(schedule: tuple[KeyInfo, ...], wanted: float) -> float:
    """``wanted``, or just after the newest key's time: a new key always comes last."""
    return max([wanted, *(k.active_from + 0.001 for k in schedule)])


def rotate_if_due(
    conn: Connection,
    box: SecretBox,
    *,
    purpose: str,
    alg: str,
    now: float,
    interval: float,
    prepublish: float = PREPUBLISH,
) -> SigningKey | None:
    """The scheduled rotation: a new key when the newest has been (or will have been, by the
    time a new one would start signing) in use for ``interval`` seconds. Safe to run from
    every process at once: the generation row is written first, which serialises the
    callers, and the check is made after it."""
    if interval <= 0:
        return None
    schedule = key_schedule(conn, purpose)
    if not rotation_due(schedule, now, interval, prepublish):
        return None
    bump_generation(conn)  # takes the write lock (SQLite) or the row lock (PostgreSQL)
    schedule = key_schedule(conn, purpose)  # again, now that the callers take turns
    if not rotation_due(schedule, now, interval, prepublish):
        return None
    return create_signing_key(
        conn,
        box,
        purpose=purpose,
        alg=alg,
        now=now,
        active_from=_after_the_newest(schedule, now + prepublish),
    )


def rotation_due(
    schedule: tuple[KeyInfo, ...], now: float, interval: float, prepublish: float = PREPUBLISH
) -> bool:
    """Whether a scheduled rotation is due: the newest key will have signed for ``interval``
    by the time a key made now would start signing."""
    if interval <= 0:
        return False
    live = [k for k in schedule if k.retired_at is None]
    if not live:
        return True
    return max(k.active_from for k in live) + interval <= now + prepublish


def revoke(conn: Connection, kid: str, now: float) -> bool:
    """Stop a key at once, signing and published (a key that may be compromised). The
    instance's last unrevoked key cannot be revoked: rotate first."""
    c = t.signing_keys.c
    row = conn.execute(select(c.purpose, c.retired_at).where(c.kid == kid)).first()
    if row is None or row.retired_at is not None:
        return False
    others = [k for k in key_schedule(conn, row.purpose) if k.retired_at is None and k.kid != kid]
    if not others:
        raise ValueError("the last key cannot be revoked; rotate first")
    conn.execute(
        update(t.signing_keys).where(c.kid == kid).values(retired_at=now, publish_until=now)
    )
    bump_generation(conn)
    return True


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
