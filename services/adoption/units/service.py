"""The unit directory copy (kept in step with the registry by queue messages), headcounts and reports.

Every write here changes a figure the screens show, so it bumps the state's version in the same
transaction (the metrics' ETags change, the cached answers are dropped).
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.adoption.models import Headcount, Report, State, Unit
from services.adoption.units.schemas import HeadcountIn, ReportIn
from shared.contracts import UnitChanged
from shared.problems import NotFound


def _bump(session: AsyncSession):
    return session.execute(update(State).where(State.id == 1).values(version=State.version + 1, changed_at=func.now()))


async def apply_unit_change(session: AsyncSession, message: UnitChanged) -> None:
    """Upsert the registry's unit. Messages may arrive twice or out of order (concurrent jobs, retries):
    a message older than the row's last change is ignored, so a late one never undoes a newer one."""
    values = {
        "code": message.unit.code,
        "name": message.unit.name,
        "kind": message.unit.kind,
        "parent_code": message.parent_code,
        "email": message.unit.email,
        "phone": message.unit.phone,
        "active": message.active,
        "registry_headcount": message.staff_headcount,
        "updated_at": message.occurred_at,
    }
    statement = pg_insert(Unit).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Unit.code],
            set_={k: statement.excluded[k] for k in values if k != "code"},
            where=Unit.updated_at <= statement.excluded.updated_at,
        )
    )
    await _bump(session)
    await session.commit()


async def _unit(session: AsyncSession, code: str) -> Unit:
    unit = await session.get(Unit, code)
    if unit is None or not unit.active:
        raise NotFound("unit-not-found", code=code)
    return unit


async def set_headcount(session: AsyncSession, code: str, data: HeadcountIn) -> Headcount:
    await _unit(session, code)
    statement = pg_insert(Headcount).values(unit_code=code, as_of=data.as_of, staff=data.staff)
    row = (
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[Headcount.unit_code, Headcount.as_of],
                set_={"staff": statement.excluded.staff, "recorded_at": func.now()},
            ).returning(Headcount)
        )
    ).scalar_one()
    await _bump(session)
    await session.commit()
    return row


async def record_report(session: AsyncSession, data: ReportIn) -> Report:
    await _unit(session, data.unit_code)
    values = data.model_dump()
    statement = pg_insert(Report).values(**values)
    row = (
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[Report.unit_code, Report.as_of],
                set_={
                    **{k: statement.excluded[k] for k in ("staff_total", "staff_installed", "citizens_guided")},
                    "recorded_at": func.now(),
                },
            ).returning(Report)
        )
    ).scalar_one()
    await _bump(session)
    await session.commit()
    return row
