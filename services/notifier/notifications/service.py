"""Reading notifications back: newest first, a page at a time."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.models import Notification
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import FieldError, InvalidFields


async def list_notifications(
    session: AsyncSession,
    *,
    status: str | None,
    channel: str | None,
    unit_code: str | None,
    directive_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Notification], str | None]:
    n = Notification
    query = select(n).order_by(n.created_at.desc(), n.id.desc()).limit(limit + 1)
    for column, value in (
        (n.status, status),
        (n.channel, channel),
        (n.unit_code, unit_code),
        (n.directive_id, directive_id),
    ):
        if value is not None:
            query = query.where(column == value)
    position = decode_cursor(cursor)
    if position is not None:
        try:
            created_at, last_id = datetime.fromisoformat(position[0]), uuid.UUID(position[1])
        except (ValueError, TypeError, IndexError, AttributeError):
            raise InvalidFields(FieldError("cursor", "cursor_invalid")) from None
        if created_at.tzinfo is None:  # every cursor this service gives carries its offset
            raise InvalidFields(FieldError("cursor", "cursor_invalid"))
        query = query.where(or_(n.created_at < created_at, and_(n.created_at == created_at, n.id < last_id)))
    rows = list((await session.scalars(query)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].created_at.isoformat(), str(rows[-1].id)])
    return rows, next_cursor
