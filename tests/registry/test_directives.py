"""Contract tests of directives: POST/GET /v1/directives, pages, and who may see what."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.api.models import Directive, DirectiveUnit
from shared.timeutil import VIETNAM
from tests.builders import auth, create_directive, create_key, create_unit

PROBLEM = "application/problem+json"


def directive_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "number": "984/UBND",
        "title": "Chuẩn bị vận hành chính thức Trung tâm điều hành thành phố thông minh",
        "issued_on": "2020-02-13",
        "deadline": "2020-02-15T00:00:00+07:00",
        "operation_starts_at": "2020-02-25T00:00:00+07:00",
        "unit_codes": ["06652", "HL-VP"],
    }
    body.update(overrides)
    return body


async def setup(db) -> dict[str, str]:
    """The two units of the example directive, and an Office key."""
    await create_unit(db, "06652", name="Phường Hà Phong")
    await create_unit(db, "HL-VP", name="Văn phòng HĐND và UBND thành phố", kind="department")
    return auth(await create_key(db, "office"))


async def count_directives(db) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(Directive))


def field_errors(response) -> dict[str, str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


# --- creating ------------------------------------------------------------------------------------


async def test_post_creates_a_directive_in_vietnam_time(client, db):
    headers = await setup(db)
    response = await client.post(
        "/v1/directives", json=directive_body(deadline="2020-02-14T17:00:00Z"), headers=headers
    )
    assert response.status_code == 201, response.text
    out = response.json()
    uuid.UUID(out["id"])
    assert out["number"] == "984/UBND"
    assert out["title"].startswith("Chuẩn bị vận hành")
    assert out["issued_on"] == "2020-02-13"
    assert out["deadline"] == "2020-02-15T00:00:00+07:00"  # the same instant, shown in Vietnam time
    assert out["operation_starts_at"] == "2020-02-25T00:00:00+07:00"
    assert sorted(out["unit_codes"]) == ["06652", "HL-VP"]

    again = await client.get(f"/v1/directives/{out['id']}", headers=headers)
    assert again.status_code == 200
    assert again.json() == out
    async with db() as session:
        stored = await session.get(Directive, uuid.UUID(out["id"]))
        assert stored.deadline == datetime(2020, 2, 15, tzinfo=VIETNAM)
        addressed = await session.scalar(
            select(func.count()).select_from(DirectiveUnit).where(DirectiveUnit.directive_id == stored.id)
        )
        assert addressed == 2


async def test_same_number_same_year_is_409_other_year_is_201(client, db):
    headers = await setup(db)
    first = await client.post("/v1/directives", json=directive_body(), headers=headers)
    assert first.status_code == 201, first.text

    same_year = directive_body(issued_on="2020-11-02", deadline="2020-11-30T00:00:00+07:00", operation_starts_at=None)
    conflict = await client.post("/v1/directives", json=same_year, headers=headers)
    assert conflict.status_code == 409, conflict.text
    assert conflict.headers["content-type"].startswith(PROBLEM)
    assert "984/UBND" in conflict.json()["detail"]

    next_year = directive_body(issued_on="2021-02-13", deadline="2021-02-15T00:00:00+07:00", operation_starts_at=None)
    created = await client.post("/v1/directives", json=next_year, headers=headers)
    assert created.status_code == 201, created.text
    assert await count_directives(db) == 2


async def test_unknown_unit_codes_are_named(client, db):
    headers = await setup(db)
    response = await client.post(
        "/v1/directives", json=directive_body(unit_codes=["06652", "09991", "09992"]), headers=headers
    )
    assert response.status_code == 422, response.text
    message = field_errors(response)["unit_codes"]
    assert "09991" in message and "09992" in message and "06652" not in message
    assert await count_directives(db) == 0


async def test_retired_unit_cannot_be_addressed(client, db):
    headers = await setup(db)
    assert (await client.patch("/v1/units/06652", json={"active": False}, headers=headers)).status_code == 200
    response = await client.post("/v1/directives", json=directive_body(), headers=headers)
    assert response.status_code == 422
    assert "06652" in field_errors(response)["unit_codes"]
    assert await count_directives(db) == 0


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"unit_codes": ["06652", "HL-VP", "06652"]}, "unit_codes", "Mã đơn vị bị lặp: 06652"),
        ({"unit_codes": []}, "unit_codes", "ít nhất 1"),
        ({"deadline": "2020-02-15T00:00:00"}, "deadline", "múi giờ"),
        ({"operation_starts_at": "2020-02-25T08:00:00"}, "operation_starts_at", "múi giờ"),
        ({"deadline": "2020-02-12T23:00:00+07:00"}, "deadline", "Hạn chót phải sau ngày ban hành (2020-02-13)"),
        ({"deadline": "2020-02-13T00:00:00+07:00"}, "deadline", "Hạn chót phải sau ngày ban hành"),
        ({"operation_starts_at": "2020-02-12T08:00:00+07:00"}, "operation_starts_at", "vận hành không được trước"),
        ({"issued_on": "13/02/2020"}, "issued_on", "YYYY-MM-DD"),
        ({"issued_on": 20200213}, "issued_on", "YYYY-MM-DD"),
        ({"deadline": 1581699600}, "deadline", "RFC 3339"),
        ({"deadline": "1581699600"}, "deadline", "RFC 3339"),
        ({"deadline": "2020-02-15T00:00+07:00"}, "deadline", "RFC 3339"),
        ({"title": " \t "}, "title", "Không được để trống"),
        ({"number": None}, "number", "chuỗi"),
        ({"signed_by": "Chủ tịch"}, "signed_by", "không được hỗ trợ"),
    ],
    ids=[
        "repeated-codes",
        "no-codes",
        "naive-deadline",
        "naive-start",
        "deadline-before-issue",
        "deadline-at-issue-midnight",
        "start-before-issue",
        "date-dd/mm/yyyy",
        "date-number",
        "deadline-timestamp",
        "deadline-timestamp-as-text",
        "deadline-without-seconds",
        "blank-title",
        "null-number",
        "unknown-field",
    ],
)
async def test_invalid_directives_are_422_and_store_nothing(client, db, overrides, field, says):
    headers = await setup(db)
    response = await client.post("/v1/directives", json=directive_body(**overrides), headers=headers)
    assert response.status_code == 422, response.text
    errors = field_errors(response)
    assert set(errors) == {field}, errors  # the other, valid fields are not blamed
    assert says in errors[field]
    assert await count_directives(db) == 0


@pytest.mark.parametrize("role", ["ward_app", "ops_centre", "app_backend"])
async def test_only_office_issues_directives(client, db, role):
    await setup(db)
    key = auth(await create_key(db, role, unit="06652" if role == "ward_app" else None))
    response = await client.post("/v1/directives", json=directive_body(), headers=key)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await count_directives(db) == 0


# --- reading -------------------------------------------------------------------------------------


async def issue_many(db, count: int) -> list[uuid.UUID]:
    """``count`` directives, issued on successive days (some sharing a day), to 06652."""
    ids = []
    for i in range(count):
        issued = date(2020, 1, 1) + timedelta(days=i // 2)
        deadline = datetime(2020, 3, 1, tzinfo=VIETNAM)
        ids.append(
            (await create_directive(db, ["06652"], number=f"{i + 1}/UBND", issued_on=issued, deadline=deadline)).id
        )
    return ids


async def test_list_is_a_page_newest_first(client, db):
    headers = await setup(db)
    await issue_many(db, 3)
    response = await client.get("/v1/directives", headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"items", "next_cursor"}
    assert page["next_cursor"] is None
    issued = [d["issued_on"] for d in page["items"]]
    assert len(issued) == 3 and issued == sorted(issued, reverse=True)
    assert all(d["unit_codes"] == ["06652"] for d in page["items"])
    assert all(d["deadline"] == "2020-03-01T00:00:00+07:00" for d in page["items"])


async def test_cursor_walks_every_directive_once(client, db):
    headers = await setup(db)
    ids = await issue_many(db, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/directives", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 3
        seen += [d["id"] for d in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(str(i) for i in ids)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("cursor", ["not-a-cursor!", "e30", "WyJ4IiwgInkiXQ"])  # junk, {}, ["x", "y"]
async def test_bad_cursor_is_422(client, db, cursor):
    headers = await setup(db)
    await issue_many(db, 2)
    response = await client.get("/v1/directives", params={"cursor": cursor}, headers=headers)
    assert response.status_code == 422, response.text
    assert "cursor" in field_errors(response)


@pytest.mark.parametrize("limit", [0, 1001, "many"])
async def test_bad_limit_is_422(client, db, limit):
    headers = await setup(db)
    response = await client.get("/v1/directives", params={"limit": limit}, headers=headers)
    assert response.status_code == 422
    assert "limit" in field_errors(response)


async def test_ward_app_sees_only_directives_addressing_its_unit(client, db):
    await setup(db)
    await create_unit(db, "06649", name="Phường Hà Khánh")
    mine = await create_directive(db, ["06652", "06649"], number="1/UBND")
    theirs = await create_directive(db, ["06649"], number="2/UBND")
    ward = auth(await create_key(db, "ward_app", unit="06652"))

    listed = await client.get("/v1/directives", headers=ward)
    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()["items"]] == [str(mine.id)]
    assert (await client.get(f"/v1/directives/{mine.id}", headers=ward)).status_code == 200
    refused = await client.get(f"/v1/directives/{theirs.id}", headers=ward)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith(PROBLEM)


async def test_ops_centre_reads_directives(client, db):
    await setup(db)
    directive = await create_directive(db, ["06652"])
    ops = auth(await create_key(db, "ops_centre"))
    assert [d["id"] for d in (await client.get("/v1/directives", headers=ops)).json()["items"]] == [str(directive.id)]
    assert (await client.get(f"/v1/directives/{directive.id}", headers=ops)).status_code == 200


async def test_unknown_directive_is_404(client, db):
    headers = await setup(db)
    response = await client.get(f"/v1/directives/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)


# --- what the schema says, the service does (found by tests/contract/test_fuzzing.py) ---------------


@pytest.mark.parametrize(
    "overrides",
    [
        # Valid RFC 3339, but its instant in UTC (or in Vietnam time) is before year 1 or after 9999.
        {"issued_on": "0001-01-01", "deadline": "0001-01-02T00:00:00+14:00"},
        {"issued_on": "9999-12-30", "deadline": "9999-12-31T20:00:00-12:00"},
        {"issued_on": "1899-12-31"},
        {"deadline": "2200-01-01T00:00:00Z"},
    ],
)
async def test_dates_and_times_outside_1900_to_2199_are_422(client, db, overrides):
    headers = await setup(db)
    response = await client.post("/v1/directives", json=directive_body(**overrides), headers=headers)
    assert response.status_code == 422, response.text
    assert {e["code"] for e in response.json()["errors"]} == {"year_out_of_range"}
    assert await count_directives(db) == 0


@pytest.mark.parametrize(
    "deadline", ["2020-02-15 00:00:00+07:00", "2020-02-15T00:00:00+0700", "2020-02-15T00:00+07:00", "1581699600"]
)
async def test_a_time_that_is_not_rfc_3339_is_422(client, db, deadline):
    response = await client.post("/v1/directives", json=directive_body(deadline=deadline), headers=await setup(db))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("deadline", "datetime_parsing")]


async def test_null_for_operation_starts_at_is_absent(client, db):
    body = directive_body(operation_starts_at=None)
    response = await client.post("/v1/directives", json=body, headers=await setup(db))
    assert response.status_code == 201, response.text
    assert response.json()["operation_starts_at"] is None


async def test_the_same_code_in_another_case_is_a_duplicate(client, db):
    body = directive_body(unit_codes=["06652", "hl-vp", "HL-VP"])
    response = await client.post("/v1/directives", json=body, headers=await setup(db))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("unit_codes", "unit_codes_duplicate")]


@pytest.mark.parametrize("year", ["+2020", " 2020", "2_020", "1899", "2200"])
async def test_a_year_filter_is_an_integer_from_1900_to_2199_as_written_in_json(client, db, year):
    response = await client.get("/v1/directives", params={"year": year}, headers=await setup(db))
    assert response.status_code == 422
    assert list(field_errors(response)) == ["year"]
