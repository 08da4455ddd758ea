"""Notices the registry decides on a schedule, because it owns the data they depend on:

- reminders to each addressed unit still without a focal point, at configured offsets before the
  deadline (one job per unit per reminder; the notifier dedupes on
  ``reminder:{directive}:{unit}:{label}:{channel}``);
- after the deadline, one digest for the Office listing late and missing units with contacts;
- at ``operation_starts_at``, a go-live notice to every active focal point.

The worker runs :func:`run_schedule` every minute. Each decision is a ``scheduled_notices`` row
written in the same transaction as the outbox rows it causes, so a decision happens once however many
workers run the schedule, and a crash mid-way leaves nothing half done.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.models import Directive, ScheduledNotice, outbox
from services.api.refs import directive_ref, focal_point_ref, unit_ref
from services.api.registrations.service import addressed_units
from services.api.settings import RegistrySettings
from shared.contracts import DeadlinePassed, DigestUnit, GoLive, Message, ReminderDue
from shared.timeutil import VIETNAM, to_vietnam, utcnow

log = structlog.get_logger("registry.notices")
_OFFSET = re.compile(r"^(?:(?P<days>\d+)d|(?P<hours>\d+)h|(?P<hh>[01]\d|2[0-3]):(?P<mm>[0-5]\d))$")


@dataclass(frozen=True)
class PlannedNotice:
    kind: str
    label: str
    due_at: datetime


def reminder_time(deadline: datetime, offset: str) -> datetime:
    """When reminder ``offset`` falls for ``deadline`` (see RegistrySettings.reminder_offsets)."""
    match = _OFFSET.match(offset.strip())
    if match is None:
        raise ValueError(f"reminder offset {offset!r}: expected like 3d, 12h or 08:00")
    if match["days"]:
        return deadline - timedelta(days=int(match["days"]))
    if match["hours"]:
        return deadline - timedelta(hours=int(match["hours"]))
    # The last day is the Vietnam date of the last instant before the (exclusive) deadline.
    last_day = to_vietnam(deadline - timedelta(microseconds=1)).date()
    return datetime.combine(last_day, time(int(match["hh"]), int(match["mm"])), tzinfo=VIETNAM)


def planned_notices(directive: Directive, settings: RegistrySettings) -> list[PlannedNotice]:
    planned = [PlannedNotice("reminder", o, reminder_time(directive.deadline, o)) for o in settings.reminder_offsets]
    planned.append(PlannedNotice("digest", "", directive.deadline + timedelta(hours=settings.digest_delay_hours)))
    if directive.operation_starts_at is not None:
        planned.append(PlannedNotice("go_live", "", directive.operation_starts_at))
    return planned


async def run_schedule(
    sessions: async_sessionmaker[AsyncSession], settings: RegistrySettings, *, now: datetime | None = None
) -> int:
    """Decide every notice that has come due by ``now``; returns how many jobs went to the outbox."""
    now = now or utcnow()
    horizon = now - timedelta(hours=settings.notice_grace_hours + settings.digest_delay_hours)
    async with sessions() as session:
        directives = (
            await session.scalars(
                select(Directive).where(or_(Directive.deadline >= horizon, Directive.operation_starts_at >= horizon))
            )
        ).all()
        done = set(
            (
                await session.execute(
                    select(ScheduledNotice.directive_id, ScheduledNotice.kind, ScheduledNotice.label).where(
                        ScheduledNotice.directive_id.in_([d.id for d in directives])
                    )
                )
            ).all()
        )
    total = 0
    for directive in directives:
        for notice in planned_notices(directive, settings):
            if notice.due_at <= now and (directive.id, notice.kind, notice.label) not in done:
                async with sessions() as session:
                    total += await _decide(session, directive, notice, settings, now)
    return total


async def _decide(
    session: AsyncSession, directive: Directive, notice: PlannedNotice, settings: RegistrySettings, now: datetime
) -> int:
    late_by = now - notice.due_at
    skipped = None
    if late_by > timedelta(hours=settings.notice_grace_hours):
        skipped = f"due {late_by} ago, past the grace period"
    elif notice.kind == "reminder" and notice.due_at < directive.created_at:
        skipped = "due before the directive was created"
    messages = [] if skipped else await _messages(session, directive, notice, now)
    claimed = await session.execute(
        pg_insert(ScheduledNotice)
        .values(
            directive_id=directive.id,
            kind=notice.kind,
            label=notice.label,
            due_at=notice.due_at,
            messages=len(messages),
            skipped=skipped,
        )
        .on_conflict_do_nothing()
        .returning(ScheduledNotice.kind)
    )
    if claimed.first() is None:  # another worker decided it first
        await session.rollback()
        return 0
    for message in messages:
        outbox.add(session, message)
    await session.commit()
    log.info(
        "notice_decided",
        directive=directive.number,
        kind=notice.kind,
        label=notice.label,
        messages=len(messages),
        skipped=skipped,
    )
    return len(messages)


async def _messages(session: AsyncSession, directive: Directive, notice: PlannedNotice, now: datetime) -> list[Message]:
    rows = await addressed_units(session, directive.id)
    ref = directive_ref(directive)
    if notice.kind == "reminder":
        return [
            ReminderDue(
                message_id=uuid.uuid4(),
                occurred_at=now,
                directive=ref,
                unit=unit_ref(unit),
                label=notice.label,
                due_at=notice.due_at,
            )
            for unit, fp in rows
            if fp is None
        ]
    if notice.kind == "go_live":
        return [
            GoLive(
                message_id=uuid.uuid4(),
                occurred_at=now,
                directive=ref,
                unit=unit_ref(unit),
                focal_point=focal_point_ref(fp, directive),
            )
            for unit, fp in rows
            if fp is not None
        ]
    units = [
        DigestUnit(
            unit=unit_ref(unit),
            status="missing" if fp is None else "late",
            focal_point=None if fp is None else focal_point_ref(fp, directive),
        )
        for unit, fp in rows
        if fp is None or fp.standing_since >= directive.deadline
    ]
    on_time = sum(1 for _, fp in rows if fp is not None and fp.standing_since < directive.deadline)
    return [
        DeadlinePassed(
            message_id=uuid.uuid4(),
            occurred_at=now,
            directive=ref,
            expected=len(rows),
            on_time=on_time,
            units=units,
        )
    ]
