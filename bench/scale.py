"""How CreateTokenWithIAM's jwt-bearer throughput grows with workers and instances.

Not a test. For each shape ``INSTANCESxWORKERS`` of a grid, starts that many ``ssooidc serve``
processes on one store (one PostgreSQL database, or one SQLite file shared on this box), each
with that many workers, pre-signs jwt-bearer requests for each instance and drives every
instance at once with its own ``wrk`` (the connections split evenly, as a load balancer with
keep-alive would), then sums: requests/s, the worst instance's p99, and the CPU of the servers
and of PostgreSQL per request. Uses ``bench/run.py``'s tenant, issuer, minting and signing.

    .venv/bin/python bench/scale.py --store postgresql --grid 1x1,1x2,2x1,3x1
    .venv/bin/python bench/scale.py --store sqlite --grid 1x1,1x2,2x1
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from ssooidc.testing import databases

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

RESULT = re.compile(r"RESULT (.*)")


@dataclass(frozen=True)
class Shape:
    instances: int
    workers: int

    @property
    def name(self) -> str:
        return f"{self.instances}x{self.workers}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test")
    p.add_argument(
        "--grid",
        default="1x1,1x2,2x1,3x1",
        help="shapes INSTANCESxWORKERS, comma-separated (default 1x1,1x2,2x1,3x1)",
    )
    p.add_argument("--conns", type=int, default=32, help="wrk connections in all (default 32)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--max-rps", type=int, default=5000, help="sizes the request files")
    p.add_argument("--signers", type=int, default=2)
    p.add_argument("--users", type=int, default=100)
    return p.parse_args(argv)


def shapes(grid: str) -> list[Shape]:
    out = []
    for item in grid.split(","):
        instances, _, workers = item.strip().partition("x")
        out.append(Shape(int(instances), int(workers)))
    return out


def options(a: argparse.Namespace, shape: Shape) -> bench.Options:
    return bench.Options(
        grants=("jwt",),
        peer=False,
        conns=a.conns,
        threads=1,
        duration=a.duration,
        warmup=a.warmup,
        workers=shape.workers,
        sqlite_synchronous="NORMAL",
        max_rps=a.max_rps,
        store=a.store,
        postgres=a.postgres,
        runs=1,
        users=a.users,
        signers=a.signers,
        keep=False,
    )


def wrk(port: int, file: Path, conns: int, seconds: int, offset: int) -> subprocess.Popen[str]:
    env = {**os.environ, "FILE": str(file), "OFFSET": str(offset), "THREADS": "1"}
    return subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(bench.SIGNED_LUA),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = process.communicate()
    found = RESULT.search(out)
    if found is None:
        raise SystemExit(f"scale: wrk printed no RESULT line:\n{out[-2000:]}")
    return {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def measure(
    a: argparse.Namespace, shape: Shape, pool: ProcessPoolExecutor, pem: bytes, issuer: str
) -> dict[str, object]:
    o = options(a, shape)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    root = bench.WORK / f"scale-{stamp}-{shape.name}"
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    made: str | None = None
    if a.store == "postgresql":
        url = made = databases.new_database(a.postgres)
    else:
        root.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{root / 'shared.db'}"
    servers = [
        bench.Ssooidc(
            o,
            issuer,
            root / f"instance{n}",
            database_url=url,
            extra_env={"SSOOIDC_AT_REST_KEY": key},
        )
        for n in range(shape.instances)
    ]
    per_instance_conns = max(1, a.conns // shape.instances)
    lines = int(a.max_rps * (a.warmup + a.duration) * bench.THREAD_IMBALANCE) // shape.instances
    offset = int(a.max_rps * a.warmup * bench.THREAD_IMBALANCE) // shape.instances
    try:
        for server in servers:
            server.start()
        files = []
        for server in servers:
            bodies = [
                bench.body_json(clientId=server.app_arn, grantType=bench.JWT_BEARER, assertion=x)
                for x in bench.mint(pool, a.signers, pem, issuer, lines, a.users)
            ]
            signed = bench.sign(pool, a.signers, server.port, bodies)
            file = server.run_dir / "requests.txt"
            bench.write_lines(file, signed)
            files.append(file)
        warm = [
            wrk(s.port, f, per_instance_conns, a.warmup, 0)
            for s, f in zip(servers, files, strict=True)
        ]
        for w in warm:
            result(w)
        pids: set[int] = set()
        ticks = bench.process_ticks()
        for server in servers:
            assert server.process is not None
            pids |= bench.descendants(server.process.pid, ticks)
        before, started = bench.process_ticks(), time.monotonic()
        loads = [
            wrk(s.port, f, per_instance_conns, a.duration, offset)
            for s, f in zip(servers, files, strict=True)
        ]
        results = [result(w) for w in loads]
        after, elapsed = bench.process_ticks(), time.monotonic() - started
        # every PostgreSQL process, backends that started during the run included
        database = bench.postgres_pids(after) if a.store == "postgresql" else set()
    finally:
        for server in servers:
            server.stop()
        if made:
            databases.drop_database(made, a.postgres)
    tick = os.sysconf("SC_CLK_TCK")

    def cores(group: set[int]) -> float:
        return (
            sum(after[p][2] - before.get(p, ("", 0, 0))[2] for p in group if p in after)
            / tick
            / elapsed
        )

    rps = sum(r["rps"] for r in results)
    server_cores, database_cores = cores(pids), cores(database)
    return {
        "shape": shape.name,
        "store": a.store,
        "instances": shape.instances,
        "workers": shape.workers,
        "rps": round(rps),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": int(sum(r["non2xx"] + r["sockerr"] for r in results)),
        "server_cores": round(server_cores, 2),
        "postgres_cores": round(database_cores, 2),
        "cpu_ms_per_request": round((server_cores + database_cores) * 1000 / rps, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda _s, _f: sys.exit(143))
    bench.WORK.mkdir(parents=True, exist_ok=True)
    bench.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": bench.KID, "alg": "RS256", "use": "sig"})
    pem = key.as_pem(private=True)
    rows = []
    with (
        bench.IssuerServer({"keys": [key.as_dict(private=False)]}) as issuer,
        ProcessPoolExecutor(max_workers=a.signers, mp_context=get_context("spawn")) as pool,
    ):
        for shape in shapes(a.grid):
            bench.say(
                f"shape {shape.name}: {shape.instances} instance(s) x {shape.workers} worker(s)"
            )
            row = measure(a, shape, pool, pem, issuer.url)
            bench.say(json.dumps(row))
            rows.append(row)
    base = rows[0]["rps"] if rows else 0
    table = [
        "| instances x workers | store | req/s | vs first | p50 ms | p99 ms | errors | server cores | PostgreSQL cores | CPU-ms/request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        table.append(
            f"| {r['shape']} | {r['store']} | {r['rps']} | {float(r['rps']) / float(base or 1):.2f}x "  # type: ignore[arg-type]
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['server_cores']} "
            f"| {r['postgres_cores']} | {r['cpu_ms_per_request']} |"
        )
    text = "\n".join(
        [
            f"Command: `.venv/bin/python bench/scale.py {' '.join(argv)}`",
            f"{os.cpu_count()} CPUs shared by the servers, PostgreSQL and wrk; "
            f"{a.conns} connections in all, split evenly over the instances.",
            "",
            *table,
            "",
        ]
    )
    print(text)
    out = bench.RESULTS_DIR / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.md"
    out.write_text(text)
    print(f"results: {out.relative_to(bench.REPO)}")
    return 0 if rows and all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
