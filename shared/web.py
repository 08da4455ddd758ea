"""What every HTTP service has in common, assembled once: the database engine and Redis client for
the app's lifetime, API-key auth with its cache and its revocation listener, problem+json errors,
request ids and access logs, metrics, the body limit, Idempotency-Key, security headers and CORS rules,
``/healthz`` and ``/readyz``, and the OpenAPI document with every error (``shared.openapi``) shown at
``/docs`` and ``/redoc`` by assets the service serves itself (the city's network reaches no CDN)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi_offline import FastAPIOffline
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from shared import redis_clients
from shared.auth import KeyCache, RateLimiter, Role
from shared.db import asyncpg_dsn, create_engine, create_pg_pool, session_factory
from shared.health import database_check, health_router, redis_check
from shared.http import BodyLimit, CrossOrigin, RequestContext, SecurityHeaders
from shared.idempotency import IdempotencyMiddleware
from shared.logs import configure_logging
from shared.metrics import RequestMetrics
from shared.openapi import problem_document
from shared.pglisten import listen_forever
from shared.problems import install_problem_handlers
from shared.queues import queue_name
from shared.settings import CommonSettings

Listener = tuple[str, Callable[[], None], Callable[[bool], None]]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


# A request's database session. It only opens and closes: each use case commits in its service
# function before returning, so a failed commit can never follow a success response.
Session = Annotated[AsyncSession, Depends(_session)]


def create_service_app(
    settings: CommonSettings,
    *,
    service: str,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    idempotency_table: Table,
    max_body_bytes: int = 1024 * 1024,
    listeners: Sequence[Listener] = (),
) -> FastAPI:
    """The service's app; ``listeners`` are extra (channel, on_notice, on_state) LISTENs kept for its life."""
    configure_logging(settings.log_level, json_output=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine, app.state.sessions = engine, session_factory(engine)
        # Hot paths (key lookups, registrations) use asyncpg's own pool: no ORM, no greenlet hop.
        app.state.pg = await create_pg_pool(settings)
        app.state.redis = redis_clients.client(settings)
        if settings.rate_limit_shared:
            app.state.rate_limiter.attach(app.state.redis, queue_name(settings, service))
        cache: KeyCache = app.state.key_cache
        tasks = [
            asyncio.create_task(
                listen_forever(
                    asyncpg_dsn(settings.database_url),
                    channel,
                    on_notice,
                    on_state=on_state,
                    connect_timeout=settings.db_connect_timeout_seconds,
                )
            )
            for channel, on_notice, on_state in [(KeyCache.CHANNEL, cache.clear, cache.listening), *listeners]
        ]
        gc.freeze()  # what exists after start-up lives forever: keep it out of every collection
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            app.state.rate_limiter.detach()
            await app.state.redis.aclose()
            await app.state.pg.close()
            await engine.dispose()

    app = FastAPIOffline(
        title=title,
        version="1.0.0",
        description=description,
        lifespan=lifespan,
        static_url="/docs/assets",
        # The validator badge would send the document to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.key_cache = KeyCache()
    app.state.rate_limiter = RateLimiter(
        {Role(role): limit for role, limit in settings.rate_limits().items()},
        timeout=settings.rate_limit_redis_timeout_seconds,
        retry_seconds=settings.rate_limit_redis_retry_seconds,
        grant_seconds=settings.rate_limit_grant_seconds,
    )
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(
        health_router(
            {
                "database": database_check(lambda: app.state.engine),
                "redis": redis_check(lambda: app.state.redis),
            }
        )
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's way to replace its document

    # Added innermost first: a request meets the security headers, RequestContext, metrics, the CORS
    # rules, the body limit, idempotency, then empty query values are dropped.
    app.add_middleware(EmptyQueryValues)
    app.add_middleware(
        IdempotencyMiddleware,
        table=idempotency_table,
        lease=timedelta(seconds=30),
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(CrossOrigin, origins=settings.cors_origins)
    app.add_middleware(RequestMetrics, service=service, routes=app.routes)
    app.add_middleware(RequestContext)
    # Outside Starlette's own error middleware, so that an unexpected 500 carries the headers too.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack())  # type: ignore[method-assign]  # see above
    return app


class EmptyQueryValues:
    """An empty query parameter (``?kind=&q=``, as the contract's own examples write) is an absent one:
    it is dropped from the query string before anything reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if scope["type"] == "http" and query:
            kept = [part for part in query.split(b"&") if part.partition(b"=")[2]]
            if len(kept) != query.count(b"&") + 1:
                scope = {**scope, "query_string": b"&".join(kept)}
        await self.app(scope, receive, send)
