"""The web service: pages for the people who run the directives, over the three APIs.

The operations centre's wall screen (``/ioc``), the Office's board (``/``), a ward's page
(``/don-vi``), adoption (``/ap-dung``) and signing in. Server-rendered (Jinja2) with htmx for the
parts that change in place; it reads and changes data only through the registry, adoption and notifier
APIs, with the signed-in person's session token.

Run with ``uvicorn services.web.app:create_app --factory --port 8003``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.web.access import NotAllowed, PasswordChangeRequired, SignInRequired, sign_in_url
from services.web.clients import SERVICE_NAMES, ApiDown, ApiError, Apis
from services.web.live import Hub
from services.web.pages import account, adoption, board, directory, ioc, ward
from services.web.rendering import render
from services.web.security import PageHeaders
from services.web.sessions import SESSION_COOKIE, SessionStore
from services.web.settings import WebSettings, get_settings
from shared.health import health_router, redis_check
from shared.http import RequestContext
from shared.logs import configure_logging


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per API call is the APIs' own log

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        app.state.sessions = SessionStore(app.state.redis, settings)
        app.state.apis = Apis(settings)
        app.state.hub = Hub(app.state.apis, settings)
        try:
            yield
        finally:
            await app.state.hub.aclose()
            await app.state.apis.aclose()
            await app.state.redis.aclose()

    app = FastAPI(
        title="IOC Hạ Long – Web",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # pages, not an API
    )
    app.state.settings = settings
    for router in (account.router, ioc.router, board.router, directory.router, ward.router, adoption.router):
        app.include_router(router)
    app.include_router(health_router({"redis": redis_check(lambda: app.state.redis)}))
    app.mount("/static", StaticFiles(directory=settings.static_dir, check_dir=False), name="static")
    install_page_handlers(app)
    app.add_middleware(RequestContext)
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: PageHeaders(  # type: ignore[method-assign]  # outermost: errors too
        build_stack(), secure_always=settings.cookie_secure
    )
    return app


def _to_sign_in(request: Request) -> Response:
    target = sign_in_url(request)
    if request.headers.get("hx-request"):
        response: Response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if SESSION_COOKIE in request.cookies:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def install_page_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        return _to_sign_in(request)

    @app.exception_handler(PasswordChangeRequired)
    async def password_change_required(request: Request, exc: PasswordChangeRequired) -> Response:
        return RedirectResponse(f"/doi-mat-khau?next={quote(request.url.path, safe='/')}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return render(request, "errors/403.html", 403, reason=exc.reason)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            # The token was revoked (signed out elsewhere) or expired: this session is over too.
            await request.app.state.sessions.delete(request.cookies.get(SESSION_COOKIE, ""))
            return _to_sign_in(request)
        if exc.status == 403 and exc.code == "password_change_required":
            return RedirectResponse("/doi-mat-khau", status_code=303)
        if exc.status == 403:
            return render(request, "errors/403.html", 403, reason=exc.detail)
        if exc.status == 404:
            return render(request, "errors/404.html", 404)
        return render(request, "errors/problem.html", exc.status, detail=exc.detail)

    @app.exception_handler(ApiDown)
    async def api_down(request: Request, exc: ApiDown) -> Response:
        return render(request, "errors/503.html", 503, service=SERVICE_NAMES[exc.service])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return render(request, "errors/404.html", 404)
        return render(request, "errors/problem.html", exc.status_code, detail=str(exc.detail))
