"""Redis losing its data, or restarting, loses no notification and sends none twice; no worker dies.

The probe that found the hole: with the notifier paused, registrations were posted and relayed to
Redis; Redis restarted without its data; the worker resumed. Nothing was ever sent, and nothing said so.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from collections import Counter

from sqlalchemy import delete, func, select

from services.api.models import OutboxMessage
from services.api.worker import build_worker as registry_worker
from services.notifier.models import Notification
from services.notifier.worker import build_worker as notifier_worker
from shared import queues
from shared.contracts import LANES, NOTIFIER
from tests.builders import auth, create_directive, create_key, create_unit, registration
from tests.notifier import builders
from tests.support.notifier import enqueue, worker_environment
from tests.support.redis_server import free_port
from tests.support.workers import running

UNITS = 40


async def wait_for(check, seconds: float = 60.0):
    async with asyncio.timeout(seconds):
        while not (result := await check()):
            await asyncio.sleep(0.1)
    return result


async def jobs_in_redis(settings) -> int:
    redis = await queues.connect(settings)
    try:
        return sum([await redis.zcard(queues.queue_name(settings, NOTIFIER, lane)) for lane in LANES])
    finally:
        await redis.aclose()


async def test_redis_restarted_empty_loses_no_notification_and_sends_none_twice(
    client, db, registry_settings, notifier_settings, notifier_db, smtp, gateway, own_redis
):
    registry = registry_settings.model_copy(
        update={"redis_url": own_redis.url, "queue_prefix": notifier_settings.queue_prefix}
    )
    notifier = notifier_settings.model_copy(update={"redis_url": own_redis.url})
    codes = [f"HL-T{i:02d}" for i in range(UNITS)]
    for code in codes:
        await create_unit(db, code, kind="department", email=f"{code.lower()}@halong.example")
    async with db() as session, session.begin():  # the directory's announcements go to adoption: not here
        await session.execute(delete(OutboxMessage))
    directive = await create_directive(db, codes, notify=True)  # 40 "directive issued"
    office = await create_key(db, "office")
    for i, code in enumerate(codes):  # 40 registrations: SMS and e-mail to the person, e-mail to the unit
        body = registration(directive.id, code, full_name=f"Cán bộ {i}", phone=f"+8491234{i:04d}")
        body["email"] = f"cb{i}@halong.example"
        assert (await client.post("/v1/registrations", json=body, headers=auth(office))).status_code == 201

    async def acknowledged() -> int:
        async with db() as session:
            return await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.acknowledged_at.is_not(None))
            )

    async with running(registry_worker(registry, poll_delay=0.05)) as relay:
        # The notifier is paused: every message waits in Redis.
        await wait_for(lambda: _equals(jobs_in_redis(notifier), 2 * UNITS))
        await own_redis.restart_empty(down_for=0.5)  # the 80 jobs are gone

        async def settled() -> bool:
            async with notifier_db() as session:
                sent = await session.scalar(
                    select(func.count()).select_from(Notification).where(Notification.status == "sent")
                )
            return sent == 4 * UNITS and await acknowledged() == 2 * UNITS

        async with running(notifier_worker(notifier, poll_delay=0.05)):
            await wait_for(settled, 120)
        assert relay.workers, "the registry's worker is still taking jobs"

    emails = Counter(message["To"].addresses[0].addr_spec for message in smtp.handler.messages)
    # Each unit: "directive issued" and "focal point registered"; each person: the confirmation. Once.
    expected = Counter(
        [f"{c.lower()}@halong.example" for c in codes] * 2 + [f"cb{i}@halong.example" for i in range(UNITS)]
    )
    assert emails == expected
    assert Counter(r["Phone"] for r in gateway.accepted.values()) == Counter(f"091234{i:04d}" for i in range(UNITS))


async def _equals(value, expected) -> bool:
    return await value == expected


def metric(port: int, name: str) -> float:
    """The sum of a metric's samples on a worker's metrics port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
        lines = response.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + "{"))


async def test_the_notifier_worker_process_outlives_a_redis_restart(
    notifier_settings, notifier_db, own_redis, smtp, gateway
):
    settings = notifier_settings.model_copy(update={"redis_url": own_redis.url})
    port = free_port()
    env = {**worker_environment(settings), "IOC_WORKER_METRICS_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.notifier.worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        await wait_for(lambda: _metric_at_least(port, "ioc_worker_redis_up", 4), 20)
        await own_redis.restart_empty(down_for=3.0)  # down long enough for every worker to notice
        await wait_for(lambda: _metric_at_least(port, "ioc_worker_redis_reconnects_total", 4), 60)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]

        message = builders.go_live()
        await enqueue(settings, message, job_id=str(message.message_id))

        async def delivered() -> bool:
            async with notifier_db() as session:
                statuses = (await session.scalars(select(Notification.status))).all()
            return sorted(statuses) == ["sent", "sent"]

        await wait_for(delivered, 30)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 20)
    assert process.returncode == 0, "it stops cleanly on SIGTERM"


async def _metric_at_least(port: int, name: str, value: float) -> bool:
    try:
        return await asyncio.to_thread(metric, port, name) >= value
    except OSError:
        return False
