"""HTTP endpoints of focal-point registrations."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.api.dependencies import Office, Pool, Reader, Registrar, Session
from services.api.directives.service import ensure_addresses_own_unit, get_directive
from services.api.registrations import service
from services.api.registrations.schemas import RegistrationCreate, RegistrationOut, Withdrawal
from shared.auth import Role, ensure_unit_scope

router = APIRouter(tags=["registrations"])


@router.post(
    "/v1/registrations",
    response_model=RegistrationOut,
    status_code=201,
    responses={
        200: {"model": RegistrationOut, "description": "Equal to the active focal point: nothing changed"},
        404: {"description": "Unknown directive or unit"},
        422: {"description": "Unit not addressed by the directive, or invalid fields"},
    },
)
async def register_focal_point(principal: Registrar, body: RegistrationCreate, pool: Pool) -> Response:
    """Nominate a unit's focal point for a directive. A ward app may register its own unit only.

    201: a new version became the active focal point (the previous one, if any, is superseded) and the
    notifier is asked to confirm it. 200: the body equals the active focal point; nothing changes."""
    registration, created = await service.register(pool, body, principal=principal)
    # Serialised here, once: the hot path skips FastAPI's second validation of the response.
    return Response(registration.model_dump_json(), status_code=201 if created else 200, media_type="application/json")


@router.post(
    "/v1/registrations/{registration_id}/withdraw",
    response_model=RegistrationOut,
    responses={404: {"description": "No such registration"}, 409: {"description": "Not active"}},
)
async def withdraw_focal_point(
    session: Session, principal: Office, registration_id: uuid.UUID, body: Withdrawal
) -> RegistrationOut:
    """Withdraw an active focal point (Office only); the unit counts as missing again."""
    return await service.withdraw(session, registration_id, reason=body.reason, by=principal.name)


@router.get("/v1/directives/{directive_id}/focal-points", response_model=list[RegistrationOut])
async def list_focal_points(session: Session, principal: Reader, directive_id: uuid.UUID) -> list[RegistrationOut]:
    """The active focal points of a directive (a ward app sees its own unit's only)."""
    directive = await get_directive(session, directive_id)
    await ensure_addresses_own_unit(session, directive, principal)
    own = principal.unit_code if principal.role is Role.ward_app else None
    return await service.active_focal_points(session, directive, unit_code=own)


@router.get("/v1/directives/{directive_id}/units/{code}/history", response_model=list[RegistrationOut])
async def focal_point_history(
    session: Session,
    principal: Reader,
    directive_id: uuid.UUID,
    code: Annotated[str, Path(max_length=32)],
) -> list[RegistrationOut]:
    """Every version a unit registered for a directive, newest first."""
    ensure_unit_scope(principal, code.upper())
    directive = await get_directive(session, directive_id)
    await ensure_addresses_own_unit(session, directive, principal)
    return await service.history(session, directive, code.upper())
