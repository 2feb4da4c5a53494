"""Evaluation as IAM does it: explicit Deny wins; the resource policy (ActorPolicy) is the gate."""

from __future__ import annotations

from collections.abc import Sequence

from ssooidc.services.iam_policy.context import Decision, PolicyKind, RequestContext
from ssooidc.services.iam_policy.document import Policy


def _require(policy: Policy, kind: PolicyKind) -> None:
    if policy.kind != kind:
        raise ValueError(f"expected a {kind} policy, got a {policy.kind} policy")


def evaluate_identity(policies: Sequence[Policy], ctx: RequestContext) -> Decision:
    """Identity policies: any matching Deny denies, else any matching Allow allows."""
    allowed = False
    for policy in policies:
        _require(policy, "identity")
        for st in policy.statements:
            if st.matches(ctx):
                if not st.allow:
                    return Decision.DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def evaluate_resource(policy: Policy, ctx: RequestContext) -> tuple[Decision, bool]:
    """A resource policy: the decision, and whether the Allow named only the caller's account."""
    _require(policy, "resource")
    allowed = direct = False
    for st in policy.statements:
        named = st.principal(ctx)
        if named is None or not st.matches(ctx):
            continue
        if not st.allow:
            return Decision.DENY, False
        allowed = True
        direct = direct or named == "direct"
    if allowed:
        return Decision.ALLOW, not direct
    return Decision.IMPLICIT_DENY, False


def authorize_with_resource_policy(
    resource_policy: Policy | None, identity_policies: Sequence[Policy], ctx: RequestContext
) -> Decision:
    """Row 4: the resource policy must name the caller; any explicit Deny wins."""
    # A "*" principal names the caller directly, as a user or role ARN does; naming the
    # account (or a caller from another account than the resource's) also needs an identity Allow.
    if resource_policy is None:
        return Decision.IMPLICIT_DENY
    identity = evaluate_identity(identity_policies, ctx)
    resource, via_account = evaluate_resource(resource_policy, ctx)
    if Decision.DENY in (identity, resource):
        return Decision.DENY
    if resource is not Decision.ALLOW:
        return Decision.IMPLICIT_DENY
    cross_account = ctx.resource_account is not None and ctx.resource_account != ctx.account
    if (via_account or cross_account) and identity is not Decision.ALLOW:
        return Decision.IMPLICIT_DENY
    return Decision.ALLOW
