"""Signing in and out, and changing one's password.

The registry checks the password, counts failures per (login, address) and answers a session token;
this service keeps the token in Redis behind a random id in the session cookie, and forwards the
browser's address so that the lockout and the audit trail see the person."""

from __future__ import annotations

import contextlib
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.web.access import Anyone, Csrf, caller, client_address
from services.web.clients import ApiDown, ApiError, Apis, Caller
from services.web.rendering import render
from services.web.security import secure_cookies
from services.web.sessions import SESSION_COOKIE, Person, SessionStore

router = APIRouter()


def home_of(person: Person) -> str:
    if person.role == "office":
        return "/"
    if person.role == "ops_centre":
        return "/ioc"
    return f"/don-vi/{person.unit_code}"


def safe_next(target: str | None) -> str | None:
    """A path of this site only: never another host (``//evil``, ``/\\evil``, ``https://…``)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target:
        return target
    return None


@router.get("/dang-nhap")
async def sign_in_page(request: Request, next: str = "", da_dang_xuat: str = "") -> Response:  # noqa: A002
    notice = "Bạn đã đăng xuất." if da_dang_xuat else None
    return render(request, "account/sign_in.html", errors={}, values={}, next=safe_next(next) or "", notice=notice)


@router.post("/dang-nhap", dependencies=[Csrf])
async def sign_in(
    request: Request,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002
) -> Response:
    login = login.strip()
    errors = {}
    if not login:
        errors["login"] = "Nhập tên đăng nhập"
    if not password:
        errors["password"] = "Nhập mật khẩu"  # noqa: S105 (a message, not a password)
    status = 422
    if not errors:
        apis: Apis = request.app.state.apis
        try:
            answer = await apis.post_json(
                "registry",
                "/v1/sessions",
                Caller("", client_address(request), {"User-Agent": request.headers.get("user-agent", "")[:200]}),
                {"login": login, "password": password},
            )
        except ApiError as exc:
            # One message whatever was wrong (login, password, locked): the registry's own.
            errors["password"] = exc.detail or "Tên đăng nhập hoặc mật khẩu không đúng"
            status = exc.status if exc.status in (401, 429) else 422
        else:
            person = Person.from_api(answer["person"])
            store: SessionStore = request.app.state.sessions
            session = await store.create(answer["token"], person)
            target = "/doi-mat-khau" if person.must_change_password else (safe_next(next) or home_of(person))
            response = RedirectResponse(target, status_code=303)
            secure = secure_cookies(request.scope, request.app.state.settings.cookie_secure)
            response.set_cookie(
                SESSION_COOKIE, session.session_id, httponly=True, samesite="lax", secure=secure, path="/"
            )
            request.state.csrf = secrets.token_urlsafe(32)  # a new CSRF token with the new session
            return response
    return render(
        request, "account/sign_in.html", status, errors=errors, values={"login": login}, next=safe_next(next) or ""
    )


@router.post("/dang-xuat", dependencies=[Csrf])
async def sign_out(request: Request) -> Response:
    store: SessionStore = request.app.state.sessions
    session = await store.load(request.cookies.get(SESSION_COOKIE, ""))
    if session is not None:
        apis: Apis = request.app.state.apis
        with contextlib.suppress(ApiError, ApiDown):  # signed out here whatever the registry says
            await apis.send("registry", "DELETE", "/v1/sessions/current", caller(request, session))
        await store.delete(session.session_id)
    response = RedirectResponse("/dang-nhap?da_dang_xuat=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    request.state.csrf = secrets.token_urlsafe(32)
    return response


@router.get("/doi-mat-khau")
async def change_password_page(request: Request, session: Anyone) -> Response:
    return render(request, "account/change_password.html", errors={}, done=False)


@router.post("/doi-mat-khau", dependencies=[Csrf])
async def change_password(
    request: Request,
    session: Anyone,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    errors = {}
    if not current_password:
        errors["current_password"] = "Nhập mật khẩu hiện tại"  # noqa: S105
    if not new_password:
        errors["new_password"] = "Nhập mật khẩu mới"  # noqa: S105
    elif new_password != confirm_password:
        errors["confirm_password"] = "Mật khẩu nhập lại không khớp với mật khẩu mới"  # noqa: S105
    if not errors:
        apis: Apis = request.app.state.apis
        try:
            await apis.send(
                "registry",
                "POST",
                "/v1/sessions/current/password",
                caller(request, session),
                json={"current_password": current_password, "new_password": new_password},
            )
        except ApiError as exc:
            if exc.status not in (400, 403, 422):
                raise
            errors = exc.field_errors() or {"current_password": exc.detail}
            errors = {
                ("current_password" if k not in ("current_password", "new_password") else k): v
                for k, v in errors.items()
            }
        else:
            store: SessionStore = request.app.state.sessions
            person = Person(**{**session.person.__dict__, "must_change_password": False})
            await store.update(session, person)
            request.state.signed_in = await store.load(session.session_id)
            return render(request, "account/change_password.html", done=True, errors={}, home=home_of(person))
    return render(request, "account/change_password.html", 422, errors=errors, done=False)
