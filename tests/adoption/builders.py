"""Typed builders for the adoption service's tests: units as the registry announces them, events as the
apps send them, and waiting for what the service does in the background (folding, its LISTEN)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from services.adoption.aggregation import service as aggregation
from services.adoption.units.service import apply_unit_change
from shared.contracts import UnitChanged, UnitRef
from shared.timeutil import utcnow


async def add_unit(
    app,
    code: str,
    *,
    name: str | None = None,
    kind: str = "ward",
    headcount: int | None = None,
    email: str | None = None,
    phone: str | None = None,
    active: bool = True,
) -> None:
    """A unit as the registry would announce it (``active=False``: retired, as after a merger)."""
    async with app.state.sessions() as session:
        await apply_unit_change(
            session,
            UnitChanged(
                message_id=uuid.uuid4(),
                occurred_at=utcnow(),
                active=active,
                staff_headcount=headcount,
                unit=UnitRef(code=code, name=name or f"Phường {code}", kind=kind, email=email, phone=phone),
            ),
        )


def event(
    subject: str,
    type_: str = "installed",
    at: datetime | str = "2020-02-20T09:15:00+07:00",
    *,
    unit: str = "06652",
    audience: str = "staff",
    event_id: str | None = None,
) -> dict:
    """One event of a batch, as an app posts it."""
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "unit_code": unit,
        "subject": subject,
        "audience": audience,
        "type": type_,
        "occurred_at": at if isinstance(at, str) else at.isoformat(),
    }


async def fold(app) -> int:
    """Fold every pending event into the figures now, as the worker would; returns the events folded."""
    async with app.state.pg.acquire() as conn:
        return await aggregation.fold_all(conn, max_events=5000)


async def settled(app) -> None:
    """Wait until the app's metrics cache has heard of the last change (its LISTEN is asynchronous)."""
    async with app.state.pg.acquire() as conn:
        version = await conn.fetchval("SELECT version FROM adoption.state WHERE id = 1")
    async with asyncio.timeout(5):
        while (await app.state.metrics_cache.state(app.state.pg))["version"] != version:
            await asyncio.sleep(0.01)
