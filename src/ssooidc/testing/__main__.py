"""``python -m ssooidc.testing ca DIR``: keep a CA for test identity providers in DIR and print
its certificate's path, for a server started apart from the tests (``SSL_CERT_FILE``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssooidc.testing.idp import CertificateAuthority


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssooidc.testing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ca = commands.add_parser("ca", help="make (or keep) the CA in DIR; print ca.pem's path")
    ca.add_argument("directory", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    print(CertificateAuthority.load_or_create(args.directory).ca_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
