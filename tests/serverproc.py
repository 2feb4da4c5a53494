"""A real ``ssooidc serve`` process for the tests, and what they need around it: the plugin's
``SubprocessServer`` (``ssooidc.testing``) with the suite's fixed administrator key, its store
(``tests.stores``) and this process's whole environment."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from ssooidc.testing.endpoint import Credentials
from ssooidc.testing.server import SubprocessServer, free_port
from tests import stores

__all__ = [
    "ACCOUNT",
    "ADMIN_KEY_ID",
    "ADMIN_SECRET",
    "NO_RETRY",
    "REGION",
    "ServerProcess",
    "free_port",
]

ADMIN_KEY_ID = "AKIAADMINTESTKEY0001"
ADMIN_SECRET = "admin-secret-access-key-for-tests-0001"
REGION = "us-east-1"
ACCOUNT = "111122223333"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


class ServerProcess(SubprocessServer):
    """``ssooidc serve`` on a free loopback port with its own data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        tenant: Mapping[str, Any] | None = None,
        extra_args: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        database_url: str | None = None,
    ) -> None:
        super().__init__(
            data_dir,
            tenant=tenant,
            extra_args=extra_args or [],
            workers=workers,
            #: SQLite in ``data_dir`` or, when the suite runs on PostgreSQL, a new database of
            #: its own (several servers may be given one URL to share it)
            database_url=database_url or stores.new_database(data_dir),
            admin=Credentials(ADMIN_KEY_ID, ADMIN_SECRET),
            inherit_ssooidc_env=True,
            test_defaults=False,
        )
        #: variables for the child on top of this process's environment (read at each start)
        self.env = dict(env or {})  # type: ignore[assignment,method-assign]

    def child_env(self) -> dict[str, str]:
        return {**super().child_env(), **self.env}

    def start(self, timeout: float = 30.0) -> ServerProcess:
        super().start(timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        return super().stop(sig)

    def client(  # type: ignore[override]
        self,
        service: str,
        key_id: str = ADMIN_KEY_ID,
        secret: str = ADMIN_SECRET,
        token: str | None = None,
    ) -> Any:
        """A new boto3 client each time (tests register event handlers on theirs)."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=NO_RETRY,
        )
