"""Zalo's side of the notifier's HTTP app: the signed webhook's delivery receipts, the Office's list by
channel, and the costs per channel and month."""

from __future__ import annotations

from sqlalchemy import func, select

from services.notifier.models import Notification, Receipt
from tests.builders import auth, create_key
from tests.notifier import builders
from tests.support.notifier import and_idle, enqueue, notification_rows, run_worker_until
from tests.support.zns_server import received, signed

WEBHOOK = "/v1/zalo/events"


async def receipts(notifier_db) -> int:
    async with notifier_db() as session:
        return await session.scalar(select(func.count()).select_from(Receipt))


async def one_sent_zalo(settings, notifier_db) -> Notification:
    await enqueue(settings, builders.go_live())

    async def done() -> bool:
        current = await notification_rows(notifier_db)
        return len(current) == 2 and all(r.status == "sent" for r in current)

    await run_worker_until(settings, and_idle(settings, done))
    (zalo,) = await notification_rows(notifier_db, "zalo")
    return zalo


async def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    zalo_settings, notifier_db, notifier_client, smtp, gateway, zns
):
    zalo = await one_sent_zalo(zalo_settings, notifier_db)
    event = received(str(zalo.id), zalo.provider_ref)
    body, headers = signed(event, secret="not-the-oa-secret")
    for wrong in (headers, {"Content-Type": "application/json"}, {**headers, "X-ZEvent-Signature": "mac="}):
        response = await notifier_client.post(WEBHOOK, content=body, headers=wrong)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    body, headers = signed(event)
    tampered = body.replace(str(zalo.id).encode(), str(zalo.id).upper().encode())
    assert (await notifier_client.post(WEBHOOK, content=tampered, headers=headers)).status_code == 401
    (after,) = await notification_rows(notifier_db, "zalo")
    assert (after.status, after.delivered_at) == ("sent", None) and await receipts(notifier_db) == 0


async def test_a_receipt_marks_delivered_and_a_duplicate_changes_nothing(
    zalo_settings, notifier_db, notifier_client, smtp, gateway, zns
):
    zalo = await one_sent_zalo(zalo_settings, notifier_db)
    body, headers = signed(received(str(zalo.id), zalo.provider_ref))
    first = await notifier_client.post(WEBHOOK, content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"applied": True}
    (delivered,) = await notification_rows(notifier_db, "zalo")
    assert delivered.status == "delivered" and delivered.delivered_at is not None

    again = await notifier_client.post(WEBHOOK, content=body, headers=headers)
    assert again.status_code == 200 and again.json() == {"applied": False}
    (after,) = await notification_rows(notifier_db, "zalo")
    assert (after.status, after.delivered_at) == ("delivered", delivered.delivered_at)
    assert after.updated_at == delivered.updated_at
    # Other events of the OA, signed, are answered and ignored.
    body, headers = signed({**received(str(zalo.id), "x"), "event_name": "user_send_text"})
    assert (await notifier_client.post(WEBHOOK, content=body, headers=headers)).json() == {"applied": False}
    assert await receipts(notifier_db) == 2


async def test_a_webhook_of_the_wrong_shape_is_422_once_signed(zalo_settings, notifier_db, notifier_client):
    event = {**received("a", "b"), "message": {"tracking_id": ["x"], "msg_id": "b"}}
    body, headers = signed(event)
    response = await notifier_client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "message.tracking_id"
    response = await notifier_client.post(WEBHOOK, content=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert await receipts(notifier_db) == 0


async def test_the_office_lists_by_channel_and_reads_the_costs(
    zalo_settings, notifier_db, notifier_client, db, smtp, gateway, zns
):
    office = auth(await create_key(db, "office"))
    zns.non_zalo.add("84912000001")
    await enqueue(zalo_settings, builders.go_live())  # Zalo, and an e-mail
    await enqueue(zalo_settings, builders.go_live(builders.focal_point("Trần Văn Bình", phone="+84912000001")))
    await enqueue(zalo_settings, builders.adoption_nudge())  # no Zalo template: SMS, and an e-mail

    async def done() -> bool:
        return len(await notification_rows(notifier_db)) == 7 and all(
            r.status in ("sent", "permanent_failure") for r in await notification_rows(notifier_db)
        )

    await run_worker_until(zalo_settings, and_idle(zalo_settings, done))
    listed = await notifier_client.get("/v1/notifications", params={"channel": "zalo"}, headers=office)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert sorted(i["status"] for i in items) == ["permanent_failure", "sent"]
    assert all(i["channel"] == "zalo" and i["template_id"] == "300105" for i in items)

    response = await notifier_client.get("/v1/notifications/costs", headers=office)
    assert response.status_code == 200, response.text
    costs = response.json()
    by_channel = {row["channel"]: row for row in costs["months"]}
    assert set(by_channel) == {"email", "sms", "zalo"}
    zalo, sms = by_channel["zalo"], by_channel["sms"]
    assert (zalo["notifications"], zalo["units"], zalo["unit"], zalo["cost"]) == (1, 1, "zns_message", 300.0)
    assert (sms["notifications"], sms["unit"]) == (2, "sms_segment") and sms["cost"] == sms["units"] * 800.0
    assert by_channel["email"]["cost"] == 0 and costs["total"] == zalo["cost"] + sms["cost"]

    reversed_ = await notifier_client.get(
        "/v1/notifications/costs", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=office
    )
    assert reversed_.status_code == 422 and reversed_.json()["errors"][0]["code"] == "range_reversed"
    old = await notifier_client.get(
        "/v1/notifications/costs", params={"from": "2020-01-01", "to": "2020-01-31"}, headers=office
    )
    assert old.status_code == 200 and old.json()["months"] == [] and old.json()["total"] == 0
