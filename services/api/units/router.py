"""HTTP endpoints of the unit directory (``/v1/units``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.api.dependencies import Office, Reader, Session
from services.api.units import service
from services.api.units.importer import import_csv
from services.api.units.schemas import ImportCounts, UnitCode, UnitCreate, UnitKind, UnitOut, UnitPatch
from shared.auth import Role, ensure_unit_scope
from shared.openapi import link, problem_responses
from shared.problems import AppError, prefers_english
from shared.schemas import QueryBoolean

router = APIRouter(prefix="/v1/units", tags=["units"])
UNIT = "/v1/units/{code}"
UNIT_LINKS = {
    "GetUnit": link("get", UNIT, "The unit", code="$response.body#/code"),
    "UpdateUnit": link("patch", UNIT, "Change the unit", code="$response.body#/code"),
}
CodePath = Annotated[UnitCode, Path(description="unit code, e.g. 06652 or HL-VP (either case)")]


@router.get(
    "",
    response_model=list[UnitOut],
    responses={200: {"links": {"GetUnit": link("get", UNIT, "The first unit", code="$response.body#/0/code")}}},
)
async def list_units(
    session: Session,
    principal: Reader,
    kind: UnitKind | None = None,
    parent_code: Annotated[UnitCode | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100, description="name or code; accents optional")] = None,
    active: Annotated[QueryBoolean | None, Query(description="true or false")] = None,
) -> list[UnitOut]:
    """The unit directory, filtered. A ward app sees its own unit only."""
    only = principal.unit_code if principal.role is Role.ward_app else None
    units = await service.list_units(session, kind=kind, parent_code=parent_code, q=q, active=active, only_code=only)
    return [UnitOut.model_validate(u) for u in units]


@router.get("/{code}", response_model=UnitOut, responses=problem_responses({404: "No such unit"}))
async def get_unit(session: Session, principal: Reader, code: CodePath) -> UnitOut:
    """One unit by code (the active one when a code was reused)."""
    ensure_unit_scope(principal, code)
    return UnitOut.model_validate(await service.get_unit(session, code))


@router.post(
    "",
    response_model=UnitOut,
    status_code=201,
    responses={201: {"links": UNIT_LINKS}, **problem_responses({409: "An active unit has this code"})},
)
async def create_unit(session: Session, principal: Office, body: UnitCreate) -> UnitOut:
    """Add a unit to the directory (Office only)."""
    return UnitOut.model_validate(await service.create_unit(session, body, by=principal))


@router.patch(
    "/{code}",
    response_model=UnitOut,
    responses={
        200: {"links": UNIT_LINKS},
        **problem_responses({404: "No such unit", 409: "Reactivating it: an active unit has its code"}),
    },
)
async def update_unit(session: Session, principal: Office, code: CodePath, body: UnitPatch) -> UnitOut:
    """Change a unit's fields; ``active: false`` retires it (its history stays)."""
    return UnitOut.model_validate(await service.update_unit(session, code, body, by=principal))


CSV_BODY = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string", "maxLength": 1024 * 1024},
            "example": "code,name,kind,parent_code,email,phone,staff_headcount\n"
            "06652,Phường Hà Phong,ward,193,ubnd.haphong@halong.gov.vn,,24\n",
        }
    },
}


@router.post(
    "/import",
    response_model=ImportCounts,
    openapi_extra={"requestBody": CSV_BODY},
    responses=problem_responses(
        {
            413: "The file is over 1 MiB",
            415: "The body is not CSV (Content-Type: text/csv)",
            422: "The file is not a unit CSV, or some lines are invalid (`errors` and `lines` name each): "
            "nothing was changed",
        }
    ),
)
async def import_units(request: Request, principal: Office) -> ImportCounts:
    """Import units from a CSV (Office only), the file `ioc units import` reads: the GSO list
    (ward_code, ward_name, ward_type[, district_code]) or code, name, kind[, parent_code, email, phone,
    staff_headcount]. New codes are created, changed rows update their unit, the rest are unchanged.
    All or nothing: one bad line and no unit changes."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in ("text/csv", "application/csv"):
        raise AppError(415, "unsupported-media-type", "unsupported-media-type-csv")
    report = await import_csv(
        request.app.state.engine,
        await request.body(),
        by=principal.actor[:200],
        login=principal.login,
        english=prefers_english(request.headers.get("accept-language")),
    )
    return ImportCounts(created=report.created, updated=report.updated, unchanged=report.unchanged)
