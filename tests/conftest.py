"""Fixtures shared by every test: a migrated throwaway database, a Redis key space, the registry app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from services.api.app import create_app
from services.api.migrations import upgrade
from services.api.settings import RegistrySettings
from tests.support.databases import REDIS_URL, create_database, delete_redis_keys, drop_database

REGISTRY_TABLES = (
    "registry.focal_points, registry.directive_units, registry.directives, registry.unit_changes, "
    "registry.units, registry.outbox, registry.idempotency_keys, registry.scheduled_notices, auth.api_keys"
)


@pytest.fixture(scope="session")
async def registry_database() -> AsyncIterator[str]:
    name, url = await create_database()
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    yield url
    await drop_database(name)


@pytest.fixture(scope="session")
def queue_prefix() -> str:
    return f"ioc-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def job_ids() -> AsyncIterator[set[str]]:
    """Ids of every job the tests may have enqueued: their arq keys are removed at the end."""
    ids: set[str] = set()
    yield ids


@pytest.fixture(scope="session")
async def registry_settings(
    registry_database: str, queue_prefix: str, job_ids: set[str]
) -> AsyncIterator[RegistrySettings]:
    settings = RegistrySettings(
        database_url=registry_database,
        redis_url=REDIS_URL,
        queue_prefix=queue_prefix,
        environment="test",
        log_json=False,
        log_level="WARNING",
        outbox_poll_seconds=0.5,
    )
    yield settings
    await delete_redis_keys(REDIS_URL, [f"{queue_prefix}:*"], job_ids)


@pytest.fixture(scope="session")
async def registry_app(registry_settings: RegistrySettings, job_ids: set[str]):
    app = create_app(registry_settings)
    async with app.router.lifespan_context(app):
        yield app
        async with app.state.engine.connect() as conn:
            job_ids.update(str(i) for i in (await conn.execute(text("SELECT id FROM registry.outbox"))).scalars())


@pytest.fixture
async def db(registry_app):
    """A session factory on the test database, for builders and for checking what was stored."""
    return registry_app.state.sessions


@pytest.fixture(autouse=True)
async def clean_registry(registry_app, job_ids: set[str]) -> AsyncIterator[None]:
    """Every test starts from empty tables (TRUNCATE, not a rolled-back transaction: the tests include
    concurrent registrations, which need real commits)."""
    async with registry_app.state.engine.begin() as conn:
        job_ids.update(str(i) for i in (await conn.execute(text("SELECT id FROM registry.outbox"))).scalars())
        await conn.execute(text(f"TRUNCATE {REGISTRY_TABLES} RESTART IDENTITY CASCADE"))
    registry_app.state.rate_limiter._buckets.clear()
    yield


@pytest.fixture
async def client(registry_app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=registry_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as http:
        yield http
