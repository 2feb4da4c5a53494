"""ssooidc servers that a test starts: on a free loopback port, with a data directory and a
store of their own, either inside the test process (the ASGI app on a background thread) or
as an ``ssooidc serve`` subprocess.

Both run what ``ssooidc serve`` runs: the same options, the same bootstrap, the same tenant
file. Both can trust the CA of a test identity provider (``issuer_ca``) without touching the
test process's environment: the subprocess gets its own ``SSL_CERT_FILE``; in the process, the
key cache of trusted token issuers gets a TLS context that trusts the CA as well.
"""

from __future__ import annotations

import configparser
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ssooidc.testing.asgi import ServedApp
from ssooidc.testing.databases import sqlite_url
from ssooidc.testing.endpoint import Credentials, Endpoint

if TYPE_CHECKING:
    from ssooidc.config import Settings

__all__ = ["InProcessServer", "LocalServer", "SubprocessServer", "free_port"]

#: Options every test server gets unless the caller sets them: no per-address limits on
#: RegisterClient or failed sign-ins (every test connects from 127.0.0.1), no sign-in delay.
TEST_DEFAULTS = (
    ("--public-client-rate", "0"),
    ("--login-max-failures-per-address", "0"),
    ("--login-failure-delay-ms", "0"),
)


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer(Endpoint):
    """A server this process starts and stops, with its own data directory and store."""

    def __init__(
        self,
        data_dir: Path,
        *,
        tenant: Mapping[str, Any] | None = None,
        extra_args: Sequence[str] = (),
        database_url: str | None = None,
        issuer_ca: Path | None = None,
        region: str | None = None,
        port: int | None = None,
        test_defaults: bool = True,
    ) -> None:
        self.port = free_port() if port is None else port
        super().__init__(f"http://127.0.0.1:{self.port}", region=region or "us-east-1")
        #: ``--region`` is passed only when given
        self.region_given = region is not None
        self.data_dir = data_dir
        #: the store: SQLite in ``data_dir`` unless given
        self.database_url = database_url or sqlite_url(data_dir)
        self.tenant = tenant
        self.extra_args = list(extra_args)
        self.issuer_ca = issuer_ca
        self.test_defaults = test_defaults
        self.started_in: float | None = None

    def serve_args(self) -> list[str]:
        """The ``ssooidc serve`` options of this server, but ``--port`` and ``--workers``."""
        given = set(self.extra_args)
        args = ["--data-dir", str(self.data_dir)]
        if "--database-url" not in given:
            args += ["--database-url", self.database_url]
        if self.region_given and "--region" not in given:
            args += ["--region", self.region]
        if self.test_defaults:
            for flag, value in TEST_DEFAULTS:
                if flag not in given:
                    args += [flag, value]
        if self.tenant is not None:
            import yaml

            config = self.data_dir / "tenant.yaml"
            config.write_text(yaml.safe_dump(dict(self.tenant)))
            args += ["--config", str(config)]
        return [*args, *self.extra_args]

    def store_args(self) -> list[str]:
        """The options that point another ``ssooidc`` command at this server's store."""
        return ["--data-dir", str(self.data_dir), "--database-url", self.database_url]

    def start(self, timeout: float = 30.0) -> LocalServer:
        raise NotImplementedError

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        raise NotImplementedError

    def _read_admin(self) -> Credentials:
        """The administrator's key from ``<data-dir>/credentials`` (profile ``ssooidc``)."""
        parser = configparser.ConfigParser()
        parser.read(self.data_dir / "credentials")
        section = parser["ssooidc"]
        return Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])

    def set_password(self, user_id: str, password: str) -> None:
        """Give an identity-store user a password, in the store (as ``ssooidc users
        set-password`` does)."""
        from ssooidc.services import passwords
        from ssooidc.store.engine import Store

        store = Store(self.database_url)
        try:
            with store.write_sync() as conn:
                passwords.set_password_hash(conn, user_id, passwords.hash_password(password))
        finally:
            store.dispose()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SubprocessServer(LocalServer):
    """``python -m ssooidc serve`` in a child process; its output goes to ``log_path``."""

    mode = "subprocess"

    def __init__(
        self,
        data_dir: Path,
        *,
        workers: int = 1,
        extra_env: Mapping[str, str] | None = None,
        admin: Credentials | None = None,
        inherit_ssooidc_env: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(data_dir, **options)
        self.workers = workers
        #: variables for the child on top of this process's environment
        self.extra_env = dict(extra_env or {})
        #: a fixed administrator key (``SSOOIDC_ADMIN_ACCESS_KEY_ID``/``..._SECRET_...``)
        self.fixed_admin = admin
        #: keep this process's ``SSOOIDC_*`` variables (they are left out by default, so that
        #: a developer's shell does not change the test server)
        self.inherit_ssooidc_env = inherit_ssooidc_env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    def child_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if self.inherit_ssooidc_env or not k.startswith("SSOOIDC_")
        }
        if self.fixed_admin is not None:
            env["SSOOIDC_ADMIN_ACCESS_KEY_ID"] = self.fixed_admin.access_key_id
            env["SSOOIDC_ADMIN_SECRET_ACCESS_KEY"] = self.fixed_admin.secret_access_key
        if self.issuer_ca is not None:
            env["SSL_CERT_FILE"] = str(_bundle_with(self.issuer_ca, self.data_dir))
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> SubprocessServer:
        began = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "ssooidc",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *self.serve_args(),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=self.child_env()
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ssooidc exited with {self.proc.returncode}:\n{self.log()}")
            if _healthy(self.port):
                self._admin = self.fixed_admin or self._read_admin()
                self.started_in = time.perf_counter() - began
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"ssooidc did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process (SIGTERM drains and exits 0) and wait; its exit status."""
        self.close()
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


class InProcessServer(LocalServer):
    """The ASGI app of ``ssooidc serve`` under uvicorn on a thread of the test process."""

    mode = "in-process"

    def __init__(self, data_dir: Path, **options: Any) -> None:
        options.setdefault("port", 0)
        super().__init__(data_dir, **options)
        self._served: ServedApp | None = None

    def settings(self) -> Settings:
        """The settings ``ssooidc serve`` would run with, from these options alone (never
        from this process's ``SSOOIDC_*`` variables)."""
        from ssooidc.cli import build_parser
        from ssooidc.config import options, settings_from

        parsed = build_parser().parse_args(["serve", "--port", str(self.port), *self.serve_args()])
        overrides = {name: getattr(parsed, name) for name, _ in options()}
        settings = settings_from(overrides, environ={})
        if settings.workers != 1:
            raise ValueError("an in-process server has one worker; use a subprocess for more")
        return settings

    def start(self, timeout: float = 30.0) -> InProcessServer:
        began = time.perf_counter()  # the first start in a process includes the imports
        from ssooidc.app import build_app

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        settings = self.settings()
        self._admin = self._bootstrap(settings)
        # No frozen heap: in a test process it would keep the tests' garbage forever.
        app = build_app(settings, issuer_tls=_issuer_tls(self.issuer_ca), freeze_heap=False)
        self._served = ServedApp(app, port=self.port, lifespan="on").start(timeout)
        self.started_in = time.perf_counter() - began
        return self

    def _bootstrap(self, settings: Settings) -> Credentials:
        """What ``ssooidc serve`` does before it serves: migrate, bootstrap, demo, tenant."""
        from ssooidc.app import open_store, prepare_store
        from ssooidc.tenant import TenantError

        store, box = open_store(settings)
        try:
            started = prepare_store(settings, store, box)
        except TenantError as exc:
            raise RuntimeError(f"the tenant file was not applied: {exc}") from None
        finally:
            store.dispose()
        made = started.admin_key
        if made is not None:
            return Credentials(made.access_key_id, made.secret_access_key)
        return self._read_admin()

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Drain and stop the server thread (``sig`` is not used: there is no process)."""
        self.close()
        served, self._served = self._served, None
        if served is None:
            return None
        served.stop()
        return 0


def _healthy(port: int) -> bool:
    """Whether ``GET /healthz`` answers 200 (one short attempt)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _bundle_with(ca: Path, directory: Path) -> Path:
    """A CA bundle of the system's (or ``SSL_CERT_FILE``'s) certificates and ``ca``, so that a
    subprocess trusts the test CA without distrusting everything else."""
    bundle = directory / "trusted-cas.pem"
    system = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
    parts = []
    if system and Path(system).is_file():
        parts.append(Path(system).read_text())
    parts.append(ca.read_text())
    bundle.write_text("\n".join(parts))
    return bundle


def _issuer_tls(ca: Path | None) -> ssl.SSLContext | None:
    """A TLS context that trusts ``ca`` as well as what the server trusts by default
    (``SSL_CERT_FILE`` or the system store), for the app's fetches of issuers' keys."""
    if ca is None:
        return None
    from ssooidc.services.issuers import default_ssl_context

    context = default_ssl_context()
    context.load_verify_locations(cafile=str(ca))
    return context
