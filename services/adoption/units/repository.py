"""The unit directory copy, headcounts and reports in the database.

Writes go through the caller's SQLAlchemy session (the service commits). The directory's codes are
also read on asyncpg's pool, by the ingest and the metrics (``UnitCodes`` in ``service.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.adoption.models import ABOVE_THE_CITY, DirectoryUnit, Headcount, Report, State
from shared.db import table

U = table(DirectoryUnit)
UNIT_CODES = f"SELECT {U.c.code.name}, {U.c.active.name} FROM {U.fullname}"  # noqa: S608 (names from the model)


async def unit_codes(db: asyncpg.Pool | asyncpg.Connection) -> dict[str, bool]:
    """Every unit's code, and whether the unit is active."""
    return {code: active for code, active in await db.fetch(UNIT_CODES)}


async def get_unit(session: AsyncSession, code: str) -> DirectoryUnit | None:
    return await session.get(DirectoryUnit, code)


async def all_units(session: AsyncSession) -> Sequence[DirectoryUnit]:
    return (await session.scalars(select(DirectoryUnit))).all()


async def city_units(session: AsyncSession) -> Sequence[DirectoryUnit]:
    """The active units that the city's figures count, by code."""
    statement = (
        select(DirectoryUnit)
        .where(DirectoryUnit.active, DirectoryUnit.kind.not_in(ABOVE_THE_CITY))
        .order_by(DirectoryUnit.code)
    )
    return (await session.scalars(statement)).all()


async def upsert_unit(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert the unit, or update it unless the row changed later than ``values["updated_at"]``."""
    statement = pg_insert(DirectoryUnit).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[DirectoryUnit.code],
            set_={k: statement.excluded[k] for k in values if k != "code"},
            where=DirectoryUnit.updated_at <= statement.excluded.updated_at,
        )
    )


async def upsert_headcount(session: AsyncSession, *, unit_code: str, as_of: date, staff: int) -> Headcount:
    """The unit's headcount as of ``as_of``, replacing one given for that date."""
    insert = pg_insert(Headcount).values(unit_code=unit_code, as_of=as_of, staff=staff)
    upsert = insert.on_conflict_do_update(
        index_elements=[Headcount.unit_code, Headcount.as_of],
        set_={"staff": insert.excluded.staff, "recorded_at": func.now()},
    ).returning(Headcount)
    return (await session.scalars(upsert)).one()


async def upsert_report(session: AsyncSession, values: dict[str, Any]) -> Report:
    """The unit's own report as of ``values["as_of"]``, replacing one given for that date."""
    insert = pg_insert(Report).values(**values)
    upsert = insert.on_conflict_do_update(
        index_elements=[Report.unit_code, Report.as_of],
        set_={
            **{k: insert.excluded[k] for k in ("staff_total", "staff_installed", "citizens_guided")},
            "recorded_at": func.now(),
        },
    ).returning(Report)
    return (await session.scalars(upsert)).one()


async def bump_version(session: AsyncSession) -> None:
    """A figure the screens show changed: the metrics' ETags change (``metrics/cache.py``)."""
    await session.execute(update(State).where(State.id == 1).values(version=State.version + 1, changed_at=func.now()))
