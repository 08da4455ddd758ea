"""From a ward app's registration to an e-mail at the SMTP server and an SMS at the gateway; and a
worker killed mid-batch that loses nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

from sqlalchemy import delete, func, select

from services.api.models import OutboxMessage
from services.api.worker import relay as registry_relay
from services.notifier.models import Notification
from shared import queues
from tests.builders import auth, create_directive, create_key, create_unit, registration
from tests.notifier import builders
from tests.support.notifier import enqueue, run_worker_until, worker_environment


async def count(notifier_db, *statuses: str) -> int:
    async with notifier_db() as session:
        query = select(func.count()).select_from(Notification)
        if statuses:
            query = query.where(Notification.status.in_(statuses))
        return await session.scalar(query)


async def test_a_registration_is_confirmed_by_email_and_sms(
    client, db, registry_settings, notifier_settings, notifier_db, smtp, gateway
):
    await create_unit(db, "06652", name="Phường Hà Phong", email="ubnd.haphong@halong.example")
    directive = await create_directive(db, ["06652"])
    ward = await create_key(db, "ward_app", unit="06652")
    async with db() as session, session.begin():  # the directory's own announcements are not this test's
        await session.execute(delete(OutboxMessage))
    response = await client.post(
        "/v1/registrations",
        headers=auth(ward),
        json=registration(
            directive.id, full_name="Trần Thị Ngọc Ánh", phone="0987 654 321", email="anh.ttn@halong.example"
        ),
    )
    assert response.status_code == 201

    # The registry's relay puts the outbox row on the notifier's queue.
    relay_settings = registry_settings.model_copy(update={"queue_prefix": notifier_settings.queue_prefix})
    redis = await queues.connect(relay_settings)
    try:
        assert await registry_relay(relay_settings, db, redis).relay_new() == 1
    finally:
        await redis.aclose()

    async def delivered() -> bool:
        return await count(notifier_db, "sent") == 3

    await run_worker_until(notifier_settings, delivered)
    (sms,) = gateway.to("0987654321")
    assert "Tran Thi Ngoc Anh" in sms["Content"] and "Phuong Ha Phong" in sms["Content"]
    (person,) = smtp.handler.to("anh.ttn@halong.example")
    assert "Trần Thị Ngọc Ánh" in person.get_content()
    (unit,) = smtp.handler.to("ubnd.haphong@halong.example")
    assert "Trần Thị Ngọc Ánh" in unit.get_content()


async def test_a_worker_killed_mid_batch_loses_nothing(notifier_settings, notifier_db, smtp, gateway):
    gateway.delay_seconds = 0.05  # a busy gateway, so that the kill lands mid-batch
    people = 40
    for i in range(people):
        fp = builders.focal_point(name=f"Cán bộ {i}", phone=f"+8491234{i:04d}", email=f"cb{i}@halong.example")
        await enqueue(notifier_settings, builders.registered(fp))
    expected = people * 3  # SMS and e-mail to the person, e-mail to the unit

    env = worker_environment(notifier_settings)
    first = subprocess.Popen(
        [sys.executable, "-m", "services.notifier.worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(400):
            if await count(notifier_db, "sent") >= 20:
                break
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert await count(notifier_db, "sent") < expected, "the batch finished before the kill"
    finally:
        if first.poll() is None:
            first.kill()

    second = subprocess.Popen(
        [sys.executable, "-m", "services.notifier.worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(1200):  # arq re-runs the killed jobs once their in-progress keys expire
            if await count(notifier_db, "sent") == expected and await count(notifier_db) == expected:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"only {await count(notifier_db, 'sent')} of {expected} sent")
    finally:
        second.terminate()
        second.wait(timeout=20)

    # Every person got their SMS exactly once: the gateway refuses a repeated RequestId.
    assert len(gateway.accepted) == people
    assert len({m["Phone"] for m in gateway.accepted.values()}) == people
    # Every e-mail arrived; a resend of one cut off mid-conversation can arrive twice, never more.
    received = [m["X-IOC-Notification"] for m in smtp.handler.messages]
    assert len(set(received)) == people * 2
    assert all(received.count(i) <= 2 for i in set(received))
