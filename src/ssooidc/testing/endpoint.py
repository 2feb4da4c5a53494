"""Where a test finds an ssooidc server: its URL, region and administrator, boto3 clients for
every service it serves, and the environment that points botocore (and the AWS CLI) at it.

Nothing here starts a server (``server.py`` does); a server that runs elsewhere is just an
``Endpoint``. boto3 is imported only when a client is made, so that the plugin loads in any
environment where ssooidc is installed.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENV_CLEARED", "SERVICES", "Credentials", "Endpoint", "endpoint_variable"]

#: The boto3 service names ssooidc serves on its one port, with botocore's service ids (the
#: ids name the ``AWS_ENDPOINT_URL_<SERVICE_ID>`` variables).
SERVICES: Mapping[str, str] = {
    "sso-oidc": "SSO OIDC",
    "sso-admin": "SSO Admin",
    "identitystore": "identitystore",
    "iam": "IAM",
    "sts": "STS",
    "sso": "SSO",
}

#: Variables that would send a client elsewhere or mix other credentials into ours: a session
#: token from the developer's shell, a profile that may not exist, the switch that makes
#: botocore ignore endpoint variables.
ENV_CLEARED = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def endpoint_variable(service_name: str) -> str:
    """``AWS_ENDPOINT_URL_SSO_OIDC`` for ``sso-oidc``: botocore's service-specific endpoint."""
    return "AWS_ENDPOINT_URL_" + SERVICES[service_name].upper().replace(" ", "_")


@dataclass(frozen=True)
class Credentials:
    """An access key (and, for a role session, its session token)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        """The ``AWS_ACCESS_KEY_ID``-style variables for this key."""
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def boto3_kwargs(self) -> dict[str, str | None]:
        """``aws_access_key_id=...`` and the rest, for ``boto3.client``."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }

    @classmethod
    def from_sts(cls, answer: Mapping[str, Any]) -> Credentials:
        """From sts's ``Credentials`` member (AssumeRole)."""
        return cls(answer["AccessKeyId"], answer["SecretAccessKey"], answer.get("SessionToken"))

    def __repr__(self) -> str:
        return f"Credentials({self.access_key_id!r}, ...)"


class Endpoint:
    """An ssooidc server reached at ``url``, administered with ``admin``'s key."""

    #: how the server runs: ``remote`` (started elsewhere), ``in-process`` or ``subprocess``
    mode = "remote"

    def __init__(
        self, url: str, *, region: str = "us-east-1", admin: Credentials | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.region = region
        self._admin = admin
        self._session: Any = None
        self._clients: dict[tuple[str, Credentials, tuple[tuple[str, Any], ...]], Any] = {}
        self._lock = threading.Lock()
        self._instance: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.mode} {self.url}>"

    @property
    def admin(self) -> Credentials:
        """The administrator's access key (it may do everything)."""
        if self._admin is None:
            raise RuntimeError(f"the administrator's key of {self.url} is not known yet")
        return self._admin

    # -- clients ------------------------------------------------------------------------------

    def client(
        self, service_name: str, credentials: Credentials | None = None, **config: Any
    ) -> Any:
        """A boto3 client of ``service_name`` on this server, signed with ``credentials`` (the
        administrator's by default). botocore ``Config`` options may be given; retries are off,
        because a server error is a bug to see, not to retry. Clients are cached and shared:
        register event handlers only on a client of your own."""
        if service_name not in SERVICES:
            raise ValueError(f"ssooidc does not serve {service_name!r}; it serves {list(SERVICES)}")
        creds = credentials or self.admin
        key = (service_name, creds, tuple(sorted(config.items())))
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                return found
            from botocore.config import Config

            if self._session is None:
                import boto3

                self._session = boto3.session.Session()
            settings = Config(retries={"max_attempts": 1, "mode": "standard"})
            if config:
                settings = settings.merge(Config(**config))
            made = self._session.client(
                service_name,
                endpoint_url=self.url,
                region_name=self.region,
                config=settings,
                **creds.boto3_kwargs(),
            )
            self._clients[key] = made
            return made

    def env(self, credentials: Credentials | None = None) -> dict[str, str]:
        """The variables that point botocore, boto3 and the AWS CLI at this server: one
        ``AWS_ENDPOINT_URL_<SERVICE>`` per service it serves (other services are left alone),
        the region, and ``credentials`` (the administrator's by default). Lay them over an
        environment from which ``ENV_CLEARED`` is removed (``environ()`` does both)."""
        env = {endpoint_variable(name): self.url for name in SERVICES}
        env["AWS_REGION"] = self.region
        env["AWS_DEFAULT_REGION"] = self.region
        env.update((credentials or self.admin).env())
        return env

    def environ(
        self, credentials: Credentials | None = None, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """A whole environment for a subprocess: ``base`` (this process's by default) without
        ``ENV_CLEARED``, with ``env()`` on top."""
        source = os.environ if base is None else base
        env = {k: v for k, v in source.items() if k not in ENV_CLEARED}
        env.update(self.env(credentials))
        return env

    # -- the instance ---------------------------------------------------------------------------

    def instance(self) -> dict[str, Any]:
        """ListInstances' one instance (``InstanceArn``, ``IdentityStoreId``, ...), cached."""
        if self._instance is None:
            self._instance = self.client("sso-admin").list_instances()["Instances"][0]
        return self._instance

    @property
    def instance_arn(self) -> str:
        return str(self.instance()["InstanceArn"])

    @property
    def identity_store_id(self) -> str:
        return str(self.instance()["IdentityStoreId"])

    @property
    def account_id(self) -> str:
        account = self.instance().get("OwnerAccountId")
        if not account:
            account = self.client("sts").get_caller_identity()["Account"]
            self._instance = {**self.instance(), "OwnerAccountId": account}
        return str(account)

    def set_password(self, user_id: str, password: str) -> None:
        """Give an identity-store user a password for the browser sign-in. No API sets one, so
        this needs the server's store: a server started elsewhere cannot."""
        raise NotImplementedError(
            f"a password can be set only on a server the tests started, not on {self.url}; "
            "give the user a Password in that server's tenant file instead"
        )

    def close(self) -> None:
        """Forget the cached clients."""
        with self._lock:
            for made in self._clients.values():
                made.close()
            self._clients.clear()


def identity_context(token: str | Mapping[str, Any]) -> str:
    """The ``sts:identity_context`` in a CreateTokenWithIAM answer, in its ID token, or the
    context itself when given one."""
    if isinstance(token, Mapping):
        details = token.get("awsAdditionalDetails") or {}
        if "identityContext" in details:
            return str(details["identityContext"])
        if "idToken" in token:
            return identity_context(str(token["idToken"]))
        raise ValueError("the answer carries neither awsAdditionalDetails nor an idToken")
    parts = token.split(".")
    if len(parts) == 3:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return str(claims["sts:identity_context"])
    return token
