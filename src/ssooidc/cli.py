"""The ``ssooidc`` command: serve, migrate, export, keys, users set-password, demo assertion."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag

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


WRONG_KEY = (
    "the at-rest key does not open this store's secrets: start with the key the store was "
    "made with (SSOOIDC_AT_REST_KEY or --at-rest-key-file; every instance of one store "
    "needs the same key)"
)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name, _ in options()}
    try:
        return settings_from(overrides)
    except ValueError as exc:
        raise SystemExit(f"ssooidc: {exc}") from None


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ssooidc.app import open_store, prepare_serving, prepare_store
    from ssooidc.tenant import TenantError

    settings = _settings(args)
    prepare_serving(settings)
    store, box = open_store(settings)
    try:
        started = prepare_store(settings, store, box)
    except TenantError as exc:
        print(f"ssooidc: the tenant file was not applied: {exc}", file=sys.stderr)
        return 2
    except InvalidTag:
        print(f"ssooidc: {WRONG_KEY}", file=sys.stderr)
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
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=20,
        server_header=False,
        log_config=None,  # uvicorn's records go through ours (--log-format)
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
    with store.startup_lock():
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


def backup(args: argparse.Namespace) -> int:
    from ssooidc.ops.backup import BackupError, backup_sqlite, check_key, sqlite_file

    settings = _settings(args)
    try:
        source = sqlite_file(settings.store_url)
        if source is None:
            raise SystemExit(
                "ssooidc: backup copies a SQLite store; back up PostgreSQL with pg_dump"
            )
        size = backup_sqlite(source, Path(args.output))
    except BackupError as exc:
        raise SystemExit(f"ssooidc: {exc}") from None
    print(f"ssooidc: {source} copied to {args.output} ({size} bytes, as of one commit)")
    check = check_key(Path(args.output), settings.key_file)
    print(f"ssooidc: {check.detail}")
    print(
        "ssooidc: the at-rest key is not in the copy: keep it "
        f"(SSOOIDC_AT_REST_KEY or {settings.key_file}) with the backup, stored apart from it"
    )
    return 1 if check.outcome == "does-not-open" else 0


def purge(args: argparse.Namespace) -> int:
    """Remove expired rows now (every server also does it every --purge-interval seconds)."""
    import time

    from ssooidc.services.purge import purge_expired
    from ssooidc.store.engine import Store

    settings = _settings(args)
    store = Store(settings.store_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        report = purge_expired(store, time.time())
    finally:
        store.dispose()
    print(f"ssooidc: purged {report.total} expired rows ({report.summary()})")
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


def keys_command(args: argparse.Namespace) -> int:
    """``ssooidc keys list | rotate | revoke``: the ID-token signing keys every instance shares."""
    import time

    from ssooidc.app import open_store
    from ssooidc.services import keys

    settings = _settings(args)
    store, box = open_store(settings)
    now = time.time()
    try:
        with store.startup_lock():
            store.migrate()
        if args.keys_command == "rotate":
            prepublish = 0.0 if args.now else keys.PREPUBLISH
            with store.write_sync() as conn:
                key = keys.rotate(
                    conn,
                    box,
                    purpose=keys.ID_TOKEN,
                    alg=args.alg or settings.id_token_alg,
                    now=now,
                    prepublish=prepublish,
                )
            print(f"ssooidc: new key {key.kid} ({key.alg}) is published and signs ", end="")
            print("now" if args.now else f"in {int(prepublish)} s")
        elif args.keys_command == "revoke":
            try:
                with store.write_sync() as conn:
                    done = keys.revoke(conn, args.kid, now)
            except ValueError as exc:
                raise SystemExit(f"ssooidc: {exc}") from None
            if not done:
                raise SystemExit(f"ssooidc: no unrevoked key has the id {args.kid!r}")
            print(f"ssooidc: key {args.kid} is revoked: it signs no more and is unpublished")
        else:
            with store.read() as conn:
                schedule = keys.key_schedule(conn, keys.ID_TOKEN)
            shown = {k.kid for k in keys.published(schedule, now, keys.TOKEN_LIFETIME)}
            signing = keys.signing_kid(schedule, now)
            print(f"{'kid':32}  alg    state      active from (UTC)")
            for info in schedule:
                state = (
                    "signing"
                    if info.kid == signing
                    else "revoked"
                    if info.retired_at is not None
                    else "next"
                    if info.active_from > now
                    else "published"
                    if info.kid in shown
                    else "expired"
                )
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(info.active_from))
                print(f"{info.kid:32}  {info.alg:5}  {state:9}  {when}")
    except InvalidTag:
        raise SystemExit(f"ssooidc: {WRONG_KEY}") from None
    finally:
        store.dispose()
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
    p = commands.add_parser(
        "backup", help="copy the SQLite store while the server runs (PostgreSQL: pg_dump)"
    )
    _add_settings(p)
    p.add_argument("-o", "--output", required=True, help="file to write (mode 0600)")
    p.set_defaults(run=backup)
    p = commands.add_parser("purge", help="remove expired tokens, codes, sessions and the like now")
    _add_settings(p)
    p.set_defaults(run=purge)
    u = commands.add_parser("users", help="identity-store users")
    user_commands = u.add_subparsers(dest="users_command", required=True)
    p = user_commands.add_parser(
        "set-password",
        help="set a user's browser sign-in password (stdin when not a terminal, else prompted)",
    )
    _add_settings(p)
    p.add_argument("--user-name", required=True, help="the user's UserName")
    p.set_defaults(run=set_password)
    k = commands.add_parser("keys", help="the ID-token signing keys: list, rotate, revoke")
    key_commands = k.add_subparsers(dest="keys_command", required=True)
    p = key_commands.add_parser("list", help="every key, and which signs now")
    _add_settings(p)
    p.set_defaults(run=keys_command)
    p = key_commands.add_parser(
        "rotate",
        help="a new key, published at once, signing after the JWKS cache time (300 s) "
        "or at once with --now; the old key stays published while its tokens live",
    )
    _add_settings(p)
    p.add_argument("--now", action="store_true", help="sign with the new key at once")
    p.add_argument("--alg", choices=("ES256", "RS256"), help="default: --id-token-alg")
    p.set_defaults(run=keys_command)
    p = key_commands.add_parser(
        "revoke", help="stop a key at once: no more signing, gone from the JWKS"
    )
    _add_settings(p)
    p.add_argument("kid", help="the key's id (`ssooidc keys list`)")
    p.set_defaults(run=keys_command)
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
