"""The query protocol against botocore itself: what botocore's QuerySerializer sends, ``parse``
reads back; what ``response`` and ``error_response`` write, botocore's QueryParser reads."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from ssooidc.errors import (
    AccessDenied,
    AwsError,
    DeleteConflict,
    EntityAlreadyExists,
    ExpiredSessionToken,
    IncompleteSignature,
    InternalServer,
    InvalidContextAssertion,
    InvalidSignature,
    LimitExceeded,
    MalformedPolicyDocument,
    MissingAuthenticationToken,
    NoSuchEntity,
    UnrecognizedClient,
    Validation,
)
from ssooidc.http.protocols import query
from ssooidc.http.protocols.shapes import Validator, operation_model

SERIALIZER = create_serializer("query")
PARSER = create_parser("query")
WHEN = dt.datetime(2026, 11, 24, 10, 0, 8, tzinfo=dt.UTC)


def form(service: str, name: str, params: dict[str, Any]) -> tuple[bytes, OperationModel]:
    """The body botocore sends for ``params``, encoded as its AWSRequest encodes it."""
    model = operation_model(service, name)
    body = SERIALIZER.serialize_to_request(params, model)["body"]
    return urlencode(list(body.items()), doseq=True).encode(), model


def read_back(service: str, name: str, result: dict[str, Any]) -> dict[str, Any]:
    """Render ``result`` and parse it as botocore does, minus the response metadata."""
    model = operation_model(service, name)
    rendered = query.response(model, result, "req-1")
    assert rendered.status_code == 200
    parsed: dict[str, Any] = PARSER.parse(
        {"body": rendered.body, "headers": dict(rendered.headers), "status_code": 200},
        model.output_shape,
    )
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    return parsed


# -- requests ------------------------------------------------------------------------------

REQUESTS = [
    ("iam", "CreateUser", {"UserName": "bob", "Path": "/eng/", "Tags": [{"Key": "team", "Value": "a&b c"}, {"Key": "empty", "Value": ""}]}),
    ("iam", "ListUsers", {"PathPrefix": "/", "MaxItems": 2, "Marker": "abc=="}),
    ("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": '{"Version": "2012-10-17", "Statement": []}', "MaxSessionDuration": 7200, "Description": "ünïcode + spaces"}),
    ("iam", "UpdateAccountPasswordPolicy", {"MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": False}),
    ("iam", "GetUser", {}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::111122223333:role/r", "RoleSessionName": "s-1", "DurationSeconds": 900, "ProvidedContexts": [{"ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter", "ContextAssertion": "abc.def"}], "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}], "Tags": [{"Key": "k", "Value": "v"}], "TransitiveTagKeys": ["k"]}),
    ("sts", "GetCallerIdentity", {}),
    ("sns", "CreateTopic", {"Name": "t", "Attributes": {"DisplayName": "x y", "Policy": "{}"}, "Tags": [{"Key": "a", "Value": "b"}]}),
    ("sdb", "PutAttributes", {"DomainName": "d", "ItemName": "i", "Attributes": [{"Name": "n1", "Value": "v1", "Replace": True}, {"Name": "n2", "Value": "v2"}]}),
]  # fmt: skip


@pytest.mark.parametrize(("service", "name", "params"), REQUESTS, ids=[r[1] for r in REQUESTS])
def test_parse_reads_back_what_botocore_serializes(
    service: str, name: str, params: dict[str, Any]
) -> None:
    body, model = form(service, name, params)
    assert query.parse(body, model) == params


def test_an_empty_list_is_sent_as_a_bare_key_and_read_as_empty() -> None:
    body, model = form(
        "sts", "AssumeRole", {"RoleArn": "a" * 20, "RoleSessionName": "ss", "PolicyArns": []}
    )
    assert b"PolicyArns=&" in body + b"&"
    assert query.parse(body, model)["PolicyArns"] == []


def test_unknown_members_and_indexes_are_ignored() -> None:
    model = operation_model("iam", "CreateUser")
    body = b"Action=CreateUser&UserName=bob&Colour=red&Tags.member.x.Key=a&Tags.member.1.Key=k&Tags.member.1.Value=v&UserName.sub=1"
    assert query.parse(body, model) == {"UserName": "bob", "Tags": [{"Key": "k", "Value": "v"}]}


def test_list_members_follow_their_numeric_order() -> None:
    model = operation_model("sts", "AssumeRole")
    body = (
        b"TransitiveTagKeys.member.10=j&TransitiveTagKeys.member.2=b&TransitiveTagKeys.member.1=a"
    )
    assert query.parse(body, model)["TransitiveTagKeys"] == ["a", "b", "j"]


@pytest.mark.parametrize(
    "body",
    [
        b"DurationSeconds=ten",
        b"DurationSeconds=1e3",
        b"DurationSeconds=" + b"9" * 30,
        b"RoleArn=%FF%FE",
        b"\xff\xfe=1",
        b"&".join(b"k%d=v" % i for i in range(query.MAX_FIELDS + 1)),
    ],
)
def test_malformed_forms_are_validation_errors(body: bytes) -> None:
    with pytest.raises(Validation):
        query.parse(body, operation_model("sts", "AssumeRole"))


def test_booleans_are_read_in_any_case_and_nothing_else_is_a_boolean() -> None:
    model = operation_model("iam", "UpdateAccountPasswordPolicy")
    assert query.parse(b"RequireSymbols=TRUE", model) == {"RequireSymbols": True}
    with pytest.raises(Validation):
        query.parse(b"RequireSymbols=yes", model)


def test_a_map_entry_without_its_value_is_refused() -> None:
    with pytest.raises(Validation):
        query.parse(
            b"Name=t&Attributes.entry.1.key=DisplayName", operation_model("sns", "CreateTopic")
        )


KEY_PARTS = st.sampled_from(
    ["Tags", "member", "entry", "key", "value", "Key", "Value", "1", "2", "0", "-1", "01",
     "999999999", "x", "", "ProvidedContexts", "ProviderArn", "DurationSeconds", "MaxItems",
     "PolicyArns", "arn", "Attributes", "Attribute", "Name", "Replace", "RoleArn", "UserName"]
)  # fmt: skip
FORMS = st.lists(
    st.tuples(st.lists(KEY_PARTS, min_size=1, max_size=6).map(".".join), st.text(max_size=20)),
    max_size=30,
).map(lambda pairs: urlencode(pairs).encode())
FUZZED = [
    ("sts", "AssumeRole"),
    ("iam", "CreateUser"),
    ("iam", "ListUsers"),
    ("iam", "UpdateAccountPasswordPolicy"),
    ("sns", "CreateTopic"),
    ("sdb", "PutAttributes"),
]


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.binary(max_size=300), FORMS), which=st.sampled_from(FUZZED))
def test_parse_raises_nothing_but_aws_errors(body: bytes, which: tuple[str, str]) -> None:
    model = operation_model(*which)
    try:
        parsed = query.parse(body, model)
        Validator(Validation, constraints=True).validate(model.input_shape, parsed)
    except AwsError:
        pass


# -- responses -----------------------------------------------------------------------------


def test_a_structure_with_tags_and_a_timestamp_reads_back() -> None:
    user = {"Path": "/", "UserName": "bob", "UserId": "AIDAX", "Arn": "arn:aws:iam::111122223333:user/bob", "CreateDate": WHEN, "Tags": [{"Key": "a", "Value": "<&>\"'"}]}  # fmt: skip
    assert read_back("iam", "GetUser", {"User": user}) == {"User": user}


def test_epoch_seconds_render_as_iso_8601_with_milliseconds_when_there_are_some() -> None:
    model = operation_model("iam", "GetUser")
    user = {
        "Path": "/",
        "UserName": "b",
        "UserId": "AIDAX",
        "Arn": "arn:x",
        "CreateDate": 1700000000.25,
    }
    body = query.response(model, {"User": user}, "r").body
    assert b"<CreateDate>2023-11-14T22:13:20.250Z</CreateDate>" in body
    user["CreateDate"] = 1700000000
    assert (
        b"<CreateDate>2023-11-14T22:13:20Z</CreateDate>"
        in query.response(model, {"User": user}, "r").body
    )


def test_a_page_of_a_list_reads_back_with_its_marker() -> None:
    users = [
        {"Path": "/", "UserName": n, "UserId": f"AIDA{n}", "Arn": f"arn:aws:iam::1:user/{n}", "CreateDate": WHEN}
        for n in ("a", "b")
    ]  # fmt: skip
    result = {"Users": users, "IsTruncated": True, "Marker": "m+/="}
    assert read_back("iam", "ListUsers", result) == result


def test_an_empty_list_reads_back_empty() -> None:
    assert read_back("iam", "ListUserPolicies", {"PolicyNames": [], "IsTruncated": False}) == {
        "PolicyNames": [],
        "IsTruncated": False,
    }


def test_a_map_reads_back() -> None:
    summary = {"Users": 3, "Roles": 1, "AccessKeysPerUserQuota": 2}
    assert read_back("iam", "GetAccountSummary", {"SummaryMap": summary}) == {"SummaryMap": summary}


def test_a_map_of_structures_with_lists_and_booleans_reads_back() -> None:
    result = {"DkimAttributes": {"example.com": {"DkimEnabled": True, "DkimVerificationStatus": "Success", "DkimTokens": ["t1", "t2"]}}}  # fmt: skip
    assert read_back("ses", "GetIdentityDkimAttributes", result) == result


def test_a_flattened_list_reads_back() -> None:
    result = {"Attributes": [{"Name": "a", "Value": "1"}, {"Name": "b", "Value": "2"}]}
    assert read_back("sdb", "GetAttributes", result) == result


def test_the_credentials_of_a_role_session_read_back() -> None:
    result = {
        "Credentials": {"AccessKeyId": "ASIAX", "SecretAccessKey": "s/+=", "SessionToken": "IQo", "Expiration": WHEN},
        "AssumedRoleUser": {"AssumedRoleId": "AROAX:s", "Arn": "arn:aws:sts::1:assumed-role/r/s"},
        "PackedPolicySize": 0,
    }  # fmt: skip
    assert read_back("sts", "AssumeRole", result) == result


def test_members_outside_the_output_shape_are_not_written() -> None:
    parsed = read_back(
        "sts", "GetCallerIdentity", {"UserId": "AIDAX", "Account": "1", "Arn": "a", "Secret": "x"}
    )
    assert parsed == {"UserId": "AIDAX", "Account": "1", "Arn": "a"}


def test_text_xml_cannot_carry_is_replaced_and_line_ends_survive() -> None:
    parsed = read_back(
        "sts", "GetCallerIdentity", {"UserId": "a\x00b\ud800", "Account": "1\r\n2", "Arn": "ü"}
    )
    assert parsed == {"UserId": "a\ufffdb\ufffd", "Account": "1\r\n2", "Arn": "ü"}


def test_an_operation_without_output_has_only_response_metadata() -> None:
    rendered = query.response(operation_model("iam", "DeleteUser"), {}, "r")
    assert rendered.body.startswith(
        b'<DeleteUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    )
    assert read_back("iam", "DeleteUser", {}) == {}


def test_sts_responses_carry_the_sts_namespace() -> None:
    body = query.response(operation_model("sts", "GetCallerIdentity"), {"Account": "1"}, "r").body
    assert body.startswith(
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    )


# -- errors --------------------------------------------------------------------------------

ERRORS: list[tuple[AwsError, str, int, str]] = [
    (NoSuchEntity("The user with name x cannot be found."), "NoSuchEntity", 404, "Sender"),
    (EntityAlreadyExists("User with name x already exists."), "EntityAlreadyExists", 409, "Sender"),
    (DeleteConflict("must delete access keys first"), "DeleteConflict", 409, "Sender"),
    (LimitExceeded("Cannot exceed quota for AccessKeysPerUser: 2"), "LimitExceeded", 409, "Sender"),
    (MalformedPolicyDocument("Syntax errors in policy: <bad>"), "MalformedPolicyDocument", 400, "Sender"),
    (InvalidContextAssertion("not valid"), "InvalidContextAssertion", 400, "Sender"),
    (AccessDenied("User: x is not authorized"), "AccessDenied", 403, "Sender"),
    (Validation("1 validation error detected"), "ValidationError", 400, "Sender"),
    (MissingAuthenticationToken("Missing Authentication Token"), "MissingAuthenticationToken", 403, "Sender"),
    (IncompleteSignature("no date"), "IncompleteSignature", 403, "Sender"),
    (InvalidSignature("mismatch"), "SignatureDoesNotMatch", 403, "Sender"),
    (ExpiredSessionToken("expired"), "ExpiredToken", 403, "Sender"),
    (UnrecognizedClient("invalid"), "InvalidClientTokenId", 403, "Sender"),
    (InternalServer("an internal error occurred"), "InternalFailure", 500, "Receiver"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "code", "status", "kind"), ERRORS, ids=[e[1] for e in ERRORS])
def test_errors_read_back_with_their_query_code_status_and_type(
    error: AwsError, code: str, status: int, kind: str
) -> None:
    rendered = query.error_response(error, "req-9", service="sts")
    assert rendered.status_code == status
    parsed = PARSER.parse(
        {"body": rendered.body, "headers": dict(rendered.headers), "status_code": status}, None
    )
    assert parsed["Error"] == {"Type": kind, "Code": code, "Message": error.description}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"


def test_modelled_errors_map_to_their_botocore_exception_names() -> None:
    iam = operation_model("iam", "DeleteUser").service_model
    codes = {shape.error_code for shape in iam.error_shapes}
    for error in (
        NoSuchEntity,
        EntityAlreadyExists,
        DeleteConflict,
        LimitExceeded,
        MalformedPolicyDocument,
    ):
        assert error.query_code in codes
        shape = next(s for s in iam.error_shapes if s.error_code == error.query_code)
        assert shape.metadata["error"]["httpStatusCode"] == error.status
    sts = operation_model("sts", "AssumeRole")
    shape = next(s for s in sts.error_shapes if s.name == "InvalidContextAssertionException")
    assert shape.error_code == InvalidContextAssertion.query_code


def test_an_error_names_the_namespace_of_the_service_that_was_signed_for() -> None:
    assert b"sts.amazonaws.com" in query.error_response(Validation("x"), "r", service="sts").body
    assert b"iam.amazonaws.com" in query.error_response(Validation("x"), "r").body


@pytest.mark.parametrize(
    ("header", "service"),
    [
        ("AWS4-HMAC-SHA256 Credential=AKIA/20261124/us-east-1/sts/aws4_request, SignedHeaders=host", "sts"),
        ("AWS4-HMAC-SHA256 Credential=AKIA/20261124/us-east-1/iam/aws4_request, SignedHeaders=host", "iam"),
        ("garbage", "iam"),
        (None, "iam"),
    ],
)  # fmt: skip
def test_signing_service_reads_the_credential_scope(header: str | None, service: str) -> None:
    assert query.signing_service(header) == service
