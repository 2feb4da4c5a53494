"""The IAM policy evaluator: parsing, matching, conditions and the ActorPolicy gate."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssooidc.services.iam_policy import (
    Decision,
    MalformedPolicy,
    Policy,
    RequestContext,
    authorize_with_resource_policy,
    evaluate_identity,
    evaluate_resource,
    parse_policy,
)

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
APP = "arn:aws:sso::111122223333:application/ssoins-1111111111111111/apl-2222222222222222"
USER = "arn:aws:iam::111122223333:user/backend"
ROLE = "arn:aws:iam::111122223333:role/analyst"
SESSION = "arn:aws:sts::111122223333:assumed-role/analyst/sess"
ACTION = "sso-oauth:CreateTokenWithIAM"

ALLOW = Decision.ALLOW
DENY = Decision.DENY
IMPLICIT = Decision.IMPLICIT_DENY


def ctx(**overrides: Any) -> RequestContext:
    fields: dict[str, Any] = {
        "principal_arn": USER,
        "account": ACCOUNT,
        "action": ACTION,
        "resource": APP,
    }
    fields.update(overrides)
    return RequestContext(**fields)


def session_ctx(**overrides: Any) -> RequestContext:
    return ctx(principal_arn=SESSION, role_arn=ROLE, **overrides)


def stmt(**elements: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": ACTION, "Resource": APP}
    base.update(elements)
    return {k: v for k, v in base.items() if v is not None}


def identity(*statements: dict[str, Any], version: str = "2012-10-17") -> Policy:
    return parse_policy({"Version": version, "Statement": list(statements)})


def resource(*statements: dict[str, Any]) -> Policy:
    full = [{"Principal": {"AWS": USER}, **s} for s in statements]
    for s in full:
        if "NotPrincipal" in s:
            del s["Principal"]
    return parse_policy({"Version": "2012-10-17", "Statement": full}, kind="resource")


def allows(policy: Policy, context: RequestContext | None = None) -> bool:
    return evaluate_identity([policy], context or ctx()) is ALLOW


def cond(condition: dict[str, Any], keys: dict[str, Any] | None = None) -> bool:
    return allows(identity(stmt(Condition=condition)), ctx(keys=keys or {}))


# The ActorPolicy gate (authorize_with_resource_policy).


def test_no_resource_policy_is_implicit_deny() -> None:
    assert authorize_with_resource_policy(None, [identity(stmt())], ctx()) is IMPLICIT


def test_user_arn_principal_allows_without_identity_policy() -> None:
    assert authorize_with_resource_policy(resource(stmt()), [], ctx()) is ALLOW


def test_explicit_deny_wins_in_resource_policy() -> None:
    policy = resource(stmt(), stmt(Effect="Deny"))
    assert authorize_with_resource_policy(policy, [identity(stmt())], ctx()) is DENY


def test_explicit_deny_in_identity_policy_wins() -> None:
    denied = identity(stmt(Effect="Deny", Action="sso-oauth:*", Resource="*"))
    assert authorize_with_resource_policy(resource(stmt()), [denied], ctx()) is DENY


def test_identity_allow_alone_is_not_enough() -> None:
    other = resource(stmt(Principal={"AWS": "arn:aws:iam::111122223333:user/someone"}))
    assert authorize_with_resource_policy(other, [identity(stmt())], ctx()) is IMPLICIT


@pytest.mark.parametrize("account", [ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"])
def test_account_principal_needs_identity_allow(account: str) -> None:
    policy = resource(stmt(Principal={"AWS": account}))
    assert authorize_with_resource_policy(policy, [], ctx()) is IMPLICIT
    assert authorize_with_resource_policy(policy, [identity(stmt())], ctx()) is ALLOW
    assert evaluate_resource(policy, ctx()) == (ALLOW, True)


def test_account_principal_of_another_account_does_not_match() -> None:
    policy = resource(stmt(Principal={"AWS": OTHER_ACCOUNT}))
    assert authorize_with_resource_policy(policy, [identity(stmt())], ctx()) is IMPLICIT


def test_role_arn_matches_every_session() -> None:
    policy = resource(stmt(Principal={"AWS": ROLE}))
    for session in (SESSION, "arn:aws:sts::111122223333:assumed-role/analyst/other"):
        context = ctx(principal_arn=session, role_arn=ROLE)
        assert authorize_with_resource_policy(policy, [], context) is ALLOW
    assert authorize_with_resource_policy(policy, [], ctx()) is IMPLICIT


def test_session_arn_matches_that_session_only() -> None:
    policy = resource(stmt(Principal={"AWS": SESSION}))
    assert authorize_with_resource_policy(policy, [], session_ctx()) is ALLOW
    other = ctx(principal_arn=SESSION.replace("sess", "other"), role_arn=ROLE)
    assert authorize_with_resource_policy(policy, [], other) is IMPLICIT


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
def test_wildcard_principal_names_the_caller_directly(principal: Any) -> None:
    policy = resource(stmt(Principal=principal))
    assert evaluate_resource(policy, ctx()) == (ALLOW, False)
    assert authorize_with_resource_policy(policy, [], ctx()) is ALLOW


def test_user_principal_wins_over_account_principal() -> None:
    policy = resource(stmt(Principal={"AWS": ACCOUNT}), stmt(Principal={"AWS": [USER]}))
    assert evaluate_resource(policy, ctx()) == (ALLOW, False)


def test_cross_account_caller_needs_identity_allow() -> None:
    policy = resource(stmt(Principal="*"))
    context = ctx(resource_account=OTHER_ACCOUNT)
    assert authorize_with_resource_policy(policy, [], context) is IMPLICIT
    assert authorize_with_resource_policy(policy, [identity(stmt())], context) is ALLOW


def test_resource_policy_statement_must_match_action_and_resource() -> None:
    wrong_action = resource(stmt(Action="sso-oauth:CreateToken"))
    wrong_app = resource(stmt(Resource=APP + "x"))
    assert authorize_with_resource_policy(wrong_action, [], ctx()) is IMPLICIT
    assert authorize_with_resource_policy(wrong_app, [], ctx()) is IMPLICIT


def test_missing_resource_in_resource_policy_matches_any_resource() -> None:
    policy = resource(stmt(Resource=None))
    assert evaluate_resource(policy, ctx(resource="arn:aws:sso::1:application/x")) == (
        ALLOW,
        False,
    )


def test_deny_with_account_principal_denies_users_of_that_account() -> None:
    policy = resource(stmt(), stmt(Effect="Deny", Principal={"AWS": ACCOUNT}))
    assert authorize_with_resource_policy(policy, [], ctx()) is DENY


# NotAction, NotResource, NotPrincipal.


def test_not_action() -> None:
    policy = identity(stmt(Action=None, NotAction="sso-oauth:CreateToken"))
    assert allows(policy)
    assert not allows(policy, ctx(action="sso-oauth:CreateToken"))


def test_not_action_deny_denies_everything_else() -> None:
    policy = identity(stmt(Resource="*"), stmt(Effect="Deny", Action=None, NotAction="iam:*"))
    assert evaluate_identity([policy], ctx()) is DENY
    assert evaluate_identity([policy], ctx(action="iam:GetUser")) is IMPLICIT


def test_not_resource() -> None:
    policy = identity(stmt(Resource=None, NotResource="arn:aws:sso::*:application/*/apl-9*"))
    assert allows(policy)
    assert not allows(policy, ctx(resource="arn:aws:sso::1:application/ssoins-1/apl-99"))


def test_not_principal_allow_matches_principals_not_listed() -> None:
    policy = resource(stmt(NotPrincipal={"AWS": ROLE}))
    assert evaluate_resource(policy, ctx()) == (ALLOW, False)
    assert evaluate_resource(policy, session_ctx()) == (IMPLICIT, False)


def test_not_principal_deny_denies_everyone_not_listed() -> None:
    policy = resource(
        stmt(Principal="*"),
        stmt(Effect="Deny", NotPrincipal={"AWS": [USER]}),
    )
    assert authorize_with_resource_policy(policy, [], ctx()) is ALLOW
    assert authorize_with_resource_policy(policy, [], session_ctx()) is DENY


# Wildcards and case.


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", True),
        ("sso-oauth:*", True),
        ("sso-oauth:CreateToken*", True),
        ("sso-oauth:CreateTokenWith???", True),
        ("sso-oauth:CreateTokenWith??", False),
        ("sso-oauth:CreateToken", False),
        ("sso-*:*IAM", True),
        ("sso:*", False),
    ],
)
def test_action_wildcards_question_and_star(pattern: str, matches: bool) -> None:
    assert allows(identity(stmt(Action=pattern))) is matches


def test_action_is_case_insensitive() -> None:
    assert allows(identity(stmt(Action="SSO-OAUTH:createtokenwithiam")))
    assert allows(identity(stmt(Action="Sso-OAuth:CreateToken*")))


def test_resource_is_case_sensitive() -> None:
    assert not allows(identity(stmt(Resource="arn:" + APP[4:].upper())))
    assert not allows(identity(stmt(Resource=APP.replace("application", "Application"))))
    assert allows(identity(stmt(Resource=APP)))


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", True),
        ("arn:aws:sso::111122223333:application/*", True),
        ("arn:aws:sso::*:application/ssoins-????????????????/*", True),
        ("arn:aws:sso::*:application/ssoins-???????????????/*", False),
        ("arn:aws:sso:*:*:*", True),
        ("arn:*", True),
        ("arn:aws:sso::*", True),
        ("arn:aws:sso*application/*", True),
        ("arn:aws:sso:*:application/*", False),
        ("arn:aws:*:111122223333:application/*", False),
        ("arn:aws:sso:::application/*", False),
    ],
)
def test_resource_wildcards_match_segment_by_segment(pattern: str, matches: bool) -> None:
    assert allows(identity(stmt(Resource=pattern))) is matches


def test_resource_list_matches_any() -> None:
    assert allows(identity(stmt(Resource=["arn:aws:sso::1:application/x", APP])))


# Conditions.


def test_condition_string_operators() -> None:
    keys = {"aws:username": "Backend"}
    assert cond({"StringEquals": {"aws:username": "Backend"}}, keys)
    assert not cond({"StringEquals": {"aws:username": "backend"}}, keys)
    assert cond({"StringNotEquals": {"aws:username": "backend"}}, keys)
    assert not cond({"StringNotEquals": {"aws:username": "Backend"}}, keys)
    assert cond({"StringEqualsIgnoreCase": {"aws:username": "BACKEND"}}, keys)
    assert not cond({"StringNotEqualsIgnoreCase": {"aws:username": "backend"}}, keys)
    assert cond({"StringLike": {"aws:username": "Back*"}}, keys)
    assert cond({"StringLike": {"aws:username": "?ackend"}}, keys)
    assert not cond({"StringLike": {"aws:username": "back*"}}, keys)
    assert cond({"StringNotLike": {"aws:username": "front*"}}, keys)
    assert not cond({"StringNotLike": {"aws:username": "B*"}}, keys)


def test_condition_values_for_one_key_are_ored() -> None:
    keys = {"aws:username": "backend"}
    assert cond({"StringEquals": {"aws:username": ["frontend", "backend"]}}, keys)
    assert not cond({"StringEquals": {"aws:username": ["frontend", "ops"]}}, keys)


def test_negated_operator_with_several_values_is_nor() -> None:
    keys = {"aws:username": "backend"}
    assert not cond({"StringNotEquals": {"aws:username": ["frontend", "backend"]}}, keys)
    assert cond({"StringNotEquals": {"aws:username": ["frontend", "ops"]}}, keys)


def test_condition_operators_and_keys_are_anded() -> None:
    keys = {"aws:username": "backend", "aws:SecureTransport": "true"}
    both = {"StringEquals": {"aws:username": "backend"}, "Bool": {"aws:SecureTransport": "true"}}
    assert cond(both, keys)
    assert not cond({**both, "Bool": {"aws:SecureTransport": "false"}}, keys)
    same_op = {"StringEquals": {"aws:username": "backend", "aws:userid": "AIDA1"}}
    assert not cond(same_op, keys)
    assert cond(same_op, {**keys, "aws:userid": "AIDA1"})


def test_condition_key_names_are_case_insensitive() -> None:
    assert cond({"StringEquals": {"AWS:UserName": "backend"}}, {"aws:username": "backend"})
    assert cond({"StringEquals": {"aws:username": "backend"}}, {"AWS:USERNAME": "backend"})


def test_condition_arn_operators() -> None:
    keys = {"aws:SourceArn": "arn:aws:iam::111122223333:role/app/deployer"}
    assert cond(
        {"ArnEquals": {"aws:SourceArn": "arn:aws:iam::111122223333:role/app/deployer"}}, keys
    )
    assert cond({"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:role/app/*"}}, keys)
    assert not cond({"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:ROLE/*"}}, keys)
    assert not cond({"ArnLike": {"aws:SourceArn": "arn:aws:iam:*"}}, {"aws:SourceArn": "x"})
    assert cond({"ArnNotEquals": {"aws:SourceArn": "arn:aws:iam::1:role/x"}}, keys)
    assert not cond({"ArnNotLike": {"aws:SourceArn": "arn:aws:iam::*:role/*"}}, keys)


def test_condition_principal_arn_defaults_to_the_role_for_sessions() -> None:
    policy = identity(stmt(Condition={"ArnEquals": {"aws:PrincipalArn": ROLE}}))
    assert allows(policy, session_ctx())
    assert not allows(policy, ctx())
    account = identity(stmt(Condition={"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}))
    assert allows(account)


@pytest.mark.parametrize(
    ("operator", "value", "matches"),
    [
        ("NumericEquals", "10", True),
        ("NumericEquals", 10, True),
        ("NumericNotEquals", "10", False),
        ("NumericLessThan", "11", True),
        ("NumericLessThan", "10", False),
        ("NumericLessThanEquals", "10", True),
        ("NumericGreaterThan", "9.5", True),
        ("NumericGreaterThan", "10", False),
        ("NumericGreaterThanEquals", "10", True),
        ("NumericGreaterThanEquals", "10.5", False),
    ],
)
def test_condition_numeric_operators(operator: str, value: Any, matches: bool) -> None:
    assert cond({operator: {"s3:max-keys": value}}, {"s3:max-keys": "10"}) is matches


def test_condition_numeric_with_non_numeric_context_value_does_not_match() -> None:
    assert not cond({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "abc"})


@pytest.mark.parametrize(
    ("operator", "value", "matches"),
    [
        ("DateEquals", "2026-01-01T12:00:00Z", True),
        ("DateEquals", "2026-01-01T13:00:00+01:00", True),
        ("DateNotEquals", "2026-01-01T12:00:00Z", False),
        ("DateLessThan", "2026-01-02", True),
        ("DateLessThan", "2026-01-01T12:00:00Z", False),
        ("DateLessThanEquals", "2026-01-01T12:00:00Z", True),
        ("DateGreaterThan", "2025-12-31T23:59:59Z", True),
        ("DateGreaterThan", 1767312000, False),
        ("DateGreaterThanEquals", "1767268800", True),
        ("DateGreaterThanEquals", "2026-01-01T12:00:01Z", False),
    ],
)
def test_condition_date_operators(operator: str, value: Any, matches: bool) -> None:
    keys = {"aws:CurrentTime": "2026-01-01T12:00:00Z"}
    assert cond({operator: {"aws:CurrentTime": value}}, keys) is matches


def test_condition_date_with_epoch_context_value() -> None:
    keys = {"aws:EpochTime": "1767268800"}
    assert cond({"DateEquals": {"aws:EpochTime": "2026-01-01T12:00:00Z"}}, keys)
    assert not cond({"DateLessThan": {"aws:EpochTime": "2026-01-01T11:00:00Z"}}, keys)


def test_condition_bool() -> None:
    assert cond({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"})
    assert cond({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "TRUE"})
    assert not cond({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"})
    assert not cond({"Bool": {"aws:SecureTransport": "true"}})


def test_condition_ip_address() -> None:
    keys = {"aws:SourceIp": "203.0.113.7"}
    assert cond({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, keys)
    assert cond({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "203.0.113.7"]}}, keys)
    assert not cond({"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}, keys)
    assert cond({"NotIpAddress": {"aws:SourceIp": "198.51.100.0/24"}}, keys)
    assert not cond({"NotIpAddress": {"aws:SourceIp": "203.0.0.0/8"}}, keys)
    assert cond({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8::1"})
    assert not cond({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, keys)
    assert not cond({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {"aws:SourceIp": "nope"})


def test_condition_null() -> None:
    absent = {"Null": {"aws:TokenIssueTime": "true"}}
    present = {"Null": {"aws:TokenIssueTime": False}}
    keys = {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"}
    assert cond(absent)
    assert not cond(absent, keys)
    assert cond(present, keys)
    assert not cond(present)


def test_condition_missing_key_fails_positive_operators() -> None:
    for condition in (
        {"StringEquals": {"aws:username": "x"}},
        {"StringLike": {"aws:username": "*"}},
        {"ArnLike": {"aws:SourceArn": "*"}},
        {"NumericGreaterThan": {"s3:max-keys": "0"}},
        {"DateGreaterThan": {"aws:CurrentTime": "2000-01-01"}},
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
    ):
        assert not cond(condition), condition


def test_condition_missing_key_passes_negated_operators() -> None:
    for condition in (
        {"StringNotEquals": {"aws:username": "x"}},
        {"StringNotLike": {"aws:username": "*"}},
        {"StringNotEqualsIgnoreCase": {"aws:username": "x"}},
        {"ArnNotLike": {"aws:SourceArn": "*"}},
        {"NotIpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
        {"NumericNotEquals": {"s3:max-keys": "1"}},
    ):
        assert cond(condition), condition


def test_condition_if_exists() -> None:
    condition = {"StringEqualsIfExists": {"aws:username": "backend"}}
    assert cond(condition)
    assert cond(condition, {"aws:username": "backend"})
    assert not cond(condition, {"aws:username": "frontend"})
    assert cond({"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}})


def test_condition_for_any_value() -> None:
    condition = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    assert cond(condition, {"aws:TagKeys": ["owner", "env"]})
    assert not cond(condition, {"aws:TagKeys": ["owner"]})
    assert not cond(condition)
    assert not cond(condition, {"aws:TagKeys": []})
    negated = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team", "env"]}}
    assert cond(negated, {"aws:TagKeys": ["team", "owner"]})
    assert not cond(negated, {"aws:TagKeys": ["team", "env"]})


def test_condition_for_all_values() -> None:
    condition = {"ForAllValues:StringLike": {"aws:TagKeys": ["team", "env-*"]}}
    assert cond(condition, {"aws:TagKeys": ["team", "env-prod"]})
    assert not cond(condition, {"aws:TagKeys": ["team", "owner"]})
    assert cond(condition)
    negated = {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}
    assert cond(negated, {"aws:TagKeys": ["team", "env"]})
    assert not cond(negated, {"aws:TagKeys": ["team", "secret"]})


def test_condition_plain_operator_on_multivalued_key_matches_any_value() -> None:
    keys = {"aws:TagKeys": ["a", "b"]}
    assert cond({"StringEquals": {"aws:TagKeys": "b"}}, keys)
    assert not cond({"StringNotEquals": {"aws:TagKeys": "b"}}, keys)


def test_condition_in_deny_statement() -> None:
    policy = identity(
        stmt(),
        stmt(Effect="Deny", Condition={"Bool": {"aws:SecureTransport": "false"}}),
    )
    assert evaluate_identity([policy], ctx(keys={"aws:SecureTransport": "false"})) is DENY
    assert evaluate_identity([policy], ctx(keys={"aws:SecureTransport": "true"})) is ALLOW


# Policy variables.


def test_policy_variable_in_resource() -> None:
    policy = identity(stmt(Action="iam:*", Resource="arn:aws:iam::*:user/${aws:username}"))
    context = ctx(action="iam:GetUser", resource=USER, keys={"aws:username": "backend"})
    assert allows(policy, context)
    assert not allows(policy, dataclasses.replace(context, keys={"aws:username": "other"}))
    assert not allows(policy, dataclasses.replace(context, keys={}))


def test_policy_variable_principal_tag_in_condition() -> None:
    condition = {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
    keys = {"aws:PrincipalTag/team": "blue", "aws:ResourceTag/team": "blue"}
    assert cond(condition, keys)
    assert not cond(condition, {**keys, "aws:ResourceTag/team": "red"})
    assert not cond(condition, {"aws:ResourceTag/team": "blue"})


def test_policy_variable_userid_in_string_like() -> None:
    condition = {"StringLike": {"s3:prefix": "home/${aws:userid}/*"}}
    assert cond(condition, {"aws:userid": "AIDA1", "s3:prefix": "home/AIDA1/docs"})
    assert not cond(condition, {"aws:userid": "AIDA1", "s3:prefix": "home/AIDA2/docs"})
    assert not cond(condition, {"aws:userid": "AIDA*", "s3:prefix": "home/AIDA2/docs"})


def test_policy_variable_special_characters_are_literal() -> None:
    condition = {"StringLike": {"aws:username": "a${*}b${?}c${$}"}}
    assert cond(condition, {"aws:username": "a*b?c$"})
    assert not cond(condition, {"aws:username": "axxbyc$"})


def test_policy_variable_default_value() -> None:
    condition = {"StringEquals": {"aws:username": "${aws:PrincipalTag/owner, 'it''s'}"}}
    assert cond(condition, {"aws:username": "it's"})
    assert cond(condition, {"aws:username": "x", "aws:PrincipalTag/owner": "x"})


def test_policy_variables_are_literal_in_version_2008() -> None:
    policy = identity(
        stmt(Condition={"StringEquals": {"aws:username": "${aws:username}"}}),
        version="2008-10-17",
    )
    assert allows(policy, ctx(keys={"aws:username": "${aws:username}"}))
    assert not allows(policy, ctx(keys={"aws:username": "backend"}))


def test_policy_variable_in_arn_condition() -> None:
    condition = {"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:user/${aws:username}"}}
    assert cond(condition, {"aws:username": "backend", "aws:SourceArn": USER})
    assert not cond(condition, {"aws:username": "back", "aws:SourceArn": USER})


# Parsing.


def test_parse_policy_accepts_json_text_and_single_statement() -> None:
    text = json.dumps(
        {"Statement": {"Sid": "one", "Effect": "Allow", "Action": "*", "Resource": "*"}}
    )
    policy = parse_policy(text)
    assert policy.version is None
    assert allows(policy)


def test_policy_is_immutable() -> None:
    policy = identity(stmt())
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.kind = "resource"  # type: ignore[misc]


def test_evaluating_a_policy_of_the_wrong_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="identity"):
        evaluate_resource(identity(stmt()), ctx())
    with pytest.raises(ValueError, match="resource"):
        evaluate_identity([resource(stmt())], ctx())


GOOD = {"Effect": "Allow", "Action": ACTION, "Resource": APP}

MALFORMED: list[tuple[str, Any, str, str]] = [
    ("not-json", "{nope", "identity", "not valid JSON"),
    ("duplicate-json-key", '{"Statement": [], "Statement": []}', "identity", "duplicate"),
    ("not-an-object", ["x"], "identity", "JSON object"),
    ("unknown-top-level", {"Statement": [GOOD], "Extra": 1}, "identity", "unknown element"),
    ("bad-version", {"Version": "2020-01-01", "Statement": [GOOD]}, "identity", "Version"),
    ("bad-id", {"Id": 3, "Statement": [GOOD]}, "identity", "Id"),
    ("no-statement", {"Version": "2012-10-17"}, "identity", "Statement"),
    ("empty-statement", {"Statement": []}, "identity", "Statement"),
    ("statement-not-object", {"Statement": ["x"]}, "identity", "Statement[0] must be an object"),
    ("unknown-statement-key", {"Statement": [{**GOOD, "Foo": 1}]}, "identity", "'Foo'"),
    ("bad-sid", {"Statement": [{**GOOD, "Sid": 1}]}, "identity", "Sid"),
    (
        "duplicate-sid",
        {"Statement": [{**GOOD, "Sid": "a"}, {**GOOD, "Sid": "a"}]},
        "identity",
        "unique",
    ),
    (
        "bad-effect",
        {"Statement": [{**GOOD, "Effect": "allow"}]},
        "identity",
        "Statement[0].Effect must be Allow or Deny",
    ),
    ("no-action", {"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "identity", "Action"),
    (
        "action-and-not-action",
        {"Statement": [{**GOOD, "NotAction": "x:y"}]},
        "identity",
        "both Action and NotAction",
    ),
    ("action-not-string", {"Statement": [{**GOOD, "Action": 3}]}, "identity", "Action"),
    ("action-empty-list", {"Statement": [{**GOOD, "Action": []}]}, "identity", "Action"),
    ("action-no-service", {"Statement": [{**GOOD, "Action": "Create"}]}, "identity", "service"),
    (
        "no-resource-identity",
        {"Statement": [{"Effect": "Allow", "Action": "*"}]},
        "identity",
        "must have Resource or NotResource",
    ),
    (
        "resource-and-not-resource",
        {"Statement": [{**GOOD, "NotResource": "*"}]},
        "identity",
        "both Resource and NotResource",
    ),
    ("resource-not-arn", {"Statement": [{**GOOD, "Resource": "app"}]}, "identity", "ARN"),
    (
        "principal-in-identity",
        {"Statement": [{**GOOD, "Principal": "*"}]},
        "identity",
        "identity policy",
    ),
    ("no-principal-resource", {"Statement": [GOOD]}, "resource", "Principal"),
    (
        "principal-and-not-principal",
        {"Statement": [{**GOOD, "Principal": "*", "NotPrincipal": "*"}]},
        "resource",
        "both Principal and NotPrincipal",
    ),
    ("principal-bad-type", {"Statement": [{**GOOD, "Principal": "x"}]}, "resource", "Principal"),
    (
        "principal-unknown-kind",
        {"Statement": [{**GOOD, "Principal": {"IAM": "*"}}]},
        "resource",
        "principal type",
    ),
    (
        "principal-partial-wildcard",
        {"Statement": [{**GOOD, "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}}]},
        "resource",
        "invalid principal",
    ),
    (
        "principal-bad-account",
        {"Statement": [{**GOOD, "Principal": {"AWS": "1234"}}]},
        "resource",
        "invalid principal",
    ),
    ("condition-not-object", {"Statement": [{**GOOD, "Condition": []}]}, "identity", "Condition"),
    (
        "unknown-operator",
        {"Statement": [{**GOOD, "Condition": {"StringSorta": {"aws:username": "x"}}}]},
        "identity",
        "unknown condition operator",
    ),
    (
        "unknown-set-operator",
        {"Statement": [{**GOOD, "Condition": {"ForSome:StringEquals": {"aws:username": "x"}}}]},
        "identity",
        "unknown condition operator",
    ),
    (
        "null-if-exists",
        {"Statement": [{**GOOD, "Condition": {"NullIfExists": {"aws:username": "true"}}}]},
        "identity",
        "unknown condition operator",
    ),
    (
        "operator-block-empty",
        {"Statement": [{**GOOD, "Condition": {"StringEquals": {}}}]},
        "identity",
        "non-empty object",
    ),
    (
        "condition-key-without-prefix",
        {"Statement": [{**GOOD, "Condition": {"StringEquals": {"username": "x"}}}]},
        "identity",
        "condition key",
    ),
    (
        "condition-value-object",
        {"Statement": [{**GOOD, "Condition": {"StringEquals": {"aws:username": {"a": 1}}}}]},
        "identity",
        "values must be",
    ),
    (
        "condition-value-empty-list",
        {"Statement": [{**GOOD, "Condition": {"StringEquals": {"aws:username": []}}}]},
        "identity",
        "empty list",
    ),
    (
        "numeric-not-a-number",
        {"Statement": [{**GOOD, "Condition": {"NumericEquals": {"s3:max-keys": "ten"}}}]},
        "identity",
        "invalid value",
    ),
    (
        "date-not-a-date",
        {"Statement": [{**GOOD, "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}]},
        "identity",
        "invalid value",
    ),
    (
        "bool-not-a-bool",
        {"Statement": [{**GOOD, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}]},
        "identity",
        "true or false",
    ),
    (
        "null-not-a-bool",
        {"Statement": [{**GOOD, "Condition": {"Null": {"aws:username": "maybe"}}}]},
        "identity",
        "true or false",
    ),
    (
        "ip-not-an-address",
        {"Statement": [{**GOOD, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.300"}}}]},
        "identity",
        "CIDR",
    ),
    (
        "malformed-variable",
        {"Version": "2012-10-17", "Statement": [{**GOOD, "Resource": "arn:aws:s3:::${a b}"}]},
        "identity",
        "policy variable",
    ),
]


@pytest.mark.parametrize(
    ("document", "kind", "message"),
    [pytest.param(d, k, m, id=name) for name, d, k, m in MALFORMED],
)
def test_malformed_policy(document: Any, kind: Any, message: str) -> None:
    with pytest.raises(MalformedPolicy, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(document, kind=kind)


def test_malformed_policy_cases_are_otherwise_valid() -> None:
    assert isinstance(parse_policy({"Statement": [GOOD]}), Policy)
    assert isinstance(parse_policy({"Statement": [{**GOOD, "Principal": "*"}]}, "resource"), Policy)


FUZZ_KEYS = {"aws:username": "backend", "aws:TagKeys": ["a", "b"], "aws:SourceIp": "10.0.0.1"}
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
NAMES = st.sampled_from(
    [
        "Version",
        "Statement",
        "Sid",
        "Effect",
        "Allow",
        "Deny",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "AWS",
        "Condition",
        "StringEquals",
        "ForAllValues:StringLike",
        "NumericLessThanIfExists",
        "DateGreaterThan",
        "IpAddress",
        "Bool",
        "Null",
        "ArnLike",
        "aws:username",
        "*",
        "2012-10-17",
        "sso-oauth:*",
        "arn:aws:sso::${aws:username}:*",
        "111122223333",
    ]
)
POLICY_LIKE = st.recursive(
    NAMES | JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(NAMES, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(document=JSON | POLICY_LIKE | st.text(), kind=st.sampled_from(["identity", "resource"]))
def test_parse_policy_only_raises_malformed_policy(document: Any, kind: Any) -> None:
    try:
        policy = parse_policy(document, kind=kind)
    except MalformedPolicy as exc:
        assert str(exc)
    else:
        assert isinstance(policy, Policy)
        context = ctx(keys=FUZZ_KEYS)
        if kind == "identity":
            assert isinstance(evaluate_identity([policy], context), Decision)
        else:
            assert isinstance(evaluate_resource(policy, context)[0], Decision)
