"""Provider failures through a real worker: what is retried, what is given up, and nothing sent twice."""

from __future__ import annotations

import asyncio

from services.notifier.settings import SmsGateway
from tests.notifier import builders
from tests.support.notifier import enqueue, notification_rows, queued, run_worker_until, settled
from tests.support.proxy import TcpProxy, target_of, through
from tests.support.sms_gateway import Gateway, running

FINAL = ("sent", "permanent_failure")


def count_rcpt(smtp) -> list[str]:
    """Record every RCPT TO the real SMTP server answers (accepted or refused)."""
    seen: list[str] = []
    original = smtp.handler.handle_RCPT

    async def handle_rcpt(server, session, envelope, address, rcpt_options):
        seen.append(address)
        return await original(server, session, envelope, address, rcpt_options)

    smtp.handler.handle_RCPT = handle_rcpt
    return seen


async def queued_sends(settings) -> list:
    return [j for j in await queued(settings) if j.function == "notifier.notification.send"]


# --- e-mail -------------------------------------------------------------------------------------


async def test_smtp_451_is_retried_and_the_mail_arrives_once(notifier_settings, notifier_db, smtp, gateway):
    smtp.handler.data_replies.append("451 4.3.0 Try later")
    await enqueue(notifier_settings, builders.digest())
    await run_worker_until(notifier_settings, settled(notifier_db, 1, notifier_settings))

    (row,) = await notification_rows(notifier_db)
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.provider == f"smtp:{notifier_settings.smtp_host}" and row.last_error is None
    (mail,) = smtp.handler.to("vanphong@halong.example")
    assert mail["Subject"] == "Văn bản 984/UBND: 1 đơn vị chưa cử, 1 đơn vị cử muộn"
    assert mail["X-IOC-Notification"] == str(row.id)


async def test_smtp_550_for_a_recipient_is_final_after_one_attempt(notifier_settings, notifier_db, smtp, gateway):
    smtp.handler.refused.add("duc.nv@halong.example")
    rcpts = count_rcpt(smtp)
    await enqueue(notifier_settings, builders.go_live())
    await run_worker_until(notifier_settings, settled(notifier_db, 2, notifier_settings))

    (email,) = await notification_rows(notifier_db, "email")
    assert (email.status, email.attempts) == ("permanent_failure", 1)
    assert "550" in email.last_error and email.sent_at is None
    assert rcpts == ["duc.nv@halong.example"] and smtp.handler.messages == []
    assert not [j for j in await queued_sends(notifier_settings) if list(j.args) == [str(email.id)]]  # no retry planned
    (sms,) = await notification_rows(notifier_db, "sms")
    assert sms.status == "sent"  # the other channel is not affected


# --- SMS ----------------------------------------------------------------------------------------------


async def test_a_number_the_gateway_rejects_is_not_retried(notifier_settings, notifier_db, smtp, gateway):
    gateway.rejected_numbers.add("0912345678")
    await enqueue(notifier_settings, builders.go_live())
    await run_worker_until(notifier_settings, settled(notifier_db, 2, notifier_settings))

    (sms,) = await notification_rows(notifier_db, "sms")
    assert (sms.status, sms.attempts) == ("permanent_failure", 1)
    assert "177" in sms.last_error
    assert gateway.calls == 1 and gateway.accepted == {}
    assert not [j for j in await queued_sends(notifier_settings) if list(j.args) == [str(sms.id)]]
    assert len(smtp.handler.to("duc.nv@halong.example")) == 1


async def test_gateway_429_is_retried_and_sent(notifier_settings, notifier_db, smtp, gateway):
    gateway.replies.append("429")
    await enqueue(notifier_settings, builders.go_live())
    await run_worker_until(notifier_settings, settled(notifier_db, 2, notifier_settings))

    (sms,) = await notification_rows(notifier_db, "sms")
    assert (sms.status, sms.attempts) == ("sent", 2)
    assert gateway.calls == 2
    (accepted,) = gateway.to("0912345678")
    assert accepted["RequestId"] == str(sms.id) and sms.provider_ref == accepted["SMSID"]


async def test_a_gateway_timeout_is_retried_without_a_double_send(notifier_settings, notifier_db, smtp, gateway):
    # The gateway answers after our 1 s timeout, but it did take the message: the retry (about 0.5 s
    # later, after the gateway took it) carries the same RequestId, so the person still gets one SMS.
    settings = notifier_settings.model_copy(update={"retry_base_seconds": 0.5})
    gateway.timeout_seconds = 1.2
    gateway.replies.append("timeout")
    await enqueue(settings, builders.go_live())
    await run_worker_until(settings, settled(notifier_db, 2, settings))

    (sms,) = await notification_rows(notifier_db, "sms")
    assert (sms.status, sms.attempts) == ("sent", 2)
    assert gateway.calls == 2
    (accepted,) = gateway.accepted.values()
    assert accepted["RequestId"] == str(sms.id) and accepted["Phone"] == "0912345678"
    assert sms.provider_ref == accepted["SMSID"]  # the gateway's "duplicate" answer names the first SMS


def with_backup(settings, backup: Gateway, **overrides):
    second = SmsGateway(
        name="backup",
        url=backup.url,
        api_key=backup.api_key,
        secret_key=backup.secret_key,
        timeout_seconds=1.0,
        per_second=200,
    )
    return settings.model_copy(update={"sms_gateways": [*settings.sms_gateways, second], **overrides})


async def test_failover_to_the_second_gateway(notifier_settings, notifier_db, smtp, gateway):
    gateway.replies.append("500")
    async with running(Gateway(api_key="backup-key", secret_key="backup-secret")) as backup:
        settings = with_backup(notifier_settings, backup)
        await enqueue(settings, builders.go_live())
        await run_worker_until(settings, settled(notifier_db, 2, settings))

    (sms,) = await notification_rows(notifier_db, "sms")
    assert (sms.status, sms.attempts, sms.provider) == ("sent", 1, "sms:backup")
    assert gateway.calls == 1 and gateway.accepted == {}
    (accepted,) = backup.to("0912345678")
    assert accepted["RequestId"] == str(sms.id) and sms.provider_ref == accepted["SMSID"]
    assert accepted["CallbackUrl"].endswith("/v1/sms/receipts/backup?token=test-token")


async def test_a_timeout_on_the_backup_is_retried_there_and_not_sent_twice(
    notifier_settings, notifier_db, smtp, gateway
):
    # The first gateway is overloaded (500), the backup takes the SMS but answers too late. The retry
    # must go back to the backup, whose RequestId check dedupes; the first gateway, now healthy, knows
    # nothing of this RequestId and would deliver a second SMS.
    gateway.replies.append("500")
    async with running(Gateway(timeout_seconds=1.2)) as backup:
        backup.replies.append("timeout")
        settings = with_backup(notifier_settings, backup, retry_base_seconds=0.5)
        await enqueue(settings, builders.go_live())
        await run_worker_until(settings, settled(notifier_db, 2, settings))

    (sms,) = await notification_rows(notifier_db, "sms")
    assert (sms.status, sms.attempts) == ("sent", 2)
    assert len(gateway.accepted) + len(backup.accepted) == 1  # the person gets one SMS
    assert sms.provider == "sms:backup"


async def test_give_up_after_max_attempts(notifier_settings, notifier_db, smtp, gateway):
    settings = notifier_settings.model_copy(update={"max_attempts": 2})
    gateway.replies.extend(["500"] * 5)
    await enqueue(settings, builders.go_live())
    await run_worker_until(settings, settled(notifier_db, 2, settings))

    (sms,) = await notification_rows(notifier_db, "sms")
    assert (sms.status, sms.attempts) == ("permanent_failure", 2)
    assert "gave up after 2 attempts" in sms.last_error and "500" in sms.last_error
    assert gateway.calls == 2 and gateway.accepted == {}
    assert not [j for j in await queued_sends(settings) if list(j.args) == [str(sms.id)]]


# --- the database ---------------------------------------------------------------------------------


async def test_a_database_lost_right_after_a_send_does_not_send_the_mail_again(notifier_settings, notifier_db, smtp):
    """The mail has left when the worker records it; PostgreSQL going away at that moment (down, or
    every connection taken) makes the worker wait to record it, not send it again."""
    proxy = await TcpProxy(*target_of(notifier_settings.database_url)).start()
    settings = notifier_settings.model_copy(
        update={"database_url": through(notifier_settings.database_url, proxy), "stuck_after_seconds": 20.0}
    )
    loop = asyncio.get_running_loop()
    cut = asyncio.Event()
    original = smtp.handler.handle_DATA

    async def handle_data(server, session, envelope):
        reply = await original(server, session, envelope)
        # The mail is accepted: cut the database before the worker hears the 250.
        asyncio.run_coroutine_threadsafe(proxy.cut(), loop).result()
        loop.call_soon_threadsafe(cut.set)
        return reply

    smtp.handler.handle_DATA = handle_data

    async def restore_later() -> None:
        await cut.wait()
        await asyncio.sleep(1.5)
        await proxy.restore()

    restoring = asyncio.create_task(restore_later())
    try:
        await enqueue(settings, builders.digest())
        await run_worker_until(settings, settled(notifier_db, 1, settings), timeout=40)
    finally:
        await restoring
        await proxy.stop()

    (row,) = await notification_rows(notifier_db)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(smtp.handler.to("vanphong@halong.example")) == 1
