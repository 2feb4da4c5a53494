"""Passwords, the sign-in throttle, ``next`` targets, tenant passwords and the CLI command."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssooidc import cli
from ssooidc.app import bootstrap
from ssooidc.config import settings_from
from ssooidc.http.pages.common import safe_next
from ssooidc.services import identity_store, passwords
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import load_instance
from ssooidc.store.engine import Store
from ssooidc.tenant import TenantError, apply
from ssooidc.tenant_export import export


def person(name: str, **extra: object) -> dict[str, object]:
    return {
        "UserName": name,
        "DisplayName": name.title(),
        "Name": {"GivenName": name.title(), "FamilyName": "Test"},
        **extra,
    }


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t


def test_passwords_are_argon2id_and_verify() -> None:
    hashed = passwords.hash_password("s3cret pass")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify(hashed, "s3cret pass")
    assert not passwords.verify(hashed, "wrong")
    assert not passwords.verify(None, "anything")
    assert not passwords.verify("not a hash", "anything")
    assert passwords.check_hash(hashed) == hashed
    with pytest.raises(ValueError):
        passwords.check_hash("plain text")
    with pytest.raises(ValueError):
        passwords.hash_password("")


def test_throttle_locks_per_user_and_per_address_then_forgets() -> None:
    clock = FakeClock()
    throttle = passwords.SignInThrottle(clock, max_per_user=5, max_per_address=8, lockout=900)
    for _ in range(4):
        throttle.failed("Mallory", "10.0.0.1")
    assert not throttle.locked("mallory", "10.0.0.2")
    throttle.failed("MALLORY", "10.0.0.1")
    assert throttle.locked("mallory", "10.0.0.2")  # the user, from any address
    assert not throttle.locked("alice", "10.0.0.2")
    for _ in range(3):
        throttle.failed("nobody", "10.0.0.1")
    assert throttle.locked("alice", "10.0.0.1")  # the address, for any user
    clock.t += 901
    assert not throttle.locked("mallory", "10.0.0.1")
    throttle.failed("alice", "10.0.0.3")
    throttle.succeeded("alice")
    for _ in range(4):
        throttle.failed("alice", "10.0.0.4")
    assert not throttle.locked("alice", "10.0.0.4")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/authorize?client_id=x", "/authorize?client_id=x"),
        ("/device", "/device"),
        (None, "/start"),
        ("", "/start"),
        ("https://evil.example", "/start"),
        ("//evil.example/x", "/start"),
        ("/\\evil.example", "/start"),
        ("javascript:alert(1)", "/start"),
        ("/ok\r\nSet-Cookie: x=y", "/start"),
        ("relative/path", "/start"),
    ],
)
def test_next_is_only_a_same_origin_path(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, SecretBox]]:
    settings = settings_from({"data_dir": str(tmp_path)}, environ={})
    box = SecretBox.load(settings.key_file)
    s = Store(settings.store_url)
    bootstrap(settings, s, box)
    yield s, box
    s.dispose()


def _hash_of(store: Store, name: str) -> str | None:
    with store.read() as conn:
        instance = load_instance(conn, "us-east-1")
        assert instance is not None
        user_id = identity_store.find_user_by_name(conn, instance.identity_store_id, name)
        assert user_id is not None
        return passwords.password_hash_of(conn, user_id)


def test_tenant_password_is_hashed_and_exported_as_a_hash(
    store: tuple[Store, SecretBox], tmp_path: Path
) -> None:
    s, box = store
    doc = {"identitystore": {"Users": [person("ann", Password="pw-for-ann")]}}
    apply(s, box, doc, region="us-east-1", development=True)
    hashed = _hash_of(s, "ann")
    assert hashed is not None and passwords.verify(hashed, "pw-for-ann")
    apply(s, box, doc, region="us-east-1", development=True)
    assert _hash_of(s, "ann") == hashed  # the same password again changes nothing
    exported = export(s, box, region="us-east-1", include_secrets=False)
    user = exported["identitystore"]["Users"][0]
    assert user["PasswordHash"] == hashed and "Password" not in user
    # Applying the export keeps the hash as it is.
    apply(s, box, exported, region="us-east-1", development=True)
    assert _hash_of(s, "ann") == hashed


@pytest.mark.parametrize(
    "user",
    [
        person("x", Password="a", PasswordHash="$argon2id$x"),
        person("x", PasswordHash="plain"),
        person("x", Password=""),
        person("x", Password=5),
    ],
)
def test_bad_tenant_passwords_are_refused(store: tuple[Store, SecretBox], user: object) -> None:
    s, box = store
    with pytest.raises(TenantError):
        apply(s, box, {"identitystore": {"Users": [user]}}, region="us-east-1", development=True)


def test_cli_set_password_reads_stdin(
    store: tuple[Store, SecretBox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, box = store
    apply(
        s,
        box,
        {"identitystore": {"Users": [person("cli")]}},
        region="us-east-1",
        development=True,
    )
    assert _hash_of(s, "cli") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert (
        cli.main(["users", "set-password", "--data-dir", str(tmp_path), "--user-name", "cli"]) == 0
    )
    hashed = _hash_of(s, "cli")
    assert hashed is not None and passwords.verify(hashed, "from stdin")
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    with pytest.raises(SystemExit):
        cli.main(["users", "set-password", "--data-dir", str(tmp_path), "--user-name", "nobody"])
