"""The audit trail of people's actions (``auth.audit_events``): written in the transaction of what it
records, read by the Office newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.audit.schemas import AuditKind
from services.api.people.models import AuditEvent
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import FieldError, InvalidFields

KINDS = get_args(AuditKind)


def record(session: AsyncSession, kind: str, *, login: str | None, address: str | None = None, **detail: Any) -> None:
    """Add an event to the session's transaction (it is stored with what it records, or not at all)."""
    assert kind in KINDS, kind
    session.add(AuditEvent(kind=kind, login=login, client_address=address, detail=detail))


async def list_events(
    session: AsyncSession,
    *,
    kind: str | None,
    login: str | None,
    after: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEvent], str | None]:
    """A page of events, newest first; ``after``: only events later than that instant."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1)
    if kind:
        query = query.where(AuditEvent.kind == kind)
    if login:
        query = query.where(AuditEvent.login == login.lower())
    if after is not None:
        query = query.where(AuditEvent.at > after)
    position = decode_cursor(cursor)
    if position is not None:
        try:
            at, event_id = datetime.fromisoformat(position[0]), int(position[1])
        except (IndexError, TypeError, ValueError):
            raise InvalidFields(FieldError("cursor", "cursor_invalid")) from None
        query = query.where(or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < event_id)))
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].at.isoformat(), rows[-1].id]) if more and rows else None
