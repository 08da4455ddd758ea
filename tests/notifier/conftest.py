"""Fixtures of the notifier's tests: its schema in the test database, a real SMTP server, a local SMS
gateway, its settings on them, and its tables (and Redis) emptied for the tests that ask for
``notifier_db``. Helpers that drive its queues and worker are in ``tests/support/notifier.py``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.notifier.app import create_app
from services.notifier.migrations import upgrade
from services.notifier.settings import NotifierSettings, SmsGateway
from shared.db import create_engine, create_pg_pool, session_factory
from tests.support import tables
from tests.support.notifier import quiet_hours_away_from_now
from tests.support.sms_gateway import Gateway, running
from tests.support.smtp_server import SmtpServer
from tests.support.zns_server import APP_ID, APP_SECRET, OA_SECRET_KEY, Zns
from tests.support.zns_server import running as zns_running


@pytest.fixture(scope="session")
async def notifier_database(registry_database: str) -> str:
    await asyncio.to_thread(upgrade, registry_database)
    return registry_database


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with running(Gateway()) as g:
        yield g


@pytest.fixture
def notifier_settings(notifier_database, redis_url, queue_prefix, smtp, gateway, tmp_path) -> NotifierSettings:
    quiet_start, quiet_end = quiet_hours_away_from_now()
    return NotifierSettings(
        database_url=notifier_database,
        redis_url=redis_url,
        queue_prefix=f"{queue_prefix}-{uuid.uuid4().hex[:6]}",
        environment="test",
        log_json=False,
        log_level="WARNING",
        email_provider="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        sms_provider="gateway",
        sms_gateways=[
            SmsGateway(
                name="esms",
                url=gateway.url,
                api_key=gateway.api_key,
                secret_key=gateway.secret_key,
                timeout_seconds=1.0,
                per_second=200,
            )
        ],
        email_per_second=200,
        retry_base_seconds=0.2,
        retry_max_seconds=1.0,
        stuck_after_seconds=2.0,
        sms_quiet_start=quiet_start,
        sms_quiet_end=quiet_end,
        sink_dir=str(tmp_path / "sink"),
        office_email="vanphong@halong.example",
        receipt_token="test-token",
        zalo_app_id=APP_ID,  # the webhook's signature is checked whether or not Zalo sends
        zalo_oa_secret_key=OA_SECRET_KEY,
        worker_metrics_port=0,
    )


@pytest.fixture
async def zns() -> AsyncIterator[Zns]:
    async with zns_running(Zns()) as z:
        yield z


@pytest.fixture
def zalo_settings(notifier_settings, zns) -> NotifierSettings:
    """The notifier's settings with Zalo on, on the local ZNS server (its first refresh token given)."""
    return notifier_settings.model_copy(
        update={
            "zalo_provider": "zns",
            "zalo_send_url": f"{zns.url}/message/template",
            "zalo_token_url": f"{zns.url}/v4/oa/access_token",
            "zalo_app_secret": SecretStr(APP_SECRET),
            "zalo_refresh_token": SecretStr(zns.refresh_token),
            "zalo_timeout_seconds": 1.0,
            "zalo_per_second": 200,
            "lane_db_pool_size": 3,
        }
    )


@pytest.fixture
async def notifier_db(notifier_settings) -> AsyncIterator:
    """A session factory on the notifier's tables, emptied before the test; Redis emptied too."""
    engine = create_engine(notifier_settings)
    async with engine.begin() as conn:
        await tables.empty(conn, tables.NOTIFIER)
    client = aioredis.Redis.from_url(notifier_settings.redis_url)
    await client.flushdb()
    await client.aclose()
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def notifier_pg(notifier_settings, notifier_db) -> AsyncIterator:
    """An asyncpg pool on the same (emptied) tables, as the worker's send path uses."""
    pool = await create_pg_pool(notifier_settings, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def notifier_client(notifier_settings, notifier_db) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(notifier_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://notifier.test"
        ) as client,
    ):
        yield client
