"""HTTP endpoints of focal-point registrations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.api.dependencies import Pool, Reader, Registrar, Session
from services.api.directives.service import ensure_addresses_own_unit, get_directive
from services.api.registrations import service
from services.api.registrations.schemas import RegistrationCreate, RegistrationOut, Withdrawal
from shared.auth import Role, ensure_unit_scope
from shared.openapi import link, problem_responses
from shared.problems import Forbidden
from shared.schemas import UnitCode, Uuid

router = APIRouter(tags=["registrations"])
REGISTRATION_LINKS = {
    "Withdraw": link(
        "post", "/v1/registrations/{registration_id}/withdraw", "Withdraw it", registration_id="$response.body#/id"
    ),
    "History": link(
        "get",
        "/v1/directives/{directive_id}/units/{code}/history",
        "The unit's versions",
        directive_id="$response.body#/directive_id",
        code="$response.body#/unit_code",
    ),
}


@router.post(
    "/v1/registrations",
    response_model=RegistrationOut,
    status_code=201,
    responses={
        200: {
            "model": RegistrationOut,
            "description": "Equal to the active focal point: nothing changed",
            "links": REGISTRATION_LINKS,
        },
        201: {"links": REGISTRATION_LINKS},
        **problem_responses(
            {
                404: "Unknown directive or unit",
                422: "The directive does not address the unit (`unit_not_addressed`), or invalid fields",
            }
        ),
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
    responses=problem_responses({404: "No such registration", 409: "It is no longer active"}),
)
async def withdraw_focal_point(
    session: Session, principal: Registrar, registration_id: Uuid, body: Withdrawal
) -> RegistrationOut:
    """Withdraw an active focal point (the Office, or a person of the unit; not a ward app's key); the
    unit counts as missing again."""
    if principal.role is Role.ward_app and principal.login is None:
        raise Forbidden("forbidden-role", role=principal.role.value)
    own = principal.unit_code if principal.role is Role.ward_app else None
    return await service.withdraw(session, registration_id, reason=body.reason, by=principal.actor[:200], unit_code=own)


@router.get(
    "/v1/directives/{directive_id}/focal-points",
    response_model=list[RegistrationOut],
    responses=problem_responses({404: "No such directive"}),
)
async def list_focal_points(session: Session, principal: Reader, directive_id: Uuid) -> list[RegistrationOut]:
    """The active focal points of a directive (a ward app sees its own unit's only)."""
    directive = await get_directive(session, directive_id)
    await ensure_addresses_own_unit(session, directive, principal)
    own = principal.unit_code if principal.role is Role.ward_app else None
    return await service.active_focal_points(session, directive, unit_code=own)


@router.get(
    "/v1/directives/{directive_id}/units/{code}/history",
    response_model=list[RegistrationOut],
    responses=problem_responses({404: "No such directive or unit"}),
)
async def focal_point_history(
    session: Session,
    principal: Reader,
    directive_id: Uuid,
    code: Annotated[UnitCode, Path(description="unit code (either case)")],
) -> list[RegistrationOut]:
    """Every version a unit registered for a directive, newest first."""
    ensure_unit_scope(principal, code)
    directive = await get_directive(session, directive_id)
    await ensure_addresses_own_unit(session, directive, principal)
    return await service.history(session, directive, code)
