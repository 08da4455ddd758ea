"""Faults: PostgreSQL going away while the app's backend posts events costs no event; Redis restarting
kills no worker."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from services.adoption.app import create_app
from services.adoption.worker import build_worker
from shared import queues
from shared.contracts import REGISTRY, UnitChanged, UnitRef
from shared.timeutil import utcnow
from tests.adoption.builders import add_unit, event
from tests.builders import auth, create_key
from tests.support.proxy import database_behind_proxy
from tests.support.workers import running

EVENTS = "/v1/adoption/events"


async def test_posts_while_the_database_is_down_answer_503_and_are_taken_whole_once_it_is_back(
    adoption, adoption_settings, db
):
    await add_unit(adoption, "06652")
    key = await create_key(db, "app_backend")
    batches = [{"events": [event(f"09120000{b}{i}") for i in range(5)]} for b in range(4)]
    async with database_behind_proxy(create_app, adoption_settings) as (client, proxy):

        async def post(body: dict) -> httpx.Response:
            return await client.post(EVENTS, json=body, headers=auth(key))

        assert (await post(batches[0])).json()["accepted"] == 5
        await proxy.cut()
        down = await asyncio.gather(*(post(b) for b in batches[1:]))  # arriving together, as a group would
        assert [r.status_code for r in down] == [503, 503, 503]
        assert all(r.headers["content-type"] == "application/problem+json" for r in down)
        await proxy.restore()
        # The backend sends the same batches again: each is taken whole, and the first stays a replay.
        again = await asyncio.gather(*(post(b) for b in batches))
        assert [r.status_code for r in again] == [202] * 4
        assert [r.json()["accepted"] for r in again] == [0, 5, 5, 5]
    async with adoption.state.pg.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM adoption.events") == 20


async def test_the_worker_outlives_a_redis_restart_and_acknowledges_what_it_records(
    adoption, adoption_settings, own_redis
):
    settings = adoption_settings.model_copy(update={"redis_url": own_redis.url})
    redis = await queues.connect(settings)
    changed = UnitChanged(
        message_id=uuid.uuid4(),
        occurred_at=utcnow(),
        unit=UnitRef(code="06652", name="Phường Hà Phong", kind="ward"),
        active=True,
    )
    try:
        async with running(build_worker(settings, poll_delay=0.05)) as worker:
            await own_redis.restart_empty(down_for=1.5)
            await queues.enqueue_message(redis, settings, changed, job_id=str(changed.message_id))
            async with asyncio.timeout(30):
                while await redis.zcard(queues.queue_name(settings, REGISTRY)) == 0:  # the acknowledgement
                    await asyncio.sleep(0.05)
            assert worker.workers, "still taking jobs"
        (job,) = await redis.queued_jobs(queue_name=queues.queue_name(settings, REGISTRY))
        assert (job.function, list(job.args)) == ("registry.outbox.acknowledge", [[str(changed.message_id)]])
    finally:
        await redis.aclose()
    async with adoption.state.pg.acquire() as conn:
        assert await conn.fetchval("SELECT name FROM adoption.units WHERE code = '06652'") == "Phường Hà Phong"
