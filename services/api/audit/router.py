"""HTTP endpoint of the audit trail (Office only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.audit import service
from services.api.audit.schemas import AuditEventOut, AuditKind
from services.api.dependencies import Office, Session
from shared.openapi import link
from shared.pagination import Cursor, Limit, Page
from shared.schemas import Instant

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "",
    response_model=Page[AuditEventOut],
    responses={
        200: {"links": {"NextPage": link("get", "/v1/audit", "The next page", cursor="$response.body#/next_cursor")}}
    },
)
async def list_audit_events(
    session: Session,
    principal: Office,
    kind: AuditKind | None = None,
    login: Annotated[str | None, Query(max_length=200, description="a person's login")] = None,
    after: Annotated[Instant | None, Query(description="only events after this instant")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AuditEventOut]:
    """Sign-ins, failures and locks, sign-outs, password changes, accounts made, disabled and reset,
    reminders sent: newest first."""
    rows, next_cursor = await service.list_events(
        session, kind=kind, login=login, after=after, limit=limit, cursor=cursor
    )
    return Page[AuditEventOut](items=[AuditEventOut.model_validate(r) for r in rows], next_cursor=next_cursor)
