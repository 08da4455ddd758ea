"""Use cases of focal-point registrations: register (a new version), withdraw, and read them back.

Exactly one version per (directive, unit) is active. Concurrent registrations for one unit are
serialised by locking that unit's ``directive_units`` row; the partial unique index on active
versions is the guarantee should anything bypass this code.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import outbox
from services.api.messages import directive_ref, focal_point_ref, unit_ref
from services.api.models import Directive, DirectiveUnit, FocalPoint, Unit
from services.api.registrations.schemas import NOMINATION_FIELDS, RegistrationCreate, RegistrationOut
from services.api.units.service import find_unit
from shared import queues
from shared.auth import Principal, ensure_unit_scope
from shared.contracts import FocalPointRegistered, FocalPointWithdrawn
from shared.problems import AppError, Conflict, NotFound
from shared.timeutil import utcnow


async def register(
    session: AsyncSession,
    data: RegistrationCreate,
    *,
    principal: Principal,
    received_at: datetime | None = None,
    notify: bool = True,
) -> tuple[RegistrationOut, bool]:
    """Make ``data`` the unit's active focal point. Returns (registration, created): created is False
    when the body equals the active focal point, and then nothing changes and nothing is sent.
    ``received_at`` and ``notify=False`` exist for loading history (the demo seed), not for requests."""
    ensure_unit_scope(principal, data.unit_code)
    received_at = received_at or utcnow()
    directive, unit = await _lock_addressed_unit(session, data.directive_id, data.unit_code)
    latest = await _latest_version(session, directive.id, unit.id)

    active = latest if latest is not None and latest.status == "active" else None
    if active is not None and all(getattr(active, f) == getattr(data, f) for f in NOMINATION_FIELDS):
        unchanged = _out(active, unit, directive)
        await session.rollback()  # releases the lock; nothing to write
        return unchanged, False

    if active is not None:
        await session.execute(
            update(FocalPoint).where(FocalPoint.id == active.id).values(status="superseded", ended_at=received_at)
        )
    new = FocalPoint(
        id=uuid.uuid4(),
        directive_id=directive.id,
        unit_id=unit.id,
        version=(latest.version if latest else 0) + 1,
        status="active",
        **data.model_dump(include=set(NOMINATION_FIELDS)),
        submitted_at=received_at,
        standing_since=active.standing_since if active else received_at,
        submitted_by=principal.name,
    )
    session.add(new)
    if notify:
        outbox.add_message(
            session,
            queue=queues.NOTIFIER,
            job_name="notifier.focal_point.registered",
            message=FocalPointRegistered(
                message_id=uuid.uuid4(),
                occurred_at=received_at,
                directive=directive_ref(directive),
                unit=unit_ref(unit),
                focal_point=focal_point_ref(new, directive),
                superseded=focal_point_ref(active, directive) if active else None,
            ),
        )
    await session.commit()
    return _out(new, unit, directive), True


async def withdraw(session: AsyncSession, registration_id: uuid.UUID, *, reason: str, by: str) -> RegistrationOut:
    """End the unit's active focal point: the unit counts as missing again until it registers anew."""
    found = await session.get(FocalPoint, registration_id)
    if found is None:
        raise NotFound("registration-not-found", id=str(registration_id))
    directive = await session.get(Directive, found.directive_id)
    unit = await session.get(Unit, found.unit_id)
    assert directive is not None and unit is not None
    await session.execute(
        select(DirectiveUnit.unit_id)
        .where(DirectiveUnit.directive_id == found.directive_id, DirectiveUnit.unit_id == found.unit_id)
        .with_for_update()
    )
    await session.refresh(found)  # its status after the lock, not before
    if found.status != "active":
        raise Conflict("registration-not-active", state=found.status)
    found.status, found.ended_at, found.withdraw_reason = "withdrawn", utcnow(), reason
    outbox.add_message(
        session,
        queue=queues.NOTIFIER,
        job_name="notifier.focal_point.withdrawn",
        message=FocalPointWithdrawn(
            message_id=uuid.uuid4(),
            occurred_at=found.ended_at,
            directive=directive_ref(directive),
            unit=unit_ref(unit),
            focal_point=focal_point_ref(found, directive),
            reason=reason,
        ),
    )
    await session.commit()
    return _out(found, unit, directive)


async def active_focal_points(
    session: AsyncSession, directive: Directive, *, unit_code: str | None = None
) -> list[RegistrationOut]:
    query = (
        select(FocalPoint, Unit)
        .join(Unit, Unit.id == FocalPoint.unit_id)
        .where(FocalPoint.directive_id == directive.id, FocalPoint.status == "active")
        .order_by(Unit.code)
    )
    if unit_code is not None:
        query = query.where(Unit.code == unit_code)
    return [_out(fp, unit, directive) for fp, unit in (await session.execute(query))]


async def history(session: AsyncSession, directive: Directive, unit_code: str) -> list[RegistrationOut]:
    """Every version a unit registered for a directive, newest first."""
    unit = await find_unit(session, unit_code)
    if unit is None:
        raise NotFound("unit-not-found", code=unit_code)
    rows = await session.scalars(
        select(FocalPoint)
        .where(FocalPoint.directive_id == directive.id, FocalPoint.unit_id == unit.id)
        .order_by(FocalPoint.version.desc())
    )
    return [_out(fp, unit, directive) for fp in rows]


async def _lock_addressed_unit(
    session: AsyncSession, directive_id: uuid.UUID, unit_code: str
) -> tuple[Directive, Unit]:
    """The directive and unit, with the unit's row of the directive locked until commit; 404/422 otherwise."""
    row = (
        await session.execute(
            select(Directive, Unit)
            .join(DirectiveUnit, DirectiveUnit.directive_id == Directive.id)
            .join(Unit, Unit.id == DirectiveUnit.unit_id)
            .where(Directive.id == directive_id, Unit.code == unit_code, Unit.active)
            .with_for_update(of=DirectiveUnit)
        )
    ).one_or_none()
    if row is not None:
        return row
    # The unhappy path: say precisely what is wrong.
    directive = await session.get(Directive, directive_id)
    if directive is None:
        raise NotFound("directive-not-found", id=str(directive_id))
    if await find_unit(session, unit_code) is None:
        raise NotFound("unit-not-found", code=unit_code)
    raise AppError(422, "validation-error", "unit-not-addressed", number=directive.number, code=unit_code)


async def _latest_version(session: AsyncSession, directive_id: uuid.UUID, unit_id: int) -> FocalPoint | None:
    """The newest version; it is the active one if any is (a new version always supersedes the active).
    Read after the lock, in its own statement, so that it sees what a concurrent registrar committed."""
    return await session.scalar(
        select(FocalPoint)
        .where(FocalPoint.directive_id == directive_id, FocalPoint.unit_id == unit_id)
        .order_by(FocalPoint.version.desc())
        .limit(1)
    )


def _out(fp: FocalPoint, unit: Unit, directive: Directive) -> RegistrationOut:
    return RegistrationOut(
        id=fp.id,
        directive_id=fp.directive_id,
        unit_code=unit.code,
        version=fp.version,
        status=fp.status,
        full_name=fp.full_name,
        position=fp.position,
        phone=fp.phone,
        email=fp.email,
        note=fp.note,
        submitted_at=fp.submitted_at,
        on_time=fp.submitted_at < directive.deadline,
        ended_at=fp.ended_at,
        withdraw_reason=fp.withdraw_reason,
    )
