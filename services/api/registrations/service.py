"""Use cases of focal-point registrations: register (a new version), withdraw, and read them back.

Exactly one version per (directive, unit) is active. Concurrent registrations for one unit are
serialised by locking that unit's ``directive_units`` row; the partial unique index on active
versions is the guarantee should anything bypass this code.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import outbox
from services.api.messages import directive_ref, focal_point_ref, unit_ref
from services.api.models import Directive, DirectiveUnit, FocalPoint, Unit
from services.api.registrations import repository
from services.api.registrations.schemas import NOMINATION_FIELDS, RegistrationCreate, RegistrationOut
from services.api.units.service import find_unit
from shared import queues
from shared.auth import Principal, ensure_unit_scope
from shared.contracts import DirectiveRef, FocalPointRef, FocalPointRegistered, FocalPointWithdrawn, UnitRef
from shared.problems import AppError, Conflict, NotFound
from shared.timeutil import utcnow


async def register(
    conn: asyncpg.Connection,
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
    async with conn.transaction():
        target = await repository.lock_addressed_unit(conn, data.directive_id, data.unit_code)
        if target is None:
            raise await _not_addressed(conn, data.directive_id, data.unit_code)
        latest = await repository.latest_version(conn, target["directive_id"], target["unit_id"])
        active = latest if latest is not None and latest["status"] == "active" else None
        if active is not None and all(active[f] == getattr(data, f) for f in NOMINATION_FIELDS):
            return _out_of_record(active, target), False

        new_id = uuid.uuid4()
        fields = data.model_dump(include=set(NOMINATION_FIELDS))
        new = {
            **fields,
            "id": new_id,
            "version": (latest["version"] if latest else 0) + 1,
            "status": "active",
            "submitted_at": received_at,
        }
        outbox_row = None
        if notify:
            directive, unit = _refs_of_record(target)
            message = FocalPointRegistered(
                message_id=uuid.uuid4(),
                occurred_at=received_at,
                directive=directive,
                unit=unit,
                focal_point=_focal_point_of_record(new, directive),
                superseded=_focal_point_of_record(active, directive) if active else None,
            )
            outbox_row = (
                message.message_id,
                queues.NOTIFIER,
                "notifier.focal_point.registered",
                message.model_dump_json(),
            )
        await repository.write_version(
            conn,
            previous_id=active["id"] if active else None,
            new_id=new_id,
            at=received_at,
            directive_id=target["directive_id"],
            unit_id=target["unit_id"],
            version=new["version"],
            fields=fields,
            standing_since=active["standing_since"] if active else received_at,
            submitted_by=principal.name,
            outbox=outbox_row,
        )
    return _out_of_record(new, target), True


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


async def _not_addressed(conn: asyncpg.Connection, directive_id: uuid.UUID, unit_code: str) -> AppError:
    """Why a registration has no addressed unit to lock: say precisely what is wrong."""
    number = await repository.directive_exists(conn, directive_id)
    if number is None:
        return NotFound("directive-not-found", id=str(directive_id))
    if not await repository.unit_exists(conn, unit_code):
        return NotFound("unit-not-found", code=unit_code)
    return AppError(422, "validation-error", "unit-not-addressed", number=number, code=unit_code)


def _refs_of_record(target: asyncpg.Record) -> tuple[DirectiveRef, UnitRef]:
    directive = DirectiveRef(
        id=target["directive_id"],
        number=target["number"],
        title=target["title"],
        deadline=target["deadline"],
        operation_starts_at=target["operation_starts_at"],
    )
    unit = UnitRef(
        code=target["code"], name=target["name"], kind=target["kind"], email=target["email"], phone=target["phone"]
    )
    return directive, unit


def _focal_point_of_record(fp: Mapping[str, Any], directive: DirectiveRef) -> FocalPointRef:
    return FocalPointRef(
        id=fp["id"],
        version=fp["version"],
        full_name=fp["full_name"],
        position=fp["position"],
        phone=fp["phone"],
        email=fp["email"],
        submitted_at=fp["submitted_at"],
        on_time=fp["submitted_at"] < directive.deadline,
    )


def _out_of_record(fp: Mapping[str, Any], target: asyncpg.Record) -> RegistrationOut:
    return RegistrationOut(
        id=fp["id"],
        directive_id=target["directive_id"],
        unit_code=target["code"],
        version=fp["version"],
        status=fp["status"],
        full_name=fp["full_name"],
        position=fp["position"],
        phone=fp["phone"],
        email=fp["email"],
        note=fp["note"],
        submitted_at=fp["submitted_at"],
        on_time=fp["submitted_at"] < target["deadline"],
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
