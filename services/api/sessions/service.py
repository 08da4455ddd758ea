"""Use cases of sessions: sign in (with the lock on repeated failures), read, sign out, change the
password. Each public function commits its own transaction, audit rows included.

Failures are counted per (login as typed, client address) pair in ``auth.sign_in_failures``: the
``sign_in_max_failures``-th failure within ``sign_in_lock_minutes`` locks the pair for that long, and
a locked pair answers 429 whatever the password. Every failure, and every refusal while locked, gives
the same answer whatever was wrong (unknown login, wrong password, disabled account), and an unknown
login costs the same password check as a known one.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.audit.service import record
from services.api.people.models import Person, SignInFailure, SignInSession
from services.api.people.passwords import hash_password, verify_password
from services.api.people.service import revoke_sessions
from services.api.sessions.schemas import SessionCreated, SessionOut, SessionPerson
from services.api.settings import RegistrySettings
from shared.auth import Principal, hash_key, new_session_token
from shared.problems import AppError, FieldError, InvalidFields
from shared.timeutil import utcnow

# One more failure for the pair; a window older than the lock period starts again from one.
_FAIL = text("""
INSERT INTO auth.sign_in_failures AS f (login, client_address, failures, window_started_at)
VALUES (:login, :address, 1, now())
ON CONFLICT (login, client_address) DO UPDATE SET
    failures = CASE WHEN f.window_started_at > now() - CAST(:window AS interval)
                    THEN f.failures + 1 ELSE 1 END,
    window_started_at = CASE WHEN f.window_started_at > now() - CAST(:window AS interval)
                             THEN f.window_started_at ELSE now() END
RETURNING failures
""")
_LOCK = text("""
UPDATE auth.sign_in_failures
SET locked_until = now() + CAST(:window AS interval), failures = 0, window_started_at = now()
WHERE login = :login AND client_address = :address
""")


def _failed() -> AppError:
    return AppError(401, "unauthorized", "sign-in-failed", headers={"WWW-Authenticate": 'Bearer realm="ioc"'})


def _locked(until: datetime, now: datetime) -> AppError:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return AppError(
        429, "sign-in-locked", headers={"Retry-After": str(seconds)}, minutes=max(1, math.ceil(seconds / 60))
    )


async def sign_in(
    session: AsyncSession,
    settings: RegistrySettings,
    *,
    login: str,
    password: str,
    address: str,
    user_agent: str | None,
) -> SessionCreated:
    # PostgreSQL's text holds no NUL, and no login has one: a login typed with one is recorded with
    # U+FFFD in its place, and fails as an unknown login does.
    key = login.strip().lower().replace("\x00", "\ufffd")
    now = utcnow()
    window = timedelta(minutes=settings.sign_in_lock_minutes)
    locked_until = await session.scalar(
        select(SignInFailure.locked_until).where(
            SignInFailure.login == key, SignInFailure.client_address == address, SignInFailure.locked_until > now
        )
    )
    if locked_until is not None:
        record(session, "sign_in_locked", login=key, address=address)
        await session.commit()
        raise _locked(locked_until, now)
    person = await session.scalar(select(Person).where(Person.login == key))
    matches, new_hash = await verify_password(password, person.password_hash if person else None)
    if person is None or not matches or person.disabled_at is not None:
        reason = "unknown_login" if person is None else "disabled" if matches else "wrong_password"
        record(session, "sign_in_failed", login=key, address=address, reason=reason)
        failures = await session.scalar(_FAIL, {"login": key, "address": address, "window": window})
        if failures is not None and failures >= settings.sign_in_max_failures:  # the next attempts are locked
            await session.execute(_LOCK, {"login": key, "address": address, "window": window})
        await session.commit()
        raise _failed()
    token = new_session_token()
    row = SignInSession(
        id=uuid.uuid4(),
        person_id=person.id,
        token_hash=hash_key(token),
        created_at=now,
        last_seen_at=now,
        client_address=address,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(row)
    if new_hash is not None:  # hashed with older parameters: replaced now that the password is known
        person.password_hash = new_hash
    await session.execute(
        delete(SignInFailure).where(SignInFailure.login == key, SignInFailure.client_address == address)
    )
    record(session, "sign_in", login=key, address=address, session_id=str(row.id))
    await session.commit()
    return SessionCreated(
        token=token, expires_at=now + timedelta(hours=settings.session_idle_hours), person=_person(person)
    )


def _person(person: Person) -> SessionPerson:
    return SessionPerson.model_validate(person)


async def current(session: AsyncSession, settings: RegistrySettings, principal: Principal) -> SessionOut:
    row = await session.get(SignInSession, principal.session_id)
    person = await session.get(Person, principal.key_id)
    assert row is not None and person is not None, "the principal was resolved from them"
    return SessionOut(
        expires_at=row.last_seen_at + timedelta(hours=settings.session_idle_hours), person=_person(person)
    )


async def sign_out(session: AsyncSession, principal: Principal, *, address: str | None) -> None:
    row = await session.get(SignInSession, principal.session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session, "sign_out", login=principal.login, address=address, session_id=str(row.id))
        await session.commit()


async def change_password(
    session: AsyncSession, principal: Principal, *, current_password: str, new_password: str, address: str | None
) -> None:
    """The new password replaces the old; the person's other sessions end, this one goes on."""
    person = await session.get(Person, principal.key_id)
    assert person is not None and principal.session_id is not None, "the principal was resolved from them"
    matches, _ = await verify_password(current_password, person.password_hash)
    if not matches:
        raise InvalidFields(FieldError("current_password", "password_wrong"))
    if new_password.strip().lower() == person.login:
        raise InvalidFields(FieldError("new_password", "password_is_login"))
    now = utcnow()
    person.password_hash = await hash_password(new_password)
    person.must_change_password = False
    person.password_changed_at = now
    await revoke_sessions(session, person.id, now, keep=principal.session_id)
    record(session, "password_changed", login=person.login, address=address)
    await session.commit()
