"""AWS errors: one class per error shape, raised anywhere, rendered once by the protocol layer.

Each class carries the shape name botocore looks up (``code``), the HTTP status the service
model gives it, and, for sso-oidc, the OAuth ``error`` code that fills the ``error`` member.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class AwsError(Exception):
    """An error that reaches the caller as an AWS error response."""

    code: ClassVar[str] = "InternalServerException"
    status: ClassVar[int] = 400
    oauth_error: ClassVar[str | None] = None
    #: The code the query protocol (iam, sts) uses when it differs from ``code``.
    query_code: ClassVar[str | None] = None
    #: The HTTP status on the query protocol when it differs from ``status``.
    query_status: ClassVar[int | None] = None
    sender_fault: ClassVar[bool] = True

    def __init__(
        self,
        description: str,
        *,
        reason: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.reason = reason
        #: Further members of the error shape (identitystore's ResourceType, ResourceId).
        self.extra: dict[str, Any] = dict(extra or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"


# --- sso-oidc (rest-json); statuses from the service model --------------------------------


class InvalidRequest(AwsError):
    code = "InvalidRequestException"
    oauth_error = "invalid_request"


class InvalidClient(AwsError):
    code = "InvalidClientException"
    status = 401
    oauth_error = "invalid_client"


class InvalidGrant(AwsError):
    code = "InvalidGrantException"
    oauth_error = "invalid_grant"


class UnauthorizedClient(AwsError):
    code = "UnauthorizedClientException"
    oauth_error = "unauthorized_client"


class UnsupportedGrantType(AwsError):
    code = "UnsupportedGrantTypeException"
    oauth_error = "unsupported_grant_type"


class InvalidScope(AwsError):
    code = "InvalidScopeException"
    oauth_error = "invalid_scope"


class AuthorizationPending(AwsError):
    code = "AuthorizationPendingException"
    oauth_error = "authorization_pending"


class SlowDown(AwsError):
    code = "SlowDownException"
    oauth_error = "slow_down"


class AccessDenied(AwsError):
    """sso-oidc's AccessDeniedException and sso-admin's/identitystore's, one shape name."""

    code = "AccessDeniedException"
    oauth_error = "access_denied"
    query_code = "AccessDenied"
    query_status = 403  # iam and sts answer AccessDenied with 403


class ExpiredToken(AwsError):
    code = "ExpiredTokenException"
    oauth_error = "expired_token"


class InvalidClientMetadata(AwsError):
    code = "InvalidClientMetadataException"
    oauth_error = "invalid_client_metadata"


class InvalidRedirectUri(AwsError):
    code = "InvalidRedirectUriException"
    oauth_error = "invalid_redirect_uri"


class InternalServer(AwsError):
    code = "InternalServerException"
    status = 500
    oauth_error = "server_error"
    query_code = "InternalFailure"
    sender_fault = False


# --- SigV4 (every signed API); 403 [spec section 1] ---------------------------------------


class MissingAuthenticationToken(AwsError):
    code = "MissingAuthenticationTokenException"
    query_code = "MissingAuthenticationToken"
    status = 403


class IncompleteSignature(AwsError):
    code = "IncompleteSignatureException"
    query_code = "IncompleteSignature"
    status = 403


class InvalidSignature(AwsError):
    code = "InvalidSignatureException"
    query_code = "SignatureDoesNotMatch"
    status = 403


class UnrecognizedClient(AwsError):
    code = "UnrecognizedClientException"
    query_code = "InvalidClientTokenId"
    status = 403


class ExpiredSessionToken(UnrecognizedClient):
    """An expired session token: UnrecognizedClient on JSON services, ExpiredToken on query."""

    query_code = "ExpiredToken"


# --- json 1.1 control plane (sso-admin, identitystore) ------------------------------------


class Validation(AwsError):
    code = "ValidationException"
    query_code = "ValidationError"


class ResourceNotFound(AwsError):
    code = "ResourceNotFoundException"


class Conflict(AwsError):
    code = "ConflictException"


class Throttling(AwsError):
    code = "ThrottlingException"
    status = 429


class ServiceQuotaExceeded(AwsError):
    code = "ServiceQuotaExceededException"


class UnknownOperation(AwsError):
    code = "UnknownOperationException"
    query_code = "InvalidAction"


class NotFound(AwsError):
    """No route: an HTTP 404 in the AWS error format."""

    code = "NotFoundException"
    status = 404


class PayloadTooLarge(AwsError):
    code = "SerializationException"
    status = 413


class Serialization(AwsError):
    code = "SerializationException"


# --- iam and sts (query); codes and statuses from the service models ----------------------


class NoSuchEntity(AwsError):
    code = "NoSuchEntityException"
    query_code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(AwsError):
    code = "EntityAlreadyExistsException"
    query_code = "EntityAlreadyExists"
    status = 409


class DeleteConflict(AwsError):
    code = "DeleteConflictException"
    query_code = "DeleteConflict"
    status = 409


class LimitExceeded(AwsError):
    code = "LimitExceededException"
    query_code = "LimitExceeded"
    status = 409


class ConcurrentModification(AwsError):
    code = "ConcurrentModificationException"
    query_code = "ConcurrentModification"
    status = 409


class MalformedPolicyDocument(AwsError):
    """iam's and sts's MalformedPolicyDocumentException (one code, status 400 in both)."""

    code = "MalformedPolicyDocumentException"
    query_code = "MalformedPolicyDocument"


class InvalidInput(AwsError):
    code = "InvalidInputException"
    query_code = "InvalidInput"


class UnmodifiableEntity(AwsError):
    """iam: a role that only Identity Center may change (under ``/aws-reserved/``)."""

    code = "UnmodifiableEntityException"
    query_code = "UnmodifiableEntity"


class InvalidContextAssertion(AwsError):
    code = "InvalidContextAssertionException"
    query_code = "InvalidContextAssertion"


# --- the sso portal (rest-json, member ``message``); statuses from the service model -------


class Unauthorized(AwsError):
    """An unknown, expired or revoked bearer token, or one without portal access."""

    code = "UnauthorizedException"
    status = 401


class Forbidden(AwsError):
    """GetRoleCredentials for a role the user is not assigned: AWS answers this unmodelled
    403 ("No access"), which botocore raises as a ClientError with this code."""

    code = "ForbiddenException"
    status = 403
