"""``PUT /v1/adoption/units/{code}/headcount`` and ``POST /v1/adoption/reports``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.adoption.units import service
from services.adoption.units.schemas import HeadcountIn, HeadcountOut, ReportIn, ReportOut
from shared.auth import Principal, Role, ensure_unit_scope, require

router = APIRouter(prefix="/v1/adoption", tags=["adoption units"])
Reporter = Annotated[Principal, Depends(require(Role.office, Role.ward_app))]


async def _session(request: Request):
    async with request.app.state.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(_session)]


@router.put("/units/{code}/headcount", response_model=HeadcountOut)
async def set_headcount(
    session: Session, principal: Reporter, code: Annotated[str, Path(max_length=32)], body: HeadcountIn
) -> HeadcountOut:
    """A unit's staff headcount as of a date (Office; a ward app for its own unit). Rates divide by it."""
    ensure_unit_scope(principal, code.upper())
    return HeadcountOut.model_validate(await service.set_headcount(session, code.upper(), body))


@router.post("/reports", response_model=ReportOut, status_code=201)
async def record_report(session: Session, principal: Reporter, body: ReportIn) -> ReportOut:
    """A unit's own count, for units with no event feed; shown as self-reported. A report for a date
    already reported replaces it."""
    body.unit_code = body.unit_code.upper()
    ensure_unit_scope(principal, body.unit_code)
    return ReportOut.model_validate(await service.record_report(session, body))
