"""Memory per worker while CreateTokenWithIAM issues a million tokens.

Not a test. Starts ``ssooidc serve`` (2 workers), then sends jwt-bearer requests in chunks
(each answer carries an access and a refresh token, so ``--tokens 1000000`` is 500,000
requests) over 32 keep-alive connections, and after every chunk reads each worker's resident
set size from /proc. Prints the RSS curve and the peak per worker; exits 1 if a request
failed or a worker's peak passed ``--limit-mb``.

    .venv/bin/python bench/memory.py                       # SQLite, 1,000,000 tokens
    .venv/bin/python bench/memory.py --store postgresql --tokens 200000
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--chunk", type=int, default=25_000, help="requests per chunk")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--postgres", default="postgresql://127.0.0.1:5432/test")
    p.add_argument("--limit-mb", type=float, default=150.0)
    a = p.parse_args(argv)
    o = bench.Options(
        grants=("jwt",),
        peer=False,
        conns=32,
        threads=2,
        duration=1,
        warmup=1,
        workers=a.workers,
        sqlite_synchronous="NORMAL",
        max_rps=1,
        store=a.store,
        postgres=a.postgres,
        runs=1,
        users=100,
        signers=2,
        keep=False,
    )
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": bench.KID, "alg": "RS256", "use": "sig"})
    pem = key.as_pem(private=True)
    requests = a.tokens // 2
    sent = failed = 0
    curve: list[tuple[int, list[float]]] = []
    started = time.monotonic()
    with (
        bench.IssuerServer({"keys": [key.as_dict(private=False)]}) as issuer,
        ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool,
    ):
        server = bench.Ssooidc(o, issuer.url, bench.WORK / f"memory-{secrets.token_hex(3)}")
        with bench.running(server):
            assert server.process is not None
            # uvicorn's worker processes (not its supervisor, nor multiprocessing's tracker)
            workers = sorted(
                pid
                for pid in bench.descendants(server.process.pid, bench.process_ticks())
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ) or [server.process.pid]
            curve.append((0, [rss_mb(w) for w in workers]))
            bench.say(f"workers {workers}: RSS at start {curve[0][1]} MB")
            while sent < requests:
                n = min(a.chunk, requests - sent)
                bodies = [
                    bench.body_json(
                        clientId=server.app_arn, grantType=bench.JWT_BEARER, assertion=x
                    )
                    for x in bench.mint(pool, 2, pem, issuer.url, n, 100)
                ]
                lines = bench.sign(pool, 2, server.port, bodies)
                answers = bench.send_all(server.port, lines, 32)
                failed += sum(1 for status, _ in answers if status != 200)
                sent += n
                curve.append((2 * sent, [rss_mb(w) for w in workers]))
                bench.say(
                    f"{2 * sent} tokens issued: RSS {' / '.join(f'{m:.1f}' for m in curve[-1][1])} MB"
                )
    peak = [max(c[1][i] for c in curve) for i in range(len(curve[0][1]))]
    print()
    print(f"Command: .venv/bin/python bench/memory.py {' '.join(sys.argv[1:])}")
    print(
        f"{2 * sent} tokens ({sent} jwt-bearer answers, {failed} failed) in "
        f"{time.monotonic() - started:.0f} s; store {a.store}, {a.workers} workers"
    )
    print(
        "| tokens issued | " + " | ".join(f"worker {i + 1} RSS MB" for i in range(len(peak))) + " |"
    )
    print("| ---: |" + " ---: |" * len(peak))
    step = max(1, len(curve) // 10)
    for tokens, sizes in curve[::step] + ([curve[-1]] if (len(curve) - 1) % step else []):
        print(f"| {tokens} | " + " | ".join(f"{m:.1f}" for m in sizes) + " |")
    print(f"peak per worker: {', '.join(f'{m:.1f}' for m in peak)} MB (limit {a.limit_mb:.0f})")
    return 0 if failed == 0 and max(peak) < a.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
