"""The notifier's HTTP side: delivery receipts from the gateway, the Office's list, metrics and health."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import insert, select

from services.notifier.models import Notification, Receipt
from services.notifier.planning import plan
from services.notifier.sending import Sender
from shared.contracts import UnitRef
from tests.builders import auth, create_key, create_unit
from tests.notifier import builders
from tests.support.notifier import enqueue, notification_rows, run_worker_until, settled

RECEIPTS = "/v1/sms/receipts/esms?token=test-token"
OTHER_DIRECTIVE = builders.DIRECTIVE.model_copy(update={"id": uuid.uuid4(), "number": "1021/UBND"})
OTHER_UNIT = UnitRef(
    code="06655", name="Phường Hà Khẩu", kind="ward", email="ubnd.hakhau@halong.example", phone="+84988000655"
)


async def one_sent_sms(settings, notifier_db) -> Notification:
    await enqueue(settings, builders.go_live())
    await run_worker_until(settings, settled(notifier_db, 2, settings))
    (sms,) = [r for r in await notification_rows(notifier_db) if r.channel == "sms"]
    assert sms.status == "sent" and sms.provider_ref
    return sms


async def status_of(notifier_db, notification_id) -> Notification:
    async with notifier_db() as session:
        return await session.get(Notification, notification_id)


# --- receipts -------------------------------------------------------------------------------------


async def test_a_delivery_receipt_marks_the_sms_delivered_and_a_later_one_does_not_undo_it(
    notifier_settings, notifier_db, notifier_client, smtp, gateway
):
    sms = await one_sent_sms(notifier_settings, notifier_db)
    delivered = {"RequestId": str(sms.id), "SMSID": sms.provider_ref, "SendStatus": 5}
    response = await notifier_client.post(RECEIPTS, json=delivered)
    assert response.status_code == 200 and response.json() == {"applied": True}
    row = await status_of(notifier_db, sms.id)
    assert row.status == "delivered" and row.delivered_at is not None

    late_failure = {"RequestId": str(sms.id), "SMSID": sms.provider_ref, "SendStatus": 4}
    response = await notifier_client.post(RECEIPTS, json=late_failure)
    assert response.status_code == 200 and response.json() == {"applied": False}
    again = await notifier_client.post(RECEIPTS, json=delivered)  # a duplicate changes nothing either
    assert again.json() == {"applied": False}
    row = await status_of(notifier_db, sms.id)
    assert row.status == "delivered" and row.delivered_at is not None and row.last_error is None

    async with notifier_db() as session:
        kept = (await session.scalars(select(Receipt).order_by(Receipt.id))).all()
    assert [(r.notification_id, r.status, r.applied) for r in kept] == [
        (sms.id, "5", True),
        (sms.id, "4", False),
        (sms.id, "5", False),
    ]


async def test_a_receipt_found_by_the_gateway_sms_id_alone(
    notifier_settings, notifier_db, notifier_client, smtp, gateway
):
    sms = await one_sent_sms(notifier_settings, notifier_db)
    response = await notifier_client.post(RECEIPTS, json={"SMSID": sms.provider_ref, "SendStatus": "5"})
    assert response.json() == {"applied": True}
    assert (await status_of(notifier_db, sms.id)).status == "delivered"


async def test_an_undeliverable_receipt_is_a_permanent_failure(
    notifier_settings, notifier_db, notifier_client, smtp, gateway
):
    sms = await one_sent_sms(notifier_settings, notifier_db)
    response = await notifier_client.post(RECEIPTS, json={"RequestId": str(sms.id), "SendStatus": 4})
    assert response.json() == {"applied": True}
    row = await status_of(notifier_db, sms.id)
    assert row.status == "permanent_failure" and "SendStatus 4" in row.last_error


async def test_a_receipt_with_a_wrong_token_is_refused(notifier_settings, notifier_db, notifier_client, smtp, gateway):
    sms = await one_sent_sms(notifier_settings, notifier_db)
    body = {"RequestId": str(sms.id), "SendStatus": 5}
    for url in ("/v1/sms/receipts/esms?token=wrong", "/v1/sms/receipts/esms"):
        response = await notifier_client.post(url, json=body)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401
    assert (await status_of(notifier_db, sms.id)).status == "sent"
    async with notifier_db() as session:
        assert (await session.scalars(select(Receipt))).all() == []


async def test_a_receipt_for_an_unknown_message_is_kept(notifier_db, notifier_client):
    unknown = str(uuid.uuid4())
    response = await notifier_client.post(RECEIPTS, json={"RequestId": unknown, "SMSID": "X1", "SendStatus": 5})
    assert response.status_code == 200 and response.json() == {"applied": False}
    async with notifier_db() as session:
        (kept,) = (await session.scalars(select(Receipt))).all()
    assert kept.notification_id is None and kept.applied is False
    assert kept.payload["RequestId"] == unknown and kept.provider == "sms:esms"


# --- the Office's list ------------------------------------------------------------------------------


async def sent_two_messages(settings, notifier_db, smtp) -> None:
    """Five notifications: a registration (the unit's mailbox refuses) then a directive for another unit."""
    smtp.handler.refused.add("ubnd.haphong@halong.example")
    await enqueue(settings, builders.registered())
    await run_worker_until(settings, settled(notifier_db, 3, settings))
    issued = builders.issued(OTHER_UNIT).model_copy(update={"directive": OTHER_DIRECTIVE})
    await enqueue(settings, issued)
    await run_worker_until(settings, settled(notifier_db, 5, settings))


async def listing(client, key: str, **params) -> list[dict]:
    response = await client.get("/v1/notifications", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_the_office_lists_notifications_with_filters(
    db, notifier_settings, notifier_db, notifier_client, smtp, gateway
):
    key = await create_key(db, "office")
    await sent_two_messages(notifier_settings, notifier_db, smtp)

    everything = await listing(notifier_client, key)
    assert len(everything) == 5
    assert [i["unit_code"] for i in everything[:2]] == ["06655", "06655"]  # newest first
    (failed,) = await listing(notifier_client, key, status="permanent_failure")
    assert (failed["recipient"], failed["kind"], failed["attempts"]) == (
        "ubnd.haphong@halong.example",
        "focal_point_registered_unit",
        1,
    )
    assert "550" in failed["last_error"]
    texts = await listing(notifier_client, key, channel="sms")
    assert {i["recipient"] for i in texts} == {"+84912345678", "+84988000655"}
    assert {(i["sms_encoding"], i["sms_segments"]) for i in texts} == {("GSM-7", 1)}
    assert all(i["sent_at"].endswith("+07:00") and i["provider"] == "sms:esms" for i in texts)
    mails = await listing(notifier_client, key, channel="email", unit_code="06652")
    assert {i["recipient"] for i in mails} == {"duc.nv@halong.example", "ubnd.haphong@halong.example"}
    assert all(i["sms_segments"] is None and i["subject"] for i in mails)
    other = await listing(notifier_client, key, directive_id=str(OTHER_DIRECTIVE.id))
    assert {(i["channel"], i["unit_code"]) for i in other} == {("email", "06655"), ("sms", "06655")}
    assert await listing(notifier_client, key, status="delivered") == []

    bad = await notifier_client.get("/v1/notifications", params={"status": "lost"}, headers=auth(key))
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


async def test_paging_walks_every_notification_once(db, notifier_settings, notifier_db, notifier_client, smtp, gateway):
    key = await create_key(db, "office")
    await sent_two_messages(notifier_settings, notifier_db, smtp)  # rows of one message share created_at
    everything = [i["id"] for i in await listing(notifier_client, key)]

    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await notifier_client.get("/v1/notifications", params=params, headers=auth(key))).json()
        assert len(page["items"]) <= 1
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(set(seen)) == 5

    two = (
        await notifier_client.get("/v1/notifications", params={"limit": 2, "channel": "email"}, headers=auth(key))
    ).json()
    rest = await listing(notifier_client, key, channel="email", cursor=two["next_cursor"])
    assert [i["id"] for i in two["items"] + rest] == [
        i["id"] for i in await listing(notifier_client, key, channel="email")
    ]
    assert len(two["items"] + rest) == 3


async def test_pages_hold_100_by_default_and_at_most_1000(
    db, notifier_settings, notifier_db, notifier_pg, notifier_client
):
    key = await create_key(db, "office")
    sender = Sender(notifier_settings, "normal", notifier_pg, {}, None, None)
    (draft,) = plan(builders.digest(), office_email=notifier_settings.office_email)
    many = [sender.materialise(uuid.uuid4(), replace(draft, dedupe_key=f"digest:{n}:email")) for n in range(101)]
    async with notifier_db() as session:  # one statement: every row has the same created_at
        await session.execute(insert(Notification).values(many))
        await session.commit()

    first = (await notifier_client.get("/v1/notifications", headers=auth(key))).json()
    assert len(first["items"]) == 100 and first["next_cursor"]
    last = await listing(notifier_client, key, cursor=first["next_cursor"])
    assert len(last) == 1
    assert {i["id"] for i in first["items"] + last} == {str(r["id"]) for r in many}
    for params in ({"limit": 1001}, {"limit": 0}, {"cursor": "not-a-cursor"}):
        response = await notifier_client.get("/v1/notifications", params=params, headers=auth(key))
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_only_the_office_may_read_notifications(db, notifier_client):
    await create_unit(db, "06652")
    for role, unit in (("ward_app", "06652"), ("ops_centre", None), ("app_backend", None)):
        key = await create_key(db, role, unit=unit)
        response = await notifier_client.get("/v1/notifications", headers=auth(key))
        assert response.status_code == 403, role
        assert response.headers["content-type"].startswith("application/problem+json")
    for headers in ({}, auth("ioc_" + "x" * 43)):
        response = await notifier_client.get("/v1/notifications", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


# --- metrics and health --------------------------------------------------------------------------------


async def test_metrics_count_notifications_by_channel_and_status(
    notifier_settings, notifier_db, notifier_client, smtp, gateway, db
):
    await sent_two_messages(notifier_settings, notifier_db, smtp)
    response = await notifier_client.get("/metrics", headers=auth(await create_key(db, "ops_centre")))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert 'ioc_notifications{channel="sms",status="sent"} 2.0' in lines
    assert 'ioc_notifications{channel="email",status="sent"} 2.0' in lines
    assert 'ioc_notifications{channel="email",status="permanent_failure"} 1.0' in lines


async def test_health_and_readiness(notifier_client):
    assert (await notifier_client.get("/healthz")).json() == {"status": "ok"}
    ready = await notifier_client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


# --- what the document says, the callback does (found by tests/contract/test_fuzzing.py) ------------


async def kept_receipts(notifier_db) -> list[Receipt]:
    async with notifier_db() as session:
        return list((await session.scalars(select(Receipt).order_by(Receipt.id))).all())


async def test_a_receipt_with_a_mistyped_field_is_422_and_kept_nowhere(notifier_db, notifier_client):
    # The document says text or integer: an object is refused, not stored as the text "{}".
    response = await notifier_client.post(RECEIPTS, json={"RequestId": str(uuid.uuid4()), "SendStatus": {}})
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("SendStatus", "text_or_integer")]
    assert await kept_receipts(notifier_db) == []


async def test_a_receipt_that_is_not_an_object_or_not_json_is_refused(notifier_db, notifier_client):
    assert (await notifier_client.post(RECEIPTS, json=[5])).status_code == 422
    plain = await notifier_client.post(RECEIPTS, content=b"SendStatus=5", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert await kept_receipts(notifier_db) == []


async def test_a_receipt_holding_nul_characters_or_a_long_status_is_kept(notifier_db, notifier_client):
    # PostgreSQL's jsonb refuses NUL, and the status column holds 32 characters: both are kept as
    # PostgreSQL can hold them.
    body = {"RequestId": "x\u0000y", "SMSID": "\u0000", "SendStatus": "9" * 40, "Note": ["\u0000"]}
    response = await notifier_client.post(RECEIPTS, json=body)
    assert response.status_code == 200 and response.json() == {"applied": False}
    (kept,) = await kept_receipts(notifier_db)
    assert kept.status == "9" * 32 and kept.payload["RequestId"] == "xy" and kept.payload["Note"] == [""]


async def test_a_receipt_as_a_form_with_integer_like_fields_is_read(notifier_db, notifier_client):
    response = await notifier_client.post(
        RECEIPTS, content=b"SMSID=X1&SendStatus=5", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200
    (kept,) = await kept_receipts(notifier_db)
    assert (kept.status, kept.payload["SMSID"]) == ("5", "X1")


async def test_a_gateway_name_that_would_not_fit_its_column_is_422(notifier_db, notifier_client):
    # "sms:" and a 61-character name would not fit the receipt's provider column.
    response = await notifier_client.post("/v1/sms/receipts/" + "g" * 61 + "?token=test-token", json={})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["gateway"]
    assert await kept_receipts(notifier_db) == []


async def test_a_unit_code_filter_outside_the_pattern_is_422(db, notifier_db, notifier_client):
    # A NUL must not reach PostgreSQL, which refuses it in text.
    key = await create_key(db, "office")
    response = await notifier_client.get("/v1/notifications?unit_code=06652%00", headers=auth(key))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("unit_code", "unit_code_invalid")]
