"""What the public-client tests share: a server with a small tenant, and botocore helpers."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from sqlalchemy import update

from ssooidc.services import devices, identity_store
from ssooidc.store.engine import Store
from tests.serverproc import REGION, ServerProcess

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
CALLBACK = "http://127.0.0.1/oauth/callback"
RATE = 60  # --public-client-rate of these servers
USER_CODE = r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}"
TENANT: dict[str, Any] = {
    "identitystore": {
        "Users": [
            {
                "UserName": name,
                "DisplayName": name.title(),
                "Name": {"GivenName": name.title(), "FamilyName": "Public"},
                "Emails": [{"Value": f"{name}@example.com"}],
                **({"UserStatus": "DISABLED"} if name == "carol" else {}),
            }
            for name in ("alice", "bob", "carol")
        ]
    },
    "ssoadmin": {
        "Applications": [
            {
                "Name": "files",
                "Grants": {
                    "authorization_code": {"AuthorizationCode": {"RedirectUris": [CALLBACK]}},
                    "refresh_token": {"RefreshToken": {}},
                },
                "AccessScopes": [{"Scope": "files:read"}],
                "AssignmentRequired": True,
                "Assignments": [{"PrincipalType": "USER", "Principal": "alice"}],
            }
        ]
    },
}


@dataclass
class Public:
    server: ServerProcess
    store: Store
    identity_store_id: str
    files_arn: str

    def oidc(self) -> Any:
        return boto3.client(
            "sso-oidc",
            endpoint_url=self.server.url,
            region_name=REGION,
            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
        )

    def register(self, **members: Any) -> dict[str, Any]:
        members.setdefault("clientName", "tests")
        members.setdefault("clientType", "public")
        return self.oidc().register_client(**members)  # type: ignore[no-any-return]

    def start(self, registration: dict[str, Any]) -> dict[str, Any]:
        return self.oidc().start_device_authorization(  # type: ignore[no-any-return]
            clientId=registration["clientId"],
            clientSecret=registration["clientSecret"],
            startUrl=f"{self.server.url}/start",
        )

    def poll(self, registration: dict[str, Any], device_code: str) -> dict[str, Any]:
        return self.oidc().create_token(  # type: ignore[no-any-return]
            clientId=registration["clientId"],
            clientSecret=registration["clientSecret"],
            grantType=DEVICE,
            deviceCode=device_code,
        )

    def refresh(self, registration: dict[str, Any], refresh_token: str) -> dict[str, Any]:
        return self.oidc().create_token(  # type: ignore[no-any-return]
            clientId=registration["clientId"],
            clientSecret=registration["clientSecret"],
            grantType="refresh_token",
            refreshToken=refresh_token,
        )

    def user_id(self, name: str) -> str:
        with self.store.read() as conn:
            user_id = identity_store.find_user_by_name(conn, self.identity_store_id, name)
        assert user_id is not None
        return user_id

    def approve(self, user_code: str, user: str = "alice") -> None:
        assert asyncio.run(devices.approve_device(self.store, user_code, self.user_id(user)))

    def device_tokens(
        self, user: str = "alice", **registration: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A registration and the tokens of one approved device flow."""
        client = self.register(**registration)
        started = self.start(client)
        self.approve(started["userCode"], user)
        return client, self.poll(client, started["deviceCode"])

    def set_column(self, table: Any, where: Any, **values: Any) -> None:
        with self.store.write_sync() as conn:
            assert conn.execute(update(table).where(where).values(**values)).rowcount == 1


def refused(call: Callable[..., Any], name: str, **kwargs: Any) -> dict[str, Any]:
    """Call a client method, expect the modelled ``<name>``, return ``e.response``."""
    with pytest.raises(getattr(call.__self__.exceptions, name)) as info:  # type: ignore[attr-defined]
        call(**kwargs)
    response: dict[str, Any] = info.value.response
    assert response["Error"]["Code"] == name
    return response


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def serve_public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Public]:
    """A server with this module's tenant; each test module starts its own."""
    server = ServerProcess(
        tmp_path_factory.mktemp("ssooidc-public"),
        tenant=TENANT,
        extra_args=["--public-client-rate", str(RATE)],
    )
    server.start()
    try:
        admin = server.client("sso-admin")
        instance = admin.list_instances()["Instances"][0]
        apps = admin.list_applications(InstanceArn=instance["InstanceArn"])["Applications"]
        store = Store(server.database_url)
        yield Public(server, store, instance["IdentityStoreId"], apps[0]["ApplicationArn"])
        store.dispose()
    finally:
        server.stop()
