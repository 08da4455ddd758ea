"""Use cases of directives. Each public function commits its own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.directives.schemas import DirectiveCreate
from services.api.models import Directive, DirectiveUnit, Unit, outbox
from services.api.refs import directive_ref, unit_ref
from shared.auth import Principal, Role
from shared.contracts import DirectiveIssued
from shared.db import violated_constraint
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import Conflict, FieldError, Forbidden, InvalidFields, NotFound
from shared.timeutil import utcnow, vietnam_midnight


async def create_directive(
    session: AsyncSession, data: DirectiveCreate, *, by: str, notify: bool = True
) -> tuple[Directive, list[str]]:
    errors = []
    if data.deadline <= vietnam_midnight(data.issued_on):
        errors.append(FieldError("deadline", "deadline_before_issue", issued_on=data.issued_on.isoformat()))
    if data.operation_starts_at is not None and data.operation_starts_at < vietnam_midnight(data.issued_on):
        errors.append(FieldError("operation_starts_at", "operation_before_issue", issued_on=data.issued_on.isoformat()))
    duplicates = sorted({c for c in data.unit_codes if data.unit_codes.count(c) > 1})
    if duplicates:
        errors.append(FieldError("unit_codes", "unit_codes_duplicate", codes=", ".join(duplicates)))
    units = {u.code: u for u in await session.scalars(select(Unit).where(Unit.code.in_(data.unit_codes), Unit.active))}
    unknown = [c for c in dict.fromkeys(data.unit_codes) if c not in units]
    if unknown:
        errors.append(FieldError("unit_codes", "unit_codes_unknown", codes=", ".join(unknown)))
    if errors:
        raise InvalidFields(*errors)

    directive = Directive(
        number=data.number,
        issue_year=data.issued_on.year,
        title=data.title,
        issued_on=data.issued_on,
        deadline=data.deadline,
        operation_starts_at=data.operation_starts_at,
        created_by=by,
    )
    session.add(directive)
    try:
        await session.flush()
        await session.execute(
            insert(DirectiveUnit), [{"directive_id": directive.id, "unit_id": u.id} for u in units.values()]
        )
        if notify:  # each addressed unit's official contact learns what to do and by when
            for unit in units.values():
                outbox.add(
                    session,
                    DirectiveIssued(
                        message_id=uuid.uuid4(),
                        occurred_at=utcnow(),
                        directive=directive_ref(directive),
                        unit=unit_ref(unit),
                    ),
                )
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if violated_constraint(exc) == "uq_directives_number_issue_year":
            raise Conflict("directive-exists", number=data.number, year=data.issued_on.year) from None
        raise
    return directive, sorted(units)


async def unit_codes_of(session: AsyncSession, directive_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The codes each directive addresses, in one query for a whole page."""
    rows = await session.execute(
        select(DirectiveUnit.directive_id, func.array_agg(Unit.code).label("codes"))
        .join(Unit, Unit.id == DirectiveUnit.unit_id)
        .where(DirectiveUnit.directive_id.in_(directive_ids))
        .group_by(DirectiveUnit.directive_id)
    )
    return {row.directive_id: sorted(row.codes) for row in rows}


async def get_directive(session: AsyncSession, directive_id: uuid.UUID) -> Directive:
    directive = await session.get(Directive, directive_id)
    if directive is None:
        raise NotFound("directive-not-found", id=str(directive_id))
    return directive


async def ensure_addresses_own_unit(session: AsyncSession, directive: Directive, principal: Principal) -> None:
    """A ward app reads only the directives that address its unit."""
    if principal.role is not Role.ward_app:
        return
    addressed = await session.scalar(
        select(DirectiveUnit.unit_id)
        .join(Unit, Unit.id == DirectiveUnit.unit_id)
        .where(DirectiveUnit.directive_id == directive.id, Unit.code == principal.unit_code)
        .limit(1)
    )
    if addressed is None:
        raise Forbidden("forbidden-directive", own=principal.unit_code)


async def list_directives(
    session: AsyncSession, principal: Principal, *, year: int | None, limit: int, cursor: str | None
) -> tuple[list[Directive], str | None]:
    """Newest issue date first, a page at a time (keyset on issued_on, id)."""
    query = select(Directive).order_by(Directive.issued_on.desc(), Directive.id.desc()).limit(limit + 1)
    if year is not None:
        query = query.where(Directive.issue_year == year)
    if principal.role is Role.ward_app:
        query = query.where(
            Directive.id.in_(
                select(DirectiveUnit.directive_id)
                .join(Unit, Unit.id == DirectiveUnit.unit_id)
                .where(Unit.code == principal.unit_code)
            )
        )
    position = decode_cursor(cursor)
    if position is not None:
        try:
            issued_on, last_id = date.fromisoformat(position[0]), uuid.UUID(str(position[1]))
            query = query.where(
                or_(Directive.issued_on < issued_on, and_(Directive.issued_on == issued_on, Directive.id < last_id))
            )
        except (ValueError, TypeError, IndexError):
            raise InvalidFields(FieldError("cursor", "cursor_invalid")) from None
    rows = list((await session.scalars(query)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].issued_on.isoformat(), str(rows[-1].id)])
    return rows, next_cursor
