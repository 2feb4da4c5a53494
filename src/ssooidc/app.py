"""The composition root: bootstrap of an empty store, and the ASGI app every worker runs."""

from __future__ import annotations

import gc
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette

from ssooidc import demo, tenant
from ssooidc.config import Settings, settings_from
from ssooidc.http.pages import BrowserOptions
from ssooidc.http.routes import Components, build_starlette
from ssooidc.http.sigv4 import SigV4Verifier
from ssooidc.observability import logs, metrics
from ssooidc.observability.readiness import StoreReadiness
from ssooidc.observability.store_metrics import ObservedStore, watch_pool
from ssooidc.services import iam, keys
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.clock import Clock, SystemClock
from ssooidc.services.instance import Instance, create_instance, load_instance
from ssooidc.services.issuers import IssuerKeyCache
from ssooidc.services.key_rotation import KeyRotationJob
from ssooidc.services.maintenance import Maintenance, PeriodicJob
from ssooidc.services.purge import PurgeJob
from ssooidc.services.token_service import TokenPolicy, TokenService
from ssooidc.store.engine import Checkpointer, Store

log = logging.getLogger("ssooidc")

DEMO_ISSUER_PATH = "/demo/idp"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Administrator", "Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass(frozen=True)
class Bootstrap:
    instance: Instance
    admin_key: iam.AccessKeyPair | None  # set when made by this start
    admin_key_from_env: bool
    credentials_file: Path


def open_store(settings: Settings) -> tuple[Store, SecretBox]:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    box = SecretBox.load(settings.key_file)
    store = ObservedStore(settings.store_url, sqlite_synchronous=settings.sqlite_synchronous)
    return store, box


def bootstrap(settings: Settings, store: Store, box: SecretBox) -> Bootstrap:
    """Migrate, and on an empty store create the instance, the administrator and the keys."""
    store.migrate()
    now = time.time()
    credentials_file = Path(settings.data_dir) / "credentials"
    made: iam.AccessKeyPair | None = None
    with store.write_sync() as conn:
        instance = load_instance(conn, settings.region)
        if instance is None:
            instance = create_instance(
                conn, account_id=settings.account_id, region=settings.region, now=now
            )
        admin_arn = iam.find_principal(conn, "user", iam.ADMIN_USER)
        if admin_arn is None:
            admin_arn = iam.create_principal(
                conn, kind="user", account_id=instance.account_id, name=iam.ADMIN_USER, now=now
            )
            iam.put_policy(conn, admin_arn, "AdministratorAccess", ADMIN_POLICY)
        wanted_id = os.environ.get("SSOOIDC_ADMIN_ACCESS_KEY_ID")
        wanted_secret = os.environ.get("SSOOIDC_ADMIN_SECRET_ACCESS_KEY")
        if wanted_id and wanted_secret:
            owner = iam.access_key_owner(conn, wanted_id)
            if owner is None:
                made = iam.create_access_key(
                    conn, box, admin_arn, now, pair=iam.AccessKeyPair(wanted_id, wanted_secret)
                )
            elif owner != admin_arn:
                raise ValueError("SSOOIDC_ADMIN_ACCESS_KEY_ID belongs to another principal")
        elif not credentials_file.exists() and not _has_keys(conn, admin_arn):
            made = iam.create_access_key(conn, box, admin_arn, now)
        if keys.current_signing_key(conn, box, keys.ID_TOKEN) is None:
            keys.create_signing_key(
                conn, box, purpose=keys.ID_TOKEN, alg=settings.id_token_alg, now=now
            )
        keys.instance_secret(conn, box, keys.CONTEXT_SECRET, now)
    if made is not None:
        write_credentials(credentials_file, made, settings.region)
    return Bootstrap(instance, made, bool(wanted_id and wanted_secret), credentials_file)


def prepare_store(settings: Settings, store: Store, box: SecretBox) -> Bootstrap:
    """What a server does before it serves: migrate and bootstrap, then load the demo tenant
    and apply the tenant file. The start-up lock is held throughout, so that instances
    started at once on one store take their turns. Raises ``TenantError`` for a bad tenant
    file and ``InvalidTag`` when the at-rest key does not open the store's secrets."""
    with store.startup_lock():
        started = bootstrap(settings, store, box)
        if settings.demo:
            demo.load(settings, store, box)
        if settings.config:
            tenant.apply(
                store,
                box,
                tenant.load_file(Path(settings.config)),
                region=settings.region,
                development=settings.development,
            )
    return started


def _has_keys(conn: object, principal_arn: str) -> bool:
    from sqlalchemy import Connection, select

    from ssooidc.store import tables as t

    assert isinstance(conn, Connection)
    return (
        conn.execute(
            select(t.iam_access_keys.c.access_key_id).where(
                t.iam_access_keys.c.principal_arn == principal_arn
            )
        ).first()
        is not None
    )


def write_credentials(path: Path, pair: iam.AccessKeyPair, region: str) -> None:
    """The administrator's key in AWS shared-credentials format, profile ``ssooidc``, mode 0600."""
    text = (
        "[ssooidc]\n"
        f"aws_access_key_id = {pair.access_key_id}\n"
        f"aws_secret_access_key = {pair.secret_access_key}\n"
        f"region = {region}\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def maintenance_jobs(
    settings: Settings, store: Store, box: SecretBox, clock: Clock
) -> list[PeriodicJob]:
    """The periodic jobs every worker runs (``--purge-interval`` 0 turns the purge off,
    ``--key-rotation-interval`` 0 the scheduled key rotation)."""
    rotation = KeyRotationJob(
        store, box, clock, alg=settings.id_token_alg, interval=settings.key_rotation_interval
    )
    return [
        PeriodicJob("purge", settings.purge_interval, PurgeJob(store, clock)),
        PeriodicJob("key-rotation", rotation.check_interval, rotation),
    ]


def build_app(
    settings: Settings,
    *,
    issuer_tls: ssl.SSLContext | None = None,
    freeze_heap: bool = True,
) -> Starlette:
    """The ASGI app of one worker process. ``issuer_tls``: the TLS trust for fetching trusted
    token issuers' keys (default: ``SSL_CERT_FILE`` or the system store). ``freeze_heap``:
    keep what start-up made out of the cyclic collector (right for a server process, not for
    an app served inside a test process)."""
    # Before any store exists, so that everything below records into this process's metrics
    # (summed with the other workers' when ``prepare_serving`` named a directory).
    process_metrics = metrics.install(os.environ.get(metrics.MULTIPROCESS_ENV))
    store, box = open_store(settings)
    if not store.is_sqlite:
        watch_pool(store)
    clock = SystemClock()
    policy = TokenPolicy(
        public_url=settings.public_url,
        region=settings.region,
        session_duration=settings.session_duration,
        refresh_reuse_grace_iam=settings.refresh_reuse_grace_iam,
        refresh_reuse_grace_public=settings.refresh_reuse_grace_public,
        id_token_alg=settings.id_token_alg,
        development=settings.development,
    )
    issuer_keys = IssuerKeyCache(
        allow_http_loopback=settings.development,
        clock=clock,
        verify=issuer_tls if issuer_tls is not None else True,
    )
    service = TokenService(store, box, policy, clock, issuer_keys)
    readiness = StoreReadiness(store)
    components = Components(
        service=service,
        verifier=SigV4Verifier(region=settings.region, clock=clock.now),
        demo_issuer_path=DEMO_ISSUER_PATH if settings.demo else None,
        public_client_rate=settings.public_client_rate,
        browser=BrowserOptions(
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_address,
            lockout=settings.login_lockout,
            failure_delay=settings.login_failure_delay_ms / 1000,
            device_entry_rate=settings.device_entry_rate,
        ),
        metrics=process_metrics,
        access_log=logs.AccessLog(
            settings.log_format, enabled=logging.getLogger().isEnabledFor(logging.INFO)
        ),
        readiness=readiness,
    )
    app = build_starlette(components)

    checkpointer = Checkpointer(store)
    maintenance = Maintenance(maintenance_jobs(settings, store, box, clock))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        service.signer()
        service.sealer()
        checkpointer.start()
        # Everything made at start-up lives as long as the process: keep it out of the cyclic
        # collector's way, so that collections during requests stay short.
        if freeze_heap:
            gc.collect()
            gc.freeze()
        maintenance.start()
        yield
        await maintenance.stop()
        await issuer_keys.aclose()
        readiness.close()
        checkpointer.stop()
        store.dispose()
        metrics.uninstall(process_metrics)

    app.router.lifespan_context = lifespan
    return app


def configure_logging(level: str, log_format: str = "json") -> None:
    """Log records at ``level`` as JSON lines or plain text; libraries that would log URLs or
    migrations stay quiet."""
    logs.configure_logging(level, log_format)


def prepare_serving(settings: Settings) -> None:
    """What ``ssooidc serve`` does once, before its workers start: logging, and an empty
    directory for the workers' metrics, named in the environment they inherit."""
    configure_logging(settings.log_level, settings.log_format)
    directory = metrics.prepare_directory(settings.data_dir)
    os.environ[metrics.MULTIPROCESS_ENV] = str(directory)


def create_app() -> Starlette:
    """Factory for uvicorn workers: settings come from the ``SSOOIDC_*`` environment."""
    settings = settings_from()
    configure_logging(settings.log_level, settings.log_format)
    return build_app(settings)
