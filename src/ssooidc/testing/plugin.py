"""The pytest plugin (entry point ``pytest11``): a real ssooidc server for a test suite, the
environment that points boto3 at it, a trusted test identity provider, and factories that
build isolated tenant objects through the public APIs. ``docs/testing.md`` is the guide.

Loaded in every pytest run where ssooidc is installed, so it imports nothing heavy until a
fixture is used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from ssooidc.testing.endpoint import ENV_CLEARED, Credentials, Endpoint

if TYPE_CHECKING:
    from ssooidc.testing.factories import IsolatedTenant
    from ssooidc.testing.idp import CertificateAuthority
    from ssooidc.testing.issuer import IssuerHost, TrustedIssuer

MODES = ("in-process", "subprocess")
DEFAULT_MODE = "in-process"
_STARTED = pytest.StashKey[Endpoint]()


@dataclass(frozen=True)
class PluginOptions:
    """The plugin's options, each from its command-line flag or else its variable."""

    #: a server started elsewhere; None starts one
    url: str | None
    mode: str
    #: a PostgreSQL server (a new database is made on it) or an SQLite URL; None: SQLite in a
    #: temporary directory
    database_url: str | None
    region: str
    #: a directory keeping the CA of test identity providers (a remote server trusts it)
    ca_dir: Path | None
    issuer_host: str
    serve_args: tuple[str, ...]


#: flag, variable, metavar, help
_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "--ssooidc-url",
        "SSOOIDC_URL",
        "URL",
        "use the ssooidc server at URL instead of starting one",
    ),
    (
        "--ssooidc-mode",
        "SSOOIDC_TEST_MODE",
        "MODE",
        "run the test server in-process (the default) or as a subprocess",
    ),
    (
        "--ssooidc-database-url",
        "SSOOIDC_TEST_DATABASE_URL",
        "URL",
        "the test server's store: postgresql://... (a new database is made there for each "
        "server and dropped after) or sqlite:///...; default SQLite in a temporary directory",
    ),
    ("--ssooidc-region", "SSOOIDC_TEST_REGION", "REGION", "the server's region (us-east-1)"),
    (
        "--ssooidc-ca-dir",
        "SSOOIDC_TEST_CA_DIR",
        "DIR",
        "keep the CA of test identity providers in DIR (a server started elsewhere trusts "
        "its ca.pem)",
    ),
    (
        "--ssooidc-issuer-host",
        "SSOOIDC_TEST_ISSUER_HOST",
        "HOST",
        "the address test identity providers listen on (127.0.0.1)",
    ),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ssooidc", "ssooidc test server")
    for flag, env, metavar, help_text in _OPTIONS:
        kwargs: dict[str, Any] = {
            "default": None,
            "metavar": metavar,
            "help": f"{help_text} [{env}]",
        }
        if flag == "--ssooidc-mode":
            kwargs["choices"] = MODES
        group.addoption(flag, **kwargs)
    parser.addini(
        "ssooidc_serve_args",
        "more `ssooidc serve` options for the test server (e.g. --session-duration 900)",
        type="args",
        default=[],
    )


def options_of(config: pytest.Config) -> PluginOptions:
    """The options in force: flag, else variable, else default."""

    def value(flag: str, env: str) -> str | None:
        given = config.getoption(flag.lstrip("-").replace("-", "_"))
        return str(given) if given else os.environ.get(env) or None

    mode = value("--ssooidc-mode", "SSOOIDC_TEST_MODE") or DEFAULT_MODE
    if mode not in MODES:
        raise pytest.UsageError(f"SSOOIDC_TEST_MODE must be one of {', '.join(MODES)}")
    ca_dir = value("--ssooidc-ca-dir", "SSOOIDC_TEST_CA_DIR")
    return PluginOptions(
        url=value("--ssooidc-url", "SSOOIDC_URL"),
        mode=mode,
        database_url=value("--ssooidc-database-url", "SSOOIDC_TEST_DATABASE_URL"),
        region=value("--ssooidc-region", "SSOOIDC_TEST_REGION") or "us-east-1",
        ca_dir=Path(ca_dir) if ca_dir else None,
        issuer_host=value("--ssooidc-issuer-host", "SSOOIDC_TEST_ISSUER_HOST") or "127.0.0.1",
        serve_args=tuple(config.getini("ssooidc_serve_args")),
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    options = options_of(config)
    if options.url:
        return f"ssooidc: the server at {options.url}"
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    server = config.stash.get(_STARTED, None)
    started_in = getattr(server, "started_in", None)
    if server is not None and started_in is not None:
        terminalreporter.write_line(
            f"ssooidc: {server.mode} test server started in {started_in:.2f} s"
        )


# -- the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ssooidc_options(pytestconfig: pytest.Config) -> PluginOptions:
    """The plugin's options in force."""
    return options_of(pytestconfig)


@pytest.fixture(scope="session")
def ssooidc_database_url(ssooidc_options: PluginOptions) -> str | None:
    """The store the test server is given (override to choose it in a conftest)."""
    return ssooidc_options.database_url


@pytest.fixture(scope="session")
def ssooidc_issuer_ca(
    ssooidc_options: PluginOptions, tmp_path_factory: pytest.TempPathFactory
) -> CertificateAuthority:
    """The CA of the test identity providers; the server started here trusts it."""
    from ssooidc.testing.idp import CertificateAuthority

    if ssooidc_options.ca_dir is not None:
        return CertificateAuthority.load_or_create(ssooidc_options.ca_dir)
    return CertificateAuthority.create(tmp_path_factory.mktemp("ssooidc-ca"))


@pytest.fixture(scope="session")
def ssooidc_server(
    pytestconfig: pytest.Config,
    ssooidc_options: PluginOptions,
    ssooidc_database_url: str | None,
    ssooidc_issuer_ca: CertificateAuthority,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Endpoint]:
    """The ssooidc server of this test session: a fresh one on a free loopback port with a
    store of its own, or the one ``--ssooidc-url`` names."""
    if ssooidc_options.url:
        endpoint = remote_endpoint(ssooidc_options.url, ssooidc_options.region)
        yield endpoint
        endpoint.close()
        return
    from ssooidc.testing.databases import drop_database, is_postgresql, new_database
    from ssooidc.testing.server import InProcessServer, LocalServer, SubprocessServer

    database_url = ssooidc_database_url
    made_database = database_url is not None and is_postgresql(database_url)
    if made_database:
        assert database_url is not None
        database_url = new_database(database_url)
    kind: type[LocalServer] = (
        InProcessServer if ssooidc_options.mode == "in-process" else SubprocessServer
    )
    server = kind(
        tmp_path_factory.mktemp("ssooidc"),
        database_url=database_url,
        issuer_ca=ssooidc_issuer_ca.ca_path,
        region=ssooidc_options.region,
        extra_args=["--allow-http-issuers", *ssooidc_options.serve_args],
    )
    try:
        server.start()
        pytestconfig.stash[_STARTED] = server
        yield server
    finally:
        server.stop()
        if made_database and ssooidc_database_url is not None and database_url is not None:
            drop_database(database_url, ssooidc_database_url)


def remote_endpoint(url: str, region: str) -> Endpoint:
    """A server started elsewhere, administered with the key in ``SSOOIDC_ADMIN_ACCESS_KEY_ID``
    and ``SSOOIDC_ADMIN_SECRET_ACCESS_KEY`` (the variables that chose it at its bootstrap)."""
    key_id = os.environ.get("SSOOIDC_ADMIN_ACCESS_KEY_ID")
    secret = os.environ.get("SSOOIDC_ADMIN_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise pytest.UsageError(
            "--ssooidc-url needs the administrator's key in SSOOIDC_ADMIN_ACCESS_KEY_ID and "
            "SSOOIDC_ADMIN_SECRET_ACCESS_KEY"
        )
    return Endpoint(url, region=region, admin=Credentials(key_id, secret))


# -- the environment ----------------------------------------------------------------------------


class HasCredentials(Protocol):
    @property
    def credentials(self) -> Credentials: ...


class EndpointEnvironment:
    """This test's ``AWS_*`` variables, pointing every client that builds itself at the server;
    put back as they were when the test ends."""

    def __init__(self, server: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self._monkeypatch = monkeypatch
        for name in ENV_CLEARED:
            monkeypatch.delenv(name, raising=False)
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        self._forget_default_session()

    @property
    def url(self) -> str:
        return self.server.url

    def use(self, credentials: Credentials | HasCredentials) -> None:
        """Sign with these credentials (an application's, a role session's) from now on."""
        creds = credentials if isinstance(credentials, Credentials) else credentials.credentials
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            self._monkeypatch.delenv(name, raising=False)
        for name, value in creds.env().items():
            self._monkeypatch.setenv(name, value)
        self._forget_default_session()

    def _forget_default_session(self) -> None:
        """boto3's default session keeps the credentials it found first: start a new one."""
        boto3 = sys.modules.get("boto3")
        if boto3 is not None:
            self._monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture
def ssooidc_endpoint(
    ssooidc_server: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> EndpointEnvironment:
    """For this test, ``AWS_ENDPOINT_URL_<SERVICE>`` for every ssooidc service, the region and
    the administrator's key are set (``use()`` switches keys), so that code that calls
    ``boto3.client("sso-oidc")`` reaches the server untouched."""
    return EndpointEnvironment(ssooidc_server, monkeypatch)


# -- isolated objects ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ssooidc_issuer_host(
    ssooidc_options: PluginOptions,
    ssooidc_issuer_ca: CertificateAuthority,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[IssuerHost]:
    """The HTTPS server of this session's test identity providers (one per test)."""
    from ssooidc.testing.issuer import IssuerHost

    host = IssuerHost(
        tmp_path_factory.mktemp("ssooidc-issuers"),
        ca=ssooidc_issuer_ca,
        host=ssooidc_options.issuer_host,
    )
    with host:
        yield host


@pytest.fixture
def ssooidc_tenant(
    ssooidc_server: Endpoint, ssooidc_issuer_host: IssuerHost
) -> Iterator[IsolatedTenant]:
    """The factories of this test; what they made is deleted when it ends."""
    from ssooidc.testing.factories import IsolatedTenant

    tenant = IsolatedTenant(ssooidc_server, issuer_host=ssooidc_issuer_host)
    yield tenant
    tenant.close()


@pytest.fixture
def trusted_issuer(ssooidc_tenant: IsolatedTenant) -> TrustedIssuer:
    """This test's HTTPS identity provider, trusted by the server as a trusted token issuer
    (``mint``, ``rotate_keys``, ``misbehave``)."""
    return ssooidc_tenant.default_issuer


@pytest.fixture
def identity_user(ssooidc_tenant: IsolatedTenant) -> Callable[..., Any]:
    """``identity_user(user_name=None, *, email=None, groups=(), password=None, ...)``."""
    return ssooidc_tenant.identity_user


@pytest.fixture
def identity_group(ssooidc_tenant: IsolatedTenant) -> Callable[..., Any]:
    """``identity_group(display_name=None, *, members=())``."""
    return ssooidc_tenant.identity_group


@pytest.fixture
def iam_user(ssooidc_tenant: IsolatedTenant) -> Callable[..., Any]:
    """``iam_user(user_name=None, *, policies={})``: an IAM user with an access key."""
    return ssooidc_tenant.iam_user


@pytest.fixture
def iam_role(ssooidc_tenant: IsolatedTenant) -> Callable[..., Any]:
    """``iam_role(role_name=None, *, trusted, actions=("sts:AssumeRole", "sts:SetContext"),
    policy=None)``: a role that ``trusted`` may assume with an identity context."""
    return ssooidc_tenant.iam_role


@pytest.fixture
def tip_application(ssooidc_tenant: IsolatedTenant) -> Callable[..., Any]:
    """``tip_application(name=None, *, grants=..., scopes=..., authorized_targets=...,
    assignment_required=False, assignments=(), callers=(), issuer=None, ...)``."""
    return ssooidc_tenant.tip_application


@pytest.fixture
def assume_role_with_context(ssooidc_tenant: IsolatedTenant) -> Callable[..., Any]:
    """``assume_role_with_context(id_token_or_context, *, caller=None, role=None, ...)``: an
    identity-enhanced role session."""
    return ssooidc_tenant.assume_role_with_context
