"""Fixtures of the notifier's tests: its schema in the test database, a real SMTP server, a local
SMS gateway, and a real arq worker run until a condition holds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from services.notifier.app import create_app
from services.notifier.migrations import upgrade
from services.notifier.settings import NotifierSettings, SmsGateway
from services.notifier.worker import build_worker
from shared import queues
from shared.contracts import LANES, NOTIFIER, Message
from shared.db import create_engine, create_pg_pool, session_factory
from shared.timeutil import to_vietnam, utcnow
from tests.support.sms_gateway import Gateway, running
from tests.support.smtp_server import SmtpServer
from tests.support.workers import run_until


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


def quiet_hours_away_from_now() -> tuple[str, str]:
    """A quiet window that does not contain the test's run time (tests run at any hour)."""
    now = to_vietnam(utcnow())
    start, end = now + timedelta(hours=3), now + timedelta(hours=4)
    return start.strftime("%H:%M"), end.strftime("%H:%M")


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
        worker_metrics_port=0,
    )


@pytest.fixture
async def notifier_db(notifier_settings) -> AsyncIterator:
    """A session factory on the notifier's tables, emptied before the test; Redis emptied too."""
    engine = create_engine(notifier_settings)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE notify.receipts, notify.notifications, notify.sms_daily_counts, "
                "notify.idempotency_keys CASCADE"
            )
        )
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


async def enqueue(settings: NotifierSettings, message: Message, *, job_id: str | None = None) -> None:
    """Put ``message`` on its lane, as the registry's relay does."""
    redis = await queues.connect(settings)
    try:
        await queues.enqueue_message(redis, settings, message, job_id=job_id or uuid.uuid4().hex)
    finally:
        await redis.aclose()


async def queued(settings: NotifierSettings) -> list:
    """The jobs waiting in the notifier's queues. arq lists a queue, then reads each job: a job the
    worker finishes in between ("job ... not found") means the list is read again."""
    redis = await queues.connect(settings)
    queue_names = [queues.queue_name(settings, NOTIFIER, lane) for lane in (None, *LANES)]
    try:
        jobs = []
        for name in queue_names:
            for attempt in range(20):
                try:
                    jobs += await redis.queued_jobs(queue_name=name)
                    break
                except RuntimeError:
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.01)
        return jobs
    finally:
        await redis.aclose()


async def run_worker_until(
    settings: NotifierSettings,
    done: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 20.0,  # noqa: ASYNC109
) -> None:
    """Run a real notifier worker (arq, this event loop) until ``done()`` holds."""
    await run_until(build_worker(settings, poll_delay=0.05), done, timeout=timeout)
