"""Test identity providers that a server trusts as trusted token issuers, served many to one
HTTPS server (``IssuerHost``), and the assertions a negative test needs: expired, not yet
valid, for the wrong audience, from the wrong issuer, signed by an unknown key, or replaying
a ``jti``."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.routing import Mount, Router

from ssooidc.testing.endpoint import Endpoint
from ssooidc.testing.idp import CertificateAuthority, SigningKey, TestIdentityProvider

__all__ = ["MISBEHAVIOURS", "IssuerHost", "TrustedIssuer"]

#: The ready misbehaviours of ``TrustedIssuer.misbehave``; CreateTokenWithIAM refuses each
#: with ``InvalidGrantException``.
MISBEHAVIOURS = (
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "unknown_key",
    "replayed_jti",
)

#: Past the server's 60 s of leeway on every time claim.
_SKEW = 3600


class IssuerHost(TestIdentityProvider):
    """One HTTPS server (with ``ca``'s certificate) for many test identity providers, each at
    ``<its URL>/<name>``: a new provider costs a route, not a server and a TLS certificate."""

    def __init__(
        self, directory: Path, *, ca: CertificateAuthority | None = None, host: str = "127.0.0.1"
    ) -> None:
        super().__init__(directory, alg="ES256", ca=ca, host=host)
        self._router = Router(routes=[])
        self._mounts: dict[str, Mount] = {}

    def _app(self) -> Any:
        return self._router

    def provider(self, name: str, *, alg: str = "ES256") -> TestIdentityProvider:
        """A new provider served at ``<issuer_url>/<name>`` until ``remove(name)``."""
        if name in self._mounts or "/" in name:
            raise ValueError(f"{name!r} is taken or not a path segment")
        provider = TestIdentityProvider(self.directory, alg=alg, ca=self.ca, host=self.host)
        provider.mounted_at = f"{self.issuer_url}/{name}"
        self._mounts[name] = Mount(f"/{name}", app=provider.app())
        self._router.routes = list(self._mounts.values())
        return provider

    def remove(self, name: str) -> None:
        """Stop serving the provider ``name``."""
        self._mounts.pop(name, None)
        self._router.routes = list(self._mounts.values())


class TrustedIssuer:
    """A test identity provider (HTTPS discovery and JWKS, ``provider``) that the server
    trusts as the trusted token issuer ``arn``: by default it maps the assertion's ``email``
    to the user's ``emails.value``."""

    def __init__(
        self,
        provider: TestIdentityProvider,
        arn: str,
        name: str,
        endpoint: Endpoint | None = None,
        *,
        on_delete: Callable[[], None] | None = None,
    ) -> None:
        self.provider = provider
        self.arn = arn
        self.name = name
        #: the server it is registered with (``delete()`` deletes it there)
        self.endpoint = endpoint
        self._on_delete = on_delete
        self._last_jti: str | None = None

    @classmethod
    def register(
        cls,
        endpoint: Endpoint,
        host: IssuerHost,
        name: str,
        *,
        alg: str = "ES256",
        claim_attribute_path: str = "email",
        identity_store_attribute_path: str = "emails.value",
    ) -> TrustedIssuer:
        """A new provider on ``host``, and the trusted token issuer that names it
        (CreateTrustedTokenIssuer); ``delete()`` undoes both."""
        provider = host.provider(name, alg=alg)
        try:
            arn = endpoint.client("sso-admin").create_trusted_token_issuer(
                InstanceArn=endpoint.instance_arn,
                Name=name,
                TrustedTokenIssuerType="OIDC_JWT",
                TrustedTokenIssuerConfiguration={
                    "OidcJwtConfiguration": {
                        "IssuerUrl": provider.issuer_url,
                        "ClaimAttributePath": claim_attribute_path,
                        "IdentityStoreAttributePath": identity_store_attribute_path,
                        "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                    }
                },
            )["TrustedTokenIssuerArn"]
        except BaseException:
            host.remove(name)
            raise
        return cls(provider, str(arn), name, endpoint, on_delete=lambda: host.remove(name))

    def delete(self) -> None:
        """Delete the trusted token issuer (when registered) and stop serving the provider."""
        try:
            if self.endpoint is not None:
                admin = self.endpoint.client("sso-admin")
                with contextlib.suppress(admin.exceptions.ResourceNotFoundException):
                    admin.delete_trusted_token_issuer(TrustedTokenIssuerArn=self.arn)
        finally:
            if self._on_delete is not None:
                self._on_delete()

    @property
    def issuer_url(self) -> str:
        """The IssuerUrl: ``https://127.0.0.1:<port>/<name>``."""
        return self.provider.issuer_url

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM) that verifies the provider."""
        return self.provider.ca_path

    # -- assertions ---------------------------------------------------------------------------

    def mint(
        self,
        *,
        subject: str | None = None,
        email: str | None = None,
        audience: str | list[str] = "app",
        **claims: Any,
    ) -> str:
        """A valid assertion (an ID token of this provider). ``subject`` defaults to the
        email's local part; ``claims`` are merged last (None removes one); ``lifetime``,
        ``issued_at``, ``not_before``, ``jti``, ``kid`` and ``alg`` shape it further."""
        if subject is None:
            subject = email.split("@", 1)[0] if email else "user"
        token = self.provider.mint(subject=subject, email=email, audience=audience, **claims)
        self._last_jti = _claims(token).get("jti")
        return token

    def rotate_keys(self, *, keep_old: bool = False) -> SigningKey:
        """A new signing key; the old ones leave the JWKS unless ``keep_old``. The server
        fetches the JWKS again when it meets the new kid (at most once a minute per issuer:
        every ``trusted_issuer`` fixture is a new issuer)."""
        return self.provider.rotate_keys(keep_old=keep_old)

    def mint_expired(self, **kwargs: Any) -> str:
        """Expired an hour ago."""
        now = int(time.time())
        return self.mint(issued_at=now - 2 * _SKEW, lifetime=_SKEW, **kwargs)

    def mint_not_yet_valid(self, **kwargs: Any) -> str:
        """Valid only from an hour from now (``nbf``)."""
        now = int(time.time())
        return self.mint(not_before=now + _SKEW, lifetime=2 * _SKEW, **kwargs)

    def mint_wrong_audience(self, **kwargs: Any) -> str:
        """For an audience no application authorizes."""
        kwargs["audience"] = "not-an-authorized-audience"
        return self.mint(**kwargs)

    def mint_wrong_issuer(self, **kwargs: Any) -> str:
        """Signed by this provider's key, but with an ``iss`` that is not its IssuerUrl."""
        return self.mint(iss=f"{self.issuer_url}/elsewhere", **kwargs)

    def mint_unknown_key(self, **kwargs: Any) -> str:
        """Signed by a key that is not in the JWKS (its kid is unknown)."""
        return self.mint(key=SigningKey.generate(self.provider.alg), **kwargs)

    def mint_replay(self, of: str | None = None, **kwargs: Any) -> str:
        """A new assertion with the ``jti`` of ``of`` (by default the last one minted)."""
        jti = _claims(of).get("jti") if of is not None else self._last_jti
        if jti is None:
            raise ValueError("nothing was minted yet whose jti could be replayed")
        return self.mint(jti=jti, **kwargs)

    def misbehave(self, kind: str, **kwargs: Any) -> str:
        """The assertion of one of ``MISBEHAVIOURS``, for parametrized negative tests."""
        makers: dict[str, Callable[..., str]] = {
            "expired": self.mint_expired,
            "not_yet_valid": self.mint_not_yet_valid,
            "wrong_audience": self.mint_wrong_audience,
            "wrong_issuer": self.mint_wrong_issuer,
            "unknown_key": self.mint_unknown_key,
            "replayed_jti": self.mint_replay,
        }
        if kind not in makers:
            raise ValueError(f"unknown misbehaviour {kind!r}; one of {', '.join(MISBEHAVIOURS)}")
        return makers[kind](**kwargs)

    def __repr__(self) -> str:
        return f"<TrustedIssuer {self.name} {self.provider.issuer_url}>"


def _claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims
