"""The weeks whose nudges and digest were decided (``weekly_notices``)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.adoption.models import WeeklyNotice


async def decided(session: AsyncSession, week: str) -> bool:
    return await session.get(WeeklyNotice, week) is not None


async def record_decision(session: AsyncSession, *, week: str, units_nudged: int) -> bool:
    """Record the week as decided (in the caller's transaction); False if it was already."""
    statement = (
        pg_insert(WeeklyNotice)
        .values(week=week, units_nudged=units_nudged)
        .on_conflict_do_nothing()
        .returning(WeeklyNotice.week)
    )
    return (await session.execute(statement)).first() is not None
