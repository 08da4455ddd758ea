"""Priority lanes: confirmations and go-live notices ahead of reminders, reminders ahead of digests and
nudges; a bulk backlog never delays a confirmation, neither in the queue nor at a saturated provider."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from sqlalchemy import func, select

from services.notifier.models import Notification
from services.notifier.ratelimit import ProviderRateLimiter
from services.notifier.worker import build_worker
from shared import queues
from shared.contracts import BULK, NORMAL, PRIORITY, UnitRef
from tests.notifier import builders
from tests.support.workers import running


async def test_a_saturated_provider_keeps_a_token_for_priority_and_serves_normal_before_bulk(redis_url):
    redis = aioredis.Redis.from_url(redis_url)
    limiter = ProviderRateLimiter(redis, f"lanes-{time.monotonic_ns()}")
    try:
        # Bulk takes what it can at once: it stops short of the floor it leaves for the other lanes.
        bulk = 0
        while (await limiter.reserve("gw", 10, 0, BULK))[0]:
            bulk += 1
        assert 0 < bulk < 10
        assert (await limiter.reserve("gw", 10, 0, NORMAL))[0]  # normal's floor is lower than bulk's
        normal = 1
        while (await limiter.reserve("gw", 10, 0, NORMAL))[0]:
            normal += 1
        assert bulk + normal < 10
        # The provider is saturated for bulk and normal; a confirmation still goes at once.
        taken, wait = await limiter.reserve("gw", 10, 0, PRIORITY)
        assert taken and wait == 0
        # A priority send may queue for a slot (the bucket goes into debt); bulk then waits behind it.
        while (await limiter.reserve("gw", 10, 0, PRIORITY))[0]:
            pass
        taken, wait = await limiter.reserve("gw", 10, 1.0, PRIORITY)
        assert taken and 0 < wait <= 1.0
        taken, wait = await limiter.reserve("gw", 10, 0.05, BULK)
        assert not taken and wait > 0.05
    finally:
        await redis.aclose()


async def test_a_confirmation_overtakes_a_bulk_backlog(notifier_settings, notifier_db, gateway):
    (sms_gateway,) = notifier_settings.sms_gateways
    settings = notifier_settings.model_copy(
        update={"sms_gateways": [sms_gateway.model_copy(update={"per_second": 20})], "email_per_second": 20}
    )
    backlog = 200  # nudges, each an SMS and an e-mail: ten seconds of the gateway's capacity
    redis = await queues.connect(settings)
    try:
        for i in range(backlog):
            unit = UnitRef(code=f"U{i:03d}", name=f"Phường {i}", kind="ward", phone=f"+8491200{i:04d}")
            nudge = builders.adoption_nudge(unit)
            await queues.enqueue_message(redis, settings, nudge, job_id=str(nudge.message_id))
        confirmation = builders.registered()
        async with running(build_worker(settings, poll_delay=0.05)):
            await asyncio.sleep(1.0)  # the backlog is being worked through
            enqueued_at = time.monotonic()
            await queues.enqueue_message(redis, settings, confirmation, job_id=str(confirmation.message_id))
            async with asyncio.timeout(20):
                while not gateway.to("0912345678"):
                    await asyncio.sleep(0.02)
            waited = time.monotonic() - enqueued_at
            async with notifier_db() as session:
                bulk_sent = await session.scalar(
                    select(func.count()).where(
                        Notification.lane == BULK, Notification.channel == "sms", Notification.status == "sent"
                    )
                )
                lanes = (
                    await session.scalars(
                        select(Notification.lane).where(Notification.message_id == confirmation.message_id)
                    )
                ).all()
    finally:
        await redis.aclose()
    assert waited < 2.0
    assert bulk_sent < backlog / 2  # most of the backlog was still waiting when the confirmation went
    assert set(lanes) == {PRIORITY}
