"""Every week, units below the target staff rate get a nudge and the Office a digest, through the
outbox to the notifier. Decided once a week: the week's row and its messages commit together, so an
hourly check that runs twice, or on two workers, decides the week once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.adoption.metrics.service import sort_rows, summary_of, unit_rows
from services.adoption.models import outbox
from services.adoption.settings import AdoptionSettings
from services.adoption.units import repository as units
from services.adoption.weekly import repository
from shared.contracts import AdoptionDigest, AdoptionDigestUnit, AdoptionNudge, UnitRef
from shared.timeutil import VIETNAM, to_vietnam, utcnow

log = structlog.get_logger("adoption.weekly")


def week_of(moment: datetime) -> tuple[str, datetime]:
    """The ISO week of a moment (Vietnam time) and when its notices fall due."""
    local = to_vietnam(moment)
    year, week, _ = local.isocalendar()
    monday = (local - timedelta(days=local.isoweekday() - 1)).date()
    return f"{year}-W{week:02d}", datetime.combine(monday, datetime.min.time(), tzinfo=VIETNAM)


async def send_weekly(
    sessions: async_sessionmaker[AsyncSession],
    pg: asyncpg.Pool,
    settings: AdoptionSettings,
    *,
    now: datetime | None = None,
) -> int:
    """Nudge this week's lagging units and send the digest, if due and not decided yet; returns the
    messages written to the outbox."""
    now = now or utcnow()
    week, monday = week_of(now)
    due = monday + timedelta(days=settings.weekly_nudge_weekday - 1, hours=settings.weekly_nudge_hour)
    async with sessions() as session:
        if now < due or await repository.decided(session, week):
            return 0
        contacts = {u.code: u for u in await units.all_units(session)}
    if not contacts:  # the directory has not reached this service yet: nothing to judge, try later
        return 0
    rows = await unit_rows(pg, target=settings.target_staff_rate)
    lagging = sort_rows([r for r in rows if r.at_target is False], "staff_rate", descending=False)
    summary = summary_of(rows, target=settings.target_staff_rate, as_of=now)

    def ref(code: str) -> UnitRef:
        unit = contacts[code]
        return UnitRef(code=unit.code, name=unit.name, kind=unit.kind, email=unit.email, phone=unit.phone)

    nudges = [
        AdoptionNudge(
            message_id=uuid.uuid5(uuid.NAMESPACE_URL, f"adoption-nudge:{row.unit_code}:{week}"),
            occurred_at=now,
            unit=ref(row.unit_code),
            week=week,
            staff_total=row.staff_total or 0,
            staff_adopted=row.staff_adopted,
            staff_rate=row.staff_rate or 0.0,
            target_rate=settings.target_staff_rate,
        )
        for row in lagging
    ]
    digest = AdoptionDigest(
        message_id=uuid.uuid5(uuid.NAMESPACE_URL, f"adoption-digest:{week}"),
        occurred_at=now,
        week=week,
        target_rate=settings.target_staff_rate,
        staff_total=summary.staff_total,
        staff_adopted=summary.staff_adopted,
        citizens_adopted=summary.citizens_adopted,
        lagging=[
            AdoptionDigestUnit(
                unit=ref(r.unit_code),
                staff_total=r.staff_total,
                staff_adopted=r.staff_adopted,
                staff_rate=r.staff_rate,
                citizens_adopted=r.citizens_adopted,
            )
            for r in lagging
        ],
    )
    async with sessions() as session:
        if not await repository.record_decision(session, week=week, units_nudged=len(lagging)):
            # another worker decided this week first
            await session.rollback()
            return 0
        for message in (*nudges, digest):
            outbox.add(session, message)
        await session.commit()
    log.info("weekly_adoption_notices", week=week, lagging=len(lagging))
    return len(nudges) + 1
