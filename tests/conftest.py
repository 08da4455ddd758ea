"""Fixtures every folder may use: a migrated throwaway database and a Redis for the session, the registry
app, and its tables emptied for the tests that ask for them (``registry_tables``, ``db``, ``client``).

Each folder's ``conftest.py`` adds its service's fixtures; ``tests/registry`` empties the registry's
tables before every one of its tests. Helpers live in ``tests/builders.py``, ``tests/<folder>/builders.py``
and ``tests/support/``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from services.api.app import create_app
from services.api.migrations import upgrade
from services.api.settings import RegistrySettings
from tests.support import tables
from tests.support.databases import SHARED_TEST_REDIS_URL, create_database, drop_database
from tests.support.redis_server import RedisServer, private_redis, redis_server


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
async def registry_tables(registry_app) -> None:
    """The registry's tables, API keys (``auth``) included, emptied before the test.

    Rate limits need no resetting: the apps keep them per key, and every test's keys are new."""
    async with registry_app.state.engine.begin() as conn:
        await tables.empty(conn, tables.REGISTRY)


@pytest.fixture
async def db(registry_app, registry_tables):
    """A session factory on the registry's (emptied) tables, for builders and for checking what was stored."""
    return registry_app.state.sessions


@pytest.fixture
async def client(registry_app, registry_tables) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the registry app, on its emptied tables."""
    transport = httpx.ASGITransport(app=registry_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as http:
        yield http
