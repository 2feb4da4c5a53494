"""The operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (the store
answers too) and ``/metrics`` (Prometheus, summed over the server's workers)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ssooidc.errors import NotFound
from ssooidc.http.observe import request_record
from ssooidc.http.protocols import restjson
from ssooidc.observability.metrics import CONTENT_TYPE, Metrics
from ssooidc.observability.readiness import StoreReadiness


class HealthEndpoints:
    def __init__(self, readiness: StoreReadiness, metrics: Metrics | None) -> None:
        self.readiness = readiness
        self.metrics = metrics

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        """200 when the store answers a real query now, else 503."""
        if not await self.readiness.ready():
            return PlainTextResponse("store unavailable", status_code=503)
        return PlainTextResponse("ready")

    async def exposition(self, request: Request) -> Response:
        if self.metrics is None:
            error = NotFound("no such resource")
            return restjson.error_response(error, request_record(request.scope).request_id)
        # Reading every worker's files is file I/O: off the event loop.
        body = await asyncio.to_thread(self.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def health_routes(readiness: StoreReadiness, metrics: Metrics | None) -> list[Route]:
    endpoints = HealthEndpoints(readiness, metrics)
    return [
        Route("/healthz", endpoints.healthz, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Route("/metrics", endpoints.exposition, methods=["GET"]),
    ]
