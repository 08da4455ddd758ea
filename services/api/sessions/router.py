"""HTTP endpoints of people's sessions: sign in, the current session, sign out, change the password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.api.dependencies import Session
from services.api.sessions import service
from services.api.sessions.schemas import PasswordChange, SessionCreated, SessionOut, SignIn
from shared.auth import Principal, require_session
from shared.openapi import problem_responses

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
Person = Annotated[Principal, Depends(require_session)]


def client_address(request: Request) -> str:
    """The request's address: the peer's, or the browser's that a trusted proxy (uvicorn's
    ``--forwarded-allow-ips``, loopback by default) named in ``X-Forwarded-For``."""
    return request.client.host if request.client else "unknown"


@router.post(
    "",
    response_model=SessionCreated,
    status_code=201,
    responses=problem_responses(
        {
            401: "Wrong login or password, or a disabled account (one message for all)",
            429: "Too many failures for this login from this address: locked for a while (Retry-After)",
        }
    ),
)
async def sign_in(request: Request, session: Session, body: SignIn) -> SessionCreated:
    """Sign in with a login and password. The token works on every service like an API key, until it is
    revoked (sign-out) or unused for `IOC_SESSION_IDLE_HOURS` (12)."""
    return await service.sign_in(
        session,
        request.app.state.settings,
        login=body.login,
        password=body.password,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )


@router.get("/current", response_model=SessionOut)
async def current_session(request: Request, session: Session, principal: Person) -> SessionOut:
    """The person signed in, and when the session expires unless used."""
    return await service.current(session, request.app.state.settings, principal)


@router.delete("/current", status_code=204, response_class=Response)
async def sign_out(request: Request, session: Session, principal: Person) -> Response:
    """Sign out: the token answers 401 on every service from now on."""
    await service.sign_out(session, principal, address=client_address(request))
    request.app.state.key_cache.clear()  # other processes hear of it through PostgreSQL NOTIFY
    return Response(status_code=204)


@router.post("/current/password", status_code=204, response_class=Response)
async def change_password(request: Request, session: Session, principal: Person, body: PasswordChange) -> Response:
    """Change the password (at least 12 characters, not the login). The person's other sessions end."""
    await service.change_password(
        session,
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
        address=client_address(request),
    )
    request.app.state.key_cache.clear()
    return Response(status_code=204)
