"""The notifier's HTTP app: the Office's view of notifications, SMS delivery receipts, health, metrics.

Run with ``uvicorn services.notifier.app:create_app --factory --port 8002``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import func, select

from services.notifier.models import Notification, idempotency_keys
from services.notifier.notifications.router import router as notifications_router
from services.notifier.receipts import router as receipts_router
from services.notifier.settings import NotifierSettings, get_settings
from shared.auth import RateLimiter, Role
from shared.db import create_engine, session_factory
from shared.health import database_check, health_router, redis_check
from shared.http import BodyLimit, RequestContext
from shared.idempotency import IdempotencyMiddleware
from shared.logs import configure_logging
from shared.metrics import RequestMetrics
from shared.problems import install_problem_handlers

NOTIFICATIONS = Gauge("ioc_notifications", "Notifications by channel and status", ["channel", "status"])


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine, app.state.sessions = engine, session_factory(engine)
        app.state.auth_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        app.state.redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="IOC Hạ Long – Notifier",
        version="1.0.0",
        lifespan=lifespan,
        description="E-mail and SMS to focal points, units and the Office: what was sent, to whom, and its state.",
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(
        {Role.office: 600, Role.ops_centre: 600, Role.ward_app: 120, Role.app_backend: 600}
    )
    install_problem_handlers(app)
    app.include_router(notifications_router)
    app.include_router(receipts_router)
    app.include_router(
        health_router(
            {
                "database": database_check(lambda: app.state.engine),
                "redis": redis_check(lambda: app.state.redis),
            }
        )
    )

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Request metrics, and the notifications by channel and status (counted at scrape time)."""
        async with request.app.state.sessions() as session:
            rows = await session.execute(
                select(Notification.channel, Notification.status, func.count()).group_by(
                    Notification.channel, Notification.status
                )
            )
        NOTIFICATIONS.clear()
        for channel, status, count in rows:
            NOTIFICATIONS.labels(channel, status).set(count)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        IdempotencyMiddleware,
        engine_getter=lambda scope: scope["app"].state.auth_engine,
        table=idempotency_keys,
        lease=timedelta(seconds=30),
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, service="notifier")
    app.add_middleware(RequestContext)
    return app
