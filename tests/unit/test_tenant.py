"""The tenant file: idempotent, all-or-nothing, refusals name the key path."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ssooidc.app import bootstrap
from ssooidc.config import settings_from
from ssooidc.services.at_rest import SecretBox
from ssooidc.store import tables as t
from ssooidc.store.engine import Store
from ssooidc.tenant import TenantError, apply, load_file
from ssooidc.tenant_export import export

DOC: dict[str, Any] = {
    "iam": {
        "Roles": [
            {
                "RoleName": "analyst",
                "Path": "/apps/",
                "MaxSessionDuration": 7200,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "111122223333"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
            }
        ],
        "Users": [
            {
                "UserName": "backend",
                "AccessKeys": [
                    {
                        "AccessKeyId": "AKIABACKENDEXAMPLE01",
                        "SecretAccessKey": "backend-secret-key-1",
                    }
                ],
                "Policies": [
                    {
                        "PolicyName": "tokens",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": "sso-oauth:*", "Resource": "*"}
                            ],
                        },
                    }
                ],
            }
        ],
    },
    "identitystore": {
        "Users": [
            {
                "UserName": "alice",
                "DisplayName": "Alice",
                "Name": {"GivenName": "Alice", "FamilyName": "Doe"},
                "Emails": [{"Value": "alice@example.com"}],
            }
        ],
        "Groups": [{"DisplayName": "analysts", "Members": ["alice"]}],
    },
    "ssoadmin": {
        "TrustedTokenIssuers": [
            {
                "Name": "corp",
                "TrustedTokenIssuerType": "OIDC_JWT",
                "TrustedTokenIssuerConfiguration": {
                    "OidcJwtConfiguration": {
                        "IssuerUrl": "https://idp.example.com",
                        "ClaimAttributePath": "email",
                        "IdentityStoreAttributePath": "emails.value",
                        "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                    }
                },
            }
        ],
        "Applications": [
            {
                "Name": "backend",
                "Grants": {
                    "urn:ietf:params:oauth:grant-type:jwt-bearer": {
                        "JwtBearer": {
                            "AuthorizedTokenIssuers": [
                                {"TrustedTokenIssuer": "corp", "AuthorizedAudiences": ["backend"]}
                            ]
                        }
                    },
                    "refresh_token": {"RefreshToken": {}},
                },
                "AccessScopes": [{"Scope": "backend:read", "AuthorizedTargets": ["reports"]}],
                "Assignments": [{"PrincipalType": "GROUP", "Principal": "analysts"}],
            },
            {"Name": "reports", "Tags": [{"Key": "team", "Value": "bi"}]},
        ],
    },
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, SecretBox]]:
    settings = settings_from({"data_dir": str(tmp_path)}, environ={})
    box = SecretBox.load(settings.key_file)
    s = Store(settings.store_url)
    bootstrap(settings, s, box)
    yield s, box
    s.dispose()


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in t.metadata.tables.items()
            if name != "state"
        }


def test_applying_twice_changes_nothing_the_second_time(store: tuple[Store, SecretBox]) -> None:
    s, box = store
    apply(s, box, DOC, region="us-east-1", development=False)
    first = counts(s)
    apply(s, box, DOC, region="us-east-1", development=False)
    assert counts(s) == first
    assert first["applications"] == 2
    assert first["application_grants"] == 2
    assert first["identity_memberships"] == 1


def test_a_bad_file_is_refused_with_the_key_path_and_changes_nothing(
    store: tuple[Store, SecretBox],
) -> None:
    s, box = store
    before = counts(s)
    bad = copy.deepcopy(DOC)
    bad["ssoadmin"]["Applications"][0]["Grants"]["refresh_token"] = {"JwtBearer": {}}
    with pytest.raises(TenantError) as info:
        apply(s, box, bad, region="us-east-1", development=False)
    assert info.value.path == "ssoadmin.Applications[0].Grants.refresh_token"
    assert counts(s) == before


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda d: d["ssoadmin"]["Applications"][0].update(Colour="red"),
            "ssoadmin.Applications[0].Colour",
        ),
        (
            lambda d: d["ssoadmin"]["Applications"][0]["AccessScopes"][0].update(
                Scope="bad scope!"
            ),
            "ssoadmin.Applications[0].AccessScopes[0]",
        ),
        (
            lambda d: d["ssoadmin"]["TrustedTokenIssuers"][0]["TrustedTokenIssuerConfiguration"][
                "OidcJwtConfiguration"
            ].update(IssuerUrl="http://127.0.0.1:9999"),
            "ssoadmin.TrustedTokenIssuers[0].TrustedTokenIssuerConfiguration",
        ),
        (
            lambda d: d["iam"]["Users"][0]["Policies"][0]["PolicyDocument"].update(
                Statement=[{"Effect": "Maybe"}]
            ),
            "iam.Users[0].Policies[0].PolicyDocument",
        ),
        (
            lambda d: d["identitystore"]["Groups"][0].update(Members=["nobody"]),
            "identitystore.Groups[0].Members[0]",
        ),
        (
            lambda d: d["ssoadmin"]["Applications"][0]["Assignments"][0].update(Principal="ghosts"),
            "ssoadmin.Applications[0].Assignments[0].Principal",
        ),
        (
            lambda d: d["identitystore"]["Users"][0].update(UserName="x" * 200),
            "identitystore.Users[0].UserName",
        ),
        (lambda d: d.update(extra={}), "extra"),
    ],
)
def test_each_kind_of_mistake_names_its_key_path(
    store: tuple[Store, SecretBox], mutate: Any, path: str
) -> None:
    s, box = store
    bad = copy.deepcopy(DOC)
    mutate(bad)
    with pytest.raises(TenantError) as info:
        apply(s, box, bad, region="us-east-1", development=False)
    assert info.value.path == path
    assert counts(s)["applications"] == 0


def test_plain_http_loopback_issuer_is_accepted_in_development_mode(
    store: tuple[Store, SecretBox],
) -> None:
    s, box = store
    doc = copy.deepcopy(DOC)
    doc["ssoadmin"]["TrustedTokenIssuers"][0]["TrustedTokenIssuerConfiguration"][
        "OidcJwtConfiguration"
    ]["IssuerUrl"] = "http://127.0.0.1:9999"
    apply(s, box, doc, region="us-east-1", development=True)
    assert counts(s)["trusted_token_issuers"] == 1


def test_load_file_reports_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("iam: [unclosed")
    with pytest.raises(TenantError, match="cannot be read as YAML"):
        load_file(path)


def _fresh(tmp_path: Path, name: str) -> tuple[Store, SecretBox]:
    settings = settings_from({"data_dir": str(tmp_path / name)}, environ={})
    box = SecretBox.load(settings.key_file)
    s = Store(settings.store_url)
    bootstrap(settings, s, box)
    return s, box


def test_export_reads_back_to_the_same_state(tmp_path: Path) -> None:
    first, first_box = _fresh(tmp_path, "a")
    apply(first, first_box, DOC, region="us-east-1", development=False)
    exported = export(first, first_box, region="us-east-1", include_secrets=True)
    second, second_box = _fresh(tmp_path, "b")
    apply(second, second_box, exported, region="us-east-1", development=False)
    again = export(second, second_box, region="us-east-1", include_secrets=True)
    assert again == exported
    assert counts(second) | {"signing_keys": 0, "instance_secrets": 0} == counts(first) | {
        "signing_keys": 0,
        "instance_secrets": 0,
    }
    app = exported["ssoadmin"]["Applications"][0]
    assert app["Grants"]["urn:ietf:params:oauth:grant-type:jwt-bearer"]["JwtBearer"][
        "AuthorizedTokenIssuers"
    ] == [{"TrustedTokenIssuer": "corp", "AuthorizedAudiences": ["backend"]}]
    assert app["AccessScopes"] == [{"Scope": "backend:read", "AuthorizedTargets": ["reports"]}]
    assert app["Assignments"] == [{"PrincipalType": "GROUP", "Principal": "analysts"}]
    assert exported["iam"]["Users"][0]["AccessKeys"][0]["SecretAccessKey"] == "backend-secret-key-1"
    role = exported["iam"]["Roles"][0]
    assert (role["RoleName"], role["Path"], role["MaxSessionDuration"]) == (
        "analyst",
        "/apps/",
        7200,
    )
    reports = exported["ssoadmin"]["Applications"][1]
    assert reports["Tags"] == [{"Key": "team", "Value": "bi"}]
    first.dispose()
    second.dispose()


def test_export_leaves_secrets_out_unless_asked(store: tuple[Store, SecretBox]) -> None:
    s, box = store
    apply(s, box, DOC, region="us-east-1", development=False)
    exported = export(s, box, region="us-east-1")
    assert "AccessKeys" not in exported["iam"]["Users"][0]
    assert all(u["UserName"] != "admin" for u in exported["iam"]["Users"])
    # Applying it again changes nothing (keys already in the store are kept).
    before = counts(s)
    apply(s, box, exported, region="us-east-1", development=False)
    assert counts(s) == before


def test_tags_in_the_file_are_the_resource_tags(store: tuple[Store, SecretBox]) -> None:
    s, box = store
    apply(s, box, DOC, region="us-east-1", development=False)
    retagged = copy.deepcopy(DOC)
    retagged["ssoadmin"]["Applications"][1]["Tags"] = [{"Key": "owner", "Value": "ops"}]
    apply(s, box, retagged, region="us-east-1", development=False)
    reports = export(s, box, region="us-east-1")["ssoadmin"]["Applications"][1]
    assert reports["Tags"] == [{"Key": "owner", "Value": "ops"}]
