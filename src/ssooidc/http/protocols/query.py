"""The AWS query protocol (iam, sts): form-encoded requests, XML responses and errors as
botocore's query parser reads them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel
from starlette.responses import Response

from ssooidc.errors import AwsError, UnknownOperation


def action_of(body: bytes) -> str:
    """The ``Action`` member of a form body."""
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if key == "Action":
            return value
    raise UnknownOperation("the request names no Action")


def parse(body: bytes, operation: OperationModel) -> dict[str, Any]:
    """The form body as the operation's input members (flattened lists and maps rebuilt)."""
    raise UnknownOperation(f"{operation.name} is not supported yet")


def response(operation: OperationModel, result: dict[str, Any], request_id: str) -> Response:
    raise NotImplementedError


def error_response(error: AwsError, request_id: str) -> Response:
    code = error.query_code or error.code
    kind = "Sender" if error.sender_fault else "Receiver"
    text = (
        f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{kind}</Type>'
        f"<Code>{_escape(code)}</Code><Message>{_escape(error.description)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(
        text,
        status_code=error.status,
        media_type="text/xml",
        headers={"x-amzn-RequestId": request_id},
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
