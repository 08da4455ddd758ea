"""Use cases of the unit directory. Each public function commits its own transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.models import Unit, UnitChange, outbox
from services.api.refs import unit_ref
from services.api.units.schemas import UnitCreate, UnitPatch, snapshot
from shared.auth import Principal
from shared.contracts import UnitChanged
from shared.db import violated_constraint
from shared.problems import Conflict, FieldError, InvalidFields, NotFound
from shared.text import fold_for_search
from shared.timeutil import utcnow

SEARCH_NAME_LENGTH = Unit.search_name.type.length


async def list_units(
    session: AsyncSession,
    *,
    kind: str | None = None,
    parent_code: str | None = None,
    q: str | None = None,
    active: bool | None = None,
    only_code: str | None = None,
) -> list[Unit]:
    query = select(Unit).order_by(Unit.kind, Unit.code, Unit.id)
    if kind:
        query = query.where(Unit.kind == kind)
    if parent_code:
        query = query.where(Unit.parent_code == parent_code.upper())
    if active is not None:
        query = query.where(Unit.active.is_(active))
    if only_code:
        query = query.where(Unit.code == only_code)
    if q and (needle := fold_for_search(q)):
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Unit.search_name.like(pattern), Unit.code.ilike(pattern[1:])))
    return list((await session.scalars(query)).all())


async def find_unit(session: AsyncSession, code: str) -> Unit | None:
    """The active unit with ``code``, else the most recently retired one."""
    return await session.scalar(
        select(Unit).where(Unit.code == code.upper()).order_by(Unit.active.desc(), Unit.id.desc()).limit(1)
    )


async def get_unit(session: AsyncSession, code: str) -> Unit:
    unit = await find_unit(session, code)
    if unit is None:
        raise NotFound("unit-not-found", code=code)
    return unit


async def _check_parent(session: AsyncSession, code: str, parent_code: str | None) -> None:
    if parent_code is None:
        return
    if parent_code == code:
        raise InvalidFields(FieldError("parent_code", "parent_self"))
    if await find_unit(session, parent_code) is None:
        raise InvalidFields(FieldError("parent_code", "parent_unknown", code=parent_code))


def _announce(session: AsyncSession, unit: Unit) -> None:
    """Tell the services that keep a copy of the directory (adoption), in the same transaction."""
    outbox.add(
        session,
        UnitChanged(
            message_id=uuid.uuid4(),
            occurred_at=utcnow(),
            unit=unit_ref(unit),
            parent_code=unit.parent_code,
            active=unit.active,
            staff_headcount=unit.staff_headcount,
        ),
    )


async def announce_all(session: AsyncSession) -> int:
    """Announce every unit again (for a service that starts keeping a copy after the units exist)."""
    units = list((await session.scalars(select(Unit).order_by(Unit.id))).all())
    for unit in units:
        _announce(session, unit)
    await session.commit()
    return len(units)


async def create_unit(session: AsyncSession, data: UnitCreate, *, by: Principal | str) -> Unit:
    await _check_parent(session, data.code, data.parent_code)
    unit = Unit(**data.model_dump(), search_name=search_name(data.name))
    session.add(unit)
    try:
        await session.flush()
        session.add(UnitChange(unit_id=unit.id, changed_by=_actor(by), before=None, after=snapshot(unit)))
        _announce(session, unit)
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if violated_constraint(exc) == "uq_units_code_active":
            raise Conflict("unit-exists", code=data.code) from None
        raise
    return unit


async def update_unit(session: AsyncSession, code: str, patch: UnitPatch, *, by: Principal | str) -> Unit:
    unit = await get_unit(session, code)
    changes = patch.changes()
    if "parent_code" in changes:
        parent = changes["parent_code"]
        await _check_parent(session, unit.code, parent if isinstance(parent, str) else None)
    before = snapshot(unit)
    for field, value in changes.items():
        setattr(unit, field, value)
    after = snapshot(unit)
    if after == before:
        return unit
    unit.search_name = search_name(unit.name)
    unit.updated_at = utcnow()
    session.add(UnitChange(unit_id=unit.id, changed_by=_actor(by), before=before, after=after))
    _announce(session, unit)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if violated_constraint(exc) == "uq_units_code_active":  # reactivating a code now used by another unit
            raise Conflict("unit-exists", code=unit.code) from None
        raise
    return unit


def search_name(name: str) -> str:
    """The name as ``?q=`` matches it, within its column: folding a name of 200 characters can make it
    longer (case folding turns "ß" into "ss"), and only such rare names lose their tail's match."""
    return fold_for_search(name)[:SEARCH_NAME_LENGTH]


def _actor(by: Principal | str) -> str:
    return by if isinstance(by, str) else by.actor
