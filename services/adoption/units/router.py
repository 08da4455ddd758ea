"""``PUT /v1/adoption/units/{code}/headcount`` and ``POST /v1/adoption/reports``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.adoption.units import service
from services.adoption.units.schemas import HeadcountIn, HeadcountOut, ReportIn, ReportOut
from shared.auth import Principal, Role, ensure_unit_scope, require
from shared.openapi import link, problem_responses
from shared.schemas import UnitCode
from shared.web import Session

router = APIRouter(prefix="/v1/adoption", tags=["adoption units"])
UNIT_LINKS = {
    "SetHeadcount": link(
        "put", "/v1/adoption/units/{code}/headcount", "Its headcount", code="$response.body#/unit_code"
    ),
    "Timeseries": link("get", "/v1/adoption/timeseries", "Its curve", unit_code="$response.body#/unit_code"),
}
Reporter = Annotated[Principal, Depends(require(Role.office, Role.ward_app))]


@router.put(
    "/units/{code}/headcount",
    response_model=HeadcountOut,
    responses={200: {"links": UNIT_LINKS}, **problem_responses({404: "No such active unit"})},
)
async def set_headcount(
    session: Session,
    principal: Reporter,
    code: Annotated[UnitCode, Path(description="unit code (either case)")],
    body: HeadcountIn,
) -> HeadcountOut:
    """A unit's staff headcount as of a date (Office; a ward app for its own unit). Rates divide by it.
    A headcount for a date already given replaces it."""
    ensure_unit_scope(principal, code)
    return HeadcountOut.model_validate(await service.set_headcount(session, code, body))


@router.post(
    "/reports",
    response_model=ReportOut,
    status_code=201,
    responses={201: {"links": UNIT_LINKS}, **problem_responses({404: "No such active unit"})},
)
async def record_report(session: Session, principal: Reporter, body: ReportIn) -> ReportOut:
    """A unit's own count, for units with no event feed; shown as self-reported. A report for a date
    already reported replaces it."""
    ensure_unit_scope(principal, body.unit_code)
    return ReportOut.model_validate(await service.record_report(session, body))
