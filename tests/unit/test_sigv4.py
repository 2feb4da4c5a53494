"""SigV4 verification against requests signed by real botocore."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence
from hypothesis import given
from hypothesis import strategies as st

from ssooidc.errors import (
    ExpiredSessionToken,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)
from ssooidc.http.sigv4 import (
    Caller,
    IncomingRequest,
    ResolvedKey,
    SigV4Verifier,
    parse_authorization,
)

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNED_AT = datetime.datetime(2026, 5, 17, 12, 30, 45, tzinfo=datetime.UTC)
NOW = SIGNED_AT.timestamp()
REGION = "us-east-1"
OIDC = {"sso-oauth"}
CALLER = Caller(
    access_key_id=ACCESS_KEY,
    principal_arn="arn:aws:iam::111122223333:user/alice",
    account="111122223333",
    user_name="alice",
)
SESSION_CALLER = Caller(
    access_key_id="ASIAEXAMPLESESSION01",
    principal_arn="arn:aws:sts::111122223333:assumed-role/app/sess",
    account="111122223333",
    role_arn="arn:aws:iam::111122223333:role/app",
    session_context="ctx-1",
)


class FakeResolver:
    """Knows one key (and optionally one session token); records every lookup."""

    def __init__(
        self,
        secret: str = SECRET,
        caller: Caller = CALLER,
        *,
        token: str | None = None,
        error: Exception | None = None,
    ) -> None:
        self.secret = secret
        self.caller = caller
        self.token = token
        self.error = error
        self.calls: list[tuple[str, str | None]] = []

    def resolve(self, access_key_id: str, session_token: str | None) -> ResolvedKey:
        self.calls.append((access_key_id, session_token))
        if self.error is not None:
            raise self.error
        if access_key_id != self.caller.access_key_id or session_token != self.token:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        return ResolvedKey(secret_access_key=self.secret, caller=self.caller)


def sign(
    method: str = "POST",
    url: str = "http://localhost:8080/token?aws_iam=t",
    *,
    body: bytes | Mapping[str, str] = b'{"clientId":"c"}',
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    service: str = "sso-oauth",
    region: str = REGION,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET,
    token: str | None = None,
    at: datetime.datetime = SIGNED_AT,
    signer: type[botocore.auth.SigV4Auth] = botocore.auth.SigV4Auth,
) -> IncomingRequest:
    """Sign with botocore, then return what the server would receive on the wire."""
    aws_request = AWSRequest(
        method=method,
        url=url,
        data=body,
        headers=dict(headers or {"Content-Type": "application/json"}),
        params=params,
    )
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: at):
        signer(Credentials(access_key, secret, token), service, region).add_auth(aws_request)
    return wire(aws_request.prepare())


def wire(prepared: Any) -> IncomingRequest:
    """A prepared botocore request as the server sees it (the HTTP client adds Host)."""
    parts = urlsplit(prepared.url)
    sent = [
        (name, value.decode() if isinstance(value, bytes) else value)
        for name, value in prepared.headers.items()
    ]
    if not any(name.lower() == "host" for name, _ in sent):
        sent.append(("Host", parts.netloc))
    body = prepared.body or b""
    return IncomingRequest(
        method=prepared.method,
        path=parts.path or "/",
        query_string=parts.query,
        headers=sent,
        body=body.encode() if isinstance(body, str) else body,
    )


def with_headers(
    request: IncomingRequest, edit: Callable[[list[tuple[str, str]]], list[tuple[str, str]]]
) -> IncomingRequest:
    """The same request with its header list rewritten."""
    return dataclasses.replace(request, headers=edit(list(request.headers)))


def replace_header(request: IncomingRequest, name: str, value: str) -> IncomingRequest:
    """Every header called ``name`` (any case) replaced by one with ``value``."""
    return with_headers(
        request,
        lambda hs: [(n, v) for n, v in hs if n.lower() != name.lower()] + [(name, value)],
    )


def drop_header(request: IncomingRequest, name: str) -> IncomingRequest:
    """The same request without any header called ``name``."""
    return with_headers(request, lambda hs: [(n, v) for n, v in hs if n.lower() != name.lower()])


def header(request: IncomingRequest, name: str) -> str:
    """The one value of header ``name``."""
    (value,) = [v for n, v in request.headers if n.lower() == name.lower()]
    return value


def verifier(now: float = NOW, *, region: str = REGION) -> SigV4Verifier:
    """A verifier whose clock stands at ``now``."""
    return SigV4Verifier(region=region, clock=lambda: now)


def verify(
    request: IncomingRequest,
    *,
    services: set[str] = OIDC,
    resolver: FakeResolver | None = None,
    now: float = NOW,
) -> tuple[Caller, str]:
    """Verify with a default resolver and a clock at ``now``."""
    return verifier(now).verify(request, services=services, resolver=resolver or FakeResolver())


# --- requests botocore signs verify -------------------------------------------------------


def test_post_json_with_aws_iam_query_verifies() -> None:
    request = sign()
    assert request.query_string == "aws_iam=t"
    assert verify(request) == (CALLER, "sso-oauth")


def test_post_form_body_verifies_for_a_query_service() -> None:
    request = sign(
        url="http://localhost:8080/",
        body={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        service="sts",
    )
    assert request.body == b"Action=GetCallerIdentity&Version=2011-06-15"
    assert verify(request, services={"sts", "iam"}) == (CALLER, "sts")


@pytest.mark.parametrize(
    "params",
    [
        {"role_name": "a b", "account_id": "1"},
        [("z", "1"), ("a", "2"), ("a", "1"), ("m", "")],
        {"q": "a+b/c=d&e?f~g*h'i(j)!k:l@m", "ümlaut": "日本"},
    ],
    ids=["space", "repeated-unsorted", "special-unicode"],
)
def test_get_with_encoded_query_params_verifies(
    params: Mapping[str, str] | list[tuple[str, str]],
) -> None:
    request = sign("GET", "http://localhost:8080/federation/credentials", body=b"", params=params)
    assert request.query_string  # the params really went on the wire
    assert verify(request) == (CALLER, "sso-oauth")


@pytest.mark.parametrize(
    "params",
    [
        {"role_name": "a b", "account_id": "1"},
        [("z", "1"), ("a", "2"), ("a", "1"), ("m", "")],
        {"q": "a+b/c=d&e?f~g*h'i(j)!k:l@m", "ümlaut": "日本"},
    ],
    ids=["space", "repeated-unsorted", "special-unicode"],
)
def test_query_in_the_url_as_botocore_clients_build_it_verifies(
    params: Mapping[str, str] | list[tuple[str, str]],
) -> None:
    query = percent_encode_sequence(params)
    request = sign("GET", f"http://localhost:8080/federation/credentials?{query}", body=b"")
    assert request.query_string == query
    assert "+" not in query
    assert verify(request) == (CALLER, "sso-oauth")


def test_plus_in_the_query_is_a_space() -> None:
    request = sign("GET", "http://localhost/x?role_name=a%20b", body=b"")
    assert verify(dataclasses.replace(request, query_string="role_name=a+b"))[0] == CALLER
    with pytest.raises(InvalidSignature):
        verify(dataclasses.replace(request, query_string="role_name=a%2Bb"))


def test_query_encoded_differently_but_equivalently_verifies() -> None:
    request = sign("GET", "http://localhost/x", body=b"", params={"k": "a/b~c"})
    assert request.query_string == "k=a%2Fb~c"
    # Decoded then re-encoded canonically, as AWS does: lower-case hex, an escaped '~'.
    assert verify(dataclasses.replace(request, query_string="k=a%2fb%7Ec")) == (CALLER, "sso-oauth")


def test_host_header_with_port_is_used_as_received() -> None:
    request = sign(url="http://127.0.0.1:9123/token?aws_iam=t")
    assert header(request, "host") == "127.0.0.1:9123"
    assert verify(request)[0] == CALLER
    with pytest.raises(InvalidSignature):
        verify(replace_header(request, "Host", "127.0.0.1"))


def test_lower_case_header_names_as_asgi_delivers_them_verify() -> None:
    request = sign()
    lowered = with_headers(request, lambda hs: [(n.lower(), v) for n, v in hs])
    assert all(n == n.lower() for n, _ in lowered.headers)
    assert verify(lowered) == (CALLER, "sso-oauth")


def test_repeated_signed_header_values_are_joined_with_commas() -> None:
    aws_request = AWSRequest(
        method="POST", url="http://localhost/token", data=b"{}", headers={"X-Custom": "a"}
    )
    aws_request.headers["X-Custom"] = "b"  # HTTPHeaders appends: two X-Custom headers
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: SIGNED_AT):
        botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET), "sso-oauth", REGION).add_auth(
            aws_request
        )
    # prepare() folds headers into a dict; send both values as an HTTP client could.
    request = IncomingRequest(
        method="POST",
        path="/token",
        query_string="",
        headers=[*aws_request.headers.items(), ("Host", "localhost")],
        body=b"{}",
    )
    assert [v for n, v in request.headers if n == "X-Custom"] == ["a", "b"]
    assert verify(request)[0] == CALLER
    # Order matters ("a,b" != "b,a"), and one value alone is not the same header.
    swapped = with_headers(
        request,
        lambda hs: (
            [(n, v) for n, v in hs if n != "X-Custom"] + [("X-Custom", "b"), ("X-Custom", "a")]
        ),
    )
    with pytest.raises(InvalidSignature):
        verify(swapped)
    with pytest.raises(InvalidSignature):
        verify(replace_header(request, "X-Custom", "a"))


def test_header_whitespace_is_trimmed_and_collapsed() -> None:
    request = sign(headers={"Content-Type": "application/json", "X-Note": "  a   b  "})
    # Signed as "a b"; the server may receive it with other surrounding/inner whitespace.
    assert verify(replace_header(request, "X-Note", "a b"))[0] == CALLER
    assert verify(replace_header(request, "X-Note", "\ta  b "))[0] == CALLER
    with pytest.raises(InvalidSignature):
        verify(replace_header(request, "X-Note", "ab"))


class Captured(Exception):
    """Raised from botocore's before-send hook with the request it was about to send."""


@pytest.mark.parametrize(
    ("service", "operation", "kwargs", "signing_name"),
    [
        ("sso-oidc", "create_token_with_iam", {"clientId": "arn:x", "grantType": "x"}, "sso-oauth"),
        ("sso-admin", "list_instances", {}, "sso"),
        ("identitystore", "list_users", {"IdentityStoreId": "d-1234567890"}, "identitystore"),
        ("sts", "get_caller_identity", {}, "sts"),
        ("iam", "list_users", {}, "iam"),
    ],
)
def test_real_boto3_client_requests_verify(
    service: str, operation: str, kwargs: dict[str, Any], signing_name: str
) -> None:
    client = boto3.client(
        service,
        region_name=REGION,
        endpoint_url="http://localhost:8080",
        aws_access_key_id=SESSION_CALLER.access_key_id,
        aws_secret_access_key=SECRET,
        aws_session_token="session-token-1",
    )

    def capture(request: Any, **_: Any) -> None:
        raise Captured(request)

    client.meta.events.register("before-send", capture)
    with pytest.raises(Captured) as caught:
        getattr(client, operation)(**kwargs)
    request = wire(caught.value.args[0])
    resolver = FakeResolver(caller=SESSION_CALLER, token="session-token-1")
    checker = SigV4Verifier(region=REGION)  # botocore signed with the real clock
    assert checker.verify(request, services={signing_name, "other"}, resolver=resolver) == (
        SESSION_CALLER,
        signing_name,
    )
    assert resolver.calls == [(SESSION_CALLER.access_key_id, "session-token-1")]
    with pytest.raises(InvalidSignature):
        checker.verify(
            dataclasses.replace(request, body=request.body + b" "),
            services={signing_name},
            resolver=resolver,
        )


# --- missing or malformed authentication --------------------------------------------------


def test_no_authorization_header_is_missing_authentication_token() -> None:
    request = drop_header(sign(), "Authorization")
    resolver = FakeResolver()
    with pytest.raises(MissingAuthenticationToken) as caught:
        verify(request, resolver=resolver)
    assert caught.value.description == "Missing Authentication Token"
    assert resolver.calls == []


def test_blank_authorization_header_is_missing_authentication_token() -> None:
    with pytest.raises(MissingAuthenticationToken):
        verify(replace_header(sign(), "Authorization", "   "))


def test_presigned_query_is_refused_as_missing_authentication_token() -> None:
    request = sign(
        "GET",
        "http://localhost:8080/token",
        body=b"",
        params={"aws_iam": "t"},
        signer=botocore.auth.SigV4QueryAuth,
    )
    assert "X-Amz-Signature=" in request.query_string
    assert not any(n.lower() == "authorization" for n, _ in request.headers)
    with pytest.raises(MissingAuthenticationToken):
        verify(request)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abc",
        "AWS4-HMAC-SHA512 Credential=AKID/20260517/us-east-1/sso-oauth/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00",
        "AWS AKID:c2lnbmF0dXJl",
    ],
)
def test_authorization_without_aws4_hmac_sha256_is_incomplete(authorization: str) -> None:
    with pytest.raises(IncompleteSignature, match="AWS4-HMAC-SHA256"):
        verify(replace_header(sign(), "Authorization", authorization))


@pytest.mark.parametrize("part", ["Credential", "SignedHeaders", "Signature"])
def test_authorization_missing_a_part_is_incomplete(part: str) -> None:
    request = sign()
    parts = [
        p
        for p in header(request, "Authorization").removeprefix("AWS4-HMAC-SHA256 ").split(", ")
        if not p.startswith(part + "=")
    ]
    resolver = FakeResolver()
    with pytest.raises(IncompleteSignature, match=f"requires '{part}' parameter"):
        verify(
            replace_header(request, "Authorization", "AWS4-HMAC-SHA256 " + ", ".join(parts)),
            resolver=resolver,
        )
    assert resolver.calls == []


@pytest.mark.parametrize(
    "credential",
    [
        f"{ACCESS_KEY}/20260517/us-east-1/sso-oauth",
        f"{ACCESS_KEY}/20260517/us-east-1/sso-oauth/aws4_request/extra",
        "/20260517/us-east-1/sso-oauth/aws4_request",
        f"{ACCESS_KEY}//us-east-1/sso-oauth/aws4_request",
        ACCESS_KEY,
    ],
)
def test_malformed_credential_scope_is_incomplete(credential: str) -> None:
    request = sign()
    authorization = header(request, "Authorization")
    good = authorization.split("Credential=")[1].split(",")[0]
    with pytest.raises(IncompleteSignature, match="5 slash-delimited elements"):
        verify(replace_header(request, "Authorization", authorization.replace(good, credential)))


@pytest.mark.parametrize(
    ("signed_headers", "message"),
    [("content-type;x-amz-date", "'Host'"), ("content-type;host", "'X-Amz-Date'")],
)
def test_signed_headers_must_include_host_and_x_amz_date(signed_headers: str, message: str) -> None:
    request = sign()
    authorization = header(request, "Authorization")
    good = authorization.split("SignedHeaders=")[1].split(",")[0]
    assert good == "content-type;host;x-amz-date"
    with pytest.raises(IncompleteSignature, match=message):
        verify(
            replace_header(request, "Authorization", authorization.replace(good, signed_headers))
        )


def test_missing_x_amz_date_header_is_incomplete() -> None:
    resolver = FakeResolver()
    with pytest.raises(IncompleteSignature, match="X-Amz-Date"):
        verify(drop_header(sign(), "X-Amz-Date"), resolver=resolver)
    assert resolver.calls == []


@pytest.mark.parametrize(
    "value",
    ["20260517", "2026-05-17T12:30:45Z", "20261317T123045Z", "20260517T253045Z", "garbage", ""],
)
def test_unparsable_x_amz_date_is_incomplete(value: str) -> None:
    with pytest.raises(IncompleteSignature, match="ISO-8601"):
        verify(replace_header(sign(), "X-Amz-Date", value))


def test_two_authorization_headers_are_incomplete() -> None:
    request = sign()
    doubled = with_headers(
        request, lambda hs: [*hs, ("Authorization", header(request, "Authorization"))]
    )
    with pytest.raises(IncompleteSignature):
        verify(doubled)


# --- credential scope and time ------------------------------------------------------------


def test_scope_date_other_than_x_amz_date_is_invalid() -> None:
    # Signed at 00:00:10 on the 18th, scope says the 17th.
    request = sign(at=SIGNED_AT.replace(day=18, hour=0, minute=0, second=10))
    authorization = header(request, "Authorization").replace("/20260518/", "/20260517/")
    with pytest.raises(InvalidSignature, match="Date in Credential scope does not match"):
        verify(replace_header(request, "Authorization", authorization), now=NOW + 41365)


def test_wrong_region_is_invalid_and_names_the_region() -> None:
    resolver = FakeResolver()
    with pytest.raises(InvalidSignature) as caught:
        verify(sign(region="eu-west-1"), resolver=resolver)
    assert caught.value.description.startswith(
        "Credential should be scoped to a valid region, not 'eu-west-1'."
    )
    assert resolver.calls == []


def test_region_is_the_configured_one() -> None:
    request = sign(region="eu-west-1")
    checker = verifier(region="eu-west-1")
    assert checker.verify(request, services=OIDC, resolver=FakeResolver())[0] == CALLER


def test_wrong_service_is_invalid() -> None:
    resolver = FakeResolver()
    with pytest.raises(InvalidSignature, match="Credential should be scoped to correct service"):
        verify(sign(service="sso"), resolver=resolver)
    assert resolver.calls == []


def test_service_is_returned_from_the_scope_among_those_allowed() -> None:
    assert verify(sign(service="identitystore"), services={"sso", "identitystore"})[1] == (
        "identitystore"
    )


def test_wrong_terminator_is_invalid() -> None:
    request = sign()
    authorization = header(request, "Authorization").replace("/aws4_request", "/aws5_request")
    with pytest.raises(InvalidSignature, match="valid terminator: 'aws4_request'"):
        verify(replace_header(request, "Authorization", authorization))


@pytest.mark.parametrize("skew", [-300, -299.5, 0, 299.5, 300])
def test_clock_skew_up_to_five_minutes_either_way_is_accepted(skew: float) -> None:
    assert verify(sign(), now=NOW + skew)[0] == CALLER


def test_request_more_than_five_minutes_old_is_expired() -> None:
    resolver = FakeResolver()
    with pytest.raises(InvalidSignature) as caught:
        verify(sign(), now=NOW + 301, resolver=resolver)
    assert caught.value.description == (
        "Signature expired: 20260517T123045Z is now earlier than 20260517T123046Z "
        "(20260517T123546Z - 5 min.)"
    )
    assert resolver.calls == []


def test_request_more_than_five_minutes_ahead_is_not_yet_current() -> None:
    with pytest.raises(InvalidSignature) as caught:
        verify(sign(), now=NOW - 301)
    assert caught.value.description == (
        "Signature not yet current: 20260517T123045Z is still later than 20260517T123044Z "
        "(20260517T122544Z + 5 min.)"
    )


# --- the key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        UnrecognizedClient("The security token included in the request is invalid."),
        ExpiredSessionToken("The security token included in the request is expired"),
    ],
)
def test_resolver_errors_propagate(error: Exception) -> None:
    with pytest.raises(type(error)) as caught:
        verify(sign(), resolver=FakeResolver(error=error))
    assert caught.value is error


def test_unknown_key_is_reported_before_a_bad_signature() -> None:
    request = dataclasses.replace(sign(access_key="AKIAUNKNOWN"), body=b"tampered")
    with pytest.raises(UnrecognizedClient):
        verify(request)


def test_session_token_is_passed_to_the_resolver() -> None:
    resolver = FakeResolver(caller=SESSION_CALLER, token="FwoGZXIvYXdzE-token")
    request = sign(access_key=SESSION_CALLER.access_key_id, token="FwoGZXIvYXdzE-token")
    assert "x-amz-security-token" in header(request, "Authorization")
    assert verify(request, resolver=resolver) == (SESSION_CALLER, "sso-oauth")
    assert resolver.calls == [(SESSION_CALLER.access_key_id, "FwoGZXIvYXdzE-token")]


def test_no_session_token_passes_none() -> None:
    resolver = FakeResolver()
    verify(sign(), resolver=resolver)
    assert resolver.calls == [(ACCESS_KEY, None)]


def test_wrong_secret_fails_the_signature() -> None:
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        verify(sign(secret="not-the-secret"))


# --- the signature ------------------------------------------------------------------------


def test_tampered_body_fails() -> None:
    request = sign(body=b'{"clientId":"c"}')
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        verify(dataclasses.replace(request, body=b'{"clientId":"d"}'))


def test_tampered_signed_header_fails() -> None:
    request = sign()
    with pytest.raises(InvalidSignature):
        verify(replace_header(request, "Content-Type", "text/plain"))


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"path": "/token2"},
        {"query_string": "aws_iam=f"},
        {"query_string": ""},
        {"query_string": "aws_iam=t&extra=1"},
    ],
)
def test_tampered_method_path_or_query_fails(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidSignature):
        verify(dataclasses.replace(sign(), **change))


def test_tampered_signature_fails() -> None:
    request = sign()
    authorization = header(request, "Authorization")
    signature = authorization.rsplit("Signature=", 1)[1]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    with pytest.raises(InvalidSignature):
        verify(replace_header(request, "Authorization", authorization.replace(signature, flipped)))


def test_non_ascii_signature_fails_cleanly() -> None:
    request = sign()
    authorization = header(request, "Authorization")
    signature = authorization.rsplit("Signature=", 1)[1]
    with pytest.raises(InvalidSignature):
        verify(replace_header(request, "Authorization", authorization.replace(signature, "é" * 64)))


def test_unsigned_extra_header_is_fine() -> None:
    request = with_headers(sign(), lambda hs: [*hs, ("User-Agent", "curl"), ("X-Extra", "1")])
    assert verify(request)[0] == CALLER


def test_signed_header_that_did_not_arrive_fails() -> None:
    request = sign(headers={"Content-Type": "application/json", "X-Needed": "1"})
    assert "x-needed" in header(request, "Authorization")
    with pytest.raises(InvalidSignature):
        verify(drop_header(request, "X-Needed"))


def test_signed_content_sha256_matching_the_body_verifies() -> None:
    body = b'{"clientId":"c"}'
    request = sign(
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
        },
    )
    assert "x-amz-content-sha256" in header(request, "Authorization")
    assert verify(request)[0] == CALLER


def test_content_sha256_not_matching_the_body_fails() -> None:
    # botocore signs the declared hash, so this signature is "valid" for the declared value:
    # the body that arrived is what counts.
    request = sign(
        body=b"{}",
        headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": "0" * 64},
    )
    with pytest.raises(InvalidSignature, match="x-amz-content-sha256"):
        verify(request)


def test_unsigned_payload_is_refused() -> None:
    request = sign(
        body=b"{}",
        headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    with pytest.raises(InvalidSignature, match="x-amz-content-sha256"):
        verify(request)


def test_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    request = sign()
    verify(request)
    provided = header(request, "Authorization").rsplit("Signature=", 1)[1].encode()
    assert compared == [(provided, provided)]
    with pytest.raises(InvalidSignature):
        verify(dataclasses.replace(request, body=b"other"))
    assert len(compared) == 2


def test_signing_key_is_cached_across_requests() -> None:
    checker = verifier()
    resolver = FakeResolver()
    for body in (b"1", b"2", b"3"):
        checker.verify(sign(body=body), services=OIDC, resolver=resolver)
    assert checker.signing_key_cache_stats() == (2, 1, 1)
    # Another service is another key; a cached key still checks the signature.
    checker.verify(sign(service="sso"), services={"sso"}, resolver=resolver)
    assert checker.signing_key_cache_stats() == (2, 2, 2)
    with pytest.raises(InvalidSignature):
        checker.verify(
            dataclasses.replace(sign(), body=b"tampered"), services=OIDC, resolver=resolver
        )
    assert checker.signing_key_cache_stats()[0] == 3


def test_signing_key_cache_is_bounded() -> None:
    checker = SigV4Verifier(region=REGION, clock=lambda: NOW, signing_key_cache_size=2)
    for n in range(5):
        secret = f"secret-{n}"
        checker.verify(sign(secret=secret), services=OIDC, resolver=FakeResolver(secret))
    assert checker.signing_key_cache_stats() == (0, 5, 2)


def test_a_rotated_secret_is_not_served_from_the_cache() -> None:
    checker = verifier()
    checker.verify(sign(), services=OIDC, resolver=FakeResolver())
    with pytest.raises(InvalidSignature):
        checker.verify(sign(), services=OIDC, resolver=FakeResolver(secret="rotated"))


# --- parse_authorization ------------------------------------------------------------------


def test_parse_authorization_reads_every_part() -> None:
    parsed = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKID/20260517/us-east-1/sso-oauth/aws4_request,"
        "SignedHeaders=Host;X-Amz-Date,  Signature=abc123"
    )
    assert parsed.access_key_id == "AKID"
    assert (parsed.scope_date, parsed.region, parsed.service, parsed.terminator) == (
        "20260517",
        "us-east-1",
        "sso-oauth",
        "aws4_request",
    )
    assert parsed.signed_headers == ("host", "x-amz-date")
    assert parsed.signature == "abc123"
    assert parsed.credential_scope == "20260517/us-east-1/sso-oauth/aws4_request"


def test_parse_authorization_lists_every_missing_part() -> None:
    with pytest.raises(IncompleteSignature) as caught:
        parse_authorization("AWS4-HMAC-SHA256 Credential=A/B/C/D/E")
    assert "'Signature'" in caught.value.description
    assert "'SignedHeaders'" in caught.value.description
    assert "'Credential'" not in caught.value.description


def test_parse_authorization_refuses_pairs_without_equals_and_repeats() -> None:
    with pytest.raises(IncompleteSignature, match="missing equal-sign"):
        parse_authorization("AWS4-HMAC-SHA256 Credential")
    with pytest.raises(IncompleteSignature, match="repeats"):
        parse_authorization(
            "AWS4-HMAC-SHA256 Credential=A/B/C/D/E, Credential=A/B/C/D/E, "
            "SignedHeaders=host, Signature=x"
        )


@given(st.text(max_size=200))
def test_parse_authorization_raises_only_incomplete_signature(text: str) -> None:
    for header_value in (text, "AWS4-HMAC-SHA256 " + text):
        try:
            parsed = parse_authorization(header_value)
        except IncompleteSignature:
            continue
        assert len(parsed.credential_scope.split("/")) == 4


@pytest.fixture(autouse=True)
def _no_real_network() -> Iterator[None]:
    """boto3 clients here must never reach a socket: every send is captured first."""
    with mock.patch("socket.create_connection", side_effect=AssertionError("network")):
        yield
