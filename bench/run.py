"""The ssooidc benchmark: CreateTokenWithIAM under wrk, beside oidc-provider's jwt-bearer grant.

Not a test. Starts ``ssooidc serve`` (2 workers, SQLite in a fresh data dir), pre-signs
CreateTokenWithIAM requests (jwt-bearer with fresh assertions; refresh_token with refresh tokens
obtained by jwt-bearer exchanges beforehand) and drives them with ``wrk`` over keep-alive
connections through the anchors' ``load.sh`` (``../shared/anchors``, copied to
``bench/work/anchors``), so ssooidc is measured exactly as the anchors were. With ``--peer`` it
also measures oidc-provider's jwt-bearer grant in the same sitting, one server at a time.

    .venv/bin/python bench/run.py --peer            # see bench/README.md

Results: one JSON line per measurement in ``bench/results/<timestamp>.jsonl`` (the anchors'
format, readable by their ``table.py``) and a markdown summary beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

from ssooidc.testing import databases

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work"
RESULTS_DIR = BENCH / "results"
ANCHORS_SOURCE = REPO.parent / "shared" / "anchors"
ANCHORS = WORK / "anchors"
SIGNED_LUA = BENCH / "signed.lua"

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REGION = "us-east-1"
ACCOUNT = "111122223333"
CALLER_NAME = "bench-caller"
CALLER_KEY = ("AKIABENCHCALLER00001", "bench-caller-secret-key-0000000000001")
ADMIN_KEY = ("AKIABENCHADMIN000001", "bench-admin-secret-key-00000000000001")
APP_NAME = "bench"
AUDIENCE = "bench"
ISSUER_NAME = "bench-idp"
KID = "k1"
ASSERTION_LIFETIME = 3600  # seconds; ssooidc refuses assertions living over 24 h
PEER_PORT = 3000
PEER_ASSERTIONS_MAX_AGE = 12 * 3600  # mint.mjs assertions live 20 h; re-mint well before
TOKEN_PATH = "/token?aws_iam=t"

LABEL_GRANTS = {
    "jwt": "jwt-bearer (CreateTokenWithIAM)",
    "refresh": "refresh_token rotate (CreateTokenWithIAM)",
}
PEER_LABEL = "oidc-provider|jwt-bearer (custom)|2w cluster|map"
# wrk's threads need not share the requests equally, and thread t only takes lines t, t+THREADS,
# ...: the busier thread reaches its last line first (seen: 59 % / 41 %).
THREAD_IMBALANCE = 1.3
# Every line of a file is signed at once; SigV4 signatures are accepted for 5 minutes.
MAX_RUN_SECONDS = 200
HARVEST_CHUNK = 20_000  # refresh-token harvest: sign and send this many at a time
OTHER_CORES_NOTE = 0.25  # more than this outside server + wrk: say the run was perturbed
WORKER_STALL_SHARE = 0.5  # a worker using under half the CPU of the busiest one: say so
LOAD_PROCESSES = ("wrk", "load.sh", "wrkcpu.py", "bash")


# -- options --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    grants: tuple[str, ...]
    peer: bool
    conns: int
    threads: int
    duration: int
    warmup: int
    workers: int
    sqlite_synchronous: str
    max_rps: int
    store: str  # sqlite | postgresql
    postgres: str  # the server on which each measurement gets a new database
    runs: int
    users: int
    signers: int
    keep: bool

    @property
    def offset(self) -> int:
        """First line of the measured run: past whatever the warm-up can use at max_rps."""
        return int(self.max_rps * self.warmup * THREAD_IMBALANCE)

    @property
    def lines(self) -> int:
        """Lines per request file: warm-up + measured run at max_rps."""
        return self.offset + int(self.max_rps * self.duration * THREAD_IMBALANCE)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grant", choices=("jwt", "refresh", "both"), default="both")
    p.add_argument("--peer", action="store_true", help="also measure oidc-provider's jwt-bearer")
    p.add_argument("--conns", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--duration", type=int, default=20, help="measured seconds (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds (default 5)")
    p.add_argument("--workers", type=int, default=2, help="ssooidc worker processes (default 2)")
    p.add_argument(
        "--sqlite-synchronous", choices=("NORMAL", "FULL"), default="NORMAL", dest="synchronous"
    )
    p.add_argument(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the store of every ssooidc server: SQLite in its data dir, or a new PostgreSQL "
        "database each (default sqlite)",
    )
    p.add_argument(
        "--postgres",
        default="postgresql://127.0.0.1:5432/test",
        help="with --store postgresql: the server to make the databases on",
    )
    p.add_argument(
        "--max-rps",
        type=int,
        default=6000,
        help="the highest rate any server may reach: sizes the request files (default 6000)",
    )
    p.add_argument("--runs", type=int, default=1, help="repeat every measurement (default 1)")
    p.add_argument("--users", type=int, default=100, help="identity-store users (default 100)")
    p.add_argument(
        "--signers", type=int, default=2, help="processes minting and signing (default 2)"
    )
    p.add_argument("--keep", action="store_true", help="keep the servers' data dirs and logs")
    a = p.parse_args(argv)
    if a.warmup + a.duration > MAX_RUN_SECONDS:
        p.error(f"--warmup + --duration must stay under {MAX_RUN_SECONDS} s (SigV4 expiry)")
    grants = ("jwt", "refresh") if a.grant == "both" else (a.grant,)
    return Options(
        grants=grants,
        peer=a.peer,
        conns=a.conns,
        threads=a.threads,
        duration=a.duration,
        warmup=a.warmup,
        workers=a.workers,
        sqlite_synchronous=a.synchronous,
        max_rps=a.max_rps,
        store=a.store,
        postgres=a.postgres,
        runs=a.runs,
        users=a.users,
        signers=a.signers,
        keep=a.keep,
    )


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def source_digest() -> str:
    """Which server code was measured: SHA-256 of src/ssooidc/**/*.py, and its newest change."""
    digest = hashlib.sha256()
    newest = 0.0
    for path in sorted((REPO / "src" / "ssooidc").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
        newest = max(newest, path.stat().st_mtime)
    changed = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest))
    return f"src/ssooidc digest {digest.hexdigest()[:16]} (newest file change {changed})"


def _cpu_ticks() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def process_ticks() -> dict[int, tuple[str, int, int]]:
    """Every process: (command, parent pid, utime + stime ticks)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        out[int(entry)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def busiest(
    before: dict[int, tuple[str, int, int]],
    after: dict[int, tuple[str, int, int]],
    seconds: float,
    exclude: set[int],
    top: int = 3,
) -> str:
    """The processes (outside ``exclude`` and this one) that used the most CPU meanwhile."""
    tick = os.sysconf("SC_CLK_TCK")
    used = []
    for pid, (name, _ppid, ticks) in after.items():
        if pid in exclude or pid == os.getpid():
            continue
        cores = (ticks - before.get(pid, (name, 0, 0))[2]) / tick / seconds
        if cores >= 0.02:
            used.append((cores, f"{name} (pid {pid}) {cores:.2f} cores"))
    return ", ".join(text for _, text in sorted(used, reverse=True)[:top]) or "none"


def descendants(root: int, procs: dict[int, tuple[str, int, int]]) -> set[int]:
    found, stack = set(), [root]
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack.extend(p for p, (_n, ppid, _t) in procs.items() if ppid == pid)
    return found


def machine_busy(seconds: float, exclude: set[int]) -> tuple[float, str]:
    """Share of all CPUs busy over ``seconds`` (/proc/stat), in percent, and who was busy."""
    p0, (b0, t0) = process_ticks(), _cpu_ticks()
    time.sleep(seconds)
    p1, (b1, t1) = process_ticks(), _cpu_ticks()
    return 100 * (b1 - b0) / max(1, t1 - t0), busiest(p0, p1, seconds, exclude)


def wait_for_idle(exclude: set[int], limit: float = 60.0, threshold: float = 10.0) -> str | None:
    """Wait (up to ``limit`` s) until the machine is idle; a note when it never was."""
    deadline = time.monotonic() + limit
    busy, who = machine_busy(1.0, exclude)
    while busy > threshold and time.monotonic() < deadline:
        say(f"the machine is {busy:.0f}% busy before the run ({who}): waiting")
        busy, who = machine_busy(2.0, exclude)
    if busy > threshold:
        return f"the machine was {busy:.0f}% busy just before the run ({who})"
    return None


# -- the anchors (read-only beside the checkout; set up in a copy) ---------------------------


def setup_anchors(peer: bool, lines: int) -> None:
    if not (ANCHORS_SOURCE / "load.sh").is_file():
        raise SystemExit(f"bench: the anchors are not at {ANCHORS_SOURCE}")
    WORK.mkdir(parents=True, exist_ok=True)
    # Copy (again) over the work copy: node_modules, data, logs and minted files stay.
    shutil.copytree(ANCHORS_SOURCE, ANCHORS, dirs_exist_ok=True)
    for path in [ANCHORS, *ANCHORS.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    if shutil.which("wrk") is None:
        say("wrk is missing: apt-get install -y wrk")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    if not peer:
        return
    provider = ANCHORS / "oidc-provider"
    if not (provider / "node_modules" / "oidc-provider").is_dir():
        say("npm ci in the anchors' oidc-provider/")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=provider, check=True)
    assertions = provider / "assertions.txt"
    fresh = (
        assertions.is_file()
        and (provider / "issuer-jwks.json").is_file()
        and time.time() - assertions.stat().st_mtime < PEER_ASSERTIONS_MAX_AGE
        and _count_lines(assertions) >= lines
    )
    if not fresh:
        say(f"node mint.mjs {lines}: assertions for oidc-provider (about {lines // 3000} s)")
        subprocess.run(["node", "mint.mjs", str(lines)], cwd=provider, check=True)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


# -- the trusted token issuer: discovery + JWKS on loopback HTTP ------------------------------


class IssuerServer:
    """A tiny OIDC issuer (discovery document and JWKS) on 127.0.0.1, in a thread."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        documents: dict[str, bytes] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = documents.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        documents["/.well-known/openid-configuration"] = json.dumps(
            {"issuer": self.url, "jwks_uri": f"{self.url}/jwks"}
        ).encode()
        documents["/jwks"] = json.dumps(jwks).encode()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> IssuerServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- minting and signing (in worker processes) -------------------------------------------------

_KEYS: dict[bytes, Any] = {}


def _rsa_key(pem: bytes) -> Any:
    from joserfc.jwk import RSAKey

    if pem not in _KEYS:
        _KEYS[pem] = RSAKey.import_key(pem)
    return _KEYS[pem]


def mint_chunk(pem: bytes, issuer: str, first: int, count: int, users: int) -> list[str]:
    """RS256 assertions with the claims of the anchors' mint.mjs (iss is our issuer's URL)."""
    from joserfc import jwt

    key = _rsa_key(pem)
    now = int(time.time())
    header = {"alg": "RS256", "kid": KID}
    out = []
    for i in range(first, first + count):
        user = f"user{i % users}"
        claims = {
            "email": f"{user}@example.com",
            "iss": issuer,
            "aud": AUDIENCE,
            "sub": user,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": f"jti-{i}-{secrets.token_hex(8)}",
        }
        out.append(jwt.encode(header, claims, key))
    return out


def sign_chunk(port: int, key: tuple[str, str], bodies: list[str]) -> list[str]:
    """One line per body: the signed headers ("Name: value", TAB-separated) and the body."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = SigV4Auth(Credentials(*key), "sso-oauth", REGION)
    host = f"127.0.0.1:{port}"
    url = f"http://{host}{TOKEN_PATH}"
    out = []
    for body in bodies:
        request = AWSRequest(
            method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
        )
        auth.add_auth(request)
        h = request.headers
        out.append(
            f"Host: {host}\tContent-Type: application/json\tX-Amz-Date: {h['X-Amz-Date']}"
            f"\tAuthorization: {h['Authorization']}\t{body}"
        )
    return out


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    size = -(-n // parts)
    return [(start, min(size, n - start)) for start in range(0, n, size)]


def mint(pool: Executor, signers: int, pem: bytes, issuer: str, n: int, users: int) -> list[str]:
    started = time.monotonic()
    futures = [
        pool.submit(mint_chunk, pem, issuer, first, count, users)
        for first, count in _split(n, signers * 8)
    ]
    out = [a for f in futures for a in f.result()]
    say(f"minted {n} RS256 assertions in {time.monotonic() - started:.1f} s")
    return out


def sign(pool: Executor, signers: int, port: int, bodies: list[str]) -> list[str]:
    started = time.monotonic()
    futures = [
        pool.submit(sign_chunk, port, CALLER_KEY, bodies[first : first + count])
        for first, count in _split(len(bodies), signers * 8)
    ]
    out = [line for f in futures for line in f.result()]
    say(f"signed {len(bodies)} requests (SigV4) in {time.monotonic() - started:.1f} s")
    return out


def body_json(**members: str) -> str:
    return json.dumps(members, separators=(",", ":"))


def write_lines(path: Path, lines: Sequence[str]) -> None:
    with path.open("w") as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")


# -- a small keep-alive HTTP client for the probes and the refresh-token harvest ---------------


def raw_request(line: str) -> bytes:
    """The HTTP/1.1 request a line stands for (parsed the way signed.lua parses it)."""
    *fields, body = line.split("\t")
    data = body.encode()
    head = [f"POST {TOKEN_PATH} HTTP/1.1", *fields, f"Content-Length: {len(data)}", "", ""]
    return "\r\n".join(head).encode() + data


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise RuntimeError("response without Content-Length")
    return status, await reader.readexactly(length)


async def _send_all(port: int, requests: list[bytes], conns: int) -> list[tuple[int, bytes]]:
    results: list[tuple[int, bytes]] = [(0, b"")] * len(requests)
    queue = iter(range(len(requests)))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in queue:
                writer.write(requests[i])
                results[i] = await _read_response(reader)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(min(conns, len(requests)))))
    return results


def send_all(port: int, lines: Sequence[str], conns: int) -> list[tuple[int, bytes]]:
    return asyncio.run(_send_all(port, [raw_request(line) for line in lines], conns))


# -- ssooidc --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tenant_document(issuer_url: str, users: int) -> dict[str, Any]:
    caller_arn = f"arn:aws:iam::{ACCOUNT}:user/{CALLER_NAME}"
    return {
        "iam": {
            "Users": [
                {
                    "UserName": CALLER_NAME,
                    "AccessKeys": [
                        {"AccessKeyId": CALLER_KEY[0], "SecretAccessKey": CALLER_KEY[1]}
                    ],
                }
            ]
        },
        "identitystore": {
            "Users": [
                {
                    "UserName": f"user{i}",
                    "DisplayName": f"User {i}",
                    "Name": {"GivenName": "User", "FamilyName": str(i)},
                    "Emails": [{"Value": f"user{i}@example.com", "Primary": True}],
                }
                for i in range(users)
            ]
        },
        "ssoadmin": {
            "TrustedTokenIssuers": [
                {
                    "Name": ISSUER_NAME,
                    "TrustedTokenIssuerType": "OIDC_JWT",
                    "TrustedTokenIssuerConfiguration": {
                        "OidcJwtConfiguration": {
                            "IssuerUrl": issuer_url,
                            "ClaimAttributePath": "email",
                            "IdentityStoreAttributePath": "emails.value",
                            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                        }
                    },
                }
            ],
            "Applications": [
                {
                    "Name": APP_NAME,
                    "Grants": {
                        JWT_BEARER: {
                            "JwtBearer": {
                                "AuthorizedTokenIssuers": [
                                    {
                                        "TrustedTokenIssuer": ISSUER_NAME,
                                        "AuthorizedAudiences": [AUDIENCE],
                                    }
                                ]
                            }
                        },
                        "refresh_token": {"RefreshToken": {}},
                    },
                    "AuthenticationMethods": {
                        "IAM": {
                            "Iam": {
                                "ActorPolicy": {
                                    "Version": "2012-10-17",
                                    "Statement": [
                                        {
                                            "Effect": "Allow",
                                            "Principal": {"AWS": caller_arn},
                                            "Action": "sso-oauth:CreateTokenWithIAM",
                                            "Resource": "*",
                                        }
                                    ],
                                }
                            }
                        }
                    },
                    "AssignmentRequired": False,
                }
            ],
        },
    }


@dataclass
class Ssooidc:
    """One ``ssooidc serve`` with a fresh data dir, the bench tenant and its log."""

    options: Options
    issuer_url: str
    run_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    app_arn: str = ""
    stop_note: str | None = None
    #: set to share one store among several servers (the many-instance mode)
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    _made_database: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.run_dir / "ssooidc.log"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "ssooidc.pid"

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data_dir = self.run_dir / "data"
        tenant = self.run_dir / "tenant.yaml"
        tenant.write_text(
            yaml.safe_dump(tenant_document(self.issuer_url, self.options.users), sort_keys=False)
        )
        env = {
            **os.environ,
            "SSOOIDC_ADMIN_ACCESS_KEY_ID": ADMIN_KEY[0],
            "SSOOIDC_ADMIN_SECRET_ACCESS_KEY": ADMIN_KEY[1],
            **self.extra_env,
        }
        if self.database_url is None and self.options.store == "postgresql":
            self.database_url = self._made_database = databases.new_database(self.options.postgres)
        cmd = [
            sys.executable,
            "-m",
            "ssooidc",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.options.workers),
            "--data-dir",
            str(data_dir),
            "--config",
            str(tenant),
            "--allow-http-issuers",
            "--sqlite-synchronous",
            self.options.sqlite_synchronous,
        ]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.pidfile.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + 60
        while not self._healthy():
            if self.process.poll() is not None:
                raise SystemExit(f"bench: ssooidc exited:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: ssooidc did not become ready:\n{self.log.read_text()}")
            time.sleep(0.2)
        self.app_arn = self._application_arn()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _application_arn(self) -> str:
        import boto3

        admin = boto3.client(
            "sso-admin",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ADMIN_KEY[0],
            aws_secret_access_key=ADMIN_KEY[1],
        )
        instance_arn = admin.list_instances()["Instances"][0]["InstanceArn"]
        apps = admin.list_applications(InstanceArn=instance_arn)["Applications"]
        return str(next(a["ApplicationArn"] for a in apps if a["Name"] == APP_NAME))

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.stop_note = "the server ignored SIGTERM for 30 s (killed)"
                say(f"ssooidc (pid {self.process.pid}): {self.stop_note}")
        # The server runs in its own process group (start_new_session): end what is left of it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        if self._made_database:
            databases.drop_database(self._made_database, self.options.postgres)
            self._made_database = None

    def records(self) -> Iterator[dict[str, Any]]:
        """The server log's JSON records (the start-up banner's plain lines are skipped)."""
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    yield json.loads(line)

    def outcomes(self) -> Counter[str]:
        """CreateTokenWithIAM answers by status and error code, from the access log."""
        counts: Counter[str] = Counter()
        for record in self.records():
            if record.get("operation") == "CreateTokenWithIAM" and "status" in record:
                error = record.get("error")
                counts[f"{record['status']} {error}" if error else str(record["status"])] += 1
        return counts

    def exceptions(self) -> Counter[str]:
        """The exceptions the server logged (a 500 is a server bug)."""
        counts: Counter[str] = Counter()
        for record in self.records():
            text = record.get("exception")
            if isinstance(text, str) and text.strip():
                counts[text.strip().splitlines()[-1][:300]] += 1
        return counts


def postgres_pids(procs: dict[int, tuple[str, int, int]]) -> set[int]:
    """The PostgreSQL server's processes (its backends do the store's share of the work)."""
    return {pid for pid, (name, _parent, _ticks) in procs.items() if name == "postgres"}


class BenchFailure(Exception):
    """A measurement that could not be made; the message says why."""


@contextlib.contextmanager
def running(server: Ssooidc) -> Iterator[Ssooidc]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- one measurement through the anchors' load.sh ---------------------------------------------


@dataclass
class Measured:
    row: dict[str, Any]
    overlap: bool
    notes: list[str] = field(default_factory=list)
    worker_cores: list[float] = field(default_factory=list)
    server_errors: int = 0  # 5xx answers in the server's log (a 500 is a server bug)

    @property
    def valid(self) -> bool:
        r = self.row
        return (
            "rps" in r
            and not self.overlap
            and not r.get("wrapped")
            and int(r.get("non2xx", 1)) == 0
            and int(r.get("sockerr", 1)) == 0
            and self.server_errors == 0
        )


def load(
    options: Options,
    label: str,
    url: str,
    grant: str,
    *,
    pidfile: Path,
    file: Path,
    results: Path,
    script: Path | None,
) -> Measured:
    env = {
        **os.environ,
        "CONNS": str(options.conns),
        "THREADS": str(options.threads),
        "DURATION": str(options.duration),
        "WARMUP": str(options.warmup),
        "FILE": str(file),
        "WARM_OFFSET": "0",
        "OFFSET": str(options.offset),
        "PIDFILE": str(pidfile),
        "RESULTS": str(results),
    }
    env.pop("SCRIPT", None)
    if script is not None:
        env["SCRIPT"] = str(script)
    server_pid = int(pidfile.read_text().split()[0])
    server_tree = descendants(server_pid, process_ticks())
    database_tree = postgres_pids(process_ticks()) if options.store == "postgresql" else set()
    idle_note = wait_for_idle(server_tree | database_tree)
    say(f"load.sh {label} ({options.warmup} s warm-up, {options.duration} s measured)")
    before, started = process_ticks(), time.monotonic()
    out = subprocess.run(
        [str(ANCHORS / "load.sh"), label, url, grant],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    after, elapsed = process_ticks(), time.monotonic() - started
    sys.stdout.write(out.stdout)
    sys.stderr.write(out.stderr)
    # Who else ran meanwhile (warm-up included): not the server, not load.sh and its wrk.
    load_tree = {p for p, (name, _pp, _t) in after.items() if name in LOAD_PROCESSES}
    load_tree |= {p for p, (name, _pp, _t) in before.items() if name in LOAD_PROCESSES}
    database_tree |= postgres_pids(after) if options.store == "postgresql" else set()
    others_seen = busiest(before, after, elapsed, server_tree | load_tree | database_tree)
    rows = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    row = rows[-1] if rows else {"label": label, "error": out.stdout[-2000:] + out.stderr[-2000:]}
    m = Measured(row, overlap="WARNING" in out.stdout)
    if database_tree and "rps" in row:
        tick = os.sysconf("SC_CLK_TCK")
        cores = (
            sum(after[p][2] - before.get(p, ("", 0, 0))[2] for p in database_tree if p in after)
            / tick
            / elapsed
        )
        row["postgres_cores"] = round(cores, 2)
        m.notes.append(
            f"PostgreSQL took {cores:.2f} cores over warm-up + run (not in the server CPU "
            f"figures); server + PostgreSQL CPU-ms/request about "
            f"{(float(row['server_cores']) + cores) * 1000 / float(row['rps']):.2f}"
        )
    if idle_note:
        m.notes.append(idle_note)
    # Each worker's share (warm-up included): a worker stuck with its event loop blocked
    # shows up here, even when it answered no error before the run ended.
    tick = os.sysconf("SC_CLK_TCK")
    m.worker_cores = sorted(
        (
            (after[p][2] - before[p][2]) / tick / elapsed
            for p in server_tree
            if p != server_pid and p in before and p in after
        ),
        reverse=True,
    )
    m.worker_cores = [c for c in m.worker_cores if c >= 0.01]
    if len(m.worker_cores) >= 2 and m.worker_cores[-1] < WORKER_STALL_SHARE * m.worker_cores[0]:
        m.notes.append(
            "worker CPU over warm-up + run "
            + " / ".join(f"{c:.2f}" for c in m.worker_cores)
            + " cores: a worker was mostly idle (stalled event loop?)"
        )
    others = other_cores(row)
    if others is not None and others > OTHER_CORES_NOTE:
        m.notes.append(
            f"{others:.2f} cores went to neither the server nor wrk during the run "
            f"(busiest others over warm-up + run: {others_seen}): the figures are perturbed"
        )
    return m


# -- the measurements ---------------------------------------------------------------------------


@dataclass
class Sitting:
    """Everything one invocation shares: options, pool, issuer, output files."""

    options: Options
    pool: Executor
    pem: bytes
    issuer_url: str
    stamp: str
    results: Path
    measured: list[Measured] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    source: str = field(default_factory=source_digest)

    def run_dir(self, name: str) -> Path:
        return WORK / f"run-{self.stamp}" / name

    def label(self, grant: str, run: int) -> str:
        o = self.options
        storage = "postgresql" if o.store == "postgresql" else f"sqlite WAL {o.sqlite_synchronous}"
        return f"ssooidc|{LABEL_GRANTS[grant]}|{o.workers} workers|{storage}#{run}"

    def mint(self, n: int) -> list[str]:
        o = self.options
        return mint(self.pool, o.signers, self.pem, self.issuer_url, n, o.users)

    def keepalive_probe(self, port: int, label: str) -> None:
        out = subprocess.run(
            [sys.executable, str(ANCHORS / "keepalive_probe.py"), str(port), label, "/healthz"],
            capture_output=True,
            text=True,
            check=False,
        )
        text = (out.stdout + out.stderr).strip()
        say(text)
        self.probes.append(text)

    def probe(self, server: Ssooidc, line: str, what: str) -> dict[str, Any]:
        """One request outside the measured lines: the pre-signed format must get a 200."""
        [(status, body)] = send_all(server.port, [line], 1)
        if status != 200:
            raise SystemExit(f"bench: probe {what} answered {status}: {body[:500]!r}")
        return dict(json.loads(body))

    def measure_ssooidc(self, grant: str, run: int) -> Measured:
        o = self.options
        n = o.lines + 1  # the last one is the probe
        name = f"ssooidc-{grant}-{run}"
        assertions = self.mint(n)
        server = Ssooidc(o, self.issuer_url, self.run_dir(name))
        with running(server):
            say(f"ssooidc on port {server.port}, pid {server.process.pid if server.process else 0}")
            self.keepalive_probe(server.port, f"ssooidc {name}")
            jwt_bodies = [
                body_json(clientId=server.app_arn, grantType=JWT_BEARER, assertion=a)
                for a in assertions
            ]
            del assertions
            if grant == "jwt":
                lines = sign(self.pool, o.signers, server.port, jwt_bodies)
            else:
                try:
                    lines = self.harvest_refresh_tokens(server, jwt_bodies)
                except BenchFailure as exc:
                    return self.failed(server, self.label(grant, run), str(exc))
            del jwt_bodies
            self.probe(server, lines.pop(), grant)
            file = server.run_dir / "requests.txt"
            write_lines(file, lines)
            del lines
            before = server.outcomes()
            m = load(
                o,
                self.label(grant, run),
                server.url,
                "jwt" if grant == "jwt" else "refresh_token",
                pidfile=server.pidfile,
                file=file,
                results=self.results,
                script=SIGNED_LUA,
            )
        after = server.outcomes()
        after.subtract(before)
        failures = {k: v for k, v in after.items() if not k.startswith("200") and v}
        m.server_errors = sum(v for k, v in failures.items() if k.startswith("5"))
        if failures:
            m.notes.append(
                f"server log, non-200 answers to the run's requests (warm-up, run, shutdown): "
                f"{failures}"
            )
            say(m.notes[-1])
        crashes = server.exceptions()
        if crashes:
            m.notes.append(f"server log, exceptions (500s): {dict(crashes)}")
            say(m.notes[-1])
        if server.stop_note:
            m.notes.append(server.stop_note)
        if not o.keep:
            shutil.rmtree(server.run_dir / "data", ignore_errors=True)
            file.unlink(missing_ok=True)
        self.measured.append(m)
        return m

    def failed(self, server: Ssooidc, label: str, why: str) -> Measured:
        """Record a measurement that could not be made, with the server's exceptions."""
        m = Measured({"label": label, "error": why}, overlap=False)
        server.stop()
        if server.stop_note:
            m.notes.append(server.stop_note)
        crashes = server.exceptions()
        if crashes:
            m.notes.append(f"server log, exceptions (500s): {dict(crashes)}")
        say(f"FAILED {label}: {why}")
        for note in m.notes:
            say(note)
        self.measured.append(m)
        return m

    def harvest_refresh_tokens(self, server: Ssooidc, jwt_bodies: list[str]) -> list[str]:
        """jwt-bearer exchanges for one refresh token per line, then the refresh lines."""
        o = self.options
        tokens: list[str] = []
        elapsed = 0.0
        for first in range(0, len(jwt_bodies), HARVEST_CHUNK):
            chunk = jwt_bodies[first : first + HARVEST_CHUNK]
            lines = sign(self.pool, o.signers, server.port, chunk)
            started = time.monotonic()
            answers = send_all(server.port, lines, o.conns)
            elapsed += time.monotonic() - started
            bad = [(s, b) for s, b in answers if s != 200]
            if bad:
                statuses = dict(Counter(s for s, _ in bad))
                raise BenchFailure(
                    f"harvesting refresh tokens: {len(bad)} of {len(answers)} jwt-bearer "
                    f"exchanges failed (HTTP {statuses}), e.g. {bad[0][1][:200]!r}"
                )
            tokens += [json.loads(b)["refreshToken"] for _, b in answers]
        say(f"obtained {len(tokens)} refresh tokens by jwt-bearer ({len(tokens) / elapsed:.0f}/s)")
        bodies = [
            body_json(clientId=server.app_arn, grantType="refresh_token", refreshToken=t)
            for t in tokens
        ]
        return sign(self.pool, o.signers, server.port, bodies)

    def measure_peer(self, run: int) -> Measured:
        o = self.options
        env = {**os.environ, "WORKERS": "2", "STORE": "map", "PORT": str(PEER_PORT)}
        script = str(ANCHORS / "run-oidc-provider.sh")
        say("oidc-provider: WORKERS=2 STORE=map ./run-oidc-provider.sh start")
        subprocess.run([script, "start"], env=env, check=True, stdout=subprocess.DEVNULL)
        try:
            self.keepalive_probe(PEER_PORT, f"oidc-provider #{run}")
            m = load(
                o,
                f"{PEER_LABEL}#{run}",
                f"http://127.0.0.1:{PEER_PORT}",
                "jwt",
                pidfile=ANCHORS / "logs" / "oidc-provider.pid",
                file=ANCHORS / "oidc-provider" / "assertions.txt",
                results=self.results,
                script=None,
            )
        finally:
            subprocess.run([script, "stop"], env=env, check=False)
        self.measured.append(m)
        return m


# -- the report -----------------------------------------------------------------------------------


def cpu_ms(row: dict[str, Any]) -> float:
    return float(row["server_cores"]) * 1000 / float(row["rps"])


def other_cores(row: dict[str, Any]) -> float | None:
    """CPU the run's machine spent outside the server tree and wrk, in cores."""
    if "busy_pct" not in row:
        return None
    total = float(row["busy_pct"]) / 100 * (os.cpu_count() or 1)
    database = float(row.get("postgres_cores", 0))
    return total - float(row["server_cores"]) - float(row["wrk_cores"]) - database


def summary_lines(sitting: Sitting) -> list[str]:
    out = []
    for m in sitting.measured:
        r = m.row
        if "rps" not in r:
            out.append(f"- {r['label']}: FAILED ({r.get('error', '')[-300:]})")
            out.extend(f"  - {note}" for note in m.notes)
            continue
        flags = [] if m.valid else ["INVALID"]
        if m.server_errors:
            flags.append(f"{m.server_errors} server errors (5xx) in the server log")
        if m.overlap:
            flags.append("warm-up overlapped the measured lines")
        if r.get("wrapped"):
            flags.append("wrapped: ran out of lines, raise --max-rps")
        out.append(
            f"- {r['label']}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, errors {int(r['non2xx'])} non-2xx + "
            f"{int(r['sockerr'])} socket, {cpu_ms(r):.2f} server CPU-ms/request "
            f"(server {r['server_cores']:.2f} / wrk {r['wrk_cores']:.2f} / "
            f"others {other_cores(r) or 0:.2f} cores, busy {r['busy_pct']:.0f}%; workers "
            + " / ".join(f"{c:.2f}" for c in m.worker_cores)
            + ")"
            + (f" [{'; '.join(flags)}]" if flags else "")
        )
        out.extend(f"  - {note}" for note in m.notes)
    return out


def ratio_lines(sitting: Sitting) -> list[str]:
    """ssooidc jwt-bearer / oidc-provider jwt-bearer, per run and as medians over runs."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for m in sitting.measured:
        label, _, run = m.row["label"].rpartition("#")
        if "rps" in m.row:
            rows[(label.split("|")[0] + "|" + label.split("|")[1], run)] = m.row
    ours_key = f"ssooidc|{LABEL_GRANTS['jwt']}"
    peer_key = "|".join(PEER_LABEL.split("|")[:2])
    invalid = {m.row["label"] for m in sitting.measured if not m.valid}
    pairs = [
        (run, rows[(ours_key, run)], rows[(peer_key, run)])
        for (key, run) in rows
        if key == ours_key and (peer_key, run) in rows
    ]
    if not pairs:
        return []
    out = ["ssooidc jwt-bearer / oidc-provider jwt-bearer (same sitting):"]
    rps, p99, cpu = [], [], []
    for run, ours, peer in pairs:
        bad = bool({ours["label"], peer["label"]} & invalid)
        ratios = (
            ours["rps"] / peer["rps"],
            ours["p99_ms"] / peer["p99_ms"],
            cpu_ms(ours) / cpu_ms(peer),
        )
        if not bad:
            rps.append(ratios[0])
            p99.append(ratios[1])
            cpu.append(ratios[2])
        out.append(
            f"- run {run}: req/s {ours['rps']:.0f} / {peer['rps']:.0f} = {ratios[0]:.2f}x; "
            f"p99 {ours['p99_ms']:.1f} / {peer['p99_ms']:.1f} ms = {ratios[1]:.2f}x; "
            f"CPU-ms/request {cpu_ms(ours):.2f} / {cpu_ms(peer):.2f} = {ratios[2]:.2f}x"
            + (" [INVALID: a row of this run is invalid]" if bad else "")
        )
    if len(rps) > 1:
        out.append(
            f"- median over the {len(rps)} valid runs: req/s {statistics.median(rps):.2f}x, "
            f"p99 {statistics.median(p99):.2f}x, CPU-ms/request {statistics.median(cpu):.2f}x"
        )
    out.append("  (target: req/s >= 1.0x with p99 <= 1.0x; run-to-run spread here is up to ~15 %)")
    return out


def table(results: Path, per_run: bool) -> str:
    if not results.is_file():
        return ""
    args = [
        sys.executable,
        str(ANCHORS / "table.py"),
        *(["--runs"] if per_run else []),
        str(results),
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    return out.stdout + out.stderr


def report(sitting: Sitting, argv: Sequence[str], started: float) -> None:
    o = sitting.options
    summary = summary_lines(sitting)
    ratios = ratio_lines(sitting)
    grouped, per_run = table(sitting.results, False), table(sitting.results, True)
    command = " ".join([".venv/bin/python", "bench/run.py", *argv])
    md = [
        f"# ssooidc bench {sitting.stamp}",
        "",
        f"Command: `{command}`",
        "",
        f"wrk {o.threads} threads, {o.conns} connections, keep-alive; {o.warmup} s warm-up "
        f"(lines from 0), {o.duration} s measured (lines from {o.offset}); {o.lines} lines per "
        f"file; ssooidc --workers {o.workers}, "
        + (
            "PostgreSQL (a new database per measurement; its CPU in the notes)"
            if o.store == "postgresql"
            else f"SQLite WAL synchronous={o.sqlite_synchronous}"
        )
        + f", fresh data dir per measurement; {os.cpu_count()} CPUs shared with wrk. "
        f"Took {time.monotonic() - started:.0f} s.",
        "",
        f"Code measured: {sitting.source}"
        + (
            "; **src/ssooidc changed during the sitting**."
            if sitting.source != source_digest()
            else "."
        ),
        "",
        grouped.rstrip(),
        "",
        "Per run:",
        "",
        per_run.rstrip(),
        "",
        *summary,
        "",
        *ratios,
        "",
        "Keep-alive probes (median of sequential GET /healthz on one connection):",
        "",
        *[f"- {p}" for p in sitting.probes],
        "",
    ]
    md_path = sitting.results.with_suffix(".md")
    md_path.write_text("\n".join(md))
    print()
    print(grouped.rstrip())
    print()
    print("\n".join(summary))
    if ratios:
        print()
        print("\n".join(ratios))
    print()
    print(f"code measured: {sitting.source}")
    if sitting.source != source_digest():
        print("WARNING: src/ssooidc changed during the sitting")
    print(f"results: {sitting.results.relative_to(REPO)} and {md_path.relative_to(REPO)}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    o = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers started here are stopped.
    signal.signal(signal.SIGTERM, lambda _signo, _frame: sys.exit(143))
    WORK.mkdir(parents=True, exist_ok=True)
    lock = (WORK / "bench.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say("another bench run holds bench/work/bench.lock (two would share the CPUs): waiting")
        fcntl.flock(lock, fcntl.LOCK_EX)
    started = time.monotonic()
    setup_anchors(o.peer, o.lines)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")

    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": KID, "alg": "RS256", "use": "sig"})
    pem = key.as_pem(private=True)
    jwks = {"keys": [key.as_dict(private=False)]}
    with (
        IssuerServer(jwks) as issuer,
        ProcessPoolExecutor(max_workers=o.signers, mp_context=get_context("spawn")) as pool,
    ):
        say(f"trusted token issuer at {issuer.url}")
        sitting = Sitting(o, pool, pem, issuer.url, stamp, RESULTS_DIR / f"{stamp}.jsonl")
        try:
            for run in range(1, o.runs + 1):
                if "jwt" in o.grants:
                    sitting.measure_ssooidc("jwt", run)
                if o.peer:
                    sitting.measure_peer(run)
                if "refresh" in o.grants:
                    sitting.measure_ssooidc("refresh", run)
        finally:
            report(sitting, argv, started)
        valid = bool(sitting.measured) and all(m.valid for m in sitting.measured)
        if valid and not o.keep:
            shutil.rmtree(WORK / f"run-{stamp}", ignore_errors=True)
        elif not valid:
            say(f"kept the servers' logs in {(WORK / f'run-{stamp}').relative_to(REPO)}")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
