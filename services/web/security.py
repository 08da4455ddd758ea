"""What every page's answer carries, and CSRF protection of every form.

Headers: a Content-Security-Policy that allows scripts, styles and connections from this service
only (no inline script or style), no framing, no referrer beyond this site, and ``Cache-Control:
no-store`` on pages (they hold phones and e-mails): no shared cache keeps one. The front-end assets
under ``/static`` are cached privately for an hour.

CSRF: every browser gets a random token in an ``HttpOnly`` ``SameSite=Lax`` cookie; every form
carries it in a hidden field (htmx requests in a header), and a POST whose field does not equal the
cookie, or that comes from another origin, is refused with the 403 page (double-submit cookie, as
OWASP's cheat sheet describes it). Signing in gives the browser a new token."""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "ioc_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def secure_cookies(scope: Scope, always: bool) -> bool:
    return always or scope.get("scheme") == "https"


class PageHeaders:
    """Security headers on every answer, and the CSRF cookie for a browser that has none."""

    def __init__(self, app: ASGIApp, *, secure_always: bool = False) -> None:
        self.app, self.secure_always = app, secure_always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.cookies.get(CSRF_COOKIE, "")
        fresh = not (20 <= len(token) <= 100)
        if fresh:
            token = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf"] = token
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", PAGE_POLICY)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
                headers.setdefault("Cache-Control", "private, max-age=3600" if static else "no-store")
                # The token the page's forms carry may be one this answer sets (state.csrf, rotated at sign-in).
                current = scope["state"].get("csrf", token)
                if (fresh or current != token) and not static:
                    headers.append("Set-Cookie", csrf_cookie(current, secure=secure_cookies(scope, self.secure_always)))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_cookie(token: str, *, secure: bool) -> str:
    return f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


def same_origin(request: Request) -> bool:
    """A POST from a page of another site names that site in ``Origin`` (browsers always send it)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def csrf_valid(request: Request) -> bool:
    expected = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    return bool(expected) and secrets.compare_digest(sent.encode(), expected.encode()) and same_origin(request)
