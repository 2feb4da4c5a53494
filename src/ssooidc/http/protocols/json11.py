"""AWS json 1.1 (sso-admin, identitystore): ``X-Amz-Target`` names the operation; errors carry
``__type`` in the body, which is what botocore reads for this protocol."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ssooidc.errors import AwsError

CONTENT_TYPE = "application/x-amz-json-1.1"


def json11_response(body: Any, request_id: str, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def error_response(error: AwsError, request_id: str) -> Response:
    body: dict[str, Any] = {"__type": error.code, "Message": error.description}
    if error.reason is not None:
        body["Reason"] = error.reason
    for name, value in error.extra.items():
        body.setdefault(name, value)
    response = json11_response(body, request_id, error.status)
    response.headers["x-amzn-ErrorType"] = error.code
    return response
