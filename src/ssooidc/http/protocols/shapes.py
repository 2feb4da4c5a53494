"""The wire contract as data: botocore's service models drive input validation and output
rendering for every operation, so no shape is written here by hand."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Mapping
from typing import Any

import regex
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from ssooidc.errors import AwsError

MAX_DEPTH = 32


@functools.cache
def service_model(name: str) -> ServiceModel:
    loader = Loader()
    return ServiceModel(loader.load_service_model(name, "service-2"), name)


@functools.cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


@functools.lru_cache(maxsize=1024)
def _pattern(text: str) -> Any:
    # The models' patterns are Java regular expressions meant as full matches; the `regex`
    # package reads the \p{..} classes they use.
    return regex.compile(text)


def loads_strict(body: bytes, error: type[AwsError]) -> Any:
    """Parse a JSON request body: UTF-8, no duplicate-free guarantees needed, bounded depth."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise error("the request body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise error("the request body is not valid JSON") from None
    if _depth(value) > MAX_DEPTH:
        raise error("the request body is nested too deeply")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


class Validator:
    """Checks a parsed request against an input shape, as the service would."""

    def __init__(self, error: type[AwsError], *, constraints: bool) -> None:
        self.error = error
        self.constraints = constraints

    def validate(self, shape: Shape, value: Any) -> None:
        problems: list[str] = []
        self._check(shape, value, "", problems, 0)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            raise self.error(f"{count} validation {noun} detected: " + "; ".join(problems[:5]))

    def _check(self, shape: Shape, value: Any, path: str, problems: list[str], depth: int) -> None:
        where = f"'{path}'" if path else "the request"
        kind = shape.type_name
        if depth > MAX_DEPTH:
            problems.append(f"Value at {where} is nested too deeply")
            return
        if kind == "structure":
            if shape.metadata.get("document"):
                return
            if not isinstance(value, dict):
                problems.append(f"Value at {where} must be an object")
                return
            members = shape.members
            for name in shape.required_members:
                if value.get(name) is None:
                    problems.append(
                        f"Value at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
                    )
            for name, item in value.items():
                if name not in members:
                    continue  # unknown members are ignored, as AWS services do
                if item is None:
                    continue
                self._check(members[name], item, _join(path, name), problems, depth + 1)
            if shape.metadata.get("union") and sum(1 for k in value if k in members) != 1:
                problems.append(f"Value at {where} must set exactly one member")
        elif kind == "list":
            if not isinstance(value, list):
                problems.append(f"Value at {where} must be a list")
                return
            self._length(shape, len(value), where, problems)
            for index, item in enumerate(value):
                self._check(shape.member, item, f"{path}.{index + 1}", problems, depth + 1)
        elif kind == "map":
            if not isinstance(value, dict):
                problems.append(f"Value at {where} must be a map")
                return
            self._length(shape, len(value), where, problems)
            for key, item in value.items():
                self._check(shape.key, key, f"{path}.key", problems, depth + 1)
                self._check(shape.value, item, f"{path}.{key}", problems, depth + 1)
        elif kind == "string":
            if not isinstance(value, str):
                problems.append(f"Value at {where} must be a string")
                return
            self._length(shape, len(value), where, problems)
            if self.constraints:
                enum = shape.metadata.get("enum")
                if enum and value not in enum:
                    problems.append(
                        f"Value at {where} failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(enum)}]"
                    )
                pattern = shape.metadata.get("pattern")
                if pattern and not _pattern(pattern).fullmatch(value):
                    problems.append(
                        f"Value at {where} failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
                    )
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"Value at {where} must be an integer")
                return
            if self.constraints:
                low, high = shape.metadata.get("min"), shape.metadata.get("max")
                if low is not None and value < low:
                    problems.append(
                        f"Value at {where} failed to satisfy constraint: Member must have value greater than or equal to {low}"
                    )
                if high is not None and value > high:
                    problems.append(
                        f"Value at {where} failed to satisfy constraint: Member must have value less than or equal to {high}"
                    )
        elif kind == "boolean":
            if not isinstance(value, bool):
                problems.append(f"Value at {where} must be a boolean")
        elif kind in ("float", "double"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"Value at {where} must be a number")
        elif kind == "timestamp":
            if not isinstance(value, int | float | str) or isinstance(value, bool):
                problems.append(f"Value at {where} must be a timestamp")
        elif kind == "blob" and not isinstance(value, str):
            problems.append(f"Value at {where} must be base64 text")

    def _length(self, shape: Shape, length: int, where: str, problems: list[str]) -> None:
        if not self.constraints:
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and length < low:
            problems.append(
                f"Value at {where} failed to satisfy constraint: Member must have length greater than or equal to {low}"
            )
        if high is not None and length > high:
            problems.append(
                f"Value at {where} failed to satisfy constraint: Member must have length less than or equal to {high}"
            )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def render(shape: Shape | None, value: Any) -> Any:
    """A Python value as the output shape serialises it: unknown members dropped, timestamps
    as epoch seconds, documents as they are."""
    if shape is None:
        return {}
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if shape.metadata.get("document"):
            return value
        members = shape.members
        out = {}
        for name, item in value.items():
            if name in members and item is not None:
                out[name] = render(members[name], item)
        return out
    if kind == "list":
        return [render(shape.member, item) for item in value]
    if kind == "map":
        return {k: render(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        return float(value)
    return value


def check_input(operation: OperationModel, body: Mapping[str, Any], validator: Validator) -> None:
    if operation.input_shape is not None:
        validator.validate(operation.input_shape, body)
