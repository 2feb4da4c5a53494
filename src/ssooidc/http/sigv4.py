"""SigV4 verification of incoming requests, recomputed with botocore's own canonicalisation.

The canonical request and string to sign come from ``botocore.auth.SigV4Auth`` run on an
``AWSRequest`` rebuilt from what arrived, so a request signed by botocore verifies by
construction. Only two hooks differ from signing: the headers are exactly the ones the caller
listed in ``SignedHeaders`` (not botocore's choice of headers), and the payload hash is
always the SHA-256 of the body that actually arrived (never ``UNSIGNED-PAYLOAD``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote_plus

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from ssooidc.errors import (
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
)
from ssooidc.services.principals import Caller

__all__ = [
    "ALGORITHM",
    "Caller",
    "IncomingRequest",
    "KeyResolver",
    "ParsedAuthorization",
    "ResolvedKey",
    "SigV4Verifier",
    "parse_authorization",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
# Only the path of this URL is read by botocore (headers_to_sign is overridden below, so the
# host part never reaches the canonical request); plain http keeps payload signing on.
_URL_PREFIX = "http://sigv4.invalid"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_ECHO_LIMIT = 64


@dataclass(frozen=True)
class ResolvedKey:
    """The secret behind an access key id, and the principal it belongs to."""

    secret_access_key: str
    caller: Caller


class KeyResolver(Protocol):
    """Looks up an access key; the store implements it."""

    def resolve(self, access_key_id: str, session_token: str | None) -> ResolvedKey:
        """Raises UnrecognizedClient (unknown/inactive key, deleted principal, token mismatch) or ExpiredSessionToken."""
        ...


@dataclass(frozen=True)
class IncomingRequest:
    """A request as received, before any decoding: what SigV4 is computed over."""

    method: str
    path: str
    query_string: str
    headers: Sequence[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class ParsedAuthorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def credential_scope(self) -> str:
        """``date/region/service/terminator``, as in the string to sign."""
        return f"{self.scope_date}/{self.region}/{self.service}/{self.terminator}"


def _echo(value: str) -> str:
    """Caller input quoted back in an error message, bounded in length."""
    return value if len(value) <= _ECHO_LIMIT else value[:_ECHO_LIMIT] + "..."


def parse_authorization(header: str) -> ParsedAuthorization:
    """Split an Authorization header into its SigV4 parts; IncompleteSignature if malformed."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported AWS 'algorithm': '{_echo(algorithm)}'; "
            f"the Authorization header must use {ALGORITHM}."
        )
    params: dict[str, str] = {}
    for part in rest.split(","):
        item = part.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise IncompleteSignature(
                "Invalid key=value pair (missing equal-sign) in Authorization header."
            )
        key = key.strip()
        if key in params:
            raise IncompleteSignature(f"Authorization header repeats the '{_echo(key)}' parameter.")
        params[key] = value.strip()
    missing = [
        name for name in ("Credential", "Signature", "SignedHeaders") if not params.get(name)
    ]
    if missing:
        raise IncompleteSignature(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    credential = params["Credential"]
    elements = credential.split("/")
    if len(elements) != 5 or not all(elements):
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{_echo(credential)}'"
        )
    access_key_id, scope_date, region, service, terminator = elements
    return ParsedAuthorization(
        access_key_id=access_key_id,
        scope_date=scope_date,
        region=region,
        service=service,
        terminator=terminator,
        signed_headers=tuple(params["SignedHeaders"].lower().split(";")),
        signature=params["Signature"],
    )


class _SignedHeaderMap(dict[str, list[str]]):
    """The subset of botocore's HTTPHeaders that SigV4Auth.canonical_headers reads."""

    def get_all(self, name: str) -> list[str]:
        """Every value received under ``name``, in order (botocore joins them with ',')."""
        return self[name]


class _RecomputingSigner(SigV4Auth):  # type: ignore[misc]  # botocore ships no type hints
    """botocore's SigV4Auth, fed the caller's signed headers and the real body hash."""

    def __init__(
        self, service: str, region: str, headers: _SignedHeaderMap, payload_hash: str
    ) -> None:
        super().__init__(None, service, region)
        self._signed = headers
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: Any) -> _SignedHeaderMap:
        """Exactly the headers the caller signed, as received."""
        return self._signed

    def payload(self, request: Any) -> str:
        """The SHA-256 of the body that arrived."""
        return self._payload_hash


def _derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service and the terminator (SigV4 task 3)."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _canonical_query_params(query_string: str) -> list[tuple[str, str]]:
    """Decoded query pairs, so botocore re-encodes them the one canonical way."""
    # '+' is a space: AWSRequest.prepare() sends params form-encoded ("a+b") but signs them
    # as "a%20b"; botocore clients' own URLs escape a literal '+' as %2B.
    if not query_string:
        return []
    pairs = []
    for pair in query_string.split("&"):
        key, _, value = pair.partition("=")
        try:
            pairs.append((unquote_plus(key, errors="strict"), unquote_plus(value, errors="strict")))
        except UnicodeDecodeError:
            # Not UTF-8 once decoded: no SDK signs that; keep the raw text, which then
            # canonicalises differently from whatever the caller signed and fails.
            pairs.append((key, value))
    return pairs


def _header_map(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Received headers by lower-case name, every value kept in order."""
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), []).append(value)
    return by_name


def _amz_timestamp(seconds: float) -> str:
    """Seconds since the epoch in SigV4's basic ISO-8601 format."""
    return time.strftime(_AMZ_DATE_FORMAT, time.gmtime(seconds))


def _parse_amz_date(value: str) -> float:
    """``YYYYMMDDTHHMMSSZ`` to seconds since the epoch; IncompleteSignature if it is not."""
    if _AMZ_DATE.fullmatch(value):
        try:
            return datetime(
                int(value[0:4]),
                int(value[4:6]),
                int(value[6:8]),
                int(value[9:11]),
                int(value[11:13]),
                int(value[13:15]),
                tzinfo=UTC,
            ).timestamp()
        except ValueError:
            pass
    raise IncompleteSignature(
        f"Date must be in ISO-8601 'basic format'. Got '{_echo(value)}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


class SigV4Verifier:
    """Verifies AWS Signature Version 4 on incoming requests for one region."""

    def __init__(
        self,
        *,
        region: str,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: int = 300,
        signing_key_cache_size: int = 1024,
    ) -> None:
        self.region = region
        self._clock = clock
        self._max_skew = max_skew_seconds
        self._signing_key = functools.lru_cache(maxsize=signing_key_cache_size)(_derive_signing_key)

    def signing_key_cache_stats(self) -> tuple[int, int, int]:
        """(hits, misses, current size) of the derived signing key cache."""
        info = self._signing_key.cache_info()
        return info.hits, info.misses, info.currsize

    def verify(
        self, request: IncomingRequest, *, services: Collection[str], resolver: KeyResolver
    ) -> tuple[Caller, str]:
        """The signer, and the credential scope's service (one of ``services``); raises AwsError."""
        headers = _header_map(request.headers)
        authorization = [v for v in headers.get("authorization", ()) if v.strip()]
        if not authorization:
            # Presigned URLs (X-Amz-Algorithm in the query) are not accepted: no SDK presigns
            # these services' calls, so such a request carries no authentication we take.
            raise MissingAuthenticationToken("Missing Authentication Token")
        if len(authorization) > 1:
            raise IncompleteSignature("Only one Authorization header may be sent.")
        auth = parse_authorization(authorization[0])

        if "host" not in auth.signed_headers:
            raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
        if "x-amz-date" not in auth.signed_headers:
            raise IncompleteSignature(
                "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
            )
        date_values = headers.get("x-amz-date")
        if not date_values:
            raise IncompleteSignature(
                "Authorization header requires existence of a 'X-Amz-Date' header."
            )
        amz_date = ",".join(date_values).strip()
        signed_at = _parse_amz_date(amz_date)

        if auth.scope_date != amz_date[:8]:
            raise InvalidSignature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{_echo(auth.scope_date)}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        if auth.region != self.region:
            raise InvalidSignature(
                f"Credential should be scoped to a valid region, not '{_echo(auth.region)}'. "
            )
        if auth.service not in services:
            expected = "', '".join(sorted(services))
            raise InvalidSignature(
                f"Credential should be scoped to correct service: '{expected}'. "
            )
        if auth.terminator != TERMINATOR:
            raise InvalidSignature(
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
                f"not '{_echo(auth.terminator)}'."
            )
        now = self._clock()
        if signed_at < now - self._max_skew:
            raise InvalidSignature(
                f"Signature expired: {amz_date} is now earlier than "
                f"{_amz_timestamp(now - self._max_skew)} "
                f"({_amz_timestamp(now)} - {self._max_skew // 60} min.)"
            )
        if signed_at > now + self._max_skew:
            raise InvalidSignature(
                f"Signature not yet current: {amz_date} is still later than "
                f"{_amz_timestamp(now + self._max_skew)} "
                f"({_amz_timestamp(now)} + {self._max_skew // 60} min.)"
            )

        token_values = headers.get("x-amz-security-token")
        # AWS checks the key before the signature: unknown keys say so, not "mismatch".
        resolved = resolver.resolve(
            auth.access_key_id, ",".join(token_values) if token_values else None
        )

        payload_hash = hashlib.sha256(request.body).hexdigest()
        declared_hash = headers.get("x-amz-content-sha256")
        if declared_hash is not None and ",".join(declared_hash).strip() != payload_hash:
            # Also refuses UNSIGNED-PAYLOAD: every byte of these APIs' bodies is signed.
            raise InvalidSignature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )

        signed = _SignedHeaderMap()
        for name in auth.signed_headers:
            values = headers.get(name)
            if values is not None:  # signed but absent: the recomputed signature will differ
                signed[name] = values
        signer = _RecomputingSigner(auth.service, auth.region, signed, payload_hash)
        rebuilt = AWSRequest(
            method=request.method,
            url=_URL_PREFIX + request.path,
            params=_canonical_query_params(request.query_string),
        )
        rebuilt.context["timestamp"] = amz_date
        string_to_sign: str = signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt))
        key = self._signing_key(
            resolved.secret_access_key, auth.scope_date, auth.region, auth.service
        )
        expected_signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        provided = auth.signature.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected_signature.encode(), provided):
            raise InvalidSignature(_MISMATCH)
        return resolved.caller, auth.service
