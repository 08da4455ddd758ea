"""Typed builders for test data, going through the same service functions the API uses."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.directives import service as directives
from services.api.directives.schemas import DirectiveCreate
from services.api.keys import service as keys
from services.api.keys.schemas import KeyCreate
from services.api.models import Directive, OutboxMessage
from services.api.units import service as units
from services.api.units.schemas import UnitCreate
from shared.auth import Principal, Role
from shared.timeutil import VIETNAM, utcnow

Sessions = async_sessionmaker[AsyncSession]


async def create_unit(
    db: Sessions, code: str = "06652", *, name: str | None = None, kind: str = "ward", **fields: object
) -> str:
    async with db() as session:
        unit = await units.create_unit(
            session, UnitCreate(code=code, name=name or f"Phường {code}", kind=kind, **fields), by="test"
        )
        return unit.code


async def create_key(db: Sessions, role: Role | str = Role.office, *, unit: str | None = None, **fields: object) -> str:
    """A fresh API key's secret (the unit must exist for a ward_app key)."""
    async with db() as session:
        created = await keys.create_key(
            session, KeyCreate(name=f"test {role}", role=Role(role), unit_code=unit, **fields)
        )
        return created.key


async def create_directive(
    db: Sessions,
    unit_codes: list[str],
    *,
    number: str | None = None,
    deadline: datetime | None = None,
    issued_on: date | None = None,
    notify: bool = False,
) -> Directive:
    """A directive addressing ``unit_codes``; ``notify=False`` leaves the outbox to the test's own doing."""
    deadline = deadline or utcnow() + timedelta(days=7)
    async with db() as session:
        directive, _ = await directives.create_directive(
            session,
            DirectiveCreate(
                number=number or f"{uuid.uuid4().int % 10000}/UBND",
                title="Cử cán bộ đầu mối",
                issued_on=issued_on or (deadline.astimezone(VIETNAM).date() - timedelta(days=2)),
                deadline=deadline,
                unit_codes=unit_codes,
            ),
            by="test",
            notify=notify,
        )
        return directive


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def registration(directive_id: uuid.UUID | str, unit_code: str = "06652", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "directive_id": str(directive_id),
        "unit_code": unit_code,
        "full_name": "Nguyễn Văn An",
        "position": "Chuyên viên",
        "phone": "0912 345 678",
        "email": "an.nv@halong.gov.vn",
        "note": "Kỹ sư công nghệ thông tin",
    }
    body.update(overrides)
    return body


# The principal service functions are called with when a test bypasses HTTP.
OFFICE = Principal(uuid.UUID(int=1), "test office", Role.office, None, None)


async def register_focal_point(db: Sessions, data, *, received_at: datetime | None = None):
    """A registration through the service the API uses, received at ``received_at`` (default now)."""
    from services.api.registrations.service import register
    from shared.db import raw_connection

    async with raw_connection(db.kw["bind"]) as conn:
        return await register(conn, data, principal=OFFICE, received_at=received_at)


def all_acknowledged(db: Sessions):
    """A check that holds once every message of the registry's outbox has been acknowledged."""

    async def check() -> bool:
        async with db() as session:
            waiting = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.acknowledged_at.is_(None))
            )
        return waiting == 0

    return check
