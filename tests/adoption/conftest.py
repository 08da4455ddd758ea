"""Fixtures of the adoption service's tests: its schema in the test database, its app, and its tables
emptied for the tests that ask for ``adoption``. API keys are the registry's: tests that need one ask
for ``db`` and make it with ``tests.builders.create_key``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from services.adoption.app import create_app
from services.adoption.migrations import upgrade
from services.adoption.settings import AdoptionSettings
from tests.support import tables


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
        subject_hmac_key="test-subject-key",
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
        await tables.empty_adoption(conn)
    yield adoption_app


@pytest.fixture
async def adoption_client(adoption) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=adoption, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://adoption.test") as http:
        yield http
