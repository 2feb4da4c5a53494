"""The sso-admin control plane through a real server and real boto3: every operation, its
modelled errors, ClientToken idempotency, pagination, and a trusted-identity-propagation
application configured only through the API and used at once by CreateTokenWithIAM."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name
from sqlalchemy import select

from ssooidc.store import tables
from ssooidc.store.engine import Store
from ssooidc.testing.idp import TestIdentityProvider
from tests.serverproc import ACCOUNT, ADMIN_KEY_ID, ADMIN_SECRET, REGION, ServerProcess

CUSTOM = "arn:aws:sso::aws:applicationProvider/custom"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"
NOPERM = ("AKIANOPERMSSOKEY0001", "noperm-secret-key-0000000002")
UNKNOWN_PRINCIPAL = "00000000-1111-2222-3333-444444444444"

TENANT: dict[str, Any] = {
    "iam": {
        "Users": [
            {
                "UserName": "noperm",
                "AccessKeys": [{"AccessKeyId": NOPERM[0], "SecretAccessKey": NOPERM[1]}],
            }
        ]
    },
    "identitystore": {
        "Users": [
            {
                "UserName": name,
                "DisplayName": name.title(),
                "Name": {"GivenName": name.title(), "FamilyName": "Admin"},
                "Emails": [{"Value": f"{name}@example.com", "Primary": True}],
            }
            for name in ("erin", "frank", "grace")
        ],
        "Groups": [{"DisplayName": "engineers", "Members": ["erin"]}],
    },
}


@dataclass
class Admin:
    server: ServerProcess
    client: Any
    instance_arn: str
    users: dict[str, str]
    groups: dict[str, str]
    idp: TestIdentityProvider

    @property
    def instance_id(self) -> str:
        return self.instance_arn.rsplit("/", 1)[1]

    def unknown_application(self) -> str:
        return f"arn:aws:sso::{ACCOUNT}:application/{self.instance_id}/apl-0000000000000000"

    def unknown_issuer(self) -> str:
        return (
            f"arn:aws:sso::{ACCOUNT}:trustedTokenIssuer/{self.instance_id}/"
            "tti-00000000-0000-0000-0000-000000000000"
        )

    def application(self, prefix: str = "app", **members: Any) -> str:
        response = self.client.create_application(
            InstanceArn=self.instance_arn,
            ApplicationProviderArn=CUSTOM,
            Name=f"{prefix}-{uuid.uuid4().hex[:8]}",
            **members,
        )
        arn: str = response["ApplicationArn"]
        return arn

    def issuer(self, prefix: str = "issuer", url: str | None = None, **members: Any) -> str:
        response = self.client.create_trusted_token_issuer(
            InstanceArn=self.instance_arn,
            Name=f"{prefix}-{uuid.uuid4().hex[:8]}",
            TrustedTokenIssuerType="OIDC_JWT",
            TrustedTokenIssuerConfiguration=oidc_configuration(
                url or f"http://127.0.0.1:9/{uuid.uuid4().hex[:6]}"
            ),
            **members,
        )
        arn: str = response["TrustedTokenIssuerArn"]
        return arn


def oidc_configuration(url: str, claim: str = "email") -> dict[str, Any]:
    return {
        "OidcJwtConfiguration": {
            "IssuerUrl": url,
            "ClaimAttributePath": claim,
            "IdentityStoreAttributePath": "emails.value",
            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
        }
    }


def actor_policy(*principals: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": list(principals)},
                "Action": "sso-oauth:CreateTokenWithIAM",
                "Resource": "*",
            }
        ],
    }


def refused(client: Any, name: str, call: Callable[..., Any], **kwargs: Any) -> str:
    """Expect the modelled ``client.exceptions.<name>``; return its message."""
    with pytest.raises(getattr(client.exceptions, name)) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == name
    message: str = error["Message"]
    return message


def all_pages(client: Any, operation: str, key: str, page_size: int, **kwargs: Any) -> list[Any]:
    """Every item through boto3's paginator, checking that it took more than one page."""
    pages = list(
        client.get_paginator(operation).paginate(PaginationConfig={"PageSize": page_size}, **kwargs)
    )
    assert len(pages) > 1
    assert all(len(p[key]) <= page_size for p in pages)
    return [item for p in pages for item in p[key]]


def manual_pages(call: Callable[..., Any], key: str, max_results: int, **kwargs: Any) -> list[Any]:
    """Every item by following NextToken by hand; at least two pages."""
    items: list[Any] = []
    pages = 0
    token: str | None = None
    while True:
        extra = {"NextToken": token} if token else {}
        response = call(MaxResults=max_results, **kwargs, **extra)
        pages += 1
        assert len(response[key]) <= max_results
        items += response[key]
        token = response.get("NextToken")
        if not token:
            break
    assert pages > 1
    return items


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider) -> Iterator[Admin]:
    server = ServerProcess(
        tmp_path_factory.mktemp("sso-admin"),
        tenant=TENANT,
        extra_args=["--allow-http-issuers"],
        env={"SSL_CERT_FILE": str(idp.ca_path)},
    )
    server.start()
    try:
        client = server.client("sso-admin")
        instance_arn = client.list_instances()["Instances"][0]["InstanceArn"]
        store = Store(server.database_url)
        with store.read() as conn:
            users = {
                r.user_name: r.user_id
                for r in conn.execute(
                    select(tables.identity_users.c.user_name, tables.identity_users.c.user_id)
                )
            }
            groups = {
                r.display_name: r.group_id
                for r in conn.execute(
                    select(tables.identity_groups.c.display_name, tables.identity_groups.c.group_id)
                )
            }
        store.dispose()
        yield Admin(server, client, instance_arn, users, groups, idp)
    finally:
        server.stop()


# -- the instance -----------------------------------------------------------------------------


def test_update_instance_sets_the_name_that_describe_and_list_show(admin: Admin) -> None:
    c = admin.client
    c.update_instance(InstanceArn=admin.instance_arn, Name="corp-identity")
    described = c.describe_instance(InstanceArn=admin.instance_arn)
    assert described["Name"] == "corp-identity"
    assert described["Status"] == "ACTIVE"
    assert isinstance(described["CreatedDate"], dt.datetime)
    assert c.list_instances()["Instances"][0]["Name"] == "corp-identity"


def test_update_instance_refusals(admin: Admin) -> None:
    c = admin.client
    other = "arn:aws:sso:::instance/ssoins-0000000000000000"
    refused(c, "ResourceNotFoundException", c.update_instance, InstanceArn=other, Name="x")
    refused(
        c,
        "ValidationException",
        c.update_instance,
        InstanceArn=admin.instance_arn,
        Name="spaces are not allowed",
    )
    message = refused(
        c,
        "ValidationException",
        c.update_instance,
        InstanceArn=admin.instance_arn,
        EncryptionConfiguration={"KeyType": "AWS_OWNED_KMS_KEY"},
    )
    assert "EncryptionConfiguration" in message


# -- applications -------------------------------------------------------------------------------


def test_create_application_is_described_with_every_member(admin: Admin) -> None:
    c = admin.client
    portal = {
        "SignInOptions": {"Origin": "APPLICATION", "ApplicationUrl": "https://app.example.com"},
        "Visibility": "ENABLED",
    }
    arn = admin.application(
        "described",
        Description="reports backend",
        Status="DISABLED",
        PortalOptions=portal,
        Tags=[{"Key": "team", "Value": "data"}],
    )
    assert arn.startswith(f"arn:aws:sso::{ACCOUNT}:application/{admin.instance_id}/apl-")
    app = c.describe_application(ApplicationArn=arn)
    assert app["ApplicationArn"] == arn
    assert app["ApplicationProviderArn"] == CUSTOM
    assert app["Name"].startswith("described-")
    assert app["Description"] == "reports backend"
    assert app["Status"] == "DISABLED"
    assert app["PortalOptions"] == portal
    assert app["InstanceArn"] == admin.instance_arn
    assert app["ApplicationAccount"] == ACCOUNT
    assert app["IdentityStoreArn"].endswith(
        c.describe_instance(InstanceArn=admin.instance_arn)["IdentityStoreId"]
    )
    assert abs(app["CreatedDate"].timestamp() - dt.datetime.now(dt.UTC).timestamp()) < 60
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    assert c.get_application_assignment_configuration(ApplicationArn=arn)["AssignmentRequired"]


def test_create_application_refusals(admin: Admin) -> None:
    c = admin.client
    arn = admin.application("taken")
    name = c.describe_application(ApplicationArn=arn)["Name"]

    def create(**members: Any) -> Any:
        return c.create_application(
            **{
                "InstanceArn": admin.instance_arn,
                "ApplicationProviderArn": CUSTOM,
                "Name": f"new-{uuid.uuid4().hex[:8]}",
                **members,
            }
        )

    assert "already exists" in refused(c, "ConflictException", create, Name=name)
    refused(
        c,
        "ResourceNotFoundException",
        create,
        InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
    )
    refused(
        c,
        "ValidationException",
        create,
        ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/catalog/Tableau",
    )
    refused(c, "ValidationException", create, Name="n" * 101)
    refused(c, "ValidationException", create, Status="PAUSED")
    refused(
        c, "ValidationException", create, PortalOptions={"SignInOptions": {"Origin": "APPLICATION"}}
    )
    refused(c, "ValidationException", create, Tags=[{"Key": "aws:owner", "Value": "x"}])


def test_same_client_token_and_members_answer_the_first_application_again(admin: Admin) -> None:
    c = admin.client
    token = str(uuid.uuid4())
    members = {
        "InstanceArn": admin.instance_arn,
        "ApplicationProviderArn": CUSTOM,
        "Name": f"idem-{uuid.uuid4().hex[:8]}",
        "ClientToken": token,
    }
    first = c.create_application(**members)["ApplicationArn"]
    again = c.create_application(**members)["ApplicationArn"]
    assert again == first
    named = [
        a
        for a in c.list_applications(InstanceArn=admin.instance_arn)["Applications"]
        if a["Name"] == members["Name"]
    ]
    assert len(named) == 1
    message = refused(
        c, "ConflictException", c.create_application, **{**members, "Description": "other"}
    )
    assert "IdempotentParameterMismatch" in message
    # Without a token botocore makes a fresh one, so a second create is a second request.
    fresh = {k: v for k, v in members.items() if k != "ClientToken"}
    refused(c, "ConflictException", c.create_application, **fresh)


def test_same_client_token_and_members_answer_the_first_issuer_again(admin: Admin) -> None:
    c = admin.client
    members = {
        "InstanceArn": admin.instance_arn,
        "Name": f"idem-{uuid.uuid4().hex[:8]}",
        "TrustedTokenIssuerType": "OIDC_JWT",
        "TrustedTokenIssuerConfiguration": oidc_configuration("https://idem.example.com"),
        "ClientToken": str(uuid.uuid4()),
    }
    first = c.create_trusted_token_issuer(**members)["TrustedTokenIssuerArn"]
    assert c.create_trusted_token_issuer(**members)["TrustedTokenIssuerArn"] == first
    changed = {**members, "Tags": [{"Key": "k", "Value": "v"}]}
    refused(c, "ConflictException", c.create_trusted_token_issuer, **changed)


def test_list_applications_pages_by_hand_and_with_the_paginator(admin: Admin) -> None:
    c = admin.client
    created = {admin.application("paged") for _ in range(5)}
    by_hand = manual_pages(c.list_applications, "Applications", 2, InstanceArn=admin.instance_arn)
    arns = [a["ApplicationArn"] for a in by_hand]
    assert len(arns) == len(set(arns))
    assert created <= set(arns)
    paginated = all_pages(c, "list_applications", "Applications", 2, InstanceArn=admin.instance_arn)
    assert [a["ApplicationArn"] for a in paginated] == arns
    filtered = c.list_applications(
        InstanceArn=admin.instance_arn, Filter={"ApplicationProvider": CUSTOM}
    )["Applications"]
    assert created <= {a["ApplicationArn"] for a in filtered}
    other_account = c.list_applications(
        InstanceArn=admin.instance_arn, Filter={"ApplicationAccount": "444455556666"}
    )
    assert other_account["Applications"] == []
    refused(
        c,
        "ValidationException",
        c.list_applications,
        InstanceArn=admin.instance_arn,
        NextToken="bm90LWEtdG9rZW4=",
    )
    refused(c, "ValidationException", c.list_applications, InstanceArn="not-an-arn")
    refused(
        c,
        "ResourceNotFoundException",
        c.list_applications,
        InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
    )


def test_update_application_changes_what_is_given_and_keeps_the_rest(admin: Admin) -> None:
    c = admin.client
    arn = admin.application(
        "updated",
        Description="before",
        PortalOptions={"Visibility": "DISABLED"},
    )
    new_name = f"renamed-{uuid.uuid4().hex[:8]}"
    sign_in = {"Origin": "IDENTITY_CENTER"}
    c.update_application(
        ApplicationArn=arn,
        Name=new_name,
        Status="DISABLED",
        PortalOptions={"SignInOptions": sign_in},
    )
    app = c.describe_application(ApplicationArn=arn)
    assert app["Name"] == new_name
    assert app["Status"] == "DISABLED"
    assert app["Description"] == "before"
    assert app["PortalOptions"] == {"SignInOptions": sign_in, "Visibility": "DISABLED"}
    c.update_application(ApplicationArn=arn, Description="after", Status="ENABLED")
    app = c.describe_application(ApplicationArn=arn)
    assert (app["Description"], app["Status"], app["Name"]) == ("after", "ENABLED", new_name)


def test_update_application_refusals(admin: Admin) -> None:
    c = admin.client
    arn = admin.application("update-refusals")
    other = c.describe_application(ApplicationArn=admin.application("update-other"))["Name"]
    refused(c, "ConflictException", c.update_application, ApplicationArn=arn, Name=other)
    refused(
        c,
        "ResourceNotFoundException",
        c.update_application,
        ApplicationArn=admin.unknown_application(),
        Name="x",
    )
    refused(c, "ValidationException", c.update_application, ApplicationArn=arn, Status="OFF")
    refused(
        c,
        "ValidationException",
        c.update_application,
        ApplicationArn=arn,
        PortalOptions={"SignInOptions": {"Origin": "APPLICATION"}},
    )


def test_delete_application_takes_everything_of_it_and_its_place_in_other_scopes(
    admin: Admin,
) -> None:
    c = admin.client
    doomed = admin.application("doomed", Tags=[{"Key": "k", "Value": "v"}])
    keeper = admin.application("keeper")
    c.put_application_grant(
        ApplicationArn=doomed, GrantType="refresh_token", Grant={"RefreshToken": {}}
    )
    c.put_application_authentication_method(
        ApplicationArn=doomed,
        AuthenticationMethodType="IAM",
        AuthenticationMethod={"Iam": {"ActorPolicy": actor_policy(ADMIN_ARN)}},
    )
    c.put_application_access_scope(ApplicationArn=doomed, Scope="doomed:read")
    c.create_application_assignment(
        ApplicationArn=doomed, PrincipalType="USER", PrincipalId=admin.users["frank"]
    )
    c.put_application_access_scope(
        ApplicationArn=keeper, Scope="keeper:read", AuthorizedTargets=[doomed, admin.instance_arn]
    )
    c.delete_application(ApplicationArn=doomed)
    refused(c, "ResourceNotFoundException", c.describe_application, ApplicationArn=doomed)
    refused(
        c,
        "ResourceNotFoundException",
        c.get_application_grant,
        ApplicationArn=doomed,
        GrantType="refresh_token",
    )
    refused(c, "ResourceNotFoundException", c.list_tags_for_resource, ResourceArn=doomed)
    assert c.get_application_access_scope(ApplicationArn=keeper, Scope="keeper:read")[
        "AuthorizedTargets"
    ] == [admin.instance_arn]
    assignments = c.list_application_assignments_for_principal(
        InstanceArn=admin.instance_arn, PrincipalType="USER", PrincipalId=admin.users["frank"]
    )["ApplicationAssignments"]
    assert doomed not in {a["ApplicationArn"] for a in assignments}
    refused(c, "ResourceNotFoundException", c.delete_application, ApplicationArn=doomed)


def test_application_providers_list_and_describe_the_custom_provider(admin: Admin) -> None:
    c = admin.client
    providers = c.list_application_providers()["ApplicationProviders"]
    assert [p["ApplicationProviderArn"] for p in providers] == [CUSTOM]
    described = c.describe_application_provider(ApplicationProviderArn=CUSTOM)
    assert described["FederationProtocol"] == "OAUTH"
    assert described["DisplayData"]["DisplayName"]
    refused(
        c,
        "ResourceNotFoundException",
        c.describe_application_provider,
        ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/catalog/Nothing",
    )
    refused(
        c,
        "ValidationException",
        c.describe_application_provider,
        ApplicationProviderArn="arn:aws:iam::aws:policy/x",
    )


# -- grants, authentication methods, access scopes ----------------------------------------------


def test_grants_are_put_read_listed_replaced_and_deleted(admin: Admin) -> None:
    c = admin.client
    app = admin.application("grants")
    issuer = admin.issuer("grants")
    grants = {
        "authorization_code": {
            "AuthorizationCode": {"RedirectUris": ["https://app.example.com/cb"]}
        },
        "refresh_token": {"RefreshToken": {}},
        JWT_BEARER: {
            "JwtBearer": {
                "AuthorizedTokenIssuers": [
                    {"TrustedTokenIssuerArn": issuer, "AuthorizedAudiences": ["grants"]}
                ]
            }
        },
        TOKEN_EXCHANGE: {"TokenExchange": {}},
    }
    assert c.list_application_grants(ApplicationArn=app)["Grants"] == []
    for kind, grant in grants.items():
        c.put_application_grant(ApplicationArn=app, GrantType=kind, Grant=grant)
    for kind, grant in grants.items():
        assert c.get_application_grant(ApplicationArn=app, GrantType=kind)["Grant"] == grant
    listed = c.list_application_grants(ApplicationArn=app)["Grants"]
    assert {g["GrantType"]: g["Grant"] for g in listed} == grants
    replaced = {"AuthorizationCode": {"RedirectUris": ["http://127.0.0.1:8400/cb"]}}
    c.put_application_grant(ApplicationArn=app, GrantType="authorization_code", Grant=replaced)
    assert (
        c.get_application_grant(ApplicationArn=app, GrantType="authorization_code")["Grant"]
        == replaced
    )
    c.delete_application_grant(ApplicationArn=app, GrantType=TOKEN_EXCHANGE)
    refused(
        c,
        "ResourceNotFoundException",
        c.get_application_grant,
        ApplicationArn=app,
        GrantType=TOKEN_EXCHANGE,
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.delete_application_grant,
        ApplicationArn=app,
        GrantType=TOKEN_EXCHANGE,
    )
    assert len(c.list_application_grants(ApplicationArn=app)["Grants"]) == 3


def test_grant_refusals(admin: Admin) -> None:
    c = admin.client
    app = admin.application("grant-refusals")
    unknown = admin.unknown_application()
    refused(
        c,
        "ResourceNotFoundException",
        c.put_application_grant,
        ApplicationArn=unknown,
        GrantType="refresh_token",
        Grant={"RefreshToken": {}},
    )
    for call in (c.get_application_grant, c.delete_application_grant):
        refused(
            c, "ResourceNotFoundException", call, ApplicationArn=unknown, GrantType="refresh_token"
        )
    refused(c, "ResourceNotFoundException", c.list_application_grants, ApplicationArn=unknown)
    jwt = {
        "JwtBearer": {
            "AuthorizedTokenIssuers": [
                {"TrustedTokenIssuerArn": admin.unknown_issuer(), "AuthorizedAudiences": ["a"]}
            ]
        }
    }
    refused(
        c,
        "ResourceNotFoundException",
        c.put_application_grant,
        ApplicationArn=app,
        GrantType=JWT_BEARER,
        Grant=jwt,
    )
    refused(
        c,
        "ValidationException",
        c.put_application_grant,
        ApplicationArn=app,
        GrantType="refresh_token",
        Grant={"TokenExchange": {}},
    )
    refused(
        c,
        "ValidationException",
        c.put_application_grant,
        ApplicationArn=app,
        GrantType="authorization_code",
        Grant={"AuthorizationCode": {"RedirectUris": ["http://app.example.com/cb"]}},
    )
    refused(
        c,
        "ValidationException",
        c.get_application_grant,
        ApplicationArn=app,
        GrantType="password",
    )


def test_authentication_methods_are_put_read_listed_and_deleted(admin: Admin) -> None:
    c = admin.client
    app = admin.application("methods")
    message = refused(
        c,
        "ResourceNotFoundException",
        c.get_application_authentication_method,
        ApplicationArn=app,
        AuthenticationMethodType="IAM",
    )
    assert "IAM" in message
    assert (
        c.list_application_authentication_methods(ApplicationArn=app)["AuthenticationMethods"] == []
    )
    method = {"Iam": {"ActorPolicy": actor_policy(ADMIN_ARN)}}
    c.put_application_authentication_method(
        ApplicationArn=app, AuthenticationMethodType="IAM", AuthenticationMethod=method
    )
    got = c.get_application_authentication_method(
        ApplicationArn=app, AuthenticationMethodType="IAM"
    )
    assert got["AuthenticationMethod"] == method
    listed = c.list_application_authentication_methods(ApplicationArn=app)
    assert listed["AuthenticationMethods"] == [
        {"AuthenticationMethodType": "IAM", "AuthenticationMethod": method}
    ]
    c.delete_application_authentication_method(ApplicationArn=app, AuthenticationMethodType="IAM")
    refused(
        c,
        "ResourceNotFoundException",
        c.get_application_authentication_method,
        ApplicationArn=app,
        AuthenticationMethodType="IAM",
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.delete_application_authentication_method,
        ApplicationArn=app,
        AuthenticationMethodType="IAM",
    )


def test_authentication_method_refusals(admin: Admin) -> None:
    c = admin.client
    app = admin.application("method-refusals")
    bad_policy = {"Iam": {"ActorPolicy": {"Version": "2012-10-17", "Statement": "nope"}}}
    refused(
        c,
        "ValidationException",
        c.put_application_authentication_method,
        ApplicationArn=app,
        AuthenticationMethodType="IAM",
        AuthenticationMethod=bad_policy,
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.put_application_authentication_method,
        ApplicationArn=admin.unknown_application(),
        AuthenticationMethodType="IAM",
        AuthenticationMethod={"Iam": {"ActorPolicy": actor_policy(ADMIN_ARN)}},
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_application_authentication_methods,
        ApplicationArn=admin.unknown_application(),
    )
    refused(
        c,
        "ValidationException",
        c.get_application_authentication_method,
        ApplicationArn=app,
        AuthenticationMethodType="SAML",
    )


def test_access_scopes_are_put_read_listed_paged_and_deleted(admin: Admin) -> None:
    c = admin.client
    app = admin.application("scopes")
    target = admin.application("scope-target")
    c.put_application_access_scope(
        ApplicationArn=app, Scope="reports:read", AuthorizedTargets=[target]
    )
    c.put_application_access_scope(ApplicationArn=app, Scope="reports:write")
    c.put_application_access_scope(
        ApplicationArn=app, Scope="reports:all", AuthorizedTargets=[admin.instance_arn]
    )
    got = c.get_application_access_scope(ApplicationArn=app, Scope="reports:read")
    assert (got["Scope"], got["AuthorizedTargets"]) == ("reports:read", [target])
    assert "AuthorizedTargets" not in c.get_application_access_scope(
        ApplicationArn=app, Scope="reports:write"
    )
    scopes = manual_pages(c.list_application_access_scopes, "Scopes", 2, ApplicationArn=app)
    assert [s["Scope"] for s in scopes] == ["reports:all", "reports:read", "reports:write"]
    paged = all_pages(c, "list_application_access_scopes", "Scopes", 2, ApplicationArn=app)
    assert paged == scopes
    c.put_application_access_scope(
        ApplicationArn=app, Scope="reports:read", AuthorizedTargets=[admin.instance_arn]
    )
    assert c.get_application_access_scope(ApplicationArn=app, Scope="reports:read")[
        "AuthorizedTargets"
    ] == [admin.instance_arn]
    c.delete_application_access_scope(ApplicationArn=app, Scope="reports:write")
    for call in (c.get_application_access_scope, c.delete_application_access_scope):
        refused(c, "ResourceNotFoundException", call, ApplicationArn=app, Scope="reports:write")


def test_access_scope_refusals(admin: Admin) -> None:
    c = admin.client
    app = admin.application("scope-refusals")
    refused(
        c,
        "ValidationException",
        c.put_application_access_scope,
        ApplicationArn=app,
        Scope="a:b:c:d",
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.put_application_access_scope,
        ApplicationArn=app,
        Scope="x:y",
        AuthorizedTargets=[admin.unknown_application()],
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.put_application_access_scope,
        ApplicationArn=admin.unknown_application(),
        Scope="x:y",
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_application_access_scopes,
        ApplicationArn=admin.unknown_application(),
    )
    refused(
        c,
        "ValidationException",
        c.list_application_access_scopes,
        ApplicationArn=app,
        MaxResults=11,
    )


# -- trusted token issuers ------------------------------------------------------------------------


def test_trusted_token_issuers_are_created_described_updated_and_deleted(admin: Admin) -> None:
    c = admin.client
    arn = admin.issuer(
        "lifecycle", url="https://login.example.com", Tags=[{"Key": "a", "Value": "b"}]
    )
    pattern = f"arn:aws:sso::{ACCOUNT}:trustedTokenIssuer/{admin.instance_id}/tti-"
    assert arn.startswith(pattern)
    described = c.describe_trusted_token_issuer(TrustedTokenIssuerArn=arn)
    assert described["TrustedTokenIssuerType"] == "OIDC_JWT"
    assert described["TrustedTokenIssuerConfiguration"] == oidc_configuration(
        "https://login.example.com"
    )
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "b"}]
    new_name = f"renamed-{uuid.uuid4().hex[:8]}"
    c.update_trusted_token_issuer(
        TrustedTokenIssuerArn=arn,
        Name=new_name,
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {
                "ClaimAttributePath": "preferred_username",
                "IdentityStoreAttributePath": "userName",
            }
        },
    )
    described = c.describe_trusted_token_issuer(TrustedTokenIssuerArn=arn)
    assert described["Name"] == new_name
    oidc = described["TrustedTokenIssuerConfiguration"]["OidcJwtConfiguration"]
    assert oidc == {
        "IssuerUrl": "https://login.example.com",
        "ClaimAttributePath": "preferred_username",
        "IdentityStoreAttributePath": "userName",
        "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
    }
    c.delete_trusted_token_issuer(TrustedTokenIssuerArn=arn)
    for call in (
        c.describe_trusted_token_issuer,
        c.delete_trusted_token_issuer,
        c.update_trusted_token_issuer,
    ):
        refused(c, "ResourceNotFoundException", call, TrustedTokenIssuerArn=arn)
    refused(c, "ResourceNotFoundException", c.list_tags_for_resource, ResourceArn=arn)


def test_trusted_token_issuer_refusals(admin: Admin) -> None:
    c = admin.client
    taken = admin.issuer("taken")
    taken_name = c.describe_trusted_token_issuer(TrustedTokenIssuerArn=taken)["Name"]

    def create(**members: Any) -> Any:
        return c.create_trusted_token_issuer(
            **{
                "InstanceArn": admin.instance_arn,
                "Name": f"new-{uuid.uuid4().hex[:8]}",
                "TrustedTokenIssuerType": "OIDC_JWT",
                "TrustedTokenIssuerConfiguration": oidc_configuration("https://new.example.com"),
                **members,
            }
        )

    refused(c, "ConflictException", create, Name=taken_name)
    refused(
        c,
        "ResourceNotFoundException",
        create,
        InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
    )
    message = refused(
        c,
        "ValidationException",
        create,
        TrustedTokenIssuerConfiguration=oidc_configuration("http://idp.example.com"),
    )
    assert "HTTPS" in message
    bad_path = oidc_configuration("https://new.example.com")
    bad_path["OidcJwtConfiguration"]["IdentityStoreAttributePath"] = "addresses.region"
    refused(c, "ValidationException", create, TrustedTokenIssuerConfiguration=bad_path)
    refused(c, "ValidationException", create, TrustedTokenIssuerType="SAML")
    other = admin.issuer("other")
    refused(
        c,
        "ConflictException",
        c.update_trusted_token_issuer,
        TrustedTokenIssuerArn=other,
        Name=taken_name,
    )
    refused(
        c,
        "ValidationException",
        c.update_trusted_token_issuer,
        TrustedTokenIssuerArn=other,
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {"IdentityStoreAttributePath": "nope"}
        },
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.describe_trusted_token_issuer,
        TrustedTokenIssuerArn=admin.unknown_issuer(),
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_trusted_token_issuers,
        InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
    )


def test_list_trusted_token_issuers_pages_by_hand_and_with_the_paginator(admin: Admin) -> None:
    c = admin.client
    created = {admin.issuer("paged") for _ in range(4)}
    by_hand = manual_pages(
        c.list_trusted_token_issuers, "TrustedTokenIssuers", 2, InstanceArn=admin.instance_arn
    )
    arns = [i["TrustedTokenIssuerArn"] for i in by_hand]
    assert len(arns) == len(set(arns))
    assert created <= set(arns)
    assert all(i["TrustedTokenIssuerType"] == "OIDC_JWT" for i in by_hand)
    paginated = all_pages(
        c, "list_trusted_token_issuers", "TrustedTokenIssuers", 2, InstanceArn=admin.instance_arn
    )
    assert [i["TrustedTokenIssuerArn"] for i in paginated] == arns


def test_deleting_an_issuer_takes_it_out_of_the_grants_that_name_it(admin: Admin) -> None:
    c = admin.client
    gone, stays = admin.issuer("gone"), admin.issuer("stays")
    both, only = admin.application("both-issuers"), admin.application("only-issuer")

    def entry(arn: str) -> dict[str, Any]:
        return {"TrustedTokenIssuerArn": arn, "AuthorizedAudiences": ["aud"]}

    c.put_application_grant(
        ApplicationArn=both,
        GrantType=JWT_BEARER,
        Grant={"JwtBearer": {"AuthorizedTokenIssuers": [entry(gone), entry(stays)]}},
    )
    c.put_application_grant(
        ApplicationArn=only,
        GrantType=JWT_BEARER,
        Grant={"JwtBearer": {"AuthorizedTokenIssuers": [entry(gone)]}},
    )
    c.delete_trusted_token_issuer(TrustedTokenIssuerArn=gone)
    remaining = c.get_application_grant(ApplicationArn=both, GrantType=JWT_BEARER)["Grant"]
    assert remaining == {"JwtBearer": {"AuthorizedTokenIssuers": [entry(stays)]}}
    refused(
        c,
        "ResourceNotFoundException",
        c.get_application_grant,
        ApplicationArn=only,
        GrantType=JWT_BEARER,
    )


# -- assignments ------------------------------------------------------------------------------------


def test_assignment_configuration_defaults_to_required_and_can_be_turned_off(admin: Admin) -> None:
    c = admin.client
    app = admin.application("assignment-config")
    assert c.get_application_assignment_configuration(ApplicationArn=app)["AssignmentRequired"]
    c.put_application_assignment_configuration(ApplicationArn=app, AssignmentRequired=False)
    assert not c.get_application_assignment_configuration(ApplicationArn=app)["AssignmentRequired"]
    unknown = admin.unknown_application()
    refused(
        c,
        "ResourceNotFoundException",
        c.put_application_assignment_configuration,
        ApplicationArn=unknown,
        AssignmentRequired=True,
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.get_application_assignment_configuration,
        ApplicationArn=unknown,
    )


def test_assignments_are_created_described_listed_paged_and_deleted(admin: Admin) -> None:
    c = admin.client
    app = admin.application("assignments")
    principals = [
        ("USER", admin.users["erin"]),
        ("USER", admin.users["frank"]),
        ("USER", admin.users["grace"]),
        ("GROUP", admin.groups["engineers"]),
    ]
    for kind, principal in principals:
        c.create_application_assignment(
            ApplicationArn=app, PrincipalType=kind, PrincipalId=principal
        )
    c.create_application_assignment(
        ApplicationArn=app, PrincipalType="USER", PrincipalId=admin.users["erin"]
    )
    described = c.describe_application_assignment(
        ApplicationArn=app, PrincipalType="GROUP", PrincipalId=admin.groups["engineers"]
    )
    assert (described["ApplicationArn"], described["PrincipalType"]) == (app, "GROUP")
    by_hand = manual_pages(
        c.list_application_assignments, "ApplicationAssignments", 3, ApplicationArn=app
    )
    assert sorted((a["PrincipalType"], a["PrincipalId"]) for a in by_hand) == sorted(principals)
    assert all(a["ApplicationArn"] == app for a in by_hand)
    paginated = all_pages(
        c, "list_application_assignments", "ApplicationAssignments", 2, ApplicationArn=app
    )
    assert paginated == by_hand
    c.delete_application_assignment(
        ApplicationArn=app, PrincipalType="USER", PrincipalId=admin.users["grace"]
    )
    for call in (c.describe_application_assignment, c.delete_application_assignment):
        refused(
            c,
            "ResourceNotFoundException",
            call,
            ApplicationArn=app,
            PrincipalType="USER",
            PrincipalId=admin.users["grace"],
        )
    assert len(c.list_application_assignments(ApplicationArn=app)["ApplicationAssignments"]) == 3


def test_assignment_refusals(admin: Admin) -> None:
    c = admin.client
    app = admin.application("assignment-refusals")
    refused(
        c,
        "ResourceNotFoundException",
        c.create_application_assignment,
        ApplicationArn=app,
        PrincipalType="USER",
        PrincipalId=UNKNOWN_PRINCIPAL,
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.create_application_assignment,
        ApplicationArn=app,
        PrincipalType="GROUP",
        PrincipalId=admin.users["erin"],
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.create_application_assignment,
        ApplicationArn=admin.unknown_application(),
        PrincipalType="USER",
        PrincipalId=admin.users["erin"],
    )
    refused(
        c,
        "ValidationException",
        c.create_application_assignment,
        ApplicationArn=app,
        PrincipalType="USER",
        PrincipalId="erin",
    )
    refused(
        c,
        "ValidationException",
        c.create_application_assignment,
        ApplicationArn=app,
        PrincipalType="ROLE",
        PrincipalId=admin.users["erin"],
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_application_assignments,
        ApplicationArn=admin.unknown_application(),
    )


def test_assignments_for_a_principal_include_those_through_its_groups(admin: Admin) -> None:
    c = admin.client
    direct, through_group, unrelated = (admin.application("for-principal") for _ in range(3))
    erin, engineers = admin.users["erin"], admin.groups["engineers"]
    c.create_application_assignment(ApplicationArn=direct, PrincipalType="USER", PrincipalId=erin)
    c.create_application_assignment(
        ApplicationArn=through_group, PrincipalType="GROUP", PrincipalId=engineers
    )
    c.create_application_assignment(
        ApplicationArn=unrelated, PrincipalType="USER", PrincipalId=admin.users["grace"]
    )
    found = manual_pages(
        c.list_application_assignments_for_principal,
        "ApplicationAssignments",
        1,
        InstanceArn=admin.instance_arn,
        PrincipalType="USER",
        PrincipalId=erin,
    )
    mine = {
        (a["ApplicationArn"], a["PrincipalType"], a["PrincipalId"])
        for a in found
        if a["ApplicationArn"] in (direct, through_group, unrelated)
    }
    assert mine == {(direct, "USER", erin), (through_group, "GROUP", engineers)}
    paginated = all_pages(
        c,
        "list_application_assignments_for_principal",
        "ApplicationAssignments",
        1,
        InstanceArn=admin.instance_arn,
        PrincipalType="USER",
        PrincipalId=erin,
    )
    assert paginated == found
    filtered = c.list_application_assignments_for_principal(
        InstanceArn=admin.instance_arn,
        PrincipalType="USER",
        PrincipalId=erin,
        Filter={"ApplicationArn": through_group},
    )["ApplicationAssignments"]
    assert filtered == [
        {"ApplicationArn": through_group, "PrincipalType": "GROUP", "PrincipalId": engineers}
    ]
    group = c.list_application_assignments_for_principal(
        InstanceArn=admin.instance_arn, PrincipalType="GROUP", PrincipalId=engineers
    )["ApplicationAssignments"]
    assert through_group in {a["ApplicationArn"] for a in group}
    assert direct not in {a["ApplicationArn"] for a in group}
    refused(
        c,
        "ResourceNotFoundException",
        c.list_application_assignments_for_principal,
        InstanceArn=admin.instance_arn,
        PrincipalType="USER",
        PrincipalId=UNKNOWN_PRINCIPAL,
    )


# -- tags ---------------------------------------------------------------------------------------------


def test_tags_on_the_instance_applications_and_issuers(admin: Admin) -> None:
    c = admin.client
    resources = [admin.instance_arn, admin.application("tagged"), admin.issuer("tagged")]
    for arn in resources:
        c.tag_resource(
            ResourceArn=arn,
            InstanceArn=admin.instance_arn,
            Tags=[{"Key": "env", "Value": "test"}, {"Key": "owner", "Value": "alice"}],
        )
        c.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
        assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
            {"Key": "env", "Value": "prod"},
            {"Key": "owner", "Value": "alice"},
        ]
        c.untag_resource(ResourceArn=arn, TagKeys=["owner", "never-set"])
        assert c.list_tags_for_resource(ResourceArn=arn, InstanceArn=admin.instance_arn)[
            "Tags"
        ] == [{"Key": "env", "Value": "prod"}]
        c.untag_resource(ResourceArn=arn, TagKeys=["env"])
        assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == []


def test_tag_refusals(admin: Admin) -> None:
    c = admin.client
    app = admin.application("tag-refusals")
    tags = [{"Key": "k", "Value": "v"}]
    permission_set = f"arn:aws:sso:::permissionSet/{admin.instance_id}/ps-0000000000000000"
    for missing in (admin.unknown_application(), admin.unknown_issuer(), permission_set):
        refused(c, "ResourceNotFoundException", c.tag_resource, ResourceArn=missing, Tags=tags)
        refused(
            c, "ResourceNotFoundException", c.untag_resource, ResourceArn=missing, TagKeys=["k"]
        )
        refused(c, "ResourceNotFoundException", c.list_tags_for_resource, ResourceArn=missing)
    refused(
        c,
        "ResourceNotFoundException",
        c.tag_resource,
        ResourceArn=app,
        InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
        Tags=tags,
    )
    refused(
        c,
        "ValidationException",
        c.tag_resource,
        ResourceArn=app,
        Tags=[{"Key": "aws:created", "Value": "x"}],
    )
    refused(c, "ValidationException", c.tag_resource, ResourceArn="arn:aws:s3:::bucket", Tags=tags)
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(30)]
    c.tag_resource(ResourceArn=app, Tags=many)
    more = [{"Key": f"m{i}", "Value": "v"} for i in range(21)]
    refused(c, "ServiceQuotaExceededException", c.tag_resource, ResourceArn=app, Tags=more)
    assert len(c.list_tags_for_resource(ResourceArn=app)["Tags"]) == 30


# -- authorization ------------------------------------------------------------------------------------


def denied_requests(a: Admin) -> dict[str, dict[str, Any]]:
    """A well-formed request for every sso-admin operation ssooidc serves."""
    app, issuer, user = a.unknown_application(), a.unknown_issuer(), UNKNOWN_PRINCIPAL
    assignment = {"ApplicationArn": app, "PrincipalType": "USER", "PrincipalId": user}
    method = {"ApplicationArn": app, "AuthenticationMethodType": "IAM"}
    return {
        "ListInstances": {},
        "DescribeInstance": {"InstanceArn": a.instance_arn},
        "UpdateInstance": {"InstanceArn": a.instance_arn, "Name": "denied"},
        "CreateApplication": {
            "InstanceArn": a.instance_arn,
            "ApplicationProviderArn": CUSTOM,
            "Name": "denied",
        },
        "DescribeApplication": {"ApplicationArn": app},
        "ListApplications": {"InstanceArn": a.instance_arn},
        "UpdateApplication": {"ApplicationArn": app, "Name": "denied"},
        "DeleteApplication": {"ApplicationArn": app},
        "ListApplicationProviders": {},
        "DescribeApplicationProvider": {"ApplicationProviderArn": CUSTOM},
        "PutApplicationGrant": {
            "ApplicationArn": app,
            "GrantType": "refresh_token",
            "Grant": {"RefreshToken": {}},
        },
        "GetApplicationGrant": {"ApplicationArn": app, "GrantType": "refresh_token"},
        "ListApplicationGrants": {"ApplicationArn": app},
        "DeleteApplicationGrant": {"ApplicationArn": app, "GrantType": "refresh_token"},
        "PutApplicationAuthenticationMethod": {
            **method,
            "AuthenticationMethod": {"Iam": {"ActorPolicy": actor_policy(ADMIN_ARN)}},
        },
        "GetApplicationAuthenticationMethod": method,
        "ListApplicationAuthenticationMethods": {"ApplicationArn": app},
        "DeleteApplicationAuthenticationMethod": method,
        "PutApplicationAccessScope": {"ApplicationArn": app, "Scope": "x:y"},
        "GetApplicationAccessScope": {"ApplicationArn": app, "Scope": "x:y"},
        "ListApplicationAccessScopes": {"ApplicationArn": app},
        "DeleteApplicationAccessScope": {"ApplicationArn": app, "Scope": "x:y"},
        "CreateTrustedTokenIssuer": {
            "InstanceArn": a.instance_arn,
            "Name": "denied",
            "TrustedTokenIssuerType": "OIDC_JWT",
            "TrustedTokenIssuerConfiguration": oidc_configuration("https://denied.example.com"),
        },
        "DescribeTrustedTokenIssuer": {"TrustedTokenIssuerArn": issuer},
        "ListTrustedTokenIssuers": {"InstanceArn": a.instance_arn},
        "UpdateTrustedTokenIssuer": {"TrustedTokenIssuerArn": issuer, "Name": "denied"},
        "DeleteTrustedTokenIssuer": {"TrustedTokenIssuerArn": issuer},
        "PutApplicationAssignmentConfiguration": {
            "ApplicationArn": app,
            "AssignmentRequired": False,
        },
        "GetApplicationAssignmentConfiguration": {"ApplicationArn": app},
        "CreateApplicationAssignment": assignment,
        "DescribeApplicationAssignment": assignment,
        "DeleteApplicationAssignment": assignment,
        "ListApplicationAssignments": {"ApplicationArn": app},
        "ListApplicationAssignmentsForPrincipal": {
            "InstanceArn": a.instance_arn,
            "PrincipalType": "USER",
            "PrincipalId": user,
        },
        "TagResource": {"ResourceArn": app, "Tags": [{"Key": "k", "Value": "v"}]},
        "UntagResource": {"ResourceArn": app, "TagKeys": ["k"]},
        "ListTagsForResource": {"ResourceArn": app},
    }


OPERATIONS = (
    "ListInstances",
    "DescribeInstance",
    "UpdateInstance",
    "CreateApplication",
    "DescribeApplication",
    "ListApplications",
    "UpdateApplication",
    "DeleteApplication",
    "ListApplicationProviders",
    "DescribeApplicationProvider",
    "PutApplicationGrant",
    "GetApplicationGrant",
    "ListApplicationGrants",
    "DeleteApplicationGrant",
    "PutApplicationAuthenticationMethod",
    "GetApplicationAuthenticationMethod",
    "ListApplicationAuthenticationMethods",
    "DeleteApplicationAuthenticationMethod",
    "PutApplicationAccessScope",
    "GetApplicationAccessScope",
    "ListApplicationAccessScopes",
    "DeleteApplicationAccessScope",
    "CreateTrustedTokenIssuer",
    "DescribeTrustedTokenIssuer",
    "ListTrustedTokenIssuers",
    "UpdateTrustedTokenIssuer",
    "DeleteTrustedTokenIssuer",
    "PutApplicationAssignmentConfiguration",
    "GetApplicationAssignmentConfiguration",
    "CreateApplicationAssignment",
    "DescribeApplicationAssignment",
    "DeleteApplicationAssignment",
    "ListApplicationAssignments",
    "ListApplicationAssignmentsForPrincipal",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_principal_without_sso_permissions_is_denied(admin: Admin, operation: str) -> None:
    requests = denied_requests(admin)
    assert set(requests) == set(OPERATIONS)
    denied = admin.server.client("sso-admin", *NOPERM)
    call = getattr(denied, xform_name(operation))
    message = refused(denied, "AccessDeniedException", call, **requests[operation])
    assert f"sso:{operation}" in message
    assert "user/noperm" in message


def test_a_denied_write_changes_nothing(admin: Admin) -> None:
    denied = admin.server.client("sso-admin", *NOPERM)
    app = admin.application("denied")
    refused(denied, "AccessDeniedException", denied.delete_application, ApplicationArn=app)
    refused(
        denied,
        "AccessDeniedException",
        denied.put_application_grant,
        ApplicationArn=app,
        GrantType="refresh_token",
        Grant={"RefreshToken": {}},
    )
    assert admin.client.describe_application(ApplicationArn=app)["ApplicationArn"] == app
    assert admin.client.list_application_grants(ApplicationArn=app)["Grants"] == []


# -- the AWS CLI ----------------------------------------------------------------------------------------


def aws_cli(admin: Admin, tmp_path: Path, *args: str) -> Any:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ADMIN_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    command = [
        str(Path(sys.executable).with_name("aws")),
        "sso-admin",
        *args,
        "--endpoint-url",
        admin.server.url,
        "--region",
        REGION,
        "--output",
        "json",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_the_aws_cli_creates_lists_and_describes_applications(admin: Admin, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = aws_cli(
        admin,
        tmp_path,
        "create-application",
        "--instance-arn",
        admin.instance_arn,
        "--application-provider-arn",
        CUSTOM,
        "--name",
        name,
        "--description",
        "made by the CLI",
    )
    arn = created["ApplicationArn"]
    listed = aws_cli(admin, tmp_path, "list-applications", "--instance-arn", admin.instance_arn)
    assert arn in {a["ApplicationArn"] for a in listed["Applications"]}
    described = aws_cli(admin, tmp_path, "describe-application", "--application-arn", arn)
    assert (described["Name"], described["Description"]) == (name, "made by the CLI")


# -- end to end: trusted identity propagation configured through the API ------------------------------


def test_an_application_configured_through_the_api_exchanges_assertions_at_once(
    admin: Admin,
) -> None:
    c = admin.client
    idp = admin.idp
    issuer = c.create_trusted_token_issuer(
        InstanceArn=admin.instance_arn,
        Name=f"corp-idp-{uuid.uuid4().hex[:8]}",
        TrustedTokenIssuerType="OIDC_JWT",
        TrustedTokenIssuerConfiguration=oidc_configuration(idp.issuer_url),
    )["TrustedTokenIssuerArn"]
    app = c.create_application(
        InstanceArn=admin.instance_arn,
        ApplicationProviderArn=CUSTOM,
        Name=f"tip-backend-{uuid.uuid4().hex[:8]}",
    )["ApplicationArn"]
    c.put_application_grant(
        ApplicationArn=app,
        GrantType=JWT_BEARER,
        Grant={
            "JwtBearer": {
                "AuthorizedTokenIssuers": [
                    {"TrustedTokenIssuerArn": issuer, "AuthorizedAudiences": ["tip-backend"]}
                ]
            }
        },
    )
    c.put_application_grant(
        ApplicationArn=app, GrantType="refresh_token", Grant={"RefreshToken": {}}
    )
    c.put_application_authentication_method(
        ApplicationArn=app,
        AuthenticationMethodType="IAM",
        AuthenticationMethod={"Iam": {"ActorPolicy": actor_policy(ADMIN_ARN)}},
    )
    c.put_application_access_scope(ApplicationArn=app, Scope="tip:read")
    c.put_application_assignment_configuration(ApplicationArn=app, AssignmentRequired=False)

    oidc = admin.server.client("sso-oidc")
    tokens = oidc.create_token_with_iam(
        clientId=app,
        grantType=JWT_BEARER,
        assertion=idp.mint(subject="grace", email="grace@example.com", audience="tip-backend"),
        scope=["openid", "tip:read"],
    )
    assert tokens["accessToken"] and tokens["refreshToken"] and tokens["idToken"]
    assert set(tokens["scope"]) == {"openid", "tip:read"}
    refreshed = oidc.create_token_with_iam(
        clientId=app, grantType="refresh_token", refreshToken=tokens["refreshToken"]
    )
    assert refreshed["accessToken"] != tokens["accessToken"]

    c.delete_application_grant(ApplicationArn=app, GrantType=JWT_BEARER)
    with pytest.raises(oidc.exceptions.UnauthorizedClientException) as info:
        oidc.create_token_with_iam(
            clientId=app,
            grantType=JWT_BEARER,
            assertion=idp.mint(subject="grace", email="grace@example.com", audience="tip-backend"),
        )
    assert info.value.response["error"] == "unauthorized_client"


def test_malformed_requests_are_validation_errors(admin: Admin) -> None:
    c = admin.client
    bad_app = f"arn:aws:sso::{ACCOUNT}:application/{admin.instance_id}/apl-short"
    refused(c, "ValidationException", c.describe_application, ApplicationArn=bad_app)
    refused(c, "ValidationException", c.delete_application, ApplicationArn=bad_app)
    refused(
        c,
        "ValidationException",
        c.describe_trusted_token_issuer,
        TrustedTokenIssuerArn="tti-1234567890",
    )
    refused(c, "ValidationException", c.untag_resource, ResourceArn="arn:aws:x:::y", TagKeys=["k"])
    refused(c, "ValidationException", c.list_application_providers, MaxResults=101)
    refused(
        c,
        "ValidationException",
        c.list_trusted_token_issuers,
        InstanceArn=admin.instance_arn,
        NextToken="bm9wZQ==",
    )
    refused(
        c,
        "ValidationException",
        c.list_application_grants,
        ApplicationArn=admin.application("bad-token"),
        NextToken="bm9wZQ==",
    )
    refused(
        c,
        "ResourceNotFoundException",
        c.list_application_assignments_for_principal,
        InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
        PrincipalType="USER",
        PrincipalId=admin.users["erin"],
    )


def test_creating_an_application_with_too_many_tags_exceeds_the_quota(admin: Admin) -> None:
    c = admin.client
    name = f"overtagged-{uuid.uuid4().hex[:8]}"
    refused(
        c,
        "ServiceQuotaExceededException",
        c.create_application,
        InstanceArn=admin.instance_arn,
        ApplicationProviderArn=CUSTOM,
        Name=name,
        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)],
    )
    listed = c.list_applications(InstanceArn=admin.instance_arn)["Applications"]
    assert name not in {a["Name"] for a in listed}
