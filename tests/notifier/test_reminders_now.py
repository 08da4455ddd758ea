"""The Office's "Nhắc ngay" from the registry's endpoint to the SMTP server and the SMS gateway: one
reminder per missing unit, however often it is pressed within the hour or its job is replayed."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from services.api.models import OutboxMessage
from services.api.worker import relay as registry_relay
from services.notifier.models import Notification
from shared import queues
from shared.contracts import ReminderRequested
from tests.builders import auth, create_directive, create_key, create_unit
from tests.support.notifier import enqueue, run_worker_until, worker_idle


async def sent(notifier_db) -> list[tuple[str, str]]:
    async with notifier_db() as session:
        rows = await session.execute(
            select(Notification.kind, Notification.recipient).where(Notification.status == "sent")
        )
        return sorted((kind, recipient) for kind, recipient in rows)


async def relay(registry_settings, notifier_settings, db) -> int:
    relay_settings = registry_settings.model_copy(update={"queue_prefix": notifier_settings.queue_prefix})
    redis = await queues.connect(relay_settings)
    try:
        return await registry_relay(relay_settings, db, redis).relay_new()
    finally:
        await redis.aclose()


async def test_reminding_twice_sends_one_reminder_per_missing_unit(
    client, db, registry_settings, notifier_settings, notifier_db, smtp, gateway
):
    await create_unit(db, "06652", name="Phường Hà Phong", email="ubnd.haphong@halong.example", phone="0912000652")
    await create_unit(db, "06655", name="Phường Hà Khẩu", email="ubnd.hakhau@halong.example")
    directive = await create_directive(db, ["06652", "06655"], number="1250/UBND")
    office = await create_key(db, "office")
    async with db() as session, session.begin():  # the directory's own announcements are not this test's
        await session.execute(delete(OutboxMessage))

    url = f"/v1/directives/{directive.id}/reminders"
    assert (await client.post(url, json={}, headers=auth(office))).json()["queued"] == ["06652", "06655"]
    assert (await client.post(url, json={}, headers=auth(office))).json()["queued"] == []
    assert await relay(registry_settings, notifier_settings, db) == 2

    expected = [
        ("reminder_requested", "+84912000652"),
        ("reminder_requested", "ubnd.hakhau@halong.example"),
        ("reminder_requested", "ubnd.haphong@halong.example"),
    ]

    async def delivered() -> bool:
        return len(await sent(notifier_db)) == len(expected)

    await run_worker_until(notifier_settings, delivered)
    assert await sent(notifier_db) == expected
    (email,) = smtp.handler.to("ubnd.haphong@halong.example")
    assert "1250/UBND" in email["Subject"] and "Phường Hà Phong" in email.get_content()
    (sms,) = gateway.to("0912000652")
    assert "Phuong Ha Phong" in sms["Content"] and "1250/UBND" in sms["Content"]

    # The same message again (a job replayed after Redis lost its record of it): nothing new is sent.
    async with db() as session:
        payloads = [r.payload for r in (await session.scalars(select(OutboxMessage))).all()]
    for payload in payloads:
        await enqueue(notifier_settings, ReminderRequested.model_validate(payload))

    async def idle() -> bool:
        return await worker_idle(notifier_settings)

    await run_worker_until(notifier_settings, idle)
    async with notifier_db() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == len(expected)
    assert len(smtp.handler.to("ubnd.haphong@halong.example")) == 1 and len(gateway.to("0912000652")) == 1
