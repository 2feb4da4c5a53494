"""Trusted token issuers' signing keys: discovery, JWKS fetch, validation and caching.

Rules kept here (security.md, "Assertions and keys"):

- Discovery is ``<IssuerUrl>/.well-known/openid-configuration`` (one trailing slash of the
  IssuerUrl removed first). Its ``issuer`` must equal the configured IssuerUrl exactly, as
  OpenID Connect Discovery 1.0 section 4.3 and RFC 8414 section 3.3 require: no trailing-slash
  tolerance, because the assertion's ``iss`` is compared exactly too.
- HTTPS only; plain HTTP only with ``allow_http_loopback`` and a loopback host (127.0.0.0/8,
  ::1, ``localhost``). URLs with user information or a fragment are refused. ``jwks_uri`` may
  name another host (Google's does) but obeys the same rules.
- Certificates verified with an ``ssl.SSLContext`` built here: ``SSL_CERT_FILE`` /
  ``SSL_CERT_DIR`` when set, else the system's default store.
- One deadline (``timeout``) covers a whole refresh (discovery and JWKS); bodies are streamed
  and refused past ``max_bytes``; redirects are never followed and count as failures.
- Per issuer: discovery and JWKS cached for ``ttl_seconds``; an unknown ``kid`` causes at most
  one refetch of the JWKS per ``refetch_interval``; a failed fetch is remembered for
  ``negative_ttl`` and answered from memory meanwhile; a failed refetch keeps the previous
  JWKS until its ttl ends, after which the issuer fails closed.
- Concurrent callers for one issuer share one fetch (a lock per issuer); issuers never wait
  on each other.
- JWKS entries with private members, ``use`` other than ``sig``, ``key_ops`` without
  ``verify``, unsupported key types, RSA moduli under 2048 bits or invalid EC points are
  skipped; at most ``MAX_JWKS_KEYS`` entries are read. Keys are parsed once per fetch.

A cache may outlive an event loop: on a new loop it starts a new HTTP client and new locks,
keeping what it has cached; connections are not kept alive (fetches are rare), so none is
left behind on a finished loop. Callers pass only configured IssuerUrls: the per-issuer state is
never evicted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ssooidc.observability import metrics
from ssooidc.services.clock import Clock, SystemClock

log = logging.getLogger(__name__)

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
MAX_JWKS_KEYS = 100

_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
}
_CURVE_BY_NAME = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

#: The key type (and curve) each allowed algorithm needs.
ALG_KEY_TYPES: Mapping[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_WELL_KNOWN = "/.well-known/openid-configuration"
_NEVER = -math.inf


class IssuerKeyError(Exception):
    """A trusted token issuer's key could not be obtained; the message is safe to show."""


def key_fits_alg(public_key: PublicKey, alg: str) -> bool:
    """Whether a public key has the type, curve and size that ``alg`` needs."""
    need = ALG_KEY_TYPES.get(alg)
    if need is None:
        return False
    kty, crv = need
    if kty == "RSA":
        return isinstance(public_key, rsa.RSAPublicKey) and (
            MIN_RSA_BITS <= public_key.key_size <= MAX_RSA_BITS
        )
    return (
        isinstance(public_key, ec.EllipticCurvePublicKey)
        and _CURVE_BY_NAME.get(public_key.curve.name) == crv
    )


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """A verification key from an issuer's JWKS, parsed once."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    public_key: PublicKey = field(repr=False)

    def fits(self, alg: str) -> bool:
        """Whether this key may verify a signature made with ``alg``."""
        if self.alg is not None and self.alg != alg:
            return False
        return key_fits_alg(self.public_key, alg)


@dataclass(frozen=True, slots=True)
class _Jwks:
    keys: tuple[IssuerKey, ...]
    by_kid: Mapping[str, tuple[IssuerKey, ...]]
    skipped: Mapping[str, str]


@dataclass(slots=True)
class _IssuerState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    jwks_uri: str | None = None
    discovery_at: float = _NEVER
    jwks: _Jwks | None = None
    jwks_at: float = _NEVER
    refetch_at: float = _NEVER
    error: str | None = None
    error_at: float = _NEVER


def _short(value: str, limit: int = 64) -> str:
    """A repr of an untrusted string, cut to a readable length."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _b64url_uint(value: Any) -> int | None:
    """A base64url-encoded unsigned big-endian integer, or None when malformed."""
    raw = _b64url_bytes(value)
    if raw is None or not raw:
        return None
    return int.from_bytes(raw, "big")


def _b64url_bytes(value: Any) -> bytes | None:
    """Base64url bytes (padding optional), or None when malformed."""
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def parse_jwk(entry: Any) -> tuple[IssuerKey | None, str | None]:
    """One JWKS entry as an IssuerKey, or None and why it was skipped."""
    if not isinstance(entry, dict):
        return None, "not a JSON object"
    if _PRIVATE_MEMBERS & entry.keys():
        return None, "it carries private key material"
    kty, kid, use, alg = (entry.get(k) for k in ("kty", "kid", "use", "alg"))
    if kid is not None and not isinstance(kid, str):
        return None, "kid is not a string"
    if use is not None and use != "sig":
        return None, "its use is not sig"
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None, "its key_ops do not include verify"
    if alg is not None and alg not in ALG_KEY_TYPES:
        return None, "its alg is not an allowed algorithm"
    if kty == "RSA":
        n, e = _b64url_uint(entry.get("n")), _b64url_uint(entry.get("e"))
        if n is None or e is None:
            return None, "malformed RSA key"
        if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS:
            return None, f"RSA modulus of {n.bit_length()} bits is not allowed"
        try:
            rsa_key = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            return None, "invalid RSA key"
        return IssuerKey(kid, "RSA", None, alg, rsa_key), None
    if kty == "EC":
        crv = entry.get("crv")
        if not isinstance(crv, str) or crv not in _CURVES:
            return None, "unsupported EC curve"
        curve, size = _CURVES[crv]
        x, y = _b64url_bytes(entry.get("x")), _b64url_bytes(entry.get("y"))
        if x is None or y is None or len(x) != size or len(y) != size:
            return None, "malformed EC key"
        try:
            ec_key = ec.EllipticCurvePublicKey.from_encoded_point(curve(), b"\x04" + x + y)
        except ValueError:
            return None, "invalid EC key"
        return IssuerKey(kid, "EC", crv, alg, ec_key), None
    return None, "unsupported key type"


def parse_jwks(document: Any) -> _Jwks:
    """A JWKS document's usable keys, indexed by kid; raises IssuerKeyError when malformed."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IssuerKeyError("JWKS is not a JSON object with a keys list")
    keys: list[IssuerKey] = []
    by_kid: dict[str, list[IssuerKey]] = {}
    skipped: dict[str, str] = {}
    for entry in document["keys"][:MAX_JWKS_KEYS]:
        key, reason = parse_jwk(entry)
        if key is None:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            if isinstance(kid, str) and reason is not None:
                skipped.setdefault(kid, reason)
            continue
        keys.append(key)
        if key.kid is not None:
            by_kid.setdefault(key.kid, []).append(key)
    return _Jwks(
        keys=tuple(keys),
        by_kid={kid: tuple(found) for kid, found in by_kid.items()},
        skipped=skipped,
    )


def _select(jwks: _Jwks, kid: str | None, alg: str) -> tuple[IssuerKey | None, str, bool]:
    """The key for ``kid``/``alg``; else None, why, and whether the kid is simply unknown."""
    if kid is not None:
        candidates = jwks.by_kid.get(kid, ())
        for key in candidates:
            if key.fits(alg):
                return key, "", False
        if candidates:
            return None, f"key {_short(kid)} does not fit algorithm {alg}", False
        if kid in jwks.skipped:
            return None, f"key {_short(kid)} is not usable: {jwks.skipped[kid]}", False
        return None, f"no key with kid {_short(kid)}", True
    usable = [key for key in jwks.keys if key.fits(alg)]
    if len(usable) == 1:
        return usable[0], "", False
    if usable:
        return None, f"assertion has no kid and {len(usable)} keys fit algorithm {alg}", False
    return None, f"no key fits algorithm {alg}", True


def _is_loopback(host: str) -> bool:
    """Whether a URL host is a loopback name or address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(exc: BaseException) -> str:
    """A short, safe description of a transport failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = current.verify_message or "unknown reason"
            return f"TLS certificate verification failed ({reason})"
        if isinstance(current, ssl.SSLError):
            return "TLS handshake failed"
        current = current.__cause__ or current.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    return type(exc).__name__


def default_ssl_context() -> ssl.SSLContext:
    """A verifying context: SSL_CERT_FILE / SSL_CERT_DIR when set, else the system store."""
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    return ssl.create_default_context(cafile=cafile, capath=capath)


def _ssl_context(verify: str | bool | ssl.SSLContext) -> ssl.SSLContext | bool:
    """The httpx ``verify`` value for the constructor's ``verify`` argument."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        return default_ssl_context()
    if verify is False:
        return False
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


class IssuerKeyCache:
    """Fetches, validates and caches the signing keys of trusted token issuers."""

    def __init__(
        self,
        *,
        allow_http_loopback: bool = False,
        timeout: float = 5.0,
        max_bytes: int = 1 << 20,
        ttl_seconds: float = 300.0,
        refetch_interval: float = 60.0,
        negative_ttl: float = 30.0,
        clock: Clock | None = None,
        verify: str | bool | ssl.SSLContext = True,
    ) -> None:
        self._allow_http_loopback = allow_http_loopback
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._refetch_interval = refetch_interval
        self._negative_ttl = negative_ttl
        self._clock: Clock = clock or SystemClock()
        self._verify = _ssl_context(verify)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._issuers: dict[str, _IssuerState] = {}

    def get_key_cached(self, issuer_url: str, kid: str | None, alg: str) -> IssuerKey | None:
        """The key from a fresh cached JWKS, without I/O; None when a fetch would be needed."""
        state = self._issuers.get(issuer_url)
        if state is None or state.jwks is None:
            return None
        if self._clock.now() - state.jwks_at >= self._ttl:
            return None
        key, _, _ = _select(state.jwks, kid, alg)
        return key

    async def get_key(self, issuer_url: str, kid: str | None, alg: str) -> IssuerKey:
        """The issuer's key for ``kid`` and ``alg``, fetching as the rules allow."""
        if alg not in ALG_KEY_TYPES:
            raise IssuerKeyError(f"algorithm {_short(alg)} is not allowed")
        key = self.get_key_cached(issuer_url, kid, alg)
        if key is not None:
            return key
        self._bind_loop()
        state = self._issuers.get(issuer_url)
        if state is None:
            self._check_url(issuer_url, "IssuerUrl")
            state = self._issuers.setdefault(issuer_url, _IssuerState())
        async with state.lock:
            now = self._clock.now()
            fetched = False
            if state.jwks is None or now - state.jwks_at >= self._ttl:
                await self._refresh(state, issuer_url, now)
                fetched = True
            assert state.jwks is not None
            key, problem, unknown = _select(state.jwks, kid, alg)
            if key is not None:
                return key
            if unknown and not fetched and now - state.refetch_at >= self._refetch_interval:
                state.refetch_at = now
                await self._refresh(state, issuer_url, now)
                key, problem, unknown = _select(state.jwks, kid, alg)
                if key is not None:
                    return key
            elif unknown and fetched:
                state.refetch_at = now
            raise IssuerKeyError(f"{problem} in the JWKS of issuer {issuer_url}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _bind_loop(self) -> None:
        """Start a new HTTP client and new locks when called from a new event loop."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        self._loop, self._client = loop, None
        for state in self._issuers.values():
            state.lock = asyncio.Lock()

    def _check_url(self, url: str, what: str) -> None:
        """Refuse a URL that is not HTTPS (or allowed loopback HTTP)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise IssuerKeyError(f"{what} {_short(url)} is not a valid URL") from None
        if not parsed.host:
            raise IssuerKeyError(f"{what} {_short(url)} has no host")
        if parsed.userinfo or parsed.fragment:
            raise IssuerKeyError(f"{what} {_short(url)} must not carry credentials or a fragment")
        if parsed.scheme == "https":
            return
        if parsed.scheme == "http" and self._allow_http_loopback and _is_loopback(parsed.host):
            return
        if parsed.scheme == "http" and _is_loopback(parsed.host):
            raise IssuerKeyError(
                f"{what} {_short(url)} uses http, allowed on loopback in development mode only"
            )
        raise IssuerKeyError(f"{what} {_short(url)} is not an https URL")

    async def _refresh(self, state: _IssuerState, issuer_url: str, now: float) -> None:
        """Fetch discovery (when stale) and the JWKS into ``state``; failures are remembered."""
        if state.error is not None and now - state.error_at < self._negative_ttl:
            raise IssuerKeyError(state.error)
        try:
            async with asyncio.timeout(self._timeout):
                if state.jwks_uri is None or now - state.discovery_at >= self._ttl:
                    metrics.issuer_fetch(issuer_url, "discovery")
                    state.jwks_uri = await self._discover(issuer_url)
                    state.discovery_at = now
                metrics.issuer_fetch(issuer_url, "jwks")
                jwks = parse_jwks(await self._get_json(state.jwks_uri, "JWKS"))
        except TimeoutError:
            message = f"fetching the keys of issuer {issuer_url} timed out after {self._timeout} s"
        except IssuerKeyError as exc:
            message = f"{exc} (issuer {issuer_url})"
        else:
            state.jwks, state.jwks_at = jwks, now
            state.error, state.error_at = None, _NEVER
            return
        log.warning("trusted token issuer keys unavailable: %s", message)
        metrics.issuer_fetch_failed(issuer_url)
        state.error, state.error_at = message, now
        raise IssuerKeyError(message)

    async def _discover(self, issuer_url: str) -> str:
        """The ``jwks_uri`` of a discovery document whose ``issuer`` matches exactly."""
        base = issuer_url.removesuffix("/")
        document = await self._get_json(base + _WELL_KNOWN, "discovery document")
        issuer = document.get("issuer")
        if issuer != issuer_url:
            shown = _short(issuer) if isinstance(issuer, str) else "missing"
            raise IssuerKeyError(f"discovery document issuer {shown} does not match the IssuerUrl")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise IssuerKeyError("discovery document has no jwks_uri")
        self._check_url(jwks_uri, "jwks_uri")
        return jwks_uri

    def _http(self) -> httpx.AsyncClient:
        """The shared HTTP client, created on first use."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=self._verify,
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                limits=httpx.Limits(max_keepalive_connections=0),
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
            )
        return self._client

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        """GET a JSON object with the size limit; no redirects; raises IssuerKeyError."""
        self._check_url(url, what)
        body = bytearray()
        try:
            async with self._http().stream("GET", url) as response:
                status = response.status_code
                if 300 <= status < 400:
                    raise IssuerKeyError(
                        f"{what} at {url} answered a redirect (HTTP {status}); "
                        "redirects are not followed"
                    )
                if status != 200:
                    raise IssuerKeyError(f"{what} at {url} answered HTTP {status}")
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self._max_bytes:
                    raise IssuerKeyError(f"{what} at {url} exceeds {self._max_bytes} bytes")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise IssuerKeyError(f"{what} at {url} exceeds {self._max_bytes} bytes")
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError) as exc:
            raise IssuerKeyError(f"could not fetch {what} from {url}: {_describe(exc)}") from None
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise IssuerKeyError(f"{what} at {url} is not valid JSON") from None
        if not isinstance(document, dict):
            raise IssuerKeyError(f"{what} at {url} is not a JSON object")
        return document
