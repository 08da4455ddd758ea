"""The Office's "remind now" ("Nhắc ngay"): a reminder to units still without a focal point, at most
one per (directive, unit) per ``manual_reminder_interval_minutes``, through the outbox to the
notifier. One transaction: the check, the stamps, the outbox rows and the audit row commit together."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.audit.service import record
from services.api.directives.service import get_directive
from services.api.models import ManualReminder, Unit, outbox
from services.api.refs import directive_ref, unit_ref
from services.api.registrations.service import addressed_units
from services.api.reminders.schemas import RemindersQueued, Skipped
from shared.auth import Principal
from shared.contracts import ReminderRequested
from shared.problems import FieldError, InvalidFields
from shared.timeutil import utcnow


async def remind_now(
    session: AsyncSession,
    directive_id: uuid.UUID,
    unit_codes: list[str] | None,
    *,
    principal: Principal,
    interval: timedelta,
    address: str | None,
) -> RemindersQueued:
    directive = await get_directive(session, directive_id)
    rows = await addressed_units(session, directive.id)
    skipped: list[Skipped] = []
    if unit_codes is None:
        candidates = [unit for unit, fp in rows if fp is None]
        skipped += [Skipped(unit_code=unit.code, reason="registered") for unit, fp in rows if fp is not None]
    else:
        await _check_codes(session, unit_codes)
        addressed = {unit.code: (unit, fp) for unit, fp in rows}
        candidates = []
        for code in unit_codes:
            unit, fp = addressed.get(code, (None, None))
            if unit is None:
                skipped.append(Skipped(unit_code=code, reason="not_addressed"))
            elif fp is not None:
                skipped.append(Skipped(unit_code=code, reason="registered"))
            else:
                candidates.append(unit)
    now = utcnow()
    stamped: set[int] = set()
    if candidates:
        # A unit reminded less than ``interval`` ago keeps its stamp and is not returned. Concurrent
        # requests queue on the rows' locks, and the later one sees the earlier one's stamp.
        insert = pg_insert(ManualReminder).values(
            [
                {
                    "directive_id": directive.id,
                    "unit_id": u.id,
                    "last_sent_at": now,
                    "last_sent_by": principal.actor[:200],
                }
                for u in candidates
            ]
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[ManualReminder.directive_id, ManualReminder.unit_id],
            set_={"last_sent_at": insert.excluded.last_sent_at, "last_sent_by": insert.excluded.last_sent_by},
            where=ManualReminder.last_sent_at <= insert.excluded.last_sent_at - interval,
        ).returning(ManualReminder.unit_id)
        stamped = set((await session.scalars(upsert)).all())
    queued = []
    ref = directive_ref(directive)
    for unit in candidates:
        if unit.id not in stamped:
            skipped.append(Skipped(unit_code=unit.code, reason="reminded_recently"))
            continue
        queued.append(unit.code)
        outbox.add(
            session,
            ReminderRequested(
                message_id=uuid.uuid4(),
                occurred_at=now,
                directive=ref,
                unit=unit_ref(unit),
                requested_by=principal.name,
            ),
        )
    record(
        session,
        "reminders_sent",
        login=principal.login,
        address=address,
        by=principal.actor,
        directive_id=str(directive.id),
        number=directive.number,
        queued=queued,
        skipped=len(skipped),
    )
    await session.commit()
    return RemindersQueued(queued=queued, skipped=skipped)


async def _check_codes(session: AsyncSession, codes: list[str]) -> None:
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    errors = []
    if duplicates:
        errors.append(FieldError("unit_codes", "unit_codes_duplicate", codes=", ".join(duplicates)))
    active = set(await session.scalars(select(func.upper(Unit.code)).where(Unit.code.in_(codes), Unit.active)))
    unknown = [c for c in dict.fromkeys(codes) if c not in active]
    if unknown:
        errors.append(FieldError("unit_codes", "unit_codes_unknown", codes=", ".join(unknown)))
    if errors:
        raise InvalidFields(*errors)
