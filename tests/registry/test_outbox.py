"""The acknowledged outbox (shared/outbox.py), through the registry's: a message waits for its consumer's
acknowledgement, is sent again only when Redis no longer holds it, and never once acknowledged."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.api.models import OutboxMessage, outbox
from services.api.worker import relay as registry_relay
from shared import queues
from shared.contracts import NORMAL, NOTIFIER
from shared.timeutil import utcnow
from tests.notifier import builders


@pytest.fixture
async def setup(db, registry_settings, own_redis):
    """A relay on a Redis of the test's own, with an ack timeout short enough to watch, and one message."""
    settings = registry_settings.model_copy(update={"redis_url": own_redis.url, "outbox_ack_timeout_seconds": 0.3})
    redis = await queues.connect(settings)
    message = builders.issued()
    async with db() as session:
        outbox.add(session, message)
        await session.commit()
    yield registry_relay(settings, db, redis), redis, settings, message
    await redis.aclose()


async def row_of(db, message_id: uuid.UUID) -> OutboxMessage:
    async with db() as session:
        return await session.get(OutboxMessage, message_id)


async def queued_ids(redis, settings) -> set[str]:
    return {m.decode() for m in await redis.zrange(queues.queue_name(settings, NOTIFIER, NORMAL), 0, -1)}


async def test_a_message_still_waiting_in_redis_is_not_sent_again(db, setup):
    relay, redis, settings, message = setup
    assert await relay.step() == 1
    await asyncio.sleep(0.5)  # past the ack timeout; the consumer is only busy, its job still queued
    for _ in range(3):
        await relay.resend_overdue(utcnow())
    assert await queued_ids(redis, settings) == {str(message.message_id)}
    row = await row_of(db, message.message_id)
    assert row.attempts == 1 and row.acknowledged_at is None


async def test_a_message_gone_from_redis_unacknowledged_is_sent_again_under_a_new_id(db, setup):
    relay, redis, settings, message = setup
    assert await relay.step() == 1
    # The consumer took the job, and its acknowledgement was lost (or Redis evicted the job).
    await redis.zrem(queues.queue_name(settings, NOTIFIER, NORMAL), str(message.message_id))
    await redis.delete(f"arq:job:{message.message_id}")
    await asyncio.sleep(0.5)
    await relay.resend_overdue(utcnow())
    assert await queued_ids(redis, settings) == {f"{message.message_id}.2"}
    (job,) = await redis.queued_jobs(queue_name=queues.queue_name(settings, NOTIFIER, NORMAL))
    assert queues.parse_message(job.function, job.args[0]) == message  # the same message, the same id
    assert (await row_of(db, message.message_id)).attempts == 2


async def test_an_acknowledged_message_is_never_sent_again(db, setup):
    relay, redis, settings, message = setup
    assert await relay.step() == 1
    acknowledge = outbox.acknowledge_job().coroutine
    assert await acknowledge({"sessions": db}, [str(message.message_id), "not-an-id"]) == 1
    assert await acknowledge({"sessions": db}, [str(message.message_id)]) == 0  # twice: no change
    await redis.flushall()  # whatever Redis loses now
    await asyncio.sleep(0.5)
    await relay.resend_overdue(utcnow())
    assert await queued_ids(redis, settings) == set()
    assert (await row_of(db, message.message_id)).attempts == 1


async def test_redis_losing_its_data_is_noticed_at_once(db, setup):
    relay, redis, settings, message = setup
    relay = registry_relay(settings.model_copy(update={"outbox_ack_timeout_seconds": 3600}), db, redis)
    assert await relay.step() == 1
    await redis.flushall()
    await relay.step()  # no timeout has passed: the missing marker says Redis lost its data
    assert await queued_ids(redis, settings) == {f"{message.message_id}.2"}
