"""Reading notifications back: newest first, a page at a time."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.models import Notification
from services.notifier.notifications.schemas import COST_UNITS, CostRow, Costs
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import FieldError, InvalidFields, ensure_date_range
from shared.timeutil import VIETNAM, utcnow, vietnam_today

MAX_COST_DAYS = 731


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


def cost_range(start: date | None, end: date | None) -> tuple[date, date]:
    """From the first day of this month to today where not given; 422 if reversed or too long."""
    today = vietnam_today(utcnow())
    start, end = start or today.replace(day=1), end or today
    ensure_date_range(start, end, max_days=MAX_COST_DAYS)
    return start, end


async def costs(session: AsyncSession, *, start: date, end: date, prices: dict[str, float]) -> Costs:
    """Notifications sent from ``start`` to ``end`` (Vietnam days, both included), per Vietnam month
    and channel, with their billed units and estimated cost."""
    n = Notification
    month = func.to_char(func.timezone("Asia/Ho_Chi_Minh", n.sent_at), "YYYY-MM")
    since = datetime.combine(start, time(), tzinfo=VIETNAM)
    until = datetime.combine(end + timedelta(days=1), time(), tzinfo=VIETNAM)
    query = (
        select(month, n.channel, func.count(), func.coalesce(func.sum(n.cost_units), 0))
        .where(n.sent_at >= since, n.sent_at < until)
        .group_by(month, n.channel)
        .order_by(month, n.channel)
    )
    rows = []
    for period, channel, count, units in (await session.execute(query)).all():
        price = float(prices.get(channel, 0.0))
        rows.append(
            CostRow(
                month=period,
                channel=channel,
                notifications=count,
                units=int(units),
                unit=COST_UNITS[channel],
                unit_price=price,
                cost=round(int(units) * price, 2),
            )
        )
    return Costs.model_validate(
        {"from": start, "to": end, "months": rows, "total": round(sum(r.cost for r in rows), 2)}
    )
