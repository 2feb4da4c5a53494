"""The instance's settings: every ``ssooidc serve`` option, each with its ``SSOOIDC_*`` variable."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIN_SESSION = 15 * 60
MAX_SESSION = 90 * 24 * 3600


@dataclass(frozen=True)
class Option:
    """How one setting appears on the command line and in the environment."""

    flag: str
    env: str
    help: str
    kind: type = str
    choices: tuple[str, ...] | None = None


def _opt(flag: str, help: str, kind: type = str, choices: tuple[str, ...] | None = None) -> Any:
    env = "SSOOIDC_" + flag.lstrip("-").replace("-", "_").upper()
    return field(metadata={"option": Option(flag, env, help, kind, choices)})


@dataclass(frozen=True)
class Settings:
    """Everything an instance is started with; the same in every worker process."""

    host: str = _opt("--host", "address to listen on (default 127.0.0.1)")
    port: int = _opt("--port", "port for every API (default 8080)", int)
    data_dir: str = _opt("--data-dir", "state directory: SQLite file, credentials, at-rest key")
    database_url: str | None = _opt(
        "--database-url", "sqlite:///... or postgresql://... (default: SQLite in the data dir)"
    )
    region: str = _opt("--region", "region accepted in SigV4 credential scopes")
    account_id: str = _opt("--account-id", "the AWS account id the instance lives in")
    issuer_url: str | None = _opt(
        "--issuer-url", "public base URL clients reach (default http://<host>:<port>)"
    )
    workers: int = _opt("--workers", "worker processes (default 1)", int)
    forwarded_allow_ips: str = _opt(
        "--forwarded-allow-ips",
        "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: "
        "comma-separated addresses or networks, * for any (default 127.0.0.1)",
    )
    config: str | None = _opt("--config", "tenant YAML file applied at start")
    demo: bool = _opt("--demo", "load the demo tenant and its development identity provider", bool)
    allow_http_issuers: bool = _opt(
        "--allow-http-issuers", "development mode: accept plain-HTTP loopback issuers", bool
    )
    session_duration: int = _opt(
        "--session-duration", "token family lifetime in seconds (900 to 7776000; default 8 h)", int
    )
    refresh_reuse_grace_iam: int = _opt(
        "--refresh-reuse-grace-iam",
        "seconds a rotated refresh token may be presented again to CreateTokenWithIAM (default 0)",
        int,
    )
    refresh_reuse_grace_public: int = _opt(
        "--refresh-reuse-grace-public",
        "seconds a rotated refresh token may be presented again to CreateToken (default 30)",
        int,
    )
    public_client_rate: int = _opt(
        "--public-client-rate",
        "RegisterClient and StartDeviceAuthorization calls a minute per client address, "
        "per worker (default 20; 0 = no limit)",
        int,
    )
    login_max_failures: int = _opt(
        "--login-max-failures",
        "failed browser sign-ins per user name before it is locked (default 5; 0 = never)",
        int,
    )
    login_max_failures_per_address: int = _opt(
        "--login-max-failures-per-address",
        "failed browser sign-ins per client address before it is locked (default 20; 0 = never)",
        int,
    )
    login_lockout: int = _opt(
        "--login-lockout", "seconds a locked user name or address stays locked (default 900)", int
    )
    login_failure_delay_ms: int = _opt(
        "--login-failure-delay-ms",
        "milliseconds a failed browser sign-in waits before it answers (default 500)",
        int,
    )
    device_entry_rate: int = _opt(
        "--device-entry-rate",
        "user codes looked up on the device page a minute per client address (default 20)",
        int,
    )
    id_token_alg: str = _opt(
        "--id-token-alg", "ID token signature algorithm", str, ("ES256", "RS256")
    )
    key_rotation_interval: int = _opt(
        "--key-rotation-interval",
        "seconds an ID-token signing key signs before a new one takes over "
        "(default 90 days; 0 = rotate only with `ssooidc keys rotate`)",
        int,
    )
    sqlite_synchronous: str = _opt(
        "--sqlite-synchronous", "SQLite synchronous level", str, ("NORMAL", "FULL", "EXTRA")
    )
    at_rest_key_file: str | None = _opt(
        "--at-rest-key-file",
        "file with the key that encrypts secrets at rest (default <data-dir>/at-rest.key); "
        "SSOOIDC_AT_REST_KEY may carry the key itself",
    )
    log_level: str = _opt("--log-level", "log level", str, ("debug", "info", "warning", "error"))
    log_format: str = _opt(
        "--log-format", "log lines: one JSON object each, or plain text", str, ("json", "text")
    )
    purge_interval: int = _opt(
        "--purge-interval",
        "seconds between purges of expired rows, in each worker (default 300; 0 = never)",
        int,
    )

    @property
    def development(self) -> bool:
        """Development mode: plain-HTTP loopback issuers are accepted."""
        return self.demo or self.allow_http_issuers

    @property
    def public_url(self) -> str:
        if self.issuer_url:
            return self.issuer_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'ssooidc.db'}"

    @property
    def key_file(self) -> Path:
        return Path(self.at_rest_key_file or Path(self.data_dir) / "at-rest.key")

    def to_env(self) -> dict[str, str]:
        """The settings as ``SSOOIDC_*`` variables, to hand them to worker processes."""
        env: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            env[f.metadata["option"].env] = str(value)
        return env


DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8080,
    "data_dir": ".ssooidc",
    "database_url": None,
    "region": "us-east-1",
    "account_id": "111122223333",
    "issuer_url": None,
    "workers": 1,
    "forwarded_allow_ips": "127.0.0.1",
    "config": None,
    "demo": False,
    "allow_http_issuers": False,
    "session_duration": 8 * 3600,
    "refresh_reuse_grace_iam": 0,
    "refresh_reuse_grace_public": 30,
    "public_client_rate": 20,
    "login_max_failures": 5,
    "login_max_failures_per_address": 20,
    "login_lockout": 900,
    "login_failure_delay_ms": 500,
    "device_entry_rate": 20,
    "id_token_alg": "ES256",
    "key_rotation_interval": 90 * 24 * 3600,
    "sqlite_synchronous": "NORMAL",
    "at_rest_key_file": None,
    "log_level": "info",
    "log_format": "json",
    "purge_interval": 300,
}


def options() -> list[tuple[str, Option]]:
    return [(f.name, f.metadata["option"]) for f in dataclasses.fields(Settings)]


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def settings_from(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Defaults, then ``SSOOIDC_*`` variables, then explicit values (command-line options)."""
    environ = dict(os.environ) if environ is None else environ
    values = dict(DEFAULTS)
    for name, opt in options():
        raw = environ.get(opt.env)
        if raw is None:
            continue
        try:
            values[name] = parse_bool(raw) if opt.kind is bool else opt.kind(raw)
        except ValueError as exc:
            raise ValueError(f"{opt.env}: {exc}") from None
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    for name, opt in options():
        value = getattr(settings, name)
        if opt.choices and value not in opt.choices:
            raise ValueError(f"{opt.flag} must be one of {', '.join(opt.choices)}")
    if not MIN_SESSION <= settings.session_duration <= MAX_SESSION:
        raise ValueError("--session-duration must be between 900 and 7776000 seconds")
    if not (len(settings.account_id) == 12 and settings.account_id.isdigit()):
        raise ValueError("--account-id must be 12 digits")
    if settings.workers < 1:
        raise ValueError("--workers must be at least 1")
    if settings.refresh_reuse_grace_iam < 0 or settings.refresh_reuse_grace_public < 0:
        raise ValueError("refresh reuse grace must not be negative")
    if settings.key_rotation_interval != 0 and settings.key_rotation_interval < 3600:
        raise ValueError("--key-rotation-interval must be 0 (off) or at least 3600 seconds")
    if settings.public_client_rate < 0:
        raise ValueError("--public-client-rate must not be negative")
    if settings.purge_interval < 0:
        raise ValueError("--purge-interval must not be negative")
    for name in (
        "login_max_failures",
        "login_max_failures_per_address",
        "login_lockout",
        "login_failure_delay_ms",
        "device_entry_rate",
    ):
        if getattr(settings, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must not be negative")
