"""Three ``serve`` processes on one PostgreSQL database are one service: a token issued by one
is refreshed, exchanged and redeemed on another, a credential raced on all three is consumed
once, a configuration change made through one is seen by the others at once, and they sign and
publish the same keys, through a rotation made while they serve."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from ssooidc.services.at_rest import SecretBox
from ssooidc.store.engine import Store
from ssooidc.testing.idp import TestIdentityProvider
from tests import stores
from tests.integration.conftest import (
    ACCESS_TYPE,
    JWT_BEARER,
    REDIRECT,
    TOKEN_EXCHANGE,
    Tenant,
    _with_instance_placeholder,
    jwt_claims,
    new_verifier,
    tenant,
)
from tests.serverproc import ServerProcess

INSTANCES = 3


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, idp: TestIdentityProvider
) -> Iterator[list[Tenant]]:
    """Three servers started at the same moment on one new, empty PostgreSQL database, with
    one at-rest key (as every instance of a deployment must share it)."""
    url = stores.new_postgres_database()
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    document = _with_instance_placeholder(tenant(idp.issuer_url))
    servers = [
        ServerProcess(
            tmp_path_factory.mktemp(f"instance{n}"),
            tenant=document,
            database_url=url,
            env={"SSL_CERT_FILE": str(idp.ca_path), "SSOOIDC_AT_REST_KEY": key},
        )
        for n in range(INSTANCES)
    ]
    store = Store(url)
    box = SecretBox(base64.urlsafe_b64decode(key + "="))
    try:
        with ThreadPoolExecutor(INSTANCES) as pool:  # concurrent bootstraps of one empty store
            started = list(pool.map(lambda s: s.start(), servers))
        admin = started[0].client("sso-admin")
        instance = admin.list_instances()["Instances"][0]
        apps = {
            a["Name"]: a["ApplicationArn"]
            for a in admin.list_applications(InstanceArn=instance["InstanceArn"])["Applications"]
        }
        issuer = admin.list_trusted_token_issuers(InstanceArn=instance["InstanceArn"])
        yield [
            Tenant(
                server,
                idp,
                instance["InstanceArn"],
                apps,
                issuer["TrustedTokenIssuers"][0]["TrustedTokenIssuerArn"],
                store,
                box,
                instance["IdentityStoreId"],
            )
            for server in started
        ]
    finally:
        store.dispose()
        for server in servers:
            server.stop()
        stores.release(url)


def test_the_instances_bootstrapped_one_instance_and_one_administrator(
    cluster: list[Tenant],
) -> None:
    seen = set()
    for member in cluster:
        instances = member.server.client("sso-admin").list_instances()["Instances"]
        assert len(instances) == 1
        seen.add(instances[0]["InstanceArn"])
        who = member.server.client("sts").get_caller_identity()
        assert who["Arn"].endswith(":user/admin")
    assert len(seen) == 1


def test_a_token_from_one_instance_is_refreshed_exchanged_and_redeemed_on_the_others(
    cluster: list[Tenant],
) -> None:
    a, b, c = cluster
    issued = a.jwt_tokens()
    refreshed = b.oidc().create_token_with_iam(
        clientId=b.apps["backend"], grantType="refresh_token", refreshToken=issued["refreshToken"]
    )
    again = c.oidc().create_token_with_iam(
        clientId=c.apps["backend"],
        grantType="refresh_token",
        refreshToken=refreshed["refreshToken"],
    )
    # an access token from one instance is exchanged on another
    exchanged = a.oidc().create_token_with_iam(
        clientId=a.apps["reports"],
        grantType=TOKEN_EXCHANGE,
        subjectToken=again["accessToken"],
        subjectTokenType=ACCESS_TYPE,
    )
    assert exchanged["issuedTokenType"] == ACCESS_TYPE
    # a rotated-away refresh token presented to another instance is reuse: the family is
    # revoked for every instance
    with pytest.raises(b.oidc().exceptions.InvalidGrantException):
        b.oidc().create_token_with_iam(
            clientId=b.apps["backend"],
            grantType="refresh_token",
            refreshToken=issued["refreshToken"],
        )
    for member in cluster:
        with pytest.raises(member.oidc().exceptions.InvalidGrantException):
            member.oidc().create_token_with_iam(
                clientId=member.apps["backend"],
                grantType="refresh_token",
                refreshToken=again["refreshToken"],
            )
    # a code minted beside instance a (as its sign-in does) is redeemed on instance c
    verifier = new_verifier()
    code = a.mint_code(verifier=verifier)
    redeemed = c.oidc().create_token_with_iam(
        clientId=c.apps["backend"],
        grantType="authorization_code",
        code=code,
        redirectUri=REDIRECT,
        codeVerifier=verifier,
    )
    assert redeemed["accessToken"] and redeemed["refreshToken"]


def race(cluster: list[Tenant], call: Callable[[Tenant], dict[str, Any]]) -> tuple[int, list[str]]:
    """``call`` on every instance from three threads each, all released at once: how many
    succeeded, and the error codes of the others."""
    per_instance = 3
    barrier = threading.Barrier(len(cluster) * per_instance)
    successes = 0
    errors: list[str] = []
    lock = threading.Lock()

    def attempt(member: Tenant) -> None:
        nonlocal successes
        barrier.wait()
        try:
            call(member)
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", repr(error))
            with lock:
                errors.append(code)
        else:
            with lock:
                successes += 1

    threads = [
        threading.Thread(target=attempt, args=(member,))
        for member in cluster
        for _ in range(per_instance)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return successes, errors


def test_one_refresh_token_raced_on_three_instances_is_consumed_once(
    cluster: list[Tenant],
) -> None:
    for _ in range(3):
        refresh = cluster[0].jwt_tokens()["refreshToken"]
        successes, errors = race(
            cluster,
            lambda m, token=refresh: m.oidc().create_token_with_iam(  # type: ignore[misc]
                clientId=m.apps["backend"], grantType="refresh_token", refreshToken=token
            ),
        )
        assert successes == 1
        assert errors == ["InvalidGrantException"] * 8


def test_one_code_raced_on_three_instances_is_redeemed_once(cluster: list[Tenant]) -> None:
    for _ in range(3):
        verifier = new_verifier()
        code = cluster[1].mint_code(verifier=verifier)
        successes, errors = race(
            cluster,
            lambda m, code=code, verifier=verifier: m.oidc().create_token_with_iam(  # type: ignore[misc]
                clientId=m.apps["backend"],
                grantType="authorization_code",
                code=code,
                redirectUri=REDIRECT,
                codeVerifier=verifier,
            ),
        )
        assert successes == 1
        assert errors == ["InvalidGrantException"] * 8


def test_one_assertion_raced_on_three_instances_is_accepted_once(cluster: list[Tenant]) -> None:
    assertion = cluster[0].assertion()
    successes, errors = race(
        cluster,
        lambda m: m.oidc().create_token_with_iam(
            clientId=m.apps["backend"], grantType=JWT_BEARER, assertion=assertion
        ),
    )
    assert successes == 1
    assert errors == ["InvalidGrantException"] * 8


def test_a_configuration_change_through_one_instance_is_seen_by_the_others_at_once(
    cluster: list[Tenant],
) -> None:
    a, b, c = cluster
    scope = f"backend:fresh{secrets.token_hex(3)}"
    for member in (b, c):
        with pytest.raises(member.oidc().exceptions.InvalidScopeException):
            member.jwt_tokens(scope=[scope])
    a.server.client("sso-admin").put_application_access_scope(
        ApplicationArn=a.apps["backend"], Scope=scope
    )
    for member in (b, c):  # the very next request, no wait
        assert member.jwt_tokens(scope=[scope])["scope"] == [scope]
    # and a disabled application is refused by every instance at once
    admin = b.server.client("sso-admin")
    admin.update_application(ApplicationArn=b.apps["reports"], Status="DISABLED")
    try:
        subject = a.jwt_tokens()["accessToken"]
        for member in cluster:
            with pytest.raises(member.oidc().exceptions.InvalidClientException):
                member.oidc().create_token_with_iam(
                    clientId=member.apps["reports"],
                    grantType=TOKEN_EXCHANGE,
                    subjectToken=subject,
                    subjectTokenType=ACCESS_TYPE,
                )
    finally:
        admin.update_application(ApplicationArn=b.apps["reports"], Status="ENABLED")


def test_an_identity_store_change_through_one_instance_is_seen_by_the_others_at_once(
    cluster: list[Tenant],
) -> None:
    """The instances keep the users they have looked up with their snapshot; a change made
    through another instance still applies to the very next exchange."""
    a, b, c = cluster
    ids = a.server.client("identitystore")
    email = f"dora{secrets.token_hex(3)}@example.com"
    user_id = ids.create_user(
        IdentityStoreId=a.identity_store_id,
        UserName=email.split("@")[0],
        DisplayName="Dora",
        Name={"GivenName": "Dora", "FamilyName": "Example"},
        Emails=[{"Value": email, "Primary": True}],
    )["UserId"]
    for member in (b, c):
        for _ in range(2):  # the second exchange is answered from the kept lookup
            tokens = member.jwt_tokens(app="no-refresh", email=email)
            assert jwt_claims(tokens["idToken"])["sub"] == user_id
    ids.update_user(
        IdentityStoreId=a.identity_store_id,
        UserId=user_id,
        Operations=[{"AttributePath": "emails", "AttributeValue": [{"Value": "x" + email}]}],
    )
    for member in (b, c):
        with pytest.raises(member.oidc().exceptions.InvalidGrantException):
            member.jwt_tokens(app="no-refresh", email=email)
        tokens = member.jwt_tokens(app="no-refresh", email="x" + email)
        assert jwt_claims(tokens["idToken"])["sub"] == user_id
    ids.delete_user(IdentityStoreId=a.identity_store_id, UserId=user_id)
    for member in (b, c):
        with pytest.raises(member.oidc().exceptions.InvalidGrantException):
            member.jwt_tokens(app="no-refresh", email="x" + email)


def jwks_of(member: Tenant) -> KeySet:
    discovery = httpx.get(f"{member.server.url}/.well-known/openid-configuration").json()
    path = httpx.URL(discovery["jwks_uri"]).path
    return KeySet.import_key_set(httpx.get(f"{member.server.url}{path}").json())


def id_token_kid(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def rotate_keys(member: Tenant, *extra: str) -> str:
    """``ssooidc keys rotate`` run beside the instances, as an operator does; the new kid."""
    env = {**os.environ, **member.server.env}
    out = subprocess.run(
        [sys.executable, "-m", "ssooidc", "keys", "rotate", *extra, *member.server.store_args()],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return out.split("new key ")[1].split()[0]


def test_a_key_rotation_while_all_instances_serve_fails_no_request(
    cluster: list[Tenant],
) -> None:
    """Clients hammer all three instances while keys are rotated twice: every request gets
    its tokens, every ID token verifies with the JWKS any instance publishes afterwards, and
    the new key signs on every instance from the next request on."""
    before = id_token_kid(cluster[0].jwt_tokens()["idToken"])
    stop = threading.Event()
    tokens: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def hammer(member: Tenant) -> None:
        client = member.oidc()
        while not stop.is_set():
            try:
                got = client.create_token_with_iam(
                    clientId=member.apps["backend"],
                    grantType=JWT_BEARER,
                    assertion=member.assertion(),
                )
            except Exception as error:
                with lock:
                    failures.append(repr(error))
            else:
                with lock:
                    tokens.append(got["idToken"])

    threads = [threading.Thread(target=hammer, args=(m,)) for m in cluster for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        first = rotate_keys(cluster[0], "--now")
        second = rotate_keys(cluster[1], "--now")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(tokens) > 30
    for member in cluster:
        assert id_token_kid(member.jwt_tokens()["idToken"]) == second
        published = jwks_of(member)
        assert {before, first, second} <= {k.kid for k in published}
        for token in tokens:
            jwt.decode(token, published)  # raises unless it verifies
    # a pre-published rotation shows the next key at once and signs with it only later
    pending = rotate_keys(cluster[2])
    for member in cluster:
        assert pending in {k.kid for k in jwks_of(member)}
        assert id_token_kid(member.jwt_tokens()["idToken"]) == second
