"""Encryption of secrets at rest (signing keys, IAM secret keys) with a key kept outside the store.

The key comes from ``SSOOIDC_AT_REST_KEY`` (base64url of 32 bytes) or from a key file (mode
0600) created on first start; a dump of the database alone yields no usable secret.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENV_KEY = "SSOOIDC_AT_REST_KEY"
_VERSION = b"\x01"


class SecretBox:
    """AES-256-GCM; each value is bound to its purpose (associated data) and has its own nonce."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the at-rest key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def load(cls, key_file: Path, *, create: bool = True) -> SecretBox:
        """From the environment, else the key file, creating it (0600) when allowed."""
        env = os.environ.get(ENV_KEY)
        if env:
            return cls(_decode(env))
        if key_file.exists():
            return cls(_decode(key_file.read_text().strip()))
        if not create:
            raise FileNotFoundError(f"no at-rest key: set {ENV_KEY} or provide {key_file}")
        key = secrets.token_bytes(32)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(key).decode() + "\n")
        return cls(key)

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        if sealed[:1] != _VERSION:
            raise ValueError("unknown at-rest format")
        return self._aead.decrypt(sealed[1:13], sealed[13:], purpose.encode())


def _decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded)
