"""Prometheus metrics every HTTP service exposes at ``/metrics``: request counts and latency by route."""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import monitoring

REQUESTS = Counter("ioc_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "ioc_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetrics:
    def __init__(self, app: ASGIApp, service: str, routes: Sequence[BaseRoute] = ()) -> None:
        self.app, self.service, self.routes = app, service, routes
        # Each label set's counter and histogram, looked up once: ``labels()`` checks and locks on every
        # call. As many as the label sets the metrics hold (methods, route templates and statuses).
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _route(self, scope: Scope) -> str:
        """The route template ("/v1/units/{code}"), never the raw path: label sets stay bounded.
        FastAPI names the route it served in the scope for its own routes only; the others
        (/docs, /openapi.json) are found here."""
        if (route := scope.get("route")) is not None:
            return getattr(route, "path", "unmatched")
        for route in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                return getattr(route, "path", "unmatched")
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            elapsed = time.perf_counter() - started
            key = (scope["method"], self._route(scope), status)
            if (series := self._series.get(key)) is None:
                method, route, _ = key
                series = self._series[key] = (
                    REQUESTS.labels(self.service, method, route, str(status)),
                    LATENCY.labels(self.service, method, route),
                )
            series[0].inc()
            series[1].observe(elapsed)


def metrics_router() -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False, dependencies=[Depends(monitoring)])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
