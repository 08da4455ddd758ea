"""Driving the notifier from a test: its queues, its worker (in the test's event loop or as a process of
its own), and quiet hours that never hold while a test runs."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select

from services.notifier.models import Notification
from services.notifier.settings import NotifierSettings
from services.notifier.worker import build_worker
from shared import queues
from shared.contracts import LANES, NOTIFIER, Message
from shared.timeutil import to_vietnam, utcnow
from tests.support.workers import run_until


def quiet_hours_away_from_now() -> tuple[str, str]:
    """A quiet window that does not contain the test's run time (tests run at any hour)."""
    now = to_vietnam(utcnow())
    start, end = now + timedelta(hours=3), now + timedelta(hours=4)
    return start.strftime("%H:%M"), end.strftime("%H:%M")


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


async def worker_idle(settings: NotifierSettings) -> bool:
    """No job due in the notifier's queues and none in progress."""
    redis = await queues.connect(settings)
    try:
        due = 0
        for lane in (None, *LANES):
            due += await redis.zcount(queues.queue_name(settings, NOTIFIER, lane), 0, time.time() * 1000)
        # (a unique cron job keeps its in-progress key until its next run: not a running job)
        running = [k async for k in redis.scan_iter(match="arq:in-progress:*") if b"notifications.sweep" not in k]
    finally:
        await redis.aclose()
    return due == 0 and not running


def and_idle(settings: NotifierSettings, condition: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    """``condition`` holds and the worker stayed idle for two polls in a row: stopping the worker
    then cancels no job halfway through (arq's close() would raise its CancelledError)."""
    streak = 0

    async def check() -> bool:
        nonlocal streak
        streak = streak + 1 if await condition() and await worker_idle(settings) else 0
        return streak >= 2

    return check


def worker_environment(settings: NotifierSettings) -> dict[str, str]:
    """The environment of a notifier worker process (``python -m services.notifier.worker``) on
    ``settings``' database, Redis, SMTP server and first SMS gateway."""
    gateway = settings.sms_gateways[0]
    zalo = {
        "IOC_ZALO_PROVIDER": settings.zalo_provider,
        "IOC_ZALO_SEND_URL": settings.zalo_send_url,
        "IOC_ZALO_TOKEN_URL": settings.zalo_token_url,
        "IOC_ZALO_APP_ID": settings.zalo_app_id,
        "IOC_ZALO_APP_SECRET": settings.zalo_app_secret.get_secret_value(),
        "IOC_ZALO_REFRESH_TOKEN": settings.zalo_refresh_token.get_secret_value(),
        "IOC_ZALO_TIMEOUT_SECONDS": str(settings.zalo_timeout_seconds),
        "IOC_ZALO_PER_SECOND": "1000",
    }
    return {
        **zalo,
        **os.environ,
        "IOC_DATABASE_URL": settings.database_url,
        "IOC_REDIS_URL": settings.redis_url,
        "IOC_QUEUE_PREFIX": settings.queue_prefix,
        "IOC_LOG_JSON": "false",
        "IOC_LOG_LEVEL": "WARNING",
        "IOC_WORKER_METRICS_PORT": "0",
        "IOC_EMAIL_PROVIDER": "smtp",
        "IOC_SMTP_HOST": "127.0.0.1",
        "IOC_SMTP_PORT": str(settings.smtp_port),
        "IOC_SMTP_SECURITY": "none",
        "IOC_SMS_PROVIDER": "gateway",
        "IOC_SMS_GATEWAYS": json.dumps(
            [
                {
                    "name": gateway.name,
                    "url": gateway.url,
                    "per_second": 1000,
                    "api_key": gateway.api_key.get_secret_value(),
                    "secret_key": gateway.secret_key.get_secret_value(),
                }
            ]
        ),
        "IOC_EMAIL_PER_SECOND": "1000",
        "IOC_STUCK_AFTER_SECONDS": "2",
        "IOC_SWEEP_EVERY_SECONDS": "2",
        "IOC_SEND_TIMEOUT_SECONDS": "2",
        "IOC_RETRY_BASE_SECONDS": "0.2",
        "IOC_WORKER_CONCURRENCY": "10",
        "IOC_SMS_QUIET_START": settings.sms_quiet_start,
        "IOC_SMS_QUIET_END": settings.sms_quiet_end,
    }


async def notification_rows(notifier_db, channel: str | None = None) -> list[Notification]:
    """The notifier's rows, of one channel or all, in the order of their dedupe keys."""
    query = select(Notification).order_by(Notification.dedupe_key)
    if channel:
        query = query.where(Notification.channel == channel)
    async with notifier_db() as session:
        return list((await session.scalars(query)).all())


def settled(
    notifier_db, count: int, settings: NotifierSettings, final: tuple[str, ...] = ("sent", "permanent_failure")
) -> Callable[[], Awaitable[bool]]:
    """``count`` rows, each in a ``final`` status, and the worker idle (see :func:`and_idle`)."""

    async def check() -> bool:
        current = await notification_rows(notifier_db)
        return len(current) == count and all(r.status in final for r in current)

    return and_idle(settings, check)
