"""No bill run up by abuse: at most ``IOC_SMS_DAILY_CAP`` SMS to one number a day; the rest are held,
and the Office's daily digest says so."""

from __future__ import annotations

from datetime import timedelta

import httpx
import redis.asyncio as aioredis
from sqlalchemy import select

from services.notifier.digest import send_daily_digest
from services.notifier.models import Notification
from services.notifier.providers import build_providers
from services.notifier.ratelimit import ProviderRateLimiter
from services.notifier.sending import Sender
from shared.contracts import BULK
from shared.timeutil import to_vietnam, utcnow
from tests.notifier import builders
from tests.support.notifier import enqueue, run_worker_until

PHONE = "+84912345678"


async def sms_rows(notifier_db) -> list[Notification]:
    async with notifier_db() as session:
        query = select(Notification).where(Notification.channel == "sms").order_by(Notification.created_at)
        return list((await session.scalars(query)).all())


async def test_the_eleventh_sms_of_the_day_to_one_person_is_held(notifier_settings, notifier_db, smtp, gateway):
    # A runaway ward app re-registers the same person again and again.
    for i in range(11):
        await enqueue(notifier_settings, builders.registered(builders.focal_point(f"Nguyễn Văn Đức {i}", phone=PHONE)))

    async def settled() -> bool:
        rows = await sms_rows(notifier_db)
        return len(rows) == 11 and all(r.status in ("sent", "held_for_cap") for r in rows)

    await run_worker_until(notifier_settings, settled)
    statuses = sorted(r.status for r in await sms_rows(notifier_db))
    assert statuses == ["held_for_cap"] + ["sent"] * 10
    assert len(gateway.to("0912345678")) == 10
    assert len(smtp.handler.to("duc.nv@halong.example")) == 11  # e-mail is not capped
    (held,) = [r for r in await sms_rows(notifier_db) if r.status == "held_for_cap"]
    assert "10" in held.last_error


async def test_a_retried_sms_counts_once_against_the_cap(notifier_settings, notifier_db, gateway):
    settings = notifier_settings.model_copy(update={"sms_daily_cap": 2})
    gateway.replies.append("500")  # the first attempt fails, the retry succeeds
    await enqueue(settings, builders.go_live(builders.focal_point(phone=PHONE)))
    await enqueue(settings, builders.go_live(builders.focal_point("Trần Văn Bình", phone=PHONE)))

    async def settled() -> bool:
        rows = await sms_rows(notifier_db)
        return len(rows) == 2 and all(r.status == "sent" for r in rows)

    await run_worker_until(settings, settled)
    assert max(r.attempts for r in await sms_rows(notifier_db)) == 2


async def test_the_office_hears_of_held_sms_in_the_next_mornings_digest(
    notifier_settings, notifier_db, notifier_pg, smtp, gateway
):
    settings = notifier_settings.model_copy(update={"sms_daily_cap": 1})
    for name in ("Nguyễn Văn Đức", "Nguyễn Văn Đức (2)", "Nguyễn Văn Đức (3)"):
        await enqueue(settings, builders.go_live(builders.focal_point(name, phone=PHONE)))

    async def settled() -> bool:
        rows = await sms_rows(notifier_db)
        return len(rows) == 3 and all(r.status in ("sent", "held_for_cap") for r in rows)

    await run_worker_until(settings, settled)
    redis = aioredis.Redis.from_url(settings.redis_url)
    async with httpx.AsyncClient() as http:
        providers = build_providers(settings, http)

        async def schedule(*_: object) -> None:
            return None

        sender = Sender(settings, BULK, notifier_pg, providers, ProviderRateLimiter(redis, "digest-test"), schedule)
        tomorrow = to_vietnam(utcnow()).replace(hour=7, minute=59) + timedelta(days=1)
        assert await send_daily_digest(sender, now=tomorrow) == 0  # not before 08:00
        assert await send_daily_digest(sender, now=tomorrow + timedelta(minutes=1)) == 1
        assert await send_daily_digest(sender, now=tomorrow + timedelta(minutes=11)) == 0  # once a day
        assert await send_daily_digest(sender, now=utcnow()) == 0  # yesterday had nothing to say
        for provider in providers.values():
            await provider.close()
    await redis.aclose()
    (digest,) = smtp.handler.to("vanphong@halong.example")
    body = digest.get_content()
    assert "0912 345 678" in body and "2 tin bị giữ" in body and "hạn mức 1 tin" in body
    assert "vượt hạn mức" in str(digest["Subject"])
