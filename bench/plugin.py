"""How fast the pytest plugin's fixtures are: server start per mode, and isolated objects.

Not a test. Measures, for the in-process and the subprocess server:

- the start time, from nothing to a server that answers: the first start in a fresh Python
  process (in-process, that includes importing ssooidc) and later starts in the same process;
- ``tip_application`` throughput: how many isolated applications (an IAM caller with a key,
  CreateApplication, jwt-bearer and refresh_token grants, the ActorPolicy, the assignment
  setting) one test can create a second, deleting them afterwards as the fixture does;
- a whole test's worth of fixtures a second: a new ``IsolatedTenant`` with its own trusted
  token issuer, a user and an application, one jwt-bearer CreateTokenWithIAM, then cleanup.

    .venv/bin/python bench/plugin.py                # about half a minute
    .venv/bin/python bench/plugin.py --seconds 5 --starts 5

Prints a markdown table (the one in ``docs/testing.md``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ssooidc.testing.factories import IsolatedTenant
from ssooidc.testing.idp import CertificateAuthority
from ssooidc.testing.issuer import IssuerHost
from ssooidc.testing.objects import JWT_BEARER
from ssooidc.testing.server import InProcessServer, LocalServer, SubprocessServer

MODES: dict[str, type[LocalServer]] = {
    "in-process": InProcessServer,
    "subprocess": SubprocessServer,
}

FIRST_START = """
import json, sys, tempfile, time
from pathlib import Path
began = time.perf_counter()
from ssooidc.testing.server import {cls}
server = {cls}(Path(tempfile.mkdtemp())).start()
elapsed = time.perf_counter() - began
server.stop()
print(json.dumps(elapsed))
"""


def first_start(mode: str) -> float:
    """Seconds from a fresh interpreter's first import to a server that answers."""
    code = FIRST_START.format(cls=MODES[mode].__name__)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def later_start(mode: str, work: Path) -> float:
    """Seconds for another start in this (warm) process."""
    server = MODES[mode](Path(tempfile.mkdtemp(dir=work)))
    began = time.perf_counter()
    server.start()
    elapsed = time.perf_counter() - began
    server.stop()
    return elapsed


def applications_per_second(tenant: IsolatedTenant, seconds: float) -> float:
    """tip_application calls a second, within one test (cleanup included)."""
    tenant.default_issuer  # noqa: B018 - made once, outside the measurement
    count = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        tenant.tip_application()
        count += 1
    tenant.close()
    return count / (time.perf_counter() - began)


def tests_per_second(server: LocalServer, host: IssuerHost, seconds: float) -> float:
    """Isolated tenants a second, each with an issuer, a user, an application and a token."""
    count = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        tenant = IsolatedTenant(server, issuer_host=host)
        user = tenant.identity_user()
        app = tenant.tip_application()
        assert app.issuer is not None
        app.client().create_token_with_iam(
            clientId=app.arn,
            grantType=JWT_BEARER,
            assertion=app.issuer.mint(email=user.email, audience=app.audience),
        )
        tenant.close()
        count += 1
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per throughput measurement")
    parser.add_argument("--starts", type=int, default=3, help="starts measured per mode")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ca = CertificateAuthority.create(work / "ca")
        with IssuerHost(work / "issuers", ca=ca) as host:
            for mode, kind in MODES.items():
                firsts = [first_start(mode) for _ in range(args.starts)]
                laters = [later_start(mode, work) for _ in range(args.starts)]
                server = kind(Path(tempfile.mkdtemp(dir=work)), issuer_ca=ca.ca_path).start()
                try:
                    server.instance()
                    apps = applications_per_second(
                        IsolatedTenant(server, issuer_host=host), args.seconds
                    )
                    tests = tests_per_second(server, host, args.seconds)
                finally:
                    server.stop()
                rows.append(
                    (mode, statistics.median(firsts), statistics.median(laters), apps, tests)
                )
    print(
        "| mode | first start (fresh interpreter) | later start | tip_application / s | isolated tests / s |"
    )
    print("| --- | --- | --- | --- | --- |")
    for mode, first, later, apps, tests in rows:
        print(f"| {mode} | {first:.2f} s | {later:.2f} s | {apps:.0f} | {tests:.0f} |")


if __name__ == "__main__":
    main()
