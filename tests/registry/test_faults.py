"""Faults: PostgreSQL or Redis going away must cost no registration and no job."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, text, update

from services.api.app import create_app
from services.api.models import OutboxMessage
from services.api.worker import build_worker
from services.api.worker import relay as registry_relay
from shared import queues
from shared.contracts import REGISTRY, FocalPointRegistered
from tests.builders import auth, create_directive, create_key, create_unit, registration
from tests.support.proxy import TcpProxy, database_behind_proxy, target_of, through
from tests.support.workers import running


@pytest.fixture
async def ward(db, registry_app):
    await create_unit(db, "06652")
    directive = await create_directive(db, ["06652"])
    key = await create_key(db, "ward_app", unit="06652")
    # Only the registrations' jobs matter here: the directory's own announcements are out of the way.
    async with registry_app.state.engine.begin() as conn:
        await conn.execute(text("DELETE FROM registry.outbox"))
    return directive, key


async def test_database_down_answers_503_then_recovers(registry_settings, ward):
    directive, key = ward
    async with database_behind_proxy(create_app, registry_settings) as (client, proxy):
        assert (await client.get("/v1/units", headers=auth(key))).status_code == 200
        await proxy.cut()
        for path in ("/v1/units", f"/v1/directives/{directive.id}"):
            down = await client.get(path, headers=auth(key))
            assert down.status_code == 503
            assert down.headers["retry-after"]
            assert down.headers["content-type"] == "application/problem+json"
            assert "Traceback" not in down.text and "asyncpg" not in down.text
        posted = await client.post("/v1/registrations", json=registration(directive.id), headers=auth(key))
        assert posted.status_code == 503
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"
        await proxy.restore()
        posted = await client.post("/v1/registrations", json=registration(directive.id), headers=auth(key))
        assert posted.status_code == 201


async def test_registration_while_redis_is_down_is_kept_and_relayed_once(client, db, registry_settings, ward):
    directive, key = ward
    proxy = await TcpProxy(*target_of(registry_settings.redis_url.replace("redis://", "http://"))).start()
    settings = registry_settings.model_copy(update={"redis_url": through(registry_settings.redis_url, proxy)})
    redis = await queues.connect(settings)
    relay = registry_relay(settings, db, redis)
    notifier_queue = queues.message_queue(settings, FocalPointRegistered)
    try:
        await proxy.cut()
        created = await client.post("/v1/registrations", json=registration(directive.id), headers=auth(key))
        assert created.status_code == 201  # Redis is not on a registration's path
        assert await relay.relay_new() == 0
        async with db() as session:
            row = await session.scalar(select(OutboxMessage))
        assert row.relayed_at is None and row.attempts == 0 and row.last_error

        await proxy.restore()
        assert await relay.relay_new() == 1
        # A relay that runs twice (it crashed after enqueueing, before stamping the row) enqueues nothing new.
        async with db() as session, session.begin():
            await session.execute(update(OutboxMessage).values(relayed_at=None))
        assert await relay.relay_new() == 1
        direct = aioredis.Redis.from_url(registry_settings.redis_url)
        try:
            assert await direct.zrange(notifier_queue, 0, -1) == [str(row.id).encode()]
            job = queues.deserialize(await direct.get(f"arq:job:{row.id}"))
        finally:
            await direct.aclose()
        assert job["f"] == "notifier.focal_point.registered"
        message = queues.parse_message(job["f"], job["a"][0])
        assert message.focal_point.phone == "+84912345678" and message.unit.code == "06652"
    finally:
        await redis.aclose()
        await proxy.stop()


async def test_worker_process_relays_a_registration_within_seconds(client, registry_app, registry_settings, ward):
    """The real worker, in a process of its own, moves a new registration to the notifier's queue."""
    directive, key = ward
    env = {
        **os.environ,
        "IOC_DATABASE_URL": registry_settings.database_url,
        "IOC_REDIS_URL": registry_settings.redis_url,
        "IOC_QUEUE_PREFIX": registry_settings.queue_prefix,
        "IOC_LOG_JSON": "false",
        "IOC_WORKER_METRICS_PORT": "0",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "services.api.worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    direct = aioredis.Redis.from_url(registry_settings.redis_url)
    queue = queues.message_queue(registry_settings, FocalPointRegistered)
    try:
        await asyncio.sleep(1.5)  # let it start listening; rows made before are relayed anyway
        created = await client.post("/v1/registrations", json=registration(directive.id), headers=auth(key))
        assert created.status_code == 201
        for _ in range(100):
            queued = {m.decode() for m in await direct.zrange(queue, 0, -1)}
            async with registry_app.state.engine.connect() as conn:
                ids = {str(i) for i in (await conn.execute(text("SELECT id FROM registry.outbox"))).scalars()}
            if ids and ids <= queued:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the worker did not relay the registration: " + worker.stderr.read1().decode()[-2000:])
    finally:
        worker.terminate()
        worker.wait(timeout=15)
        await direct.aclose()


async def test_the_worker_outlives_a_redis_restart_and_still_relays_and_records_acknowledgements(
    client, db, registry_settings, ward, own_redis
):
    directive, key = ward
    settings = registry_settings.model_copy(update={"redis_url": own_redis.url})
    redis = await queues.connect(settings)

    async def row() -> OutboxMessage | None:
        async with db() as session:
            return await session.scalar(select(OutboxMessage))

    try:
        async with running(build_worker(settings, poll_delay=0.05)) as worker:
            await own_redis.restart_empty(down_for=1.5)
            created = await client.post("/v1/registrations", json=registration(directive.id), headers=auth(key))
            assert created.status_code == 201
            async with asyncio.timeout(30):
                while (await row()) is None or (await row()).relayed_at is None:
                    await asyncio.sleep(0.05)
            relayed = await row()
            await queues.enqueue_job(
                redis, queues.queue_name(settings, REGISTRY), "registry.outbox.acknowledge", [str(relayed.id)]
            )
            async with asyncio.timeout(30):
                while (await row()).acknowledged_at is None:
                    await asyncio.sleep(0.05)
            assert worker.workers, "still taking jobs"
    finally:
        await redis.aclose()
