"""The unit directory copy (kept in step with the registry by queue messages), headcounts and reports.

Every write here changes a figure the screens show, so it bumps the state's version in the same
transaction (the metrics' ETags change, the cached answers are dropped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from services.adoption.models import DirectoryUnit, Headcount, Report
from services.adoption.units import repository
from services.adoption.units.schemas import HeadcountIn, ReportIn
from shared.contracts import UnitChanged
from shared.problems import NotFound

if TYPE_CHECKING:
    from services.adoption.metrics.cache import MetricsCache


async def apply_unit_change(session: AsyncSession, message: UnitChanged) -> None:
    """Upsert the registry's unit. Messages may arrive twice or out of order (concurrent jobs, retries):
    a message older than the row's last change is ignored, so a late one never undoes a newer one."""
    await repository.upsert_unit(
        session,
        {
            "code": message.unit.code,
            "name": message.unit.name,
            "kind": message.unit.kind,
            "parent_code": message.parent_code,
            "email": message.unit.email,
            "phone": message.unit.phone,
            "active": message.active,
            "registry_headcount": message.staff_headcount,
            "updated_at": message.occurred_at,
        },
    )
    await repository.bump_version(session)
    await session.commit()


async def _active_unit(session: AsyncSession, code: str) -> DirectoryUnit:
    unit = await repository.get_unit(session, code)
    if unit is None or not unit.active:
        raise NotFound("unit-not-found", code=code)
    return unit


async def set_headcount(session: AsyncSession, code: str, data: HeadcountIn) -> Headcount:
    await _active_unit(session, code)
    row = await repository.upsert_headcount(session, unit_code=code, as_of=data.as_of, staff=data.staff)
    await repository.bump_version(session)
    await session.commit()
    return row


async def record_report(session: AsyncSession, data: ReportIn) -> Report:
    await _active_unit(session, data.unit_code)
    row = await repository.upsert_report(session, data.model_dump())
    await repository.bump_version(session)
    await session.commit()
    return row


class UnitCodes:
    """The directory's unit codes, read again only when the state's version has moved (a change of the
    directory bumps it, like every fold): a request needs no query of its own to check a code."""

    def __init__(self, cache: MetricsCache) -> None:
        self._cache = cache
        self._version: int | None = None
        self._active: frozenset[str] = frozenset()
        self._known: frozenset[str] = frozenset()

    async def active(self, pool: asyncpg.Pool) -> frozenset[str]:
        """The codes of the active units (those that take events, headcounts and reports)."""
        await self._refresh(pool)
        return self._active

    async def known(self, pool: asyncpg.Pool) -> frozenset[str]:
        """The codes of every unit, retired ones included (their history stays readable)."""
        await self._refresh(pool)
        return self._known

    async def _refresh(self, pool: asyncpg.Pool) -> None:
        version = (await self._cache.state(pool))["version"]
        if version != self._version:
            # Read after the version: a change in between only makes the next call read again.
            codes = await repository.unit_codes(pool)
            self._active = frozenset(code for code, active in codes.items() if active)
            self._known = frozenset(codes)
            self._version = version
