"""Use cases of people's accounts: create (with a one-time password), list, disable, reset the
password. Each public function commits its own transaction, audit row included."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.audit.service import record
from services.api.people.models import Person, SignInSession
from services.api.people.passwords import hash_password, one_time_password
from services.api.people.schemas import PersonCreate, PersonOut, PersonWithPassword
from services.api.units.service import find_unit
from shared.db import violated_constraint
from shared.problems import Conflict, FieldError, InvalidFields, NotFound
from shared.timeutil import utcnow


async def create_person(
    session: AsyncSession, data: PersonCreate, *, by: str, password: str | None = None
) -> PersonWithPassword:
    """A new account with a random password (or ``password``, for demo accounts), returned this once."""
    if data.unit_code is not None:
        unit = await find_unit(session, data.unit_code)
        if unit is None or not unit.active:
            raise InvalidFields(FieldError("unit_code", "unit_codes_unknown", codes=data.unit_code))
    secret = password or one_time_password()
    person = Person(
        id=uuid.uuid4(),
        login=data.login,
        display_name=data.display_name,
        role=data.role,
        unit_code=data.unit_code,
        password_hash=await hash_password(secret),
        must_change_password=data.must_change_password is not False,
    )
    session.add(person)
    record(session, "person_created", login=data.login, by=by, role=data.role, unit_code=data.unit_code)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if violated_constraint(exc) == "uq_people_login":
            raise Conflict("person-exists", login=data.login) from None
        raise
    await session.refresh(person)
    return PersonWithPassword(**PersonOut.model_validate(person).model_dump(), password=secret)


async def list_people(session: AsyncSession) -> list[Person]:
    return list((await session.scalars(select(Person).order_by(Person.login))).all())


async def get_person(session: AsyncSession, person_id: uuid.UUID) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("person-not-found", id=str(person_id))
    return person


async def find_by_login(session: AsyncSession, login: str) -> Person:
    person = await session.scalar(select(Person).where(Person.login == login.strip().lower()))
    if person is None:
        raise NotFound("person-not-found", id=login)
    return person


async def disable_person(session: AsyncSession, person: Person, *, by: str) -> Person:
    """Disable at once: the person's sessions stop working on every service. Twice changes nothing."""
    if person.disabled_at is None:
        now = utcnow()
        person.disabled_at = now
        await revoke_sessions(session, person.id, now)
        record(session, "person_disabled", login=person.login, by=by)
        await session.commit()
    return person


async def reset_password(session: AsyncSession, person: Person, *, by: str) -> PersonWithPassword:
    """A new one-time password, to be changed at the next sign-in; the person's sessions end."""
    secret = one_time_password()
    now = utcnow()
    person.password_hash = await hash_password(secret)
    person.must_change_password = True
    person.password_changed_at = now
    await revoke_sessions(session, person.id, now)
    record(session, "password_reset", login=person.login, by=by)
    await session.commit()
    return PersonWithPassword(**PersonOut.model_validate(person).model_dump(), password=secret)


async def revoke_sessions(
    session: AsyncSession, person_id: uuid.UUID, now: datetime, *, keep: uuid.UUID | None = None
) -> None:
    query = update(SignInSession).where(SignInSession.person_id == person_id, SignInSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(SignInSession.id != keep)
    await session.execute(query.values(revoked_at=now))
