"""Fixtures shared by every test: a migrated throwaway database, a Redis key space, the registry app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from services.api.app import create_app
from services.api.migrations import upgrade
from services.api.settings import RegistrySettings
from tests.support.databases import SHARED_TEST_REDIS_URL, create_database, drop_database
from tests.support.redis_server import RedisServer, private_redis, redis_server

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
async def redis_url() -> AsyncIterator[str]:
    """A private redis-server when one can be started, else the shared Redis's database 14, which the
    tests own (emptied at the end)."""
    async with private_redis() as url:
        if url is not None:
            yield url
            return
        yield SHARED_TEST_REDIS_URL
        client = aioredis.Redis.from_url(SHARED_TEST_REDIS_URL)
        await client.flushdb()
        await client.aclose()


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    """A Redis of the test's own, which it may stop and restart empty."""
    async with redis_server() as server:
        if server is None:
            pytest.fail("this test needs Debian's redis-server (apt install redis-server)")
        yield server


@pytest.fixture(scope="session")
async def registry_settings(registry_database: str, queue_prefix: str, redis_url: str) -> RegistrySettings:
    return RegistrySettings(
        database_url=registry_database,
        redis_url=redis_url,
        queue_prefix=queue_prefix,
        environment="test",
        log_json=False,
        log_level="WARNING",
        outbox_poll_seconds=0.05,
        worker_metrics_port=0,
    )


@pytest.fixture(scope="session")
async def registry_app(registry_settings: RegistrySettings):
    app = create_app(registry_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def db(registry_app):
    """A session factory on the test database, for builders and for checking what was stored."""
    return registry_app.state.sessions


@pytest.fixture(autouse=True)
async def clean_registry(registry_app) -> AsyncIterator[None]:
    """Every test starts from empty tables (TRUNCATE, not a rolled-back transaction: the tests include
    concurrent registrations, which need real commits)."""
    async with registry_app.state.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {REGISTRY_TABLES} RESTART IDENTITY CASCADE"))
    registry_app.state.rate_limiter._buckets.clear()
    yield


@pytest.fixture
async def client(registry_app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=registry_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as http:
        yield http
