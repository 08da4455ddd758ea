"""Who is asking: the signed-in person behind the session cookie, and what their role lets them open.

A page a person may not open answers the 403 page; a page opened without a session sends the browser
to the sign-in page and back afterwards. A person who must change their password is sent there first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from services.web.clients import Caller
from services.web.security import csrf_valid
from services.web.sessions import SESSION_COOKIE, SessionStore, SignedIn


class SignInRequired(Exception):
    """No (live) session: the browser goes to the sign-in page."""


class NotAllowed(Exception):
    """The person's role or unit does not allow this page (the 403 page)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(NotAllowed):
    pass


class PasswordChangeRequired(Exception):
    pass


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/dang-nhap?next={quote(target, safe='/')}"


async def signed_in(request: Request) -> SignedIn:
    store: SessionStore = request.app.state.sessions
    session = await store.load(request.cookies.get(SESSION_COOKIE, ""))
    if session is None:
        raise SignInRequired
    request.state.signed_in = session
    if session.person.must_change_password and request.url.path != "/doi-mat-khau":
        raise PasswordChangeRequired
    return session


def roles(*allowed: str) -> Callable[[Request], Awaitable[SignedIn]]:
    async def check(request: Request) -> SignedIn:
        session = await signed_in(request)
        if session.person.role not in allowed:
            raise NotAllowed("Trang này dành cho " + " hoặc ".join(ROLE_NAMES[r] for r in allowed) + ".")
        return session

    return check


ROLE_NAMES = {"office": "Văn phòng", "ops_centre": "Trung tâm điều hành", "unit": "cán bộ đơn vị"}


def caller(request: Request, session: SignedIn) -> Caller:
    return Caller(session.token, client_address(request))


async def csrf_protected(request: Request) -> None:
    """Every form POST: its token equals the browser's CSRF cookie, and it comes from this site."""
    if request.method == "POST" and not await csrf_valid(request):
        raise CsrfRefused("Biểu mẫu đã hết hạn hoặc không gửi từ trang này. Hãy tải lại trang và gửi lại.")


Office = Annotated[SignedIn, Depends(roles("office"))]
Screen = Annotated[SignedIn, Depends(roles("office", "ops_centre"))]
Anyone = Annotated[SignedIn, Depends(signed_in)]
Csrf = Depends(csrf_protected)
