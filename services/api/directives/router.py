"""HTTP endpoints of directives (``/v1/directives``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.api.dependencies import Office, Reader, Session
from services.api.directives import service
from services.api.directives.schemas import DirectiveCreate, DirectiveOut, directive_out
from shared.pagination import Cursor, Limit, Page

router = APIRouter(prefix="/v1/directives", tags=["directives"])


@router.post(
    "",
    response_model=DirectiveOut,
    status_code=201,
    responses={409: {"description": "Same number in the same issue year"}},
)
async def create_directive(session: Session, principal: Office, body: DirectiveCreate) -> DirectiveOut:
    """Issue a directive to a set of units, with its (exclusive) deadline."""
    directive, codes = await service.create_directive(session, body, by=principal.name)
    return directive_out(directive, codes)


@router.get("", response_model=Page[DirectiveOut])
async def list_directives(
    session: Session,
    principal: Reader,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="issue year")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[DirectiveOut]:
    """Directives, newest first. A ward app sees those that address its unit."""
    rows, next_cursor = await service.list_directives(session, principal, year=year, limit=limit, cursor=cursor)
    codes = await service.unit_codes_of(session, [d.id for d in rows])
    return Page[DirectiveOut](items=[directive_out(d, codes.get(d.id, [])) for d in rows], next_cursor=next_cursor)


@router.get("/{directive_id}", response_model=DirectiveOut, responses={404: {"description": "No such directive"}})
async def get_directive(session: Session, principal: Reader, directive_id: uuid.UUID) -> DirectiveOut:
    """One directive with the codes of the units it addresses."""
    directive = await service.get_directive(session, directive_id)
    await service.ensure_addresses_own_unit(session, directive, principal)
    codes = await service.unit_codes_of(session, [directive.id])
    return directive_out(directive, codes.get(directive.id, []))
