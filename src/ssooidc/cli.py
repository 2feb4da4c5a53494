"""The ``ssooidc`` command: serve, migrate, export, users set-password, demo assertion."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ssooidc import demo
from ssooidc.config import Settings, options, settings_from


def _add_settings(parser: argparse.ArgumentParser) -> None:
    for name, opt in options():
        help_text = f"{opt.help} [{opt.env}]"
        if opt.kind is bool:
            parser.add_argument(
                opt.flag, dest=name, action="store_const", const=True, default=None, help=help_text
            )
        else:
            parser.add_argument(
                opt.flag,
                dest=name,
                type=opt.kind,
                choices=opt.choices,
                default=None,
                help=help_text,
            )


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name, _ in options()}
    try:
        return settings_from(overrides)
    except ValueError as exc:
        raise SystemExit(f"ssooidc: {exc}") from None


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ssooidc.app import bootstrap, configure_logging, open_store
    from ssooidc.tenant import TenantError, apply, load_file

    settings = _settings(args)
    configure_logging(settings.log_level)
    store, box = open_store(settings)
    try:
        started = bootstrap(settings, store, box)
        if settings.demo:
            demo.load(settings, store, box)
        if settings.config:
            apply(
                store,
                box,
                load_file(Path(settings.config)),
                region=settings.region,
                development=settings.development,
            )
    except TenantError as exc:
        print(f"ssooidc: the tenant file was not applied: {exc}", file=sys.stderr)
        return 2
    finally:
        store.dispose()
    instance = started.instance
    print(f"ssooidc: instance {instance.arn} (identity store {instance.identity_store_id})")
    print(f"ssooidc: OIDC issuer {instance.issuer(settings.public_url)}")
    if started.admin_key is not None and started.admin_key_from_env:
        print(
            f"ssooidc: administrator access key {started.admin_key.access_key_id} (from the environment)"
        )
    elif started.admin_key is not None:
        print(
            "ssooidc: administrator access key (shown once; also in "
            f"{started.credentials_file}, profile ssooidc):"
        )
        print(f"  aws_access_key_id = {started.admin_key.access_key_id}")
        print(f"  aws_secret_access_key = {started.admin_key.secret_access_key}")
    if settings.demo:
        print(demo.quickstart(settings))
    print(f"ssooidc: listening on {settings.public_url}", flush=True)
    os.environ.update(settings.to_env())
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; a no-op handler underneath
    # turns that into the clean exit (status 0) the contract promises.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _sig, _frame: None)
    uvicorn.run(
        "ssooidc.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=20,
        server_header=False,
    )
    return 0


def demo_assertion(args: argparse.Namespace) -> int:
    settings = _settings(args)
    token = demo.mint_assertion(
        settings, email=args.email, audience=args.audience, lifetime=args.lifetime
    )
    print(token)
    return 0


def migrate(args: argparse.Namespace) -> int:
    from ssooidc.app import open_store

    store, _box = open_store(_settings(args))
    store.migrate()
    store.dispose()
    print("ssooidc: the store is at the newest schema")
    return 0


def export(args: argparse.Namespace) -> int:
    import yaml

    from ssooidc.app import open_store
    from ssooidc.tenant_export import export as export_tenant

    settings = _settings(args)
    store, box = open_store(settings)
    try:
        document = export_tenant(
            store, box, region=settings.region, include_secrets=args.include_secrets
        )
    finally:
        store.dispose()
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    return 0


def read_new_password() -> str:
    """From standard input when it is not a terminal (one line), else prompted twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise SystemExit("ssooidc: the two passwords differ")
    return first


def set_password(args: argparse.Namespace) -> int:
    from ssooidc.app import open_store
    from ssooidc.services import identity_store, passwords
    from ssooidc.services.instance import load_instance

    settings = _settings(args)
    password = read_new_password()
    try:
        hashed = passwords.hash_password(password)
    except ValueError as exc:
        raise SystemExit(f"ssooidc: {exc}") from None
    store, _box = open_store(settings)
    try:
        store.migrate()
        with store.write_sync() as conn:
            instance = load_instance(conn, settings.region)
            user_id = (
                identity_store.find_user_by_name(conn, instance.identity_store_id, args.user_name)
                if instance is not None
                else None
            )
            if user_id is None:
                raise SystemExit(f"ssooidc: no identity-store user is named {args.user_name!r}")
            passwords.set_password_hash(conn, user_id, hashed)
    finally:
        store.dispose()
    print(f"ssooidc: the password of {args.user_name} is set")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssooidc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("serve", help="run the server (bootstraps an empty store)")
    _add_settings(p)
    p.set_defaults(run=serve)
    p = commands.add_parser("migrate", help="bring the store's schema up to date")
    _add_settings(p)
    p.set_defaults(run=migrate)
    p = commands.add_parser("export", help="write the live tenant as YAML that --config reads")
    _add_settings(p)
    p.add_argument("-o", "--output", help="file to write (mode 0600; default: standard output)")
    p.add_argument(
        "--include-secrets",
        action="store_true",
        help="also export IAM secret access keys (the file then holds live credentials)",
    )
    p.set_defaults(run=export)
    u = commands.add_parser("users", help="identity-store users")
    user_commands = u.add_subparsers(dest="users_command", required=True)
    p = user_commands.add_parser(
        "set-password",
        help="set a user's browser sign-in password (stdin when not a terminal, else prompted)",
    )
    _add_settings(p)
    p.add_argument("--user-name", required=True, help="the user's UserName")
    p.set_defaults(run=set_password)
    d = commands.add_parser("demo", help="the demo tenant's helpers")
    demo_commands = d.add_subparsers(dest="demo_command", required=True)
    p = demo_commands.add_parser(
        "assertion", help="mint an assertion from the demo identity provider"
    )
    _add_settings(p)
    p.add_argument(
        "--email", required=True, help="the user's email (alice@example.com, bob@example.com)"
    )
    p.add_argument("--audience", default=demo.AUDIENCE, help="aud claim")
    p.add_argument("--lifetime", type=int, default=300, help="seconds the assertion lives")
    p.set_defaults(run=demo_assertion)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: Any = args.run(args)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
