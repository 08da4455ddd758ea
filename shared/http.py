"""ASGI middlewares every HTTP service uses: request ids with access logs, the body-size limit, security
headers on every response, and cross-origin (CORS) rules for browsers."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import send_problem


class RequestContext:
    """Gives each request an id (kept from ``X-Request-ID`` when sane), binds it to every log line,
    returns it in the response, and writes one access-log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The app's own logger, bound to the logging its app configured (a process may make several).
        self.log = structlog.get_logger("http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["path"] not in ("/healthz", "/readyz", "/metrics"):
                self.log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with 413, by Content-Length or while streaming, before any
    handler parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        refused = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await self._refuse(scope, send)
        except Exception:
            if refused and not response_started:
                await self._refuse(scope, send)
            else:
                raise

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await send_problem(
            scope, send, 413, "payload-too-large", params={"limit": self.max_bytes}, headers={"Connection": "close"}
        )


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive``: FastAPI lets HTTP exceptions out of body parsing untouched, and the
    problem handlers answer it with 413 when a route was already reading."""

    def __init__(self, limit: int) -> None:
        super().__init__(413)
        self.params = {"limit": limit}


# The APIs answer JSON, CSV and XLSX, never a page: nothing in a response may load, run or be framed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The HTML pages (/docs, /redoc) are FastAPI's, with their assets served by the service itself
# (fastapi-offline): its page scripts are inline, ReDoc runs a worker from a blob, and both fetch
# /openapi.json from the service. Nothing comes from another host.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # Answers carry focal points' phones and e-mails: no cache keeps them, unless a route says otherwise
    # (the adoption metrics are cached privately and revalidated with their ETag, as the contract says).
    (b"cache-control", b"no-store"),
)
_API_HEADERS = (*_COMMON, (b"content-security-policy", API_POLICY.encode()))
_DOCS_HEADERS = (*_COMMON, (b"content-security-policy", DOCS_POLICY.encode()))


class SecurityHeaders:
    """Adds the security headers to every response, errors included, keeping any a route set itself.

    It wraps the whole app (``shared.web`` puts it outside Starlette's error middleware), so that a
    500 carries them too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                headers += [h for h in (_DOCS_HEADERS if html else _API_HEADERS) if h[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CrossOrigin(CORSMiddleware):
    """Browsers may call the APIs from the origins listed in ``IOC_CORS_ORIGINS`` only: none by default.

    Starlette's CORS middleware answers the rest: responses name an allowed origin only, and a
    preflight that fails (origin, method or header not allowed) is refused here with 403 and a
    problem document instead of its plain-text 400. No credentials: the APIs authenticate with keys
    in a header, never cookies."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=("GET", "HEAD", "POST", "PUT", "PATCH"),
            allow_headers=("Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "X-Request-ID"),
            expose_headers=(
                "Content-Disposition",
                "ETag",
                "Idempotent-Replayed",
                "Location",
                "Retry-After",
                "X-Request-ID",
            ),
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code >= 400:
                    await send_problem(scope, send, 403, "forbidden", "cors-refused", headers={"Vary": "Origin"})
                else:
                    await response(scope, receive, send)
                return
        if not self.allow_origins:  # no origin is ever allowed: an answer has nothing to say to a browser
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
