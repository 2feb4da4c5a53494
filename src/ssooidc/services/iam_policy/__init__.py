"""IAM policy documents: strict parsing into immutable matchers, and evaluation as IAM does it."""

from ssooidc.services.iam_policy.context import (
    Decision,
    MalformedPolicy,
    PolicyKind,
    RequestContext,
)
from ssooidc.services.iam_policy.document import Policy, parse_policy
from ssooidc.services.iam_policy.evaluate import (
    authorize_with_resource_policy,
    evaluate_identity,
    evaluate_resource,
)

__all__ = [
    "Decision",
    "MalformedPolicy",
    "Policy",
    "PolicyKind",
    "RequestContext",
    "authorize_with_resource_policy",
    "evaluate_identity",
    "evaluate_resource",
    "parse_policy",
]
