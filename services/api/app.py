"""The registry's HTTP app: units, directives, focal-point registrations, compliance, keys.

Run with ``uvicorn services.api.app:create_app --factory`` (``make run`` does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import redis.asyncio as aioredis
from fastapi import FastAPI

from services.api.compliance.router import router as compliance_router
from services.api.directives.router import router as directives_router
from services.api.keys.router import router as keys_router
from services.api.models import idempotency_keys
from services.api.registrations.router import router as registrations_router
from services.api.settings import RegistrySettings, get_settings
from services.api.units.router import router as units_router
from shared.auth import RateLimiter, Role
from shared.db import create_engine, session_factory
from shared.health import database_check, health_router, redis_check
from shared.http import BodyLimit, RequestContext
from shared.idempotency import IdempotencyMiddleware
from shared.logs import configure_logging
from shared.metrics import RequestMetrics, metrics_router
from shared.problems import install_problem_handlers

DESCRIPTION = """
Registry of the Hạ Long Intelligent Operations Centre (dispatch 984/UBND): the unit directory,
directives with deadlines, focal-point registrations posted by ward apps, and compliance for the Office.

Authenticate with `Authorization: Bearer <key>`. Errors are RFC 9457 `application/problem+json`, in
Vietnamese unless `Accept-Language` prefers English. Every POST accepts an `Idempotency-Key`.
"""


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        # Key lookups run outside any transaction: one round trip, no BEGIN/ROLLBACK.
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
        title="IOC Hạ Long – Registry",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(
        {
            Role.office: settings.rate_limit_office,
            Role.ward_app: settings.rate_limit_ward_app,
            Role.ops_centre: settings.rate_limit_ops_centre,
            Role.app_backend: settings.rate_limit_app_backend,
        }
    )
    install_problem_handlers(app)
    for router in (units_router, directives_router, registrations_router, compliance_router, keys_router):
        app.include_router(router)
    app.include_router(
        health_router(
            {
                "database": database_check(lambda: app.state.engine),
                "redis": redis_check(lambda: app.state.redis),
            }
        )
    )
    app.include_router(metrics_router())

    # Added innermost first: a request meets RequestContext, metrics, the body limit, then idempotency.
    app.add_middleware(
        IdempotencyMiddleware,
        engine_getter=lambda scope: scope["app"].state.auth_engine,
        table=idempotency_keys,
        lease=timedelta(seconds=30),
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, service="registry")
    app.add_middleware(RequestContext)
    return app
