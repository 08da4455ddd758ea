"""HTTP endpoints of focal-point registrations."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data
from starlette.types import Message, Receive

from services.api.dependencies import Reader, Registrar, Session, registrar
from services.api.directives.service import ensure_addresses_own_unit, get_directive
from services.api.registrations import service
from services.api.registrations.schemas import RegistrationCreate, RegistrationOut, Withdrawal
from shared.auth import Role, bearer, ensure_unit_scope
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


async def register_focal_point(principal: Registrar, body: RegistrationCreate, request: Request) -> Response:
    """Nominate a unit's focal point for a directive. A ward app may register its own unit only.

    201: a new version became the active focal point (the previous one, if any, is superseded) and the
    notifier is asked to confirm it. 200: the body equals the active focal point; nothing changes."""
    # The bare asyncpg pool: a connection is taken for the statement only, not for the whole request.
    # Held from start to end, the pool's connections make busy clients queue for them unevenly (a
    # waiter can be overtaken), and under overload the slowest registrations wait far longer than the
    # rest (docs/performance.md, "Registry"; the SQL is in registrations/repository.py).
    registration, created = await service.register(request.app.state.pg, body, principal=principal)
    # Serialised here, once: the hot path skips FastAPI's second validation of the response.
    return Response(registration.model_dump_json(), status_code=201 if created else 200, media_type="application/json")


class _RegistrationRoute(APIRoute):
    """The route of ``POST /v1/registrations``, the path the ward apps hammer: a registration FastAPI
    would accept is answered without FastAPI's solving of the route's parameters, which costs more
    than the rest of the route's Python (docs/performance.md, "Registry").

    Answered here: a request whose body is sent as ``application/json`` and validates as the route's
    body (checked by the route's own body field, as FastAPI checks it). Then come the very calls
    FastAPI makes for the parameters, in its order, their failures raised as FastAPI lets them out
    (the bearer credentials; the registrar's key, rate limit and role), and the endpoint. FastAPI
    checks the key before the body, but checking a body changes nothing, and only a valid one is
    answered here. Every other request goes to FastAPI's own handler, which reads, checks and answers
    it as declared, with the body already read (or the read's failure, handed over as it came); so
    does every request while a dependency is overridden or FastAPI's telemetry traces the request.
    The route has no parameters beyond its endpoint's: app.py includes its router without any.
    tests/registry/test_registrations.py compares both ways' answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()
        body_field = self.body_field
        assert body_field is not None

        async def handler(request: Request) -> Response:
            if (
                request.headers.get("content-type") != "application/json"
                or request.app.dependency_overrides
                or get_telemetry_data() is not None
            ):
                return await declared(request)
            try:
                await request.body()
            except Exception as exc:
                return await declared(Request(request.scope, _failing(exc)))
            try:
                data = await request.json()
            except Exception:
                return await declared(request)
            body, errors = body_field.validate(data, loc=("body",))
            if errors:
                return await declared(request)
            principal = await registrar(request, await bearer(request))
            return await register_focal_point(principal, body, request)

        return handler


def _failing(exc: Exception) -> Receive:
    async def receive() -> Message:
        raise exc

    return receive


router.add_api_route(
    "/v1/registrations",
    register_focal_point,
    methods=["POST"],
    route_class_override=_RegistrationRoute,
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
