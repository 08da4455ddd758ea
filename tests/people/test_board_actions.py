"""What the Office's board and the ward's page do besides reading: "Nhắc ngay" (remind the missing units
now, at most once an hour each) and a ward person withdrawing their own unit's focal point."""

from __future__ import annotations

from sqlalchemy import select

from services.api.models import OutboxMessage
from services.api.registrations.schemas import RegistrationCreate
from tests.builders import auth, create_directive, create_key, create_unit, register_focal_point, registration
from tests.people.builders import create_person, sign_in


async def reminders_in_outbox(db) -> list[str]:
    async with db() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))).all()
    return [row.payload["unit"]["code"] for row in rows if row.job_name == "notifier.reminder.requested"]


async def test_reminding_twice_within_an_hour_queues_each_missing_unit_once(client, db):
    for code in ("06652", "06653", "06655", "06656"):
        await create_unit(db, code)
    directive = await create_directive(db, ["06652", "06653", "06655"])
    await register_focal_point(db, RegistrationCreate(**registration(directive.id, "06653")))
    office = await create_person(db, "van-phong", role="office", unit=None, name="Trần Văn Bình")
    token = await sign_in(client, "van-phong", office)
    url = f"/v1/directives/{directive.id}/reminders"

    first = await client.post(url, json={"unit_codes": None}, headers=auth(token))
    assert first.status_code == 202, first.text
    assert first.json() == {"queued": ["06652", "06655"], "skipped": [{"unit_code": "06653", "reason": "registered"}]}
    second = await client.post(url, json={}, headers=auth(token))
    assert second.json() == {
        "queued": [],
        "skipped": [
            {"unit_code": "06653", "reason": "registered"},
            {"unit_code": "06652", "reason": "reminded_recently"},
            {"unit_code": "06655", "reason": "reminded_recently"},
        ],
    }
    named = await client.post(url, json={"unit_codes": ["06655", "06656", "06653"]}, headers=auth(token))
    assert named.json()["queued"] == [] and [s["reason"] for s in named.json()["skipped"]] == [
        "not_addressed",
        "registered",
        "reminded_recently",
    ]
    assert sorted(await reminders_in_outbox(db)) == ["06652", "06655"]
    async with db() as session:
        (message,) = [
            r.payload
            for r in (await session.scalars(select(OutboxMessage))).all()
            if r.job_name == "notifier.reminder.requested" and r.payload["unit"]["code"] == "06652"
        ]
    assert message["requested_by"] == "Trần Văn Bình" and message["directive"]["id"] == str(directive.id)

    key = await create_key(db, "office")
    audit = (await client.get("/v1/audit?kind=reminders_sent", headers=auth(key))).json()["items"]
    assert [e["detail"]["queued"] for e in audit] == [[], [], ["06652", "06655"]]
    assert {e["login"] for e in audit} == {"van-phong"}


async def test_a_reminder_request_that_names_no_unit_or_an_unknown_one_is_refused(client, db):
    await create_unit(db, "06652")
    directive = await create_directive(db, ["06652"])
    office = await create_key(db, "office")
    url = f"/v1/directives/{directive.id}/reminders"
    for body, code in (
        ({"unit_codes": []}, "too_short"),
        ({"unit_codes": ["99999"]}, "unit_codes_unknown"),
        ({"unit_codes": ["06652", "06652"]}, "unit_codes_duplicate"),
    ):
        refused = await client.post(url, json=body, headers=auth(office))
        assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == code, refused.text
    missing = await client.post(
        "/v1/directives/00000000-0000-4000-8000-000000000000/reminders", json={}, headers=auth(office)
    )
    assert missing.status_code == 404
    ward = await create_key(db, "ward_app", unit="06652")
    assert (await client.post(url, json={}, headers=auth(ward))).status_code == 403
    assert await reminders_in_outbox(db) == []


async def test_a_ward_person_withdraws_their_own_units_focal_point_only(client, db):
    await create_unit(db, "06652")
    await create_unit(db, "06653")
    directive = await create_directive(db, ["06652", "06653"])
    own, _ = await register_focal_point(db, RegistrationCreate(**registration(directive.id, "06652")))
    other, _ = await register_focal_point(db, RegistrationCreate(**registration(directive.id, "06653")))
    token = await sign_in(client, "ha-phong", await create_person(db, "ha-phong"))
    ward_key = await create_key(db, "ward_app", unit="06652")
    body = {"reason": "Chuyển công tác"}

    assert (
        await client.post(f"/v1/registrations/{own.id}/withdraw", json=body, headers=auth(ward_key))
    ).status_code == 403
    assert (
        await client.post(f"/v1/registrations/{other.id}/withdraw", json=body, headers=auth(token))
    ).status_code == 403
    withdrawn = await client.post(f"/v1/registrations/{own.id}/withdraw", json=body, headers=auth(token))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn" and withdrawn.json()["unit_code"] == "06652"
