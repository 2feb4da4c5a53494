"""The first test of docs/testing.md: a jwt-bearer flow against a real token service."""

from ssooidc.testing import JWT_BEARER


def test_my_backend_gets_tokens_for_alice(tip_application, identity_user, trusted_issuer):
    alice = identity_user("alice")
    app = tip_application()  # an application, its jwt-bearer grant, and an IAM caller
    assertion = trusted_issuer.mint(email=alice.email, audience=app.audience)

    tokens = app.client("sso-oidc").create_token_with_iam(
        clientId=app.arn, grantType=JWT_BEARER, assertion=assertion
    )

    assert tokens["idToken"] and tokens["refreshToken"]
