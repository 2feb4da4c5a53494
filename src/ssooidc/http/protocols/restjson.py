"""rest-json responses (sso-oidc, the sso portal): bodies, and errors botocore maps to the
modelled exceptions through ``x-amzn-ErrorType``."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ssooidc.errors import AwsError


def json_response(body: Any, request_id: str, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-RequestId": request_id, "Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def error_response(error: AwsError, request_id: str) -> Response:
    body: dict[str, Any]
    if error.oauth_error is not None:
        body = {
            "error": error.oauth_error,
            "error_description": error.description,
            "message": error.description,
        }
        if error.reason is not None:
            body["reason"] = error.reason
    else:
        body = {"message": error.description}
    response = json_response(body, request_id, error.status)
    response.headers["x-amzn-ErrorType"] = error.code
    return response
