"""The SigV4 key resolver: unknown, inactive and orphaned keys all look the same to a caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssooidc.errors import UnrecognizedClient
from ssooidc.http.credentials import INVALID, CatalogKeyResolver
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.catalog import AccessKey, Catalog, Principal
from ssooidc.services.instance import Instance
from ssooidc.store.engine import Store

ARN = "arn:aws:iam::111122223333:user/u"


def catalog(keys: dict[str, AccessKey], principals: dict[str, Principal]) -> Catalog:
    instance = Instance(
        "arn:aws:sso:::instance/ssoins-0000000000000000",
        "ssoins-0000000000000000",
        "d-0000000000",
        "111122223333",
        "us-east-1",
        None,
        "ACTIVE",
        0.0,
    )
    return Catalog(
        generation=1,
        instance=instance,
        applications={},
        issuers={},
        principals=principals,
        access_keys=keys,
    )


def principal() -> Principal:
    return Principal(ARN, "user", "u", "AIDAEXAMPLE", "111122223333", {}, (), None)


@pytest.mark.parametrize(
    ("keys", "principals"),
    [
        ({}, {}),
        ({"AKIAX": AccessKey("AKIAX", ARN, "s", active=False)}, {ARN: principal()}),
        ({"AKIAX": AccessKey("AKIAX", ARN, "s", active=True)}, {}),
    ],
    ids=["unknown key", "inactive key", "deleted principal"],
)
def test_refused_keys_all_get_the_same_answer(
    tmp_path: Path, keys: dict[str, AccessKey], principals: dict[str, Principal]
) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    resolver = CatalogKeyResolver(catalog(keys, principals), store, SecretBox(b"k" * 32), 0.0)
    with pytest.raises(UnrecognizedClient) as info:
        resolver.resolve("AKIAX", None)
    assert info.value.description == INVALID
    store.dispose()


def test_an_active_key_resolves_to_its_user(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    resolver = CatalogKeyResolver(
        catalog({"AKIAX": AccessKey("AKIAX", ARN, "secret", active=True)}, {ARN: principal()}),
        store,
        SecretBox(b"k" * 32),
        0.0,
    )
    resolved = resolver.resolve("AKIAX", None)
    assert resolved.secret_access_key == "secret"
    assert resolved.caller.principal_arn == ARN
    assert resolved.caller.user_name == "u"
    store.dispose()
