"""HTTP endpoints of directives (``/v1/directives``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.api.dependencies import Office, Reader, Session
from services.api.directives import service
from services.api.directives.schemas import DirectiveCreate, DirectiveOut, directive_out
from shared.openapi import link, problem_responses
from shared.pagination import Cursor, Limit, Page
from shared.schemas import Uuid, query_integer

router = APIRouter(prefix="/v1/directives", tags=["directives"])


def directive_links(pointer: str) -> dict[str, dict[str, Any]]:
    """What to do with the directive whose id is at ``pointer`` in the response."""
    found = f"$response.body#{pointer}"
    return {
        "GetDirective": link("get", "/v1/directives/{directive_id}", "The directive", directive_id=found),
        "GetCompliance": link("get", "/v1/directives/{directive_id}/compliance", "Who answered it", directive_id=found),
        "GetFocalPoints": link(
            "get", "/v1/directives/{directive_id}/focal-points", "Its focal points", directive_id=found
        ),
    }


@router.post(
    "",
    response_model=DirectiveOut,
    status_code=201,
    responses={
        201: {"links": directive_links("/id")},
        **problem_responses({409: "A directive with this number was issued the same year"}),
    },
)
async def create_directive(session: Session, principal: Office, body: DirectiveCreate) -> DirectiveOut:
    """Issue a directive to a set of units, with its (exclusive) deadline."""
    directive, codes = await service.create_directive(session, body, by=principal.actor[:200])
    return directive_out(directive, codes)


@router.get(
    "",
    response_model=Page[DirectiveOut],
    responses={
        200: {
            "links": {
                **directive_links("/items/0/id"),
                "NextPage": link("get", "/v1/directives", "The next page", cursor="$response.body#/next_cursor"),
            }
        }
    },
)
async def list_directives(
    session: Session,
    principal: Reader,
    year: Annotated[Annotated[int, query_integer(1900, 2199)] | None, Query(description="issue year")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[DirectiveOut]:
    """Directives, newest first. A ward app sees those that address its unit."""
    rows, next_cursor = await service.list_directives(session, principal, year=year, limit=limit, cursor=cursor)
    codes = await service.unit_codes_of(session, [d.id for d in rows])
    return Page[DirectiveOut](items=[directive_out(d, codes.get(d.id, [])) for d in rows], next_cursor=next_cursor)


@router.get(
    "/{directive_id}",
    response_model=DirectiveOut,
    responses=problem_responses({404: "No such directive"}),
)
async def get_directive(session: Session, principal: Reader, directive_id: Uuid) -> DirectiveOut:
    """One directive with the codes of the units it addresses."""
    directive = await service.get_directive(session, directive_id)
    await service.ensure_addresses_own_unit(session, directive, principal)
    codes = await service.unit_codes_of(session, [directive.id])
    return directive_out(directive, codes.get(directive.id, []))
