"""AWS errors: one class per error shape, raised anywhere, rendered once by the protocol layer.

Each class carries the shape name botocore looks up (``code``), the HTTP status the service
model gives it, and, for sso-oidc, the OAuth ``error`` code that fills the ``error`` member.
"""

from __future__ import annotations

from typing import ClassVar


class AwsError(Exception):
    """An error that reaches the caller as an AWS error response."""

    code: ClassVar[str] = "InternalServerException"
    status: ClassVar[int] = 400
    oauth_error: ClassVar[str | None] = None
    #: The code the query protocol (iam, sts) uses when it differs from ``code``.
    query_code: ClassVar[str | None] = None
    sender_fault: ClassVar[bool] = True

    def __init__(self, description: str, *, reason: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.reason = reason

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
