"""Fixtures of the adoption service's tests: its schema in the test database and its app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import text

from services.adoption.aggregation import service as aggregation
from services.adoption.app import create_app
from services.adoption.migrations import upgrade
from services.adoption.settings import AdoptionSettings
from services.adoption.units.service import apply_unit_change
from shared.contracts import UnitChanged, UnitRef
from shared.timeutil import utcnow

ADOPTION_TABLES = (
    "adoption.events, adoption.batches, adoption.daily, adoption.unit_stats, adoption.headcounts, "
    "adoption.reports, adoption.units, adoption.weekly_notices, adoption.outbox, adoption.idempotency_keys"
)
SUBJECT_KEY = "test-subject-key"


@pytest.fixture(scope="session")
async def adoption_database(registry_database: str) -> str:
    await asyncio.to_thread(upgrade, registry_database)
    return registry_database


@pytest.fixture(scope="session")
def adoption_settings(adoption_database, redis_url, queue_prefix) -> AdoptionSettings:
    return AdoptionSettings(
        database_url=adoption_database,
        redis_url=redis_url,
        queue_prefix=queue_prefix,
        environment="test",
        log_json=True,
        log_level="INFO",
        subject_hmac_key=SUBJECT_KEY,
        aggregate_poll_seconds=0.5,
        worker_metrics_port=0,
    )


@pytest.fixture(scope="session")
async def adoption_app(adoption_settings):
    app = create_app(adoption_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def adoption(adoption_app) -> AsyncIterator:
    """The app, with its tables emptied first."""
    async with adoption_app.state.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {ADOPTION_TABLES} RESTART IDENTITY CASCADE"))
        await conn.execute(text("UPDATE adoption.state SET version = version + 1"))
    adoption_app.state.rate_limiter._buckets.clear()
    yield adoption_app


@pytest.fixture
async def adoption_client(adoption) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=adoption, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://adoption.test") as http:
        yield http


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


async def fold(app) -> int:
    async with app.state.pg.acquire() as conn:
        return await aggregation.fold_all(conn, max_events=5000)


def event(
    subject: str,
    type_: str = "installed",
    at: datetime | str = "2020-02-20T09:15:00+07:00",
    *,
    unit: str = "06652",
    audience: str = "staff",
    event_id: str | None = None,
) -> dict:
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "unit_code": unit,
        "subject": subject,
        "audience": audience,
        "type": type_,
        "occurred_at": at if isinstance(at, str) else at.isoformat(),
    }


async def settled(app) -> None:
    """Wait until the app's metrics cache has heard of the last change (its LISTEN is asynchronous)."""
    async with app.state.pg.acquire() as conn:
        version = await conn.fetchval("SELECT version FROM adoption.state WHERE id = 1")
    async with asyncio.timeout(5):
        while (await app.state.metrics_cache.state(app.state.pg))["version"] != version:
            await asyncio.sleep(0.01)
