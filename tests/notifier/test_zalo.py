"""Zalo first, SMS as the fallback: through a real worker, a local server behaving like ZNS and its
token endpoint, the SMS gateway and the SMTP server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.notifier.models import Notification, ZaloToken
from services.notifier.providers import build_providers
from services.notifier.ratelimit import ProviderRateLimiter
from services.notifier.sending import Sender
from services.notifier.worker import build_worker
from services.notifier.zalo_templates import cut, render_zalo, template_for
from services.notifier.zalo_tokens import ZaloTokens
from shared.timeutil import to_vietnam, utcnow
from tests.notifier import builders
from tests.support.notifier import and_idle, enqueue, notification_rows, run_worker_until, settled, worker_environment
from tests.support.workers import running

PHONE, ZALO_PHONE, NATIONAL = "+84912345678", "84912345678", "0912345678"
FINAL = ("sent", "delivered", "permanent_failure", "held_for_cap")


async def test_a_confirmation_goes_by_zalo_and_no_sms_follows(zalo_settings, notifier_db, smtp, gateway, zns):
    await enqueue(zalo_settings, builders.registered())
    await run_worker_until(zalo_settings, settled(notifier_db, 3, zalo_settings, FINAL))

    (zalo,) = await notification_rows(notifier_db, "zalo")
    assert (zalo.status, zalo.attempts, zalo.provider) == ("sent", 1, "zalo:zns")
    assert zalo.dedupe_key.endswith(":zalo") and zalo.cost_units == 1
    (sent,) = zns.to(ZALO_PHONE)
    assert sent["tracking_id"] == str(zalo.id) and sent["template_id"] == "300101"
    assert sent["template_data"]["ten_can_bo"] == "Nguyễn Văn Đức"
    assert sent["template_data"]["don_vi"] == "Phường Hà Phong"
    assert zalo.provider_ref == sent["msg_id"] and zalo.template_data == sent["template_data"]
    assert gateway.calls == 0 and await notification_rows(notifier_db, "sms") == []
    assert len(smtp.handler.to("duc.nv@halong.example")) == 1  # e-mail goes as before


async def test_a_number_not_on_zalo_falls_back_to_sms_once(zalo_settings, notifier_db, smtp, gateway, zns):
    zns.non_zalo.add(ZALO_PHONE)
    message = builders.registered()
    await enqueue(zalo_settings, message)
    await run_worker_until(zalo_settings, settled(notifier_db, 4, zalo_settings, FINAL))
    await enqueue(zalo_settings, message)  # delivered twice by the queue: nothing more happens
    await run_worker_until(zalo_settings, settled(notifier_db, 4, zalo_settings, FINAL))

    (zalo,) = await notification_rows(notifier_db, "zalo")
    assert zalo.status == "permanent_failure" and "-118" in zalo.last_error
    (sms,) = await notification_rows(notifier_db, "sms")
    assert (sms.status, sms.dedupe_key) == ("sent", zalo.dedupe_key.removesuffix(":zalo") + ":sms")
    assert sms.body == zalo.body and sms.cost_units == sms.sms_segments == 1
    (delivered,) = gateway.to(NATIONAL)
    assert delivered["RequestId"] == str(sms.id) and "Nguyen Van Duc" in delivered["Content"]
    assert zns.accepted == [] and zns.calls == 1  # ZNS was not asked again either


async def test_a_temporary_zns_error_is_retried_and_succeeds(zalo_settings, notifier_db, smtp, gateway, zns):
    zns.replies.extend(["-100", "500"])
    await enqueue(zalo_settings, builders.go_live())
    await run_worker_until(zalo_settings, settled(notifier_db, 2, zalo_settings, FINAL))

    (zalo,) = await notification_rows(notifier_db, "zalo")
    assert (zalo.status, zalo.attempts) == ("sent", 3)
    assert len(zns.to(ZALO_PHONE)) == 1 and gateway.calls == 0


async def test_a_zns_timeout_is_not_resent_the_sms_goes_instead(zalo_settings, notifier_db, smtp, gateway, zns):
    # ZNS may have taken it (it does not recognise a repeated tracking_id): a second try could make
    # two Zalo messages, the SMS cannot.
    zns.timeout_seconds = 1.5
    zns.replies.append("timeout")
    await enqueue(zalo_settings, builders.go_live())
    await run_worker_until(zalo_settings, settled(notifier_db, 3, zalo_settings, FINAL))

    (zalo,) = await notification_rows(notifier_db, "zalo")
    assert (zalo.status, zalo.attempts) == ("permanent_failure", 1) and "timeout" in zalo.last_error
    assert zns.calls == 1 and len(gateway.to(NATIONAL)) == 1


async def test_the_token_expires_mid_run_and_racing_workers_renew_it_once(
    zalo_settings, notifier_db, smtp, gateway, zns
):
    await enqueue(zalo_settings, builders.go_live())
    await run_worker_until(zalo_settings, settled(notifier_db, 2, zalo_settings, FINAL))
    assert zns.renewals == 1  # the first token, bought with the refresh token given in the settings

    zns.expire_access_token()  # Zalo refuses the token the two workers hold
    zns.renewal_delay_seconds = 0.3  # both find it refused while the renewal is under way
    people = [builders.focal_point(f"Cán bộ {i}", phone=f"+8491200{i:04d}") for i in range(10)]
    for fp in people:
        await enqueue(zalo_settings, builders.go_live(fp))
    async with (
        running(build_worker(zalo_settings, poll_delay=0.05)),
        running(build_worker(zalo_settings, poll_delay=0.05)),
    ):
        check = settled(notifier_db, 22, zalo_settings, FINAL)
        for _ in range(400):
            if await check():
                break
            await asyncio.sleep(0.05)

    assert zns.renewals == 2 and zns.reused_refresh_tokens == 0
    assert [r.status for r in await notification_rows(notifier_db, "zalo")] == ["sent"] * 11
    assert len(zns.accepted) == 11 and await notification_rows(notifier_db, "sms") == []
    async with notifier_db() as session:
        (stored,) = (await session.scalars(select(ZaloToken))).all()
    assert (stored.refresh_token, stored.access_token) == (zns.refresh_token, zns.access_token)


async def test_a_failed_renewal_alerts_and_falls_back_to_sms(zalo_settings, notifier_db, smtp, gateway, zns):
    zns.refuse_renewals = True
    failed = REGISTRY.get_sample_value("ioc_notifier_zalo_token_renewals_total", {"outcome": "failed"}) or 0.0
    await enqueue(zalo_settings, builders.go_live())
    await run_worker_until(zalo_settings, settled(notifier_db, 3, zalo_settings, FINAL))

    (zalo,) = await notification_rows(notifier_db, "zalo")
    assert zalo.status == "permanent_failure" and "access token" in zalo.last_error
    assert [r.status for r in await notification_rows(notifier_db, "sms")] == ["sent"] and len(
        gateway.to(NATIONAL)
    ) == 1
    assert REGISTRY.get_sample_value("ioc_notifier_zalo_token_renewals_total", {"outcome": "failed"}) > failed
    assert zns.calls == 0


async def test_template_parameters_over_their_length_are_cut_at_a_word(zalo_settings, notifier_db, smtp, gateway, zns):
    zns.limits = {"ten_can_bo": 30, "don_vi": 30}
    long_name = "Tôn Nữ Hoàng Thị Minh Nguyệt Ánh Dương"  # 38 characters
    unit = builders.UNIT.model_copy(update={"name": "Trung tâm Phục vụ hành chính công thành phố Hạ Long"})
    await enqueue(zalo_settings, builders.registered(builders.focal_point(long_name), unit=unit))
    await run_worker_until(zalo_settings, settled(notifier_db, 3, zalo_settings, FINAL))

    (sent,) = zns.to(ZALO_PHONE)
    assert sent["template_data"]["ten_can_bo"] == "Tôn Nữ Hoàng Thị Minh Nguyệt…"
    assert sent["template_data"]["don_vi"] == "Trung tâm Phục vụ hành chính…"
    assert gateway.calls == 0


def test_cutting_keeps_whole_words_and_short_values():
    assert cut("Nguyễn Văn An", 30) == "Nguyễn Văn An"
    assert cut("  Nguyễn   Văn\nAn ", 30) == "Nguyễn Văn An"
    assert cut("Phường Hồng Hải, thành phố Hạ Long", 20) == "Phường Hồng Hải…"
    assert cut("0123456789ABCDEF", 10) == "012345678…"  # one word: cut inside it
    assert all(len(cut("Ủy ban nhân dân " * 20, n)) <= n for n in (5, 20, 30, 90, 200))


def test_the_shipped_templates_render_every_parameter_within_its_limit():
    message = builders.registered()
    template = template_for(None, "focal_point_registered")
    assert template is not None and template_for(None, "adoption_lagging") is None
    data = render_zalo(template, dict(message))
    assert set(data) == {"ten_can_bo", "don_vi", "so_van_ban", "thoi_gian"}
    assert data["thoi_gian"] == "09:15 14/02/2020" and data["so_van_ban"] == "984/UBND"


async def test_quiet_hours_hold_zalo_messages_too(zalo_settings, notifier_db, smtp, gateway, zns):
    now = to_vietnam(utcnow())
    start, end = (now.replace(minute=0) if now.minute else now).strftime("%H:%M"), "00:00"
    settings = zalo_settings.model_copy(update={"sms_quiet_start": start, "sms_quiet_end": end})
    if start == end:
        settings = settings.model_copy(update={"sms_quiet_end": "23:59" if start != "23:59" else "00:01"})
    await enqueue(settings, builders.go_live())

    async def held() -> bool:
        current = await notification_rows(notifier_db)
        return len(current) == 2 and any(r.channel == "email" and r.status == "sent" for r in current)

    await run_worker_until(settings, and_idle(settings, held))
    (zalo,) = await notification_rows(notifier_db, "zalo")
    assert zalo.status == "created" and zalo.next_attempt_at > utcnow()
    assert zns.calls == 0 and gateway.calls == 0


async def test_an_sms_follows_a_zalo_message_without_receipt_when_configured(
    zalo_settings, notifier_db, notifier_pg, smtp, gateway, zns
):
    await enqueue(zalo_settings, builders.go_live())
    await run_worker_until(zalo_settings, settled(notifier_db, 2, zalo_settings, FINAL))
    (zalo,) = await notification_rows(notifier_db, "zalo")
    async with notifier_db() as session, session.begin():  # sent 10 minutes ago, no receipt since
        row = await session.get(Notification, zalo.id)
        row.sent_at -= timedelta(minutes=10)

    off = await follow_up(zalo_settings, notifier_pg)
    assert off == 0 and gateway.calls == 0  # off by default
    settings = zalo_settings.model_copy(update={"zalo_sms_after_minutes": 5})
    assert await follow_up(settings, notifier_pg) == 1
    assert await follow_up(settings, notifier_pg) == 0  # once
    (sms,) = await notification_rows(notifier_db, "sms")
    assert sms.status == "sent" and len(gateway.to(NATIONAL)) == 1
    assert (await notification_rows(notifier_db, "zalo"))[0].status == "sent"  # a late receipt may still come


async def follow_up(settings, pg) -> int:
    """One pass of the sweeper's follow-up of unconfirmed Zalo messages."""
    redis = aioredis.Redis.from_url(settings.redis_url)
    async with httpx.AsyncClient() as http:
        providers = build_providers(settings, http, ZaloTokens(settings, pg, http))

        async def schedule(*_: object) -> None:
            return None

        sender = Sender(settings, "priority", pg, providers, ProviderRateLimiter(redis, "t"), schedule)
        made = await sender.follow_up_unconfirmed()
    await redis.aclose()
    return made


async def test_a_worker_killed_mid_send_sends_neither_channel_twice(zalo_settings, notifier_db, smtp, gateway, zns):
    # Half the people use Zalo; ZNS is slow, so that the kill lands while some wait on it. ZNS does
    # not recognise a repeated tracking_id: what was in flight at the kill must not go by Zalo again.
    zns.delay_seconds = gateway.delay_seconds = 0.05
    people = 30
    for i in range(people):
        phone = f"+8491234{i:04d}"
        if i % 2:
            zns.non_zalo.add(phone.lstrip("+"))
        await enqueue(zalo_settings, builders.go_live(builders.focal_point(f"Cán bộ {i}", phone=phone)))
    env = {**worker_environment(zalo_settings), "IOC_LANE_DB_POOL_SIZE": "3"}

    async def sent() -> int:
        return sum(r.status in FINAL for r in await notification_rows(notifier_db) if r.channel != "email")

    first = subprocess.Popen([sys.executable, "-m", "services.notifier.worker"], env=env)
    try:
        for _ in range(600):
            if await sent() >= 8:
                break
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()

    async def everyone_told() -> bool:
        current = await notification_rows(notifier_db)
        phones = {r.recipient for r in current if r.channel != "email" and r.status in ("sent", "delivered")}
        return len(phones) == people and all(r.status in FINAL for r in current)

    second = subprocess.Popen([sys.executable, "-m", "services.notifier.worker"], env=env)
    try:
        # The sweeper resends what the kill left, 2 s after; a message whose rows the kill left unmade
        # waits for arq to run its job again (once the killed worker's in-progress key expires).
        # Within pytest's timeout, so that a wait too long names the rows it waits for.
        try:
            async with asyncio.timeout(90):
                while not await everyone_told():
                    await asyncio.sleep(0.1)
        except TimeoutError:
            rows = await notification_rows(notifier_db)
            phones = {r.recipient for r in rows if r.channel != "email" and r.status in ("sent", "delivered")}
            waiting = [
                (r.channel, r.recipient, r.status, r.attempts, r.next_attempt_at) for r in rows if r.status not in FINAL
            ]
            pytest.fail(f"after 90 s, {len(phones)} of {people} phones told; rows not final: {waiting}")
    finally:
        second.terminate()
        second.wait(timeout=20)

    tracking = [m["tracking_id"] for m in zns.accepted]
    assert len(tracking) == len(set(tracking)) and len({m["phone"] for m in zns.accepted}) == len(zns.accepted)
    assert len({m["Phone"] for m in gateway.accepted.values()}) == len(gateway.accepted)
    assert len(zns.accepted) + len(gateway.accepted) >= people
