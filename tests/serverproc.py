"""A real ``ssooidc serve`` process for the tests, and what they need around it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import httpx
import yaml
from botocore.config import Config

from tests import stores

ADMIN_KEY_ID = "AKIAADMINTESTKEY0001"
ADMIN_SECRET = "admin-secret-access-key-for-tests-0001"
REGION = "us-east-1"
ACCOUNT = "111122223333"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
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
        self.data_dir = data_dir
        #: the store: SQLite in ``data_dir`` or, when the suite runs on PostgreSQL, a new
        #: database of its own (several servers may be given one URL to share it)
        self.database_url = database_url or stores.new_database(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tenant = tenant
        self.extra_args = extra_args or []
        self.env = dict(env or {})
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "ssooidc",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]
        if "--database-url" not in self.extra_args:
            args += ["--database-url", self.database_url]
        if self.tenant is not None:
            config = self.data_dir / "tenant.yaml"
            config.write_text(yaml.safe_dump(dict(self.tenant)))
            args += ["--config", str(config)]
        env = {
            **os.environ,
            "SSOOIDC_ADMIN_ACCESS_KEY_ID": ADMIN_KEY_ID,
            "SSOOIDC_ADMIN_SECRET_ACCESS_KEY": ADMIN_SECRET,
            **self.env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ssooidc exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ssooidc did not become ready:\n{self.log()}")

    def store_args(self) -> list[str]:
        """The options that point another ``ssooidc`` command at this server's store."""
        return ["--data-dir", str(self.data_dir), "--database-url", self.database_url]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def client(
        self,
        service: str,
        key_id: str = ADMIN_KEY_ID,
        secret: str = ADMIN_SECRET,
        token: str | None = None,
    ) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=NO_RETRY,
        )
