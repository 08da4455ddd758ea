"""Focal-point registrations: the ward apps' side of the contract."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from services.api.models import FocalPoint, OutboxMessage
from services.api.registrations.schemas import NOMINATION_FIELDS
from services.api.registrations.service import compose_registered
from tests.builders import auth, create_directive, create_key, create_unit, registration


@pytest.fixture
async def setup(db):
    """Two wards, a directive addressing one of them, and keys."""
    await create_unit(db, "06652", name="Phường Hà Phong")
    await create_unit(db, "06655", name="Phường Hà Khẩu")
    directive = await create_directive(db, ["06652"])
    return {
        "directive": directive,
        "ward": await create_key(db, "ward_app", unit="06652"),
        "other_ward": await create_key(db, "ward_app", unit="06655"),
        "office": await create_key(db, "office"),
        "ops": await create_key(db, "ops_centre"),
    }


async def stored(db, model=FocalPoint) -> int:
    """Rows of ``model``; for the outbox, the notifier's jobs only (units announce themselves too)."""
    query = select(func.count()).select_from(model)
    if model is OutboxMessage:
        query = query.where(OutboxMessage.job_name.like("notifier.%"))
    async with db() as session:
        return await session.scalar(query)


async def test_registration_is_normalised_and_returned(client, db, setup):
    body = registration(
        setup["directive"].id,
        full_name=unicodedata.normalize("NFD", "  Nguyễn   Văn An "),
        email="An.NV@HaLong.Gov.VN",
        phone="+84 912-345-678",
    )
    response = await client.post("/v1/registrations", json=body, headers=auth(setup["ward"]))
    assert response.status_code == 201
    data = response.json()
    assert data["full_name"] == unicodedata.normalize("NFC", "Nguyễn Văn An")
    assert data["phone"] == "+84912345678"
    assert data["email"] == "An.NV@halong.gov.vn"
    assert data["version"] == 1 and data["status"] == "active" and data["on_time"] is True
    assert data["submitted_at"].endswith("+07:00")
    assert set(data) >= {
        "id",
        "directive_id",
        "unit_code",
        "version",
        "status",
        "full_name",
        "position",
        "phone",
        "email",
        "note",
        "submitted_at",
        "on_time",
    }


@pytest.mark.parametrize("phone", ["0912345678", "0912 345 678", "+84912345678", "84912345678", "0912.345.678"])
async def test_usual_mobile_forms_are_accepted(client, setup, phone):
    response = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id, phone=phone), headers=auth(setup["ward"])
    )
    assert response.status_code == 201
    assert response.json()["phone"] == "+84912345678"


@pytest.mark.parametrize(
    ("phone", "field_message"),
    [
        ("01683456789", "0383 456 789"),  # pre-2018 Viettel number: the message names its new form
        ("0203 3825 022", "di động"),  # Quảng Ninh landline: SMS cannot reach it
        ("0912 345", "không hợp lệ"),
        ("+1 415 555 2671", "Việt Nam"),
        ("không có", "không hợp lệ"),
    ],
)
async def test_bad_phones_are_refused_with_a_clear_message(client, db, setup, phone, field_message):
    response = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id, phone=phone), headers=auth(setup["ward"])
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field_message in errors["phone"]
    assert await stored(db) == 0


async def test_old_number_message_in_english(client, setup):
    response = await client.post(
        "/v1/registrations",
        json=registration(setup["directive"].id, phone="0168 345 6789"),
        headers=auth(setup["ward"], **{"Accept-Language": "en"}),
    )
    message = response.json()["errors"][0]["message"]
    assert "old 11-digit" in message and "0383 456 789" in message


@pytest.mark.parametrize(
    "overrides",
    [
        {"email": "an.nv@"},
        {"email": "an nv@halong.gov.vn"},
        {"full_name": "   "},
        {"full_name": "A" * 201},
        {"unit_code": None},
        {"directive_id": "not-a-uuid"},
        {"nickname": "An"},  # unknown field
        {"phone": 912345678},  # a number, not text
    ],
)
async def test_invalid_fields_store_nothing(client, db, setup, overrides):
    body = {**registration(setup["directive"].id), **overrides}
    response = await client.post("/v1/registrations", json=body, headers=auth(setup["ward"]))
    assert response.status_code == 422
    assert response.json()["errors"]
    assert await stored(db) == 0 and await stored(db, OutboxMessage) == 0


async def test_missing_fields_are_named(client, setup):
    response = await client.post(
        "/v1/registrations", json={"directive_id": str(setup["directive"].id)}, headers=auth(setup["ward"])
    )
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"unit_code", "full_name", "phone", "email"} <= fields


async def test_malformed_json_is_a_422(client, setup):
    response = await client.post(
        "/v1/registrations",
        content=b'{"directive_id": ',
        headers={**auth(setup["ward"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


async def test_unknown_directive_or_unit_is_404_and_unaddressed_unit_422(client, db, setup):
    office = auth(setup["office"])
    missing = registration("00000000-0000-0000-0000-000000000000")
    assert (await client.post("/v1/registrations", json=missing, headers=office)).status_code == 404
    unknown_unit = registration(setup["directive"].id, unit_code="99999")
    assert (await client.post("/v1/registrations", json=unknown_unit, headers=office)).status_code == 404
    not_addressed = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id, unit_code="06655"), headers=office
    )
    assert not_addressed.status_code == 422
    assert "06655" in not_addressed.json()["detail"]
    assert await stored(db) == 0


async def test_ward_app_may_register_its_own_unit_only(client, db, setup):
    response = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id), headers=auth(setup["other_ward"])
    )
    assert response.status_code == 403
    ops = await client.post("/v1/registrations", json=registration(setup["directive"].id), headers=auth(setup["ops"]))
    assert ops.status_code == 403
    assert await stored(db) == 0


async def test_office_may_register_any_unit(client, setup):
    response = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id), headers=auth(setup["office"])
    )
    assert response.status_code == 201


async def test_same_body_again_changes_nothing(client, db, setup):
    body = registration(setup["directive"].id)
    first = await client.post("/v1/registrations", json=body, headers=auth(setup["ward"]))
    # The same nomination typed differently (spacing, phone form, domain case) is the same nomination.
    again = await client.post(
        "/v1/registrations",
        headers=auth(setup["ward"]),
        json={**body, "full_name": " Nguyễn  Văn An", "phone": "+84912345678", "email": "an.nv@HALONG.GOV.VN"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert await stored(db) == 1 and await stored(db, OutboxMessage) == 1


@pytest.mark.parametrize("field", NOMINATION_FIELDS)
async def test_a_change_in_any_field_of_the_nomination_is_a_new_version(client, db, setup, field):
    body = registration(setup["directive"].id)
    first = await client.post("/v1/registrations", json=body, headers=auth(setup["ward"]))
    changed = {"phone": "0987 654 321", "email": "an.nv2@halong.gov.vn"}.get(field, f"{body[field]} (mới)")
    again = await client.post("/v1/registrations", json={**body, field: changed}, headers=auth(setup["ward"]))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["version"] == 2 and again.json()[field] != first.json()[field]
    assert await stored(db) == 2


def test_every_field_of_a_nomination_is_a_column_of_its_versions():
    assert set(NOMINATION_FIELDS) <= set(FocalPoint.__table__.c.keys())


async def test_replacement_is_a_new_version_and_history_keeps_all(client, db, setup):
    directive_id = setup["directive"].id
    first = (
        await client.post("/v1/registrations", json=registration(directive_id), headers=auth(setup["ward"]))
    ).json()
    second = await client.post(
        "/v1/registrations",
        headers=auth(setup["ward"]),
        json=registration(directive_id, full_name="Trần Thị Bình", phone="0987654321"),
    )
    assert second.status_code == 201
    assert second.json()["version"] == 2
    history = (
        await client.get(f"/v1/directives/{directive_id}/units/06652/history", headers=auth(setup["ward"]))
    ).json()
    assert [(h["version"], h["status"]) for h in history] == [(2, "active"), (1, "superseded")]
    assert history[1]["id"] == first["id"] and history[1]["full_name"] == "Nguyễn Văn An"
    assert history[1]["ended_at"] is not None
    focal = (await client.get(f"/v1/directives/{directive_id}/focal-points", headers=auth(setup["ops"]))).json()
    assert [f["full_name"] for f in focal] == ["Trần Thị Bình"]
    async with db() as session:
        jobs = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.job_name.like("notifier.%"))
                .order_by(OutboxMessage.created_at)
            )
        ).all()
    assert [j.job_name for j in jobs] == ["notifier.focal_point.registered"] * 2
    # The registration stores ids only; the relay composes the message the notifier gets.
    async with db() as session:
        message = await compose_registered(session, jobs[1].id, jobs[1].ref)
    assert message.message_id == jobs[1].id
    assert message.superseded.full_name == "Nguyễn Văn An"
    assert message.focal_point.phone == "+84987654321" and message.focal_point.version == 2


async def test_concurrent_registrations_leave_exactly_one_active(client, db, setup):
    directive_id = setup["directive"].id
    bodies = [registration(directive_id, full_name=f"Cán bộ {i}", phone=f"09123456{i:02d}") for i in range(12)]
    responses = await asyncio.gather(
        *(client.post("/v1/registrations", json=b, headers=auth(setup["office"])) for b in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201] * 12
    async with db() as session:
        rows = (await session.scalars(select(FocalPoint).order_by(FocalPoint.version))).all()
    assert [r.version for r in rows] == list(range(1, 13))
    assert sum(r.status == "active" for r in rows) == 1
    assert rows[-1].status == "active"
    assert await stored(db, OutboxMessage) == 12


async def test_database_refuses_a_second_active_version(db, setup):
    """The partial unique index holds even for code that bypasses the service."""
    from sqlalchemy.exc import IntegrityError

    from services.api.registrations.schemas import RegistrationCreate
    from tests.builders import register_focal_point

    await register_focal_point(db, RegistrationCreate(**registration(setup["directive"].id)))
    async with db() as session:
        existing = await session.scalar(select(FocalPoint))
        session.add(
            FocalPoint(
                directive_id=existing.directive_id,
                unit_id=existing.unit_id,
                version=2,
                status="active",
                full_name="X",
                phone="+84912345679",
                email="x@halong.gov.vn",
                submitted_at=existing.submitted_at,
                standing_since=existing.submitted_at,
                submitted_by="test",
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_withdrawal_by_office(client, db, setup):
    created = (
        await client.post("/v1/registrations", json=registration(setup["directive"].id), headers=auth(setup["ward"]))
    ).json()
    path = f"/v1/registrations/{created['id']}/withdraw"
    assert (await client.post(path, json={"reason": "Chuyển công tác"}, headers=auth(setup["ward"]))).status_code == 403
    withdrawn = await client.post(path, json={"reason": "Chuyển công tác"}, headers=auth(setup["office"]))
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn" and withdrawn.json()["withdraw_reason"] == "Chuyển công tác"
    again = await client.post(path, json={"reason": "lần nữa"}, headers=auth(setup["office"]))
    assert again.status_code == 409
    focal = await client.get(f"/v1/directives/{setup['directive'].id}/focal-points", headers=auth(setup["office"]))
    assert focal.json() == []
    async with db() as session:
        jobs = (
            await session.scalars(select(OutboxMessage.job_name).where(OutboxMessage.job_name.like("notifier.%")))
        ).all()
    assert sorted(jobs) == ["notifier.focal_point.registered", "notifier.focal_point.withdrawn"]
    # After a withdrawal the unit registers anew: version 2, a fresh standing submission.
    fresh = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id), headers=auth(setup["ward"])
    )
    assert fresh.status_code == 201 and fresh.json()["version"] == 2


async def test_withdraw_unknown_registration_is_404(client, setup):
    response = await client.post(
        "/v1/registrations/00000000-0000-0000-0000-000000000001/withdraw",
        json={"reason": "x"},
        headers=auth(setup["office"]),
    )
    assert response.status_code == 404


async def test_focal_points_and_history_are_scoped_for_ward_apps(client, db, setup):
    await create_unit(db, "06658")
    directive = await create_directive(db, ["06652", "06658"])
    office = auth(setup["office"])
    for code in ("06652", "06658"):
        await client.post("/v1/registrations", json=registration(directive.id, unit_code=code), headers=office)
    own = await client.get(f"/v1/directives/{directive.id}/focal-points", headers=auth(setup["ward"]))
    assert [f["unit_code"] for f in own.json()] == ["06652"]
    everyone = await client.get(f"/v1/directives/{directive.id}/focal-points", headers=office)
    assert [f["unit_code"] for f in everyone.json()] == ["06652", "06658"]
    other = await client.get(f"/v1/directives/{directive.id}/units/06658/history", headers=auth(setup["ward"]))
    assert other.status_code == 403


# --- what the schema says, the service does (found by tests/contract/test_fuzzing.py) ---------------


async def test_null_for_an_optional_field_is_absent(client, db, setup):
    # Ward apps send explicit nulls (a max_length applied to None must not turn them into a 500).
    body = registration(setup["directive"].id, position=None, note=None)
    response = await client.post("/v1/registrations", json=body, headers=auth(setup["ward"]))
    assert response.status_code == 201, response.text
    assert (response.json()["position"], response.json()["note"]) == (None, None)
    async with db() as session:
        stored_one = await session.scalar(select(FocalPoint))
    assert (stored_one.position, stored_one.note) == (None, None)


@pytest.mark.parametrize("full_name", ["", "   ", "\u200b\u00a0"])
async def test_a_blank_full_name_is_refused_as_its_schema_says(client, db, setup, full_name):
    response = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id, full_name=full_name), headers=auth(setup["ward"])
    )
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("full_name", "text_blank")]
    assert await stored(db) == 0


async def test_a_lone_surrogate_is_refused_and_stores_nothing(client, db, setup):
    # JSON may escape half of a surrogate pair; PostgreSQL cannot store it.
    body = json.dumps(registration(setup["directive"].id, full_name="An")).replace('"An"', '"An\\ud800"')
    response = await client.post(
        "/v1/registrations", content=body, headers=auth(setup["ward"], **{"Content-Type": "application/json"})
    )
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("full_name", "string_unicode")]
    assert await stored(db) == 0


async def test_the_unit_not_addressed_names_its_rule(client, db, setup):
    body = registration(setup["directive"].id, unit_code="06655")
    response = await client.post("/v1/registrations", json=body, headers=auth(setup["office"]))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("unit_code", "unit_not_addressed")]


async def test_a_withdrawal_needs_a_reason_that_is_not_blank(client, db, setup):
    created = await client.post(
        "/v1/registrations", json=registration(setup["directive"].id), headers=auth(setup["ward"])
    )
    url = f"/v1/registrations/{created.json()['id']}/withdraw"
    response = await client.post(url, json={"reason": " "}, headers=auth(setup["office"]))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("reason", "text_blank")]
    response = await client.post(url, json={"reason": "Chuyển công tác"}, headers=auth(setup["office"]))
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"


def _requests(directive_id, keys, name: str) -> list[tuple[bytes, dict[str, str]]]:
    """Registrations of every kind FastAPI answers in its own way, each (body, headers)."""

    def body(directive: object = directive_id, **overrides: object) -> bytes:
        return json.dumps(registration(directive, full_name=name, **overrides), ensure_ascii=False).encode()

    as_json = {"Content-Type": "application/json"}
    ward = auth(keys["ward"], **as_json)
    return [
        (body(), ward),  # 201
        (body(), ward),  # 200: nothing changed
        (body(note="khác"), auth(keys["ward"], **{"Content-Type": "application/json; charset=utf-8"})),
        (body(), auth(keys["ward"], **{"Content-Type": "text/plain"})),  # 415
        (body(), auth(keys["ward"])),  # no Content-Type: 415
        (b"", ward),
        (b'{"directive_id": ', ward),
        (b"[1]", ward),
        (b"\xff\xfe", ward),  # not UTF-8
        (body().replace(b'"position": "Chuy', b'"position": NaN, "x": "Chuy'), ward),
        (body().replace(name.encode(), name.encode() + b"\\ud800"), ward),  # a lone surrogate
        (body(nickname="An"), auth(keys["ward"], **as_json, **{"Accept-Language": "en"})),
        (body(phone="0168 123 4567"), ward),
        (body(), as_json),  # 401
        (body(phone="x"), as_json),  # 401 before the body's 422
        (body(), auth("ioc_" + "x" * 43, **as_json)),  # 401
        (body(), auth(keys["ops"], **as_json)),  # 403: the role
        (body(phone="x"), auth(keys["ops"], **as_json)),  # 403 before the body's 422
        (body(), auth(keys["other_ward"], **as_json)),  # 403: another unit
        (body("00000000-0000-0000-0000-000000000000"), auth(keys["office"], **as_json)),  # 404
        (body(unit_code="06655"), auth(keys["office"], **as_json)),  # 422: not addressed
        (over_the_limit(), ward),  # 413 while reading
    ]


async def over_the_limit() -> AsyncIterator[bytes]:
    yield b'{"note": "'
    for _ in range(17):
        yield b"x" * (64 * 1024)


async def disconnected(app, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """What the app answers to a client gone before its body arrived (to the log and the metrics)."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/registrations",
        "raw_path": b"/v1/registrations",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("registry.test", 80),
    }
    await app(scope, receive, send)
    start, *body = sent
    kept = {k.decode(): v.decode() for k, v in start["headers"] if k != b"x-request-id"}
    return start["status"], kept, b"".join(m.get("body", b"") for m in body)


async def test_registrations_are_answered_as_fastapi_answers_them(client, registry_app, setup, monkeypatch):
    """The route answers a valid registration without FastAPI's solving of its parameters: every
    answer is the one FastAPI gives when it handles the request itself (as it does while any
    dependency is overridden)."""
    from services.api.registrations import router

    answered_here = []
    declared_registrar = router.registrar

    async def registrar(request, credentials):
        answered_here.append(credentials)
        return await declared_registrar(request, credentials)

    monkeypatch.setattr(router, "registrar", registrar)

    async def answers(name: str) -> list[tuple[int, dict[str, str], bytes]]:
        out = []
        for content, headers in _requests(setup["directive"].id, setup, name):
            response = await client.post("/v1/registrations", content=content, headers=headers)
            kept = {k: v for k, v in response.headers.items() if k != "x-request-id"}
            if response.is_success:  # a new version's id and time: their shape only
                kept.pop("content-length")
                body = json.loads(response.content)
                assert body["full_name"] == name
                content = json.dumps(sorted(body)).encode()
            out.append((response.status_code, kept, response.content if not response.is_success else content))
        out.append(await disconnected(registry_app, auth(setup["ward"], **{"Content-Type": "application/json"})))
        return out

    fast = await answers("Nguyễn Văn An")
    assert len(answered_here) == 8  # the valid bodies sent as application/json exactly

    def unused() -> None: ...

    registry_app.dependency_overrides[unused] = unused
    try:
        declared = await answers("Nguyễn Văn Bình")
    finally:
        del registry_app.dependency_overrides[unused]
    assert len(answered_here) == 8
    assert [status for status, _, _ in fast] == [201, 200, 201, 415, 415, 422, 422, 422, 422, 422, 422, 422, 422] + [
        401,
        401,
        401,
        403,
        403,
        403,
        404,
        422,
        413,
        422,  # a client gone: its body could not be read
    ]
    assert fast == declared
