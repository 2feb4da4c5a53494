"""A test identity provider: its own CA, an HTTPS discovery document and JWKS, minted JWTs.

``TestIdentityProvider`` serves ``/.well-known/openid-configuration`` and ``/jwks`` from a
uvicorn thread, over HTTPS with a certificate from a ``CertificateAuthority`` written to
``ca.pem``. It mints assertions signed with its current key, and offers knobs that make it
misbehave on purpose (``delay``, ``fail_status``, ``redirects``, ``jwks_padding``,
``stream_responses``, ``discovery_overrides``, ``extra_jwks``) so that a client's refusals
can be tested.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["CertificateAuthority", "SigningKey", "TestIdentityProvider"]

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
_EC_CURVES: dict[str, tuple[str, ec.EllipticCurve, int]] = {
    "ES256": ("P-256", ec.SECP256R1(), 32),
    "ES384": ("P-384", ec.SECP384R1(), 48),
    "ES512": ("P-521", ec.SECP521R1(), 66),
}
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_CA_KEY_FILE = "ca-key.pem"


def _b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int, length: int | None = None) -> str:
    """An unsigned integer as unpadded base64url, big-endian, optionally fixed-length."""
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(size, "big"))


def _json_segment(value: Mapping[str, Any]) -> str:
    """A JSON object as a compact JWS segment."""
    return _b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _utcnow() -> dt.datetime:
    """The current time, UTC."""
    return dt.datetime.now(dt.UTC)


class CertificateAuthority:
    """A throwaway CA (EC P-256) that issues server certificates for loopback hosts."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, ca_path: Path):
        self._key = key
        self.certificate = cert
        self.ca_path = ca_path

    @classmethod
    def load_or_create(cls, directory: Path) -> CertificateAuthority:
        """The CA kept in ``directory`` (``ca.pem``, ``ca-key.pem``), made there when missing
        or within a month of its end.

        A server started apart from the tests (``SSL_CERT_FILE=<directory>/ca.pem``) then
        trusts every identity provider that later test runs start with this CA."""
        cert_path, key_path = directory / "ca.pem", directory / _CA_KEY_FILE
        if cert_path.exists() and key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} does not hold an EC private key")
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if cert.not_valid_after_utc > _utcnow() + dt.timedelta(days=31):
                return cls(key, cert, cert_path)
        made = cls.create(directory)
        _write_private_key(key_path, made._key)
        return made

    @classmethod
    def create(cls, directory: Path) -> CertificateAuthority:
        """Make a CA and write its certificate to ``directory/ca.pem``."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ssooidc test CA")])
        now = _utcnow()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        ca_path = directory / "ca.pem"
        ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, ca_path)

    def issue_server_cert(
        self, directory: Path, hosts: Iterable[str] = ("127.0.0.1", "localhost")
    ) -> tuple[Path, Path]:
        """Issue a server certificate for ``hosts`` (IPs and DNS names); returns cert, key."""
        directory.mkdir(parents=True, exist_ok=True)
        hosts = list(hosts)
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        key = ec.generate_private_key(ec.SECP256R1())
        now = _utcnow()
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        stem = secrets.token_hex(4)
        cert_path = directory / f"server-{stem}.pem"
        key_path = directory / f"server-{stem}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private_key(key_path, key)
        return cert_path, key_path


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """A private key as unencrypted PKCS#8 PEM in a file only its owner may read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


class SigningKey:
    """An issuer's private signing key with its kid and its public JWK."""

    def __init__(
        self, alg: str, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str
    ) -> None:
        self.alg = alg
        self.private_key = private_key
        self.kid = kid

    @classmethod
    def generate(cls, alg: str = "RS256", kid: str | None = None) -> SigningKey:
        """A new key for ``alg`` (RSA 2048 for RS*/PS*, the matching curve for ES*)."""
        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if alg in _RSA_ALGS:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg in _EC_CURVES:
            private_key = ec.generate_private_key(_EC_CURVES[alg][1])
        else:
            raise ValueError(f"unsupported algorithm {alg}")
        return cls(alg, private_key, kid or secrets.token_urlsafe(8))

    @property
    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        """The public half."""
        return self.private_key.public_key()

    def public_jwk(self, **members: Any) -> dict[str, Any]:
        """The public JWK (with ``kid``, ``use`` and ``alg``), extra members merged in."""
        jwk: dict[str, Any] = {"kid": self.kid, "use": "sig", "alg": self.alg}
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            jwk.update(kty="RSA", n=_b64url_uint(numbers.n), e=_b64url_uint(numbers.e))
        else:
            crv, _, size = _EC_CURVES[self.alg]
            point = public.public_numbers()
            jwk.update(
                kty="EC", crv=crv, x=_b64url_uint(point.x, size), y=_b64url_uint(point.y, size)
            )
        jwk.update(members)
        return jwk

    def private_jwk(self) -> dict[str, Any]:
        """The JWK with its private members, as a careless issuer might publish it."""
        jwk = self.public_jwk()
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            numbers = self.private_key.private_numbers()
            jwk.update(
                d=_b64url_uint(numbers.d),
                p=_b64url_uint(numbers.p),
                q=_b64url_uint(numbers.q),
                dp=_b64url_uint(numbers.dmp1),
                dq=_b64url_uint(numbers.dmq1),
                qi=_b64url_uint(numbers.iqmp),
            )
        else:
            size = _EC_CURVES[self.alg][2]
            jwk["d"] = _b64url_uint(self.private_key.private_numbers().private_value, size)
        return jwk

    def sign(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], alg: str | None = None
    ) -> str:
        """A compact JWS; ``alg`` none gives no signature, HS* an HMAC keyed by the public PEM."""
        alg = alg or self.alg
        signing_input = f"{_json_segment(header)}.{_json_segment(claims)}".encode("ascii")
        if alg == "none":
            signature = b""
        elif alg.startswith("HS"):
            secret = self.public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
            signature = hmac.new(secret, signing_input, digest[alg]).digest()
        elif alg in _RSA_ALGS and isinstance(self.private_key, rsa.RSAPrivateKey):
            digest_alg = _HASHES[alg[2:]]
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(digest_alg), salt_length=digest_alg.digest_size)
            )
            signature = self.private_key.sign(signing_input, pad, digest_alg)
        elif alg in _EC_CURVES and isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            _, curve, size = _EC_CURVES[alg]
            if self.private_key.curve.name != curve.name:
                raise ValueError(f"{alg} needs curve {curve.name}")
            der = self.private_key.sign(signing_input, ec.ECDSA(_HASHES[alg[2:]]))
            r, s = decode_dss_signature(der)
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        else:
            raise ValueError(f"a {self.alg} key cannot sign {alg}")
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"


class TestIdentityProvider:
    """An OpenID provider on loopback HTTPS that publishes a JWKS and mints assertions."""

    __test__ = False

    def __init__(
        self,
        directory: Path,
        *,
        alg: str = "RS256",
        ca: CertificateAuthority | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
    ) -> None:
        self.directory = directory
        self.alg = alg
        self.ca = ca or CertificateAuthority.create(directory)
        self.host = host
        self.port = port
        self.tls = tls
        self._first_key = SigningKey.generate(alg)
        self._count_lock = threading.Lock()
        self.keys: list[SigningKey] = []
        self.delay = 0.0
        self.fail_status: int | None = None
        self.redirects: dict[str, str] = {}
        self.jwks_padding = 0
        self.stream_responses = False
        self.discovery_overrides: dict[str, Any] = {}
        self.extra_jwks: list[dict[str, Any]] = []
        self.fetch_count = 0
        self.discovery_count = 0
        self.reset()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        #: the issuer URL when another server serves this provider's ``app()`` (IssuerHost)
        self.mounted_at: str | None = None
        self._socket: socket.socket | None = None

    def reset(self) -> None:
        """Back to the first key, well-behaved, counters at zero (for a shared provider)."""
        self.keys = [self._first_key]
        self.delay = 0.0
        self.fail_status = None
        self.redirects = {}
        self.jwks_padding = 0
        self.stream_responses = False
        self.discovery_overrides = {}
        self.extra_jwks = []
        with self._count_lock:
            self.fetch_count = 0
            self.discovery_count = 0

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM) that verifies this provider."""
        return self.ca.ca_path

    @property
    def issuer_url(self) -> str:
        """``https://<host>:<port>``; the port is known once started."""
        if self.mounted_at is not None:
            return self.mounted_at
        if self._socket is None:
            raise RuntimeError("the identity provider is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def jwks_url(self) -> str:
        """Where the JWKS is served."""
        return f"{self.issuer_url}/jwks"

    @property
    def signing_key(self) -> SigningKey:
        """The key that mints new assertions."""
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        """The JWKS document as served."""
        document: dict[str, Any] = {
            "keys": [key.public_jwk() for key in self.keys] + list(self.extra_jwks)
        }
        if self.jwks_padding:
            document["padding"] = "x" * self.jwks_padding
        return document

    def discovery(self) -> dict[str, Any]:
        """The discovery document as served."""
        issuer = self.issuer_url
        document: dict[str, Any] = {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/jwks",
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        }
        document.update(self.discovery_overrides)
        return document

    def rotate_keys(self, *, keep_old: bool = False) -> SigningKey:
        """Make a new current key; the old ones leave the JWKS unless ``keep_old``."""
        key = SigningKey.generate(self.alg)
        self.keys = [*self.keys, key] if keep_old else [key]
        return key

    def mint(
        self,
        *,
        subject: str = "user",
        email: str | None = None,
        audience: str | list[str] = "app",
        lifetime: int = 300,
        issued_at: float | None = None,
        not_before: float | None = None,
        jti: str | None = None,
        kid: str | None = None,
        alg: str | None = None,
        extra_headers: Mapping[str, Any] | None = None,
        key: SigningKey | None = None,
        **claims: Any,
    ) -> str:
        """A signed assertion; ``claims`` are merged last and a None value removes a claim.

        ``key`` signs instead of the current key (one not in the JWKS makes an unknown key)."""
        iat = int(time.time()) if issued_at is None else issued_at
        body: dict[str, Any] = {
            "iss": self.issuer_url,
            "sub": subject,
            "aud": audience,
            "iat": iat,
            "exp": iat + lifetime,
            "jti": jti or uuid.uuid4().hex,
        }
        if email is not None:
            body["email"] = email
        if not_before is not None:
            body["nbf"] = not_before
        body.update(claims)
        key = key or self.signing_key
        header: dict[str, Any] = {"alg": alg or key.alg, "typ": "JWT", "kid": kid or key.kid}
        header.update(extra_headers or {})
        return key.sign(
            {k: v for k, v in header.items() if v is not None},
            {k: v for k, v in body.items() if v is not None},
            alg=alg,
        )

    def app(self) -> Starlette:
        """The ASGI app that serves discovery and the JWKS, for a server of one's own."""
        return self._app()

    def _app(self) -> Starlette:
        """The Starlette application serving discovery and the JWKS."""

        async def answer(request: Request, document: dict[str, Any]) -> Response:
            if self.delay:
                await asyncio.sleep(self.delay)
            location = self.redirects.get(request.url.path)
            if location is not None:
                return RedirectResponse(location, status_code=302)
            if self.fail_status is not None:
                return JSONResponse({"error": "failing on purpose"}, self.fail_status)
            if self.stream_responses:
                body = json.dumps(document).encode("utf-8")
                chunks = (body[i : i + 16384] for i in range(0, len(body), 16384))
                return StreamingResponse(iter(chunks), media_type="application/json")
            return JSONResponse(document)

        async def discovery(request: Request) -> Response:
            with self._count_lock:
                self.discovery_count += 1
            return await answer(request, self.discovery())

        async def jwks(request: Request) -> Response:
            with self._count_lock:
                self.fetch_count += 1
            return await answer(request, self.jwks())

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
            ]
        )

    def start(self) -> None:
        """Serve in a background thread and return once it accepts connections."""
        if self._server is not None or self.mounted_at is not None:
            raise RuntimeError("the identity provider is already served")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family)
        # Accepted connections inherit this: without it a response written in two parts (head,
        # body) waits for the client's delayed ACK, some 40 ms a request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = sock.getsockname()[1]
        self._socket = sock
        tls_files: dict[str, Any] = {}
        if self.tls:
            cert, key = self.ca.issue_server_cert(self.directory, hosts=(self.host, "localhost"))
            tls_files = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            timeout_graceful_shutdown=1,
            **tls_files,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="test-idp", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the identity provider did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        if sock is not None:
            sock.close()

    def __enter__(self) -> TestIdentityProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
