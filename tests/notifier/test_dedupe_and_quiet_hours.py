"""At-least-once delivery without double sends, SMS quiet hours, and the sweeper's rescue of stuck rows."""

from __future__ import annotations

import uuid
from datetime import timedelta

from arq.jobs import Job, JobStatus
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.notifier.models import Notification
from services.notifier.planning import plan
from services.notifier.sending import Sender
from shared import queues
from shared.timeutil import to_vietnam, utcnow
from tests.notifier import builders
from tests.support.notifier import and_idle, enqueue, notification_rows, queued, run_worker_until

SWEEP_JOB = "notifier.notifications.sweep"


async def by_channel(notifier_db) -> dict[str, list[Notification]]:
    result: dict[str, list[Notification]] = {}
    for row in await notification_rows(notifier_db):
        result.setdefault(row.channel, []).append(row)
    return result


async def jobs_complete(settings, job_ids: list[str]) -> bool:
    redis = await queues.connect(settings)
    try:
        queue = queues.queue_name(settings, queues.NOTIFIER)
        return all([await Job(j, redis, _queue_name=queue).status() == JobStatus.complete for j in job_ids])
    finally:
        await redis.aclose()


def all_final_and_jobs_done(settings, notifier_db, count: int, job_ids: list[str]):
    async def check() -> bool:
        current = await notification_rows(notifier_db)
        return (
            len(current) == count
            and all(r.status in ("sent", "permanent_failure") for r in current)
            and await jobs_complete(settings, job_ids)
        )

    return and_idle(settings, check)


# --- at-least-once delivery ---------------------------------------------------------------------------


async def test_the_same_message_delivered_twice_is_sent_once(notifier_settings, notifier_db, smtp, gateway):
    message = builders.registered()
    jobs = [uuid.uuid4().hex, uuid.uuid4().hex]  # as if the relay had enqueued it twice
    for job_id in jobs:
        await enqueue(notifier_settings, message, job_id=job_id)
    await run_worker_until(notifier_settings, all_final_and_jobs_done(notifier_settings, notifier_db, 3, jobs))

    assert {r.status for r in await notification_rows(notifier_db)} == {"sent"}
    assert len(smtp.handler.to("duc.nv@halong.example")) == 1
    assert len(smtp.handler.to("ubnd.haphong@halong.example")) == 1
    assert len(smtp.handler.messages) == 2
    assert len(gateway.to("0912345678")) == 1 and gateway.calls == 1


async def test_reminders_are_one_per_label_and_channel(notifier_settings, notifier_db, smtp, gateway):
    jobs = [uuid.uuid4().hex for _ in range(3)]
    await enqueue(notifier_settings, builders.reminder("1d"), job_id=jobs[0])
    await enqueue(notifier_settings, builders.reminder("1d"), job_id=jobs[1])
    await run_worker_until(notifier_settings, all_final_and_jobs_done(notifier_settings, notifier_db, 2, jobs[:2]))

    first = await by_channel(notifier_db)
    assert [len(first["email"]), len(first["sms"])] == [1, 1]
    assert len(smtp.handler.to("ubnd.haphong@halong.example")) == 1 and gateway.calls == 1

    await enqueue(notifier_settings, builders.reminder("08:00"), job_id=jobs[2])
    await run_worker_until(notifier_settings, all_final_and_jobs_done(notifier_settings, notifier_db, 4, jobs))

    later = await by_channel(notifier_db)
    assert [len(later["email"]), len(later["sms"])] == [2, 2]
    d = builders.DIRECTIVE.id
    assert {r.dedupe_key for r in later["sms"]} == {f"reminder:{d}:06652:1d:sms", f"reminder:{d}:06652:08:00:sms"}
    assert len(smtp.handler.to("ubnd.haphong@halong.example")) == 2
    assert len(gateway.to("0912000652")) == 2


# --- quiet hours --------------------------------------------------------------------------------------


async def test_sms_waits_for_the_end_of_quiet_hours(notifier_settings, notifier_db, smtp, gateway):
    now = to_vietnam(utcnow())
    end = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    settings = notifier_settings.model_copy(
        update={"sms_quiet_start": (now - timedelta(hours=1)).strftime("%H:%M"), "sms_quiet_end": end.strftime("%H:%M")}
    )
    await enqueue(settings, builders.go_live())

    async def email_sent_and_sms_deferred_or_sent() -> bool:
        current = await by_channel(notifier_db)
        if not current.get("sms") or [r.status for r in current.get("email", [])] != ["sent"]:
            return False
        (sms,) = current["sms"]
        return sms.status == "sent" or any(list(j.args) == [str(sms.id)] for j in await queued(settings))

    await run_worker_until(settings, and_idle(settings, email_sent_and_sms_deferred_or_sent))

    current = await by_channel(notifier_db)
    (sms,) = current["sms"]
    assert (sms.status, sms.attempts) == ("created", 0)
    assert sms.next_attempt_at == end
    assert gateway.calls == 0
    assert len(smtp.handler.to("duc.nv@halong.example")) == 1
    (job,) = [j for j in await queued(settings) if list(j.args) == [str(sms.id)]]
    assert job.function == "notifier.notification.send"
    assert job.score == int(end.timestamp() * 1000)


async def test_outside_quiet_hours_sms_goes_at_once(notifier_settings, notifier_db, smtp, gateway):
    await enqueue(notifier_settings, builders.go_live())
    await run_worker_until(notifier_settings, all_final_and_jobs_done(notifier_settings, notifier_db, 2, []))
    (sms,) = (await by_channel(notifier_db))["sms"]
    assert sms.status == "sent" and gateway.calls == 1


# --- the sweeper ------------------------------------------------------------------------------------------


async def insert_drafts(settings, notifier_db, message, **values) -> list[uuid.UUID]:
    sender = Sender(settings, "normal", None, {}, None, None)  # materialise() only renders
    drafts = plan(message, office_email=settings.office_email)
    new = [{**sender.materialise(message.message_id, d), **values} for d in drafts]
    async with notifier_db() as session:
        await session.execute(pg_insert(Notification).values(new))
        await session.commit()
    return [r["id"] for r in new]


async def test_the_sweeper_resends_what_a_dead_worker_left_in_sending(
    notifier_settings, notifier_db, notifier_pg, smtp, gateway
):
    settings = notifier_settings.model_copy(update={"stuck_after_seconds": 60.0})
    long_ago = utcnow() - timedelta(minutes=10)
    # A worker claimed these ten minutes ago and died before the providers answered.
    dead = await insert_drafts(
        settings, notifier_db, builders.go_live(), status="sending", attempts=1, updated_at=long_ago
    )
    # A job lost before it ran: created, due long ago.
    lost = await insert_drafts(
        settings, notifier_db, builders.issued(), status="created", next_attempt_at=long_ago, updated_at=long_ago
    )
    # A live worker is sending this one right now: the sweeper must leave it alone.
    busy_fp = builders.focal_point("Lê Thị Mai", phone="+84987000111", email="mai.lt@halong.example")
    busy = await insert_drafts(settings, notifier_db, builders.go_live(busy_fp), status="sending", attempts=1)

    sender = Sender(settings, "normal", notifier_pg, {}, None, None)
    assert {notification_id for notification_id, _ in await sender.stuck()} == {*dead, *lost}

    redis = await queues.connect(settings)
    try:  # the cron job, run now instead of at the next :00/:30
        await redis.enqueue_job(
            SWEEP_JOB, _queue_name=queues.queue_name(settings, queues.NOTIFIER), _job_id=f"{SWEEP_JOB}:test"
        )
    finally:
        await redis.aclose()

    async def rescued() -> bool:
        async with notifier_db() as session:
            statuses = (
                await session.scalars(select(Notification.status).where(Notification.id.in_([*dead, *lost])))
            ).all()
        return len(statuses) == 4 and set(statuses) == {"sent"}

    await run_worker_until(settings, and_idle(settings, rescued))

    async with notifier_db() as session:
        found = {r.id: r for r in (await session.scalars(select(Notification))).all()}
    assert [found[i].attempts for i in dead] == [2, 2] and [found[i].attempts for i in lost] == [1, 1]
    assert len(smtp.handler.to("duc.nv@halong.example")) == 1 and len(gateway.to("0912345678")) == 1
    assert len(smtp.handler.to("ubnd.haphong@halong.example")) == 1 and len(gateway.to("0912000652")) == 1
    assert {found[i].status for i in busy} == {"sending"}
    assert smtp.handler.to("mai.lt@halong.example") == [] and gateway.to("0987000111") == []


async def test_sent_rows_are_never_swept(notifier_settings, notifier_db, notifier_pg, smtp, gateway):
    await enqueue(notifier_settings, builders.go_live())
    await run_worker_until(notifier_settings, all_final_and_jobs_done(notifier_settings, notifier_db, 2, []))
    long_ago = utcnow() - timedelta(hours=1)
    async with notifier_db() as session:
        await session.execute(update(Notification).values(updated_at=long_ago, next_attempt_at=long_ago))
        await session.commit()
    assert await Sender(notifier_settings, "normal", notifier_pg, {}, None, None).stuck() == []
