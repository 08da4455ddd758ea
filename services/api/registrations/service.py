"""Use cases of focal-point registrations: register (a new version), withdraw, and read them back.

Exactly one version per (directive, unit) is active. Concurrent registrations for one unit are
serialised by locking that unit's ``directive_units`` row; the partial unique index on active
versions is the guarantee should anything bypass this code.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.models import Directive, DirectiveUnit, FocalPoint, Unit, outbox
from services.api.refs import directive_ref, focal_point_ref, from_row, unit_ref
from services.api.registrations import repository
from services.api.registrations.schemas import NOMINATION_FIELDS, RegistrationCreate, RegistrationOut
from services.api.units.service import find_unit
from shared.auth import Principal, ensure_unit_scope
from shared.contracts import FocalPointRegistered, FocalPointWithdrawn
from shared.problems import AppError, Conflict, FieldError, Forbidden, NotFound
from shared.timeutil import utcnow


async def register(
    db: asyncpg.Pool | asyncpg.Connection,
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
    row = await repository.register(
        db,
        directive_id=data.directive_id,
        unit_code=data.unit_code,
        nomination=data.model_dump(include=set(NOMINATION_FIELDS)),
        received_at=received_at or utcnow(),
        submitted_by=principal.actor[:200],
        outbox={"id": str(uuid.uuid4()), "queue": FocalPointRegistered.consumer(), "job_name": FocalPointRegistered.job}
        if notify
        else None,
    )
    match row["outcome"]:
        case "directive_not_found":
            raise NotFound("directive-not-found", id=str(data.directive_id))
        case "unit_not_found":
            raise NotFound("unit-not-found", code=data.unit_code)
        case "not_addressed":
            names = {"number": row["directive_number"], "code": data.unit_code}
            raise AppError(
                422,
                "validation-error",
                "unit-not-addressed",
                errors=[FieldError("unit_code", "unit_not_addressed", **names)],
                **names,
            )
    version = row["focal_point"]
    registration = from_row(
        RegistrationOut, version, unit_code=data.unit_code, on_time=version["submitted_at"] < row["deadline"]
    )
    return registration, row["outcome"] == "created"


async def compose_registered(session: AsyncSession, outbox_id: uuid.UUID, ref: dict[str, Any]) -> FocalPointRegistered:
    """The message of a registration's outbox row, from the ids the database function stored in it."""
    new = await session.get(FocalPoint, uuid.UUID(ref["focal_point_id"]))
    assert new is not None
    old = await session.get(FocalPoint, uuid.UUID(ref["superseded_id"])) if ref.get("superseded_id") else None
    directive = await session.get(Directive, new.directive_id)
    unit = await session.get(Unit, new.unit_id)
    assert directive is not None and unit is not None
    return FocalPointRegistered(
        message_id=outbox_id,
        occurred_at=new.submitted_at,
        directive=directive_ref(directive),
        unit=unit_ref(unit),
        focal_point=focal_point_ref(new, directive),
        superseded=focal_point_ref(old, directive) if old else None,
    )


async def withdraw(
    session: AsyncSession, registration_id: uuid.UUID, *, reason: str, by: str, unit_code: str | None = None
) -> RegistrationOut:
    """End the unit's active focal point: the unit counts as missing again until it registers anew.
    ``unit_code``: the caller may withdraw that unit's focal points only (403 for another's)."""
    found = await session.get(FocalPoint, registration_id)
    if found is None:
        raise NotFound("registration-not-found", id=str(registration_id))
    directive = await session.get(Directive, found.directive_id)
    unit = await session.get(Unit, found.unit_id)
    assert directive is not None and unit is not None
    if unit_code is not None and unit.code != unit_code:
        raise Forbidden("forbidden-unit", own=unit_code, unit=unit.code)
    await session.execute(
        select(DirectiveUnit.unit_id)
        .where(DirectiveUnit.directive_id == found.directive_id, DirectiveUnit.unit_id == found.unit_id)
        .with_for_update()
    )
    await session.refresh(found)  # its status after the lock, not before
    if found.status != "active":
        raise Conflict("registration-not-active", state=found.status)
    found.status, found.ended_at, found.withdraw_reason = "withdrawn", utcnow(), reason
    outbox.add(
        session,
        FocalPointWithdrawn(
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


async def addressed_units(session: AsyncSession, directive_id: uuid.UUID) -> list[tuple[Unit, FocalPoint | None]]:
    """Every unit a directive addresses, with its active focal point (None: missing), by unit code."""
    rows = await session.execute(
        select(Unit, FocalPoint)
        .select_from(DirectiveUnit)
        .join(Unit, Unit.id == DirectiveUnit.unit_id)
        .outerjoin(
            FocalPoint,
            and_(
                FocalPoint.directive_id == DirectiveUnit.directive_id,
                FocalPoint.unit_id == DirectiveUnit.unit_id,
                FocalPoint.status == "active",
            ),
        )
        .where(DirectiveUnit.directive_id == directive_id)
        .order_by(Unit.code)
    )
    return [(unit, fp) for unit, fp in rows]


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


def _out(fp: FocalPoint, unit: Unit, directive: Directive) -> RegistrationOut:
    return from_row(RegistrationOut, fp, unit_code=unit.code, on_time=fp.submitted_at < directive.deadline)
