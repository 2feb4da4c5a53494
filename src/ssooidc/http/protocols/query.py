"""The AWS query protocol (iam, sts): form-encoded requests, XML responses and errors as
botocore's query parser reads them. Every shape comes from the service model: requests are
read and responses written member by member, as botocore's QuerySerializer and QueryParser
do, so no operation has code of its own here."""

from __future__ import annotations

import base64
import datetime
import math
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from starlette.responses import Response

from ssooidc.errors import AwsError, UnknownOperation, Validation

NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
CONTENT_TYPE = "text/xml"
#: More form fields than any iam or sts request needs (the body is limited to 64 KiB too).
MAX_FIELDS = 2000
_MAX_INDEX_DIGITS = 6
_INTEGER = re.compile(r"-?[0-9]{1,19}")
# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CREDENTIAL = re.compile(r"Credential=[^/,\s]*/[^/,\s]*/[^/,\s]*/([^/,\s]*)/")


def action_of(body: bytes) -> str:
    """The ``Action`` member of a form body."""
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if key == "Action":
            return value
    raise UnknownOperation("the request names no Action")


def signing_service(authorization: str | None) -> str:
    """The service an Authorization header's credential scope names (iam unless it says sts),
    for the namespace of an error raised before the signature is verified."""
    match = _CREDENTIAL.search(authorization or "")
    return "sts" if match is not None and match.group(1) == "sts" else "iam"


# -- requests ------------------------------------------------------------------------------


class _Node:
    """One dotted segment of the form's keys: its own value and the segments below it."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def parse(body: bytes, operation: OperationModel) -> dict[str, Any]:
    """The form body as the operation's input members (lists and maps rebuilt, scalars typed
    by the input shape); unknown members are ignored, malformed ones are ValidationError."""
    shape = operation.input_shape
    if shape is None:
        return {}
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:  # bad UTF-8 (UnicodeDecodeError) or too many fields
        raise Validation("the request body is not a valid UTF-8 form of a bounded size") from None
    tops = {_member_key(member, name) for name, member in shape.members.items()}
    root = _tree(pairs, tops)
    value = _read(shape, root, "")
    return value if isinstance(value, dict) else {}


def _tree(pairs: Iterable[tuple[str, str]], tops: set[str]) -> _Node:
    root = _Node()
    for key, value in pairs:
        parts = key.split(".")
        if parts[0] not in tops:
            continue
        node = root
        for part in parts:
            node = node.children.setdefault(part, _Node())
        node.value = value
    return root


def _member_key(member: Shape, name: str) -> str:
    """The key (or XML element) a structure member travels under (botocore's naming)."""
    if isinstance(member, ListShape) and member.serialization.get("flattened"):
        element = member.member.serialization.get("name")
        if element:
            return str(element)
    return str(member.serialization.get("name", name))


def _indexed(node: _Node) -> list[_Node]:
    """The children of a list or map node named 1, 2, ..., in numeric order."""
    found = [
        (int(key), child)
        for key, child in node.children.items()
        if key.isascii() and key.isdigit() and len(key) <= _MAX_INDEX_DIGITS
    ]
    return [child for _, child in sorted(found, key=lambda item: item[0])]


def _read(shape: Shape, node: _Node, where: str) -> Any:
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            child = node.children.get(_member_key(member, name))
            if child is not None:
                value = _read(member, child, f"{where}.{name}" if where else name)
                if value is not None:
                    out[name] = value
        return out
    if isinstance(shape, ListShape):
        if shape.serialization.get("flattened"):
            items = node
        else:
            items = node.children.get(shape.member.serialization.get("name", "member")) or _Node()
        values = [_read(shape.member, child, f"{where}.member") for child in _indexed(items)]
        return [v for v in values if v is not None]
    if isinstance(shape, MapShape):
        entries = node if shape.serialization.get("flattened") else node.children.get("entry")
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        mapping: dict[str, Any] = {}
        for entry in _indexed(entries or _Node()):
            key_node, value_node = entry.children.get(key_name), entry.children.get(value_name)
            if key_node is None or key_node.value is None or value_node is None:
                raise Validation(f"an entry of '{where}' needs a {key_name} and a {value_name}")
            item = _read(shape.value, value_node, f"{where}.{key_node.value}")
            if item is not None:
                mapping[key_node.value] = item
        return mapping
    if node.value is None:
        return None
    return _scalar(shape, node.value, where)


def _scalar(shape: Shape, text: str, where: str) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        if _INTEGER.fullmatch(text) is None:
            raise Validation(f"Value '{_echo(text)}' at '{where}' must be an integer")
        return int(text)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise Validation(f"Value '{_echo(text)}' at '{where}' must be true or false")
        return text.lower() == "true"
    if kind in ("float", "double"):
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise Validation(f"Value '{_echo(text)}' at '{where}' must be a number")
        return number
    if kind == "timestamp":
        return _timestamp_in(text, where)
    return text  # strings, and blobs as their base64 text


def _timestamp_in(text: str, where: str) -> float:
    """An ISO 8601 timestamp (or epoch seconds), as botocore's serializer sends them."""
    try:
        if _INTEGER.fullmatch(text):
            return float(int(text))
        moment = datetime.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise Validation(f"Value '{_echo(text)}' at '{where}' must be a timestamp") from None


def _echo(text: str) -> str:
    return text if len(text) <= 64 else text[:64] + "..."


# -- responses -----------------------------------------------------------------------------


def response(operation: OperationModel, result: dict[str, Any], request_id: str) -> Response:
    """``<OpResponse><OpResult>..</OpResult><ResponseMetadata>..`` from the output shape."""
    name = operation.name
    namespace = operation.service_model.metadata.get("xmlNamespace", "")
    out = [f'<{name}Response xmlns="{_escape(namespace)}">']
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
        out.append(f"<{wrapper}>")
        _members(shape, result, out)
        out.append(f"</{wrapper}>")
    out.append(
        f"<ResponseMetadata><RequestId>{_escape(request_id)}</RequestId></ResponseMetadata>"
        f"</{name}Response>"
    )
    return Response(
        "".join(out).encode("utf-8"),
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def _members(shape: StructureShape, value: Any, out: list[str]) -> None:
    if not isinstance(value, dict):
        raise TypeError(f"{shape.name} must be rendered from a dict")
    for name, member in shape.members.items():
        item = value.get(name)
        if item is not None and not member.serialization.get("xmlAttribute"):
            _write(member, item, _member_key(member, name), out)


def _write(shape: Shape, value: Any, tag: str, out: list[str]) -> None:
    if isinstance(shape, StructureShape):
        out.append(f"<{tag}>")
        _members(shape, value, out)
        out.append(f"</{tag}>")
    elif isinstance(shape, ListShape):
        if shape.serialization.get("flattened"):
            for item in value:
                _write(shape.member, item, tag, out)
            return
        element = shape.member.serialization.get("name", "member")
        out.append(f"<{tag}>")
        for item in value:
            _write(shape.member, item, element, out)
        out.append(f"</{tag}>")
    elif isinstance(shape, MapShape):
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        flattened = bool(shape.serialization.get("flattened"))
        if not flattened:
            out.append(f"<{tag}>")
        for key, item in value.items():
            out.append(f"<{tag}>" if flattened else "<entry>")
            _write(shape.key, key, key_tag, out)
            _write(shape.value, item, value_tag, out)
            out.append(f"</{tag}>" if flattened else "</entry>")
        if not flattened:
            out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{_escape(_text(shape, value))}</{tag}>")


def _text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("integer", "long"):
        return str(int(value))
    if kind in ("float", "double"):
        return repr(float(value))
    if kind == "timestamp":
        return _timestamp_out(value)
    if kind == "blob" and isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _timestamp_out(value: Any) -> str:
    """ISO 8601 in UTC, with milliseconds only when there are some (as AWS writes them)."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    else:
        moment = datetime.datetime.fromtimestamp(float(value), datetime.UTC)
    moment = moment.astimezone(datetime.UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _escape(text: str) -> str:
    text = _NOT_XML.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


# -- errors --------------------------------------------------------------------------------


def error_response(error: AwsError, request_id: str, service: str = "iam") -> Response:
    """``<ErrorResponse><Error><Type><Code><Message></Error><RequestId>``, the query code."""
    code = error.query_code or error.code
    kind = "Sender" if error.sender_fault else "Receiver"
    namespace = NAMESPACES.get(service, NAMESPACES["iam"])
    text = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type>'
        f"<Code>{_escape(code)}</Code><Message>{_escape(error.description)}</Message></Error>"
        f"<RequestId>{_escape(request_id)}</RequestId></ErrorResponse>"
    )
    return Response(
        text.encode("utf-8"),
        status_code=error.query_status or error.status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code},
    )
