"""Prometheus metrics of one server, summed over its worker processes.

``ssooidc serve`` empties a directory of its own under the data dir before its workers start
and names it in ``PROMETHEUS_MULTIPROC_DIR``; every worker then keeps its counters in
memory-mapped files there (prometheus-client's multiprocess mode), and whichever worker
answers ``GET /metrics`` reads and sums all of them. Without that directory (the app run in
one process by other means) the metrics live in the process.

Code below the HTTP layer records through the module functions (``tokens_issued``,
``issuer_fetch``, ...): they do nothing until ``install`` has run, so unit tests and the
command line pay nothing and need no set-up.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

#: Request latency buckets: the token endpoint answers in about half a millisecond.
REQUEST_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_DIR_PREFIX = "serve-"


class Metrics:
    """The metrics of one process, registered in a registry of their own."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Histogram(
            "ssooidc_request_duration_seconds",
            "Requests by operation (AWS operation name or page route) and HTTP status, "
            "and how long they took",
            ["operation", "status"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "ssooidc_errors", "Error responses by AWS error code", ["code"], registry=r
        )
        self.tokens = Counter(
            "ssooidc_tokens_issued", "Token sets issued, by grant type", ["grant"], registry=r
        )
        self.issuer_fetches = Counter(
            "ssooidc_issuer_fetches",
            "Fetches of trusted token issuers' discovery documents and JWKS",
            ["issuer", "document"],
            registry=r,
        )
        self.issuer_failures = Counter(
            "ssooidc_issuer_fetch_failures",
            "Failed refreshes of a trusted token issuer's keys",
            ["issuer"],
            registry=r,
        )
        self.store_writes = Histogram(
            "ssooidc_store_write_seconds",
            "Token-path writes from the request until their commit (on SQLite: the wait for "
            "the group commit and the write lock included)",
            ["store"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.pool_size = Gauge(
            "ssooidc_store_pool_size",
            "Connections the PostgreSQL pools keep (summed over live workers)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pool_checked_out = Gauge(
            "ssooidc_store_pool_checked_out",
            "PostgreSQL connections in use now (summed over live workers)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.purged = Counter(
            "ssooidc_purged_rows",
            "Expired rows removed by the purge, by table",
            ["table"],
            registry=r,
        )
        self.maintenance = Counter(
            "ssooidc_maintenance_runs",
            "Runs of periodic maintenance jobs, by job and outcome",
            ["job", "outcome"],
            registry=r,
        )
        # (operation, status) -> histogram child: the request path skips labels()'s checks.
        self._request_children: dict[tuple[str, int], Any] = {}
        self._error_children: dict[str, Any] = {}

    # -- the request path -----------------------------------------------------------------

    def request(self, operation: str, status: int, seconds: float, error: str | None) -> None:
        """One finished request (called once per request: kept to a dict look-up and the
        histogram's two counter increments)."""
        child = self._request_children.get((operation, status))
        if child is None:
            child = self.requests.labels(operation, str(status))
            self._request_children[(operation, status)] = child
        child.observe(seconds)
        if error is not None:
            counter = self._error_children.get(error)
            if counter is None:
                counter = self._error_children[error] = self.errors.labels(error)
            counter.inc()

    # -- exposition -----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format: every worker's values summed in multiprocess mode."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def close(self) -> None:
        """At a worker's clean exit: its live gauges leave the sums."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]


CONTENT_TYPE = CONTENT_TYPE_LATEST
_active: Metrics | None = None


def install(multiprocess_dir: str | Path | None) -> Metrics:
    """The metrics of this process, from now on what the module functions record into.

    With ``multiprocess_dir``, values go to memory-mapped files there (chosen here, before
    any value exists, whatever the environment was when prometheus-client was imported)."""
    global _active
    directory = Path(multiprocess_dir) if multiprocess_dir else None
    if directory is not None:
        os.environ[MULTIPROCESS_ENV] = str(directory)
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        _forget_dead_workers(directory)
    else:
        values.ValueClass = values.MutexValue
    _active = Metrics(directory)
    return _active


def uninstall(installed: Metrics) -> None:
    """At the end of the app that installed ``installed`` (unless another has since)."""
    global _active
    installed.close()
    if _active is installed:
        _active = None


def active() -> Metrics | None:
    return _active


def prepare_directory(data_dir: str | Path) -> Path:
    """An empty directory for this server's workers, ``<data-dir>/metrics/serve-<pid>``.

    Each ``ssooidc serve`` process has its own, so two servers sharing a data directory never
    sum (or wipe) each other's metrics; directories of servers no longer running go."""
    base = Path(data_dir) / "metrics"
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob(_DIR_PREFIX + "*"):
        pid = old.name.removeprefix(_DIR_PREFIX)
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    own = base / f"{_DIR_PREFIX}{os.getpid()}"
    own.mkdir(mode=0o700)
    return own


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_workers(directory: Path) -> None:
    """Live gauges of workers that died without a clean exit (a restarted worker's
    predecessor) leave the sums; their counters stay, as counters must."""
    for path in glob.glob(str(directory / "gauge_live*_*.db")):
        pid = path.rsplit("_", 1)[1].removesuffix(".db")
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                mark_process_dead(int(pid), str(directory))  # type: ignore[no-untyped-call]


# -- what the layers below record (no-ops until ``install``) -----------------------------


def tokens_issued(grant: str) -> None:
    """A token set issued by ``grant`` (jwt-bearer, refresh_token, authorization_code,
    token-exchange, device_code), counted once its transaction has committed."""
    if _active is not None:
        _active.tokens.labels(grant).inc()


def issuer_fetch(issuer_url: str, document: str) -> None:
    """A fetch of a trusted token issuer's ``discovery`` document or ``jwks`` begins."""
    if _active is not None:
        _active.issuer_fetches.labels(issuer_url, document).inc()


def issuer_fetch_failed(issuer_url: str) -> None:
    """A refresh of a trusted token issuer's keys failed (a fetch, or what it returned)."""
    if _active is not None:
        _active.issuer_failures.labels(issuer_url).inc()


def store_write(store: str, seconds: float) -> None:
    if _active is not None:
        _active.store_writes.labels(store).observe(seconds)


def rows_purged(table: str, count: int) -> None:
    if _active is not None and count:
        _active.purged.labels(table).inc(count)


def maintenance_run(job: str, outcome: str) -> None:
    if _active is not None:
        _active.maintenance.labels(job, outcome).inc()


def pool_size(size: int) -> None:
    if _active is not None:
        _active.pool_size.set(size)


def pool_checked_out(count: int) -> None:
    if _active is not None:
        _active.pool_checked_out.set(count)
