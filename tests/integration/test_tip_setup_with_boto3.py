"""A trusted-identity-propagation application configured purely through AWS's own APIs
(iam, identitystore, sso-admin), then used with the new principal's keys."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ssooidc.testing.idp import TestIdentityProvider
from tests.serverproc import ACCOUNT, ServerProcess

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider
) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("tip"), env={"SSL_CERT_FILE": str(idp.ca_path)}
    ).start()
    yield process
    process.stop()


def test_configure_with_boto3_then_get_tokens_and_assume_a_role_with_the_context(
    server: ServerProcess, idp: TestIdentityProvider, tmp_path: Path
) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="web-backend")
    key = iam.create_access_key(UserName="web-backend")["AccessKey"]
    iam.put_user_policy(
        UserName="web-backend",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["sts:AssumeRole", "sts:SetContext"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    backend_arn = f"arn:aws:iam::{ACCOUNT}:user/web-backend"
    iam.create_role(
        RoleName="data-reader",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": backend_arn},
                        "Action": ["sts:AssumeRole", "sts:SetContext"],
                    }
                ],
            }
        ),
    )

    admin = server.client("sso-admin")
    instance = admin.list_instances()["Instances"][0]
    store_id = instance["IdentityStoreId"]
    identitystore = server.client("identitystore")
    user_id = identitystore.create_user(
        IdentityStoreId=store_id,
        UserName="carmen",
        DisplayName="Carmen Diaz",
        Name={"GivenName": "Carmen", "FamilyName": "Diaz"},
        Emails=[{"Value": "carmen@example.com", "Type": "work", "Primary": True}],
    )["UserId"]
    group_id = identitystore.create_group(IdentityStoreId=store_id, DisplayName="readers")[
        "GroupId"
    ]
    identitystore.create_group_membership(
        IdentityStoreId=store_id, GroupId=group_id, MemberId={"UserId": user_id}
    )

    issuer_arn = admin.create_trusted_token_issuer(
        InstanceArn=instance["InstanceArn"],
        Name="corp",
        TrustedTokenIssuerType="OIDC_JWT",
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {
                "IssuerUrl": idp.issuer_url,
                "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
            }
        },
    )["TrustedTokenIssuerArn"]
    app_arn = admin.create_application(
        InstanceArn=instance["InstanceArn"],
        Name="web",
        ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/custom",
    )["ApplicationArn"]
    admin.put_application_grant(
        ApplicationArn=app_arn,
        GrantType=JWT_BEARER,
        Grant={
            "JwtBearer": {
                "AuthorizedTokenIssuers": [
                    {"TrustedTokenIssuerArn": issuer_arn, "AuthorizedAudiences": ["web"]}
                ]
            }
        },
    )
    admin.put_application_grant(
        ApplicationArn=app_arn, GrantType="refresh_token", Grant={"RefreshToken": {}}
    )
    admin.put_application_authentication_method(
        ApplicationArn=app_arn,
        AuthenticationMethodType="IAM",
        AuthenticationMethod={
            "Iam": {
                "ActorPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": backend_arn},
                            "Action": "sso-oauth:CreateTokenWithIAM",
                            "Resource": "*",
                        }
                    ],
                }
            }
        },
    )
    admin.put_application_access_scope(ApplicationArn=app_arn, Scope="web:read")
    admin.create_application_assignment(
        ApplicationArn=app_arn, PrincipalId=group_id, PrincipalType="GROUP"
    )

    oidc = server.client("sso-oidc", key["AccessKeyId"], key["SecretAccessKey"])
    tokens = oidc.create_token_with_iam(
        clientId=app_arn,
        grantType=JWT_BEARER,
        assertion=idp.mint(email="carmen@example.com", audience="web"),
    )
    assert "web:read" in tokens["scope"]
    refreshed = oidc.create_token_with_iam(
        clientId=app_arn, grantType="refresh_token", refreshToken=tokens["refreshToken"]
    )
    context = refreshed["awsAdditionalDetails"]["identityContext"]

    sts = server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    session = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/data-reader",
        RoleSessionName="carmen",
        ProvidedContexts=[
            {
                "ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
                "ContextAssertion": context,
            }
        ],
    )["Credentials"]
    who = server.client(
        "sts", session["AccessKeyId"], session["SecretAccessKey"], token=session["SessionToken"]
    ).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/data-reader/carmen"

    # The live tenant exports to a file that a fresh server reads back to the same tenant.
    exported = subprocess.check_output(
        [
            sys.executable,
            "-m",
            "ssooidc",
            "export",
            *server.store_args(),
            "--include-secrets",
        ],
        text=True,
    )
    replica = ServerProcess(
        tmp_path / "replica",
        tenant=yaml.safe_load(exported),
        env={"SSL_CERT_FILE": str(idp.ca_path)},
    ).start()
    try:
        again = subprocess.check_output(
            [
                sys.executable,
                "-m",
                "ssooidc",
                "export",
                *replica.store_args(),
                "--include-secrets",
            ],
            text=True,
        )
        assert yaml.safe_load(again) == yaml.safe_load(exported)
        replica_admin = replica.client("sso-admin")
        replica_instance = replica_admin.list_instances()["Instances"][0]["InstanceArn"]
        replica_app = replica_admin.list_applications(InstanceArn=replica_instance)["Applications"][
            0
        ]
        replica_oidc = replica.client("sso-oidc", key["AccessKeyId"], key["SecretAccessKey"])
        assert replica_oidc.create_token_with_iam(
            clientId=replica_app["ApplicationArn"],
            grantType=JWT_BEARER,
            assertion=idp.mint(email="carmen@example.com", audience="web"),
        )["accessToken"]
    finally:
        replica.stop()
