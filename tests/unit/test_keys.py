"""Keys: the ID-token signer's output verifies with joserfc; sealed contexts and secrets at rest
cannot be forged or read without their key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import import_key

from ssooidc.services.at_rest import SecretBox
from ssooidc.services.keys import ContextSealer, JwtSigner, SigningKey, generate


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_signed_id_tokens_verify_with_the_published_public_key(alg: str) -> None:
    key = generate(alg)
    public = {**key.as_dict(private=False), "kid": "k1", "alg": alg}
    token = JwtSigner(SigningKey("k1", alg, key, public)).sign({"sub": "u", "name": "Zoë"})
    decoded = jwt.decode(token, import_key(public), algorithms=[alg])
    assert decoded.claims == {"sub": "u", "name": "Zoë"}
    assert decoded.header == {"alg": alg, "kid": "k1", "typ": "JWT"}


def test_a_token_signed_by_another_key_does_not_verify() -> None:
    key, other = generate("ES256"), generate("ES256")
    token = JwtSigner(SigningKey("k1", "ES256", other, {})).sign({"sub": "u"})
    with pytest.raises(BadSignatureError):
        jwt.decode(token, import_key(key.as_dict(private=False)), algorithms=["ES256"])


def test_sealed_contexts_open_only_unchanged_and_with_the_same_secret() -> None:
    sealer = ContextSealer(b"s" * 32)
    value = sealer.seal({"u": "user-1", "exp": 10})
    assert sealer.open(value) == {"u": "user-1", "exp": 10}
    assert len(value) <= 2048
    body, _, mac = value.partition(".")
    forged = ContextSealer(b"s" * 32).seal({"u": "user-2", "exp": 10}).split(".")[0] + "." + mac
    assert sealer.open(forged) is None
    assert ContextSealer(b"t" * 32).open(value) is None
    assert sealer.open(body) is None
    assert sealer.open("garbage") is None


def test_secret_box_binds_each_value_to_its_purpose(tmp_path: Path) -> None:
    box = SecretBox.load(tmp_path / "k")
    sealed = box.seal(b"secret", "access-key:A")
    assert b"secret" not in sealed
    assert box.open(sealed, "access-key:A") == b"secret"
    with pytest.raises(InvalidTag):
        box.open(sealed, "access-key:B")
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert SecretBox.load(tmp_path / "k").open(sealed, "access-key:A") == b"secret"


def test_secret_box_refuses_to_run_without_its_key_when_told_not_to_create(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SecretBox.load(tmp_path / "missing", create=False)


def test_secret_box_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSOOIDC_AT_REST_KEY", "A" * 43)
    box = SecretBox.load(tmp_path / "unused")
    assert not (tmp_path / "unused").exists()
    assert box.open(box.seal(b"x", "p"), "p") == b"x"
