"""Every request, observed once at the edge: its request id, its metrics and its access-log
line. The endpoints add what only they know (operation, IAM principal, application) to the
request's ``RequestRecord``."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ssooidc.observability.logs import AccessLog
from ssooidc.observability.metrics import Metrics

log = logging.getLogger("ssooidc.http")

SCOPE_KEY = "ssooidc.request"
REQUEST_ID_HEADER = b"x-amzn-requestid"
ERROR_TYPE_HEADER = b"x-amzn-errortype"
#: The operation label of a request that matched no route.
UNMATCHED = "unmatched"
#: The status recorded for a request whose client went away before any answer.
CLIENT_CLOSED = 499
#: The label of a name the client made up (an X-Amz-Target or grant type ssooidc does not
#: serve): metrics and logs must not grow a value per made-up name.
UNKNOWN_OPERATION = "unknown"
TOKEN_GRANTS = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
)


class RequestRecord:
    """What is known about one request: filled in by the endpoints, read once at its end."""

    __slots__ = ("application", "grant", "operation", "principal", "request_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        #: the AWS operation name (or None: the route's path is used)
        self.operation: str | None = None
        #: the authenticated caller's IAM principal ARN
        self.principal: str | None = None
        #: the clientId of a token request
        self.application: str | None = None
        #: the grantType of a token request
        self.grant: str | None = None


class _RequestIds:
    """Request ids in the UUID layout: 80 random bits chosen per process, then a counter.
    Unique across processes and restarts, and ~5x cheaper than ``uuid4`` (no system call)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        prefix = os.urandom(10).hex()
        self._prefix = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-"
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


_ids = _RequestIds()


def new_request_id() -> str:
    return _ids.next()


def request_record(scope: Scope) -> RequestRecord:
    """The request's record (one is made when the app runs without ``ObserveRequests``)."""
    record: RequestRecord | None = scope.get(SCOPE_KEY)
    if record is None:
        record = RequestRecord(new_request_id())
        scope[SCOPE_KEY] = record
    return record


def note_token_request(scope: Scope, parsed: Any) -> None:
    """The application (clientId) and grant type of a token request, for its log line."""
    if not isinstance(parsed, dict):
        return
    record = request_record(scope)
    client_id = parsed.get("clientId")
    if isinstance(client_id, str):
        record.application = client_id[:2048]
    grant = parsed.get("grantType")
    if isinstance(grant, str):
        record.grant = grant if grant in TOKEN_GRANTS else UNKNOWN_OPERATION


class ObserveRequests:
    """ASGI middleware: gives each HTTP request its id (``x-amzn-RequestId`` on every answer,
    pages and 404s included), records its metrics and writes its access-log line. An
    exception that escapes an endpoint is answered with ``fallback`` (an AWS error), never
    with a stack trace."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        fallback: Callable[[str], Response],
        metrics: Metrics | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.app = app
        self.fallback = fallback
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record = RequestRecord(_ids.next())
        scope[SCOPE_KEY] = record
        status = 0
        error: str | None = None

        async def send_observed(message: Message) -> None:
            nonlocal status, error
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                has_id = False
                for name, value in headers:
                    if name == REQUEST_ID_HEADER:
                        has_id = True
                    elif name == ERROR_TYPE_HEADER:
                        error = value.decode("latin-1")
                if not has_id:
                    if not isinstance(headers, list):
                        headers = message["headers"] = list(headers)
                    headers.append((REQUEST_ID_HEADER, record.request_id.encode("ascii")))
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            log.exception("internal error", extra={"request_id": record.request_id})
            if status:
                raise
            await self.fallback(record.request_id)(scope, receive, send_observed)
        finally:
            self._finished(scope, record, status or CLIENT_CLOSED, error, started)

    def _finished(
        self, scope: Scope, record: RequestRecord, status: int, error: str | None, started: float
    ) -> None:
        duration = time.perf_counter() - started
        operation = record.operation
        if operation is None:
            route: Any = scope.get("route")
            operation = getattr(route, "path", None) or UNMATCHED
        try:
            if self.metrics is not None:
                self.metrics.request(operation, status, duration, error)
            if self.access_log is not None:
                client = scope.get("client")
                self.access_log.request(
                    request_id=record.request_id,
                    method=scope["method"],
                    path=scope["path"],
                    operation=operation,
                    status=status,
                    error=error,
                    duration=duration,
                    client=client[0] if client else None,
                    principal=record.principal,
                    application=record.application,
                    grant=record.grant,
                )
        except Exception:
            log.exception("recording a request failed", extra={"request_id": record.request_id})
