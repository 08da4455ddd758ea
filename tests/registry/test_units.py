"""Contract tests of the unit directory: GET/POST/PATCH /v1/units and who may call them."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import func, select

from services.api.models import Unit, UnitChange
from tests.builders import auth, create_key, create_unit

PROBLEM = "application/problem+json"


def new_unit(code: str = "06652", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"code": code, "name": "Phường Hà Phong", "kind": "ward", "parent_code": None}
    body.update(overrides)
    return body


async def office(db) -> dict[str, str]:
    return auth(await create_key(db, "office"))


async def count_units(db, code: str | None = None) -> int:
    async with db() as session:
        query = select(func.count()).select_from(Unit)
        if code is not None:
            query = query.where(Unit.code == code)
        return await session.scalar(query)


async def stored(db, code: str) -> list[Unit]:
    async with db() as session:
        return list((await session.scalars(select(Unit).where(Unit.code == code).order_by(Unit.id))).all())


def codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [u["code"] for u in response.json()]


def field_errors(response) -> dict[str, str]:
    assert response.headers["content-type"].startswith(PROBLEM)
    return {e["field"]: e["message"] for e in response.json()["errors"]}


# --- reading -------------------------------------------------------------------------------------


async def seed_directory(db) -> None:
    await create_unit(db, "193", name="Thành phố Hạ Long", kind="city")
    await create_unit(db, "06652", name="Phường Hà Phong", parent_code="193")
    await create_unit(db, "06649", name="Phường Hà Khánh", parent_code="193")
    await create_unit(db, "194", name="Thành phố Cẩm Phả", kind="city")
    await create_unit(db, "06700", name="Xã Đồng Lâm", kind="commune", parent_code="194")
    await create_unit(db, "HL-VP", name="Văn phòng HĐND và UBND thành phố", kind="department")


async def test_list_filters_by_kind_parent_and_accentless_query(client, db):
    await seed_directory(db)
    headers = await office(db)

    everything = codes(await client.get("/v1/units", headers=headers))
    assert sorted(everything) == ["06649", "06652", "06700", "193", "194", "HL-VP"]
    assert sorted(codes(await client.get("/v1/units?kind=ward", headers=headers))) == ["06649", "06652"]
    assert codes(await client.get("/v1/units?kind=commune", headers=headers)) == ["06700"]
    assert sorted(codes(await client.get("/v1/units?parent_code=193", headers=headers))) == ["06649", "06652"]
    assert codes(await client.get("/v1/units", params={"q": "ha phong"}, headers=headers)) == ["06652"]
    assert codes(await client.get("/v1/units", params={"q": "HÀ PHONG"}, headers=headers)) == ["06652"]
    assert codes(await client.get("/v1/units", params={"q": "dong lam"}, headers=headers)) == ["06700"]
    assert codes(await client.get("/v1/units", params={"q": "khong co"}, headers=headers)) == []
    assert codes(await client.get("/v1/units", params={"q": "_"}, headers=headers)) == []  # not a wildcard
    assert codes(await client.get("/v1/units", params={"q": "%"}, headers=headers)) == []


async def test_list_with_unknown_kind_is_422(client, db):
    response = await client.get("/v1/units?kind=village", headers=await office(db))
    assert response.status_code == 422
    assert "kind" in field_errors(response)


async def test_get_one_unit_and_404(client, db):
    await create_unit(db, "06652", name="Phường Hà Phong", phone="0203 3835 555", staff_headcount=45)
    headers = await office(db)
    response = await client.get("/v1/units/06652", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Phường Hà Phong"
    assert body["phone"] == "+842033835555"
    assert body["staff_headcount"] == 45
    assert body["active"] is True
    assert body["created_at"].endswith("+07:00")

    missing = await client.get("/v1/units/09999", headers=headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)


# --- creating ------------------------------------------------------------------------------------


async def test_post_creates_a_unit(client, db):
    await create_unit(db, "193", name="Thành phố Hạ Long", kind="city")
    body = new_unit(parent_code="193", email="phuonghaphong@halong.gov.vn", staff_headcount=30)
    response = await client.post("/v1/units", json=body, headers=await office(db))
    assert response.status_code == 201, response.text
    out = response.json()
    assert {k: out[k] for k in body} == body
    assert out["active"] is True
    [unit] = await stored(db, "06652")
    assert unit.name == "Phường Hà Phong" and unit.parent_code == "193"


async def test_post_duplicate_code_is_409_and_keeps_the_first(client, db):
    await create_unit(db, "06652", name="Phường Hà Phong")
    response = await client.post("/v1/units", json=new_unit(name="Phường Khác"), headers=await office(db))
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "06652" in response.json()["detail"]
    assert [u.name for u in await stored(db, "06652")] == ["Phường Hà Phong"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "village"}, "kind"),
        ({"code": "06 652"}, "code"),
        ({"code": "06/652"}, "code"),
        ({"code": ""}, "code"),
        ({"name": "   "}, "name"),
        ({"population": 12000}, "population"),
        ({"phone": "12345"}, "phone"),
        ({"email": "not-an-address"}, "email"),
        ({"staff_headcount": -1}, "staff_headcount"),
    ],
)
async def test_post_bad_fields_are_422_and_store_nothing(client, db, overrides, field):
    response = await client.post("/v1/units", json=new_unit(**overrides), headers=await office(db))
    assert response.status_code == 422, response.text
    assert field in field_errors(response)
    assert await count_units(db) == 0


async def test_post_unknown_parent_is_422(client, db):
    response = await client.post("/v1/units", json=new_unit(parent_code="193"), headers=await office(db))
    assert response.status_code == 422
    assert "parent_code" in field_errors(response)
    assert await count_units(db) == 0


async def test_post_normalises_name_phone_and_email(client, db):
    nfd_name = unicodedata.normalize("NFD", "  Phường   Hà\tPhong ")
    body = new_unit(name=nfd_name, phone="0203 3835 555", email="VanPhong@HaLong.Gov.VN")
    response = await client.post("/v1/units", json=body, headers=await office(db))
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["name"] == unicodedata.normalize("NFC", "Phường Hà Phong")
    assert out["phone"] == "+842033835555"  # a landline is fine for a unit's official contact
    assert out["email"] == "VanPhong@halong.gov.vn"
    [unit] = await stored(db, "06652")
    assert unit.name == out["name"] and unit.phone == out["phone"] and unit.email == out["email"]
    # and the stored NFC name is what the accent-free search finds
    found = await client.get("/v1/units", params={"q": "ha phong"}, headers=await office(db))
    assert codes(found) == ["06652"]


async def test_post_lower_case_code_is_stored_upper_case(client, db):
    response = await client.post("/v1/units", json=new_unit("hl-vp", kind="department"), headers=await office(db))
    assert response.status_code == 201, response.text
    assert response.json()["code"] == "HL-VP"


# --- patching ------------------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent(client, db):
    await create_unit(db, "06652", name="Phường Hà Phong", email="hp@halong.gov.vn", staff_headcount=40)
    response = await client.patch("/v1/units/06652", json={"staff_headcount": 45}, headers=await office(db))
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["staff_headcount"] == 45
    assert out["name"] == "Phường Hà Phong" and out["email"] == "hp@halong.gov.vn"
    [unit] = await stored(db, "06652")
    assert unit.staff_headcount == 45 and unit.email == "hp@halong.gov.vn"


async def test_patch_renames_in_nfc_and_search_follows(client, db):
    await create_unit(db, "06652", name="Phường Hà Phong")
    headers = await office(db)
    new_name = unicodedata.normalize("NFD", " Phường   Hà  Tu ")
    response = await client.patch("/v1/units/06652", json={"name": new_name}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == unicodedata.normalize("NFC", "Phường Hà Tu")
    assert codes(await client.get("/v1/units", params={"q": "ha tu"}, headers=headers)) == ["06652"]
    assert codes(await client.get("/v1/units", params={"q": "ha phong"}, headers=headers)) == []


async def test_patch_null_changes_nothing(client, db):
    # Apps send null for what they leave empty: a PATCH of every field, most of them null, changes
    # only the others and keeps the unit's contacts.
    await create_unit(db, "193", name="Thành phố Hạ Long", kind="city")
    await create_unit(
        db, "06652", email="hp@halong.gov.vn", phone="0203 3835 555", staff_headcount=40, parent_code="193"
    )
    body = {
        "name": None,
        "kind": None,
        "active": None,
        "email": None,
        "phone": None,
        "parent_code": None,
        "staff_headcount": 41,
    }
    response = await client.patch("/v1/units/06652", json=body, headers=await office(db))
    assert response.status_code == 200, response.text
    [unit] = await stored(db, "06652")
    assert (unit.name, unit.kind, unit.active) == ("Phường 06652", "ward", True)
    assert (unit.email, unit.phone, unit.parent_code, unit.staff_headcount) == (
        "hp@halong.gov.vn",
        "+842033835555",
        "193",
        41,
    )


async def test_patch_empty_text_clears_contacts_and_parent(client, db):
    await create_unit(db, "193", name="Thành phố Hạ Long", kind="city")
    await create_unit(db, "06652", email="hp@halong.gov.vn", phone="0203 3835 555", parent_code="193")
    body = {"email": "", "phone": "", "parent_code": ""}
    response = await client.patch("/v1/units/06652", json=body, headers=await office(db))
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in body} == dict.fromkeys(body)
    [unit] = await stored(db, "06652")
    assert (unit.email, unit.phone, unit.parent_code) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "hp@"}, "email"),
        ({"kind": "village"}, "kind"),
        ({"parent_code": "06652"}, "parent_code"),
        ({"parent_code": "09999"}, "parent_code"),
        ({"code": "06653"}, "code"),
    ],
)
async def test_patch_bad_fields_are_422_and_change_nothing(client, db, body, field):
    await create_unit(db, "06652", name="Phường Hà Phong", email="hp@halong.gov.vn")
    response = await client.patch("/v1/units/06652", json=body, headers=await office(db))
    assert response.status_code == 422, response.text
    assert field in field_errors(response)
    [unit] = await stored(db, "06652")
    assert (unit.code, unit.kind, unit.email, unit.parent_code) == ("06652", "ward", "hp@halong.gov.vn", None)


@pytest.mark.parametrize("field", ["name", "kind", "active", "staff_headcount"])
async def test_patch_empty_text_for_a_field_that_cannot_be_cleared_is_422(client, db, field):
    await create_unit(db, "06652", name="Phường Hà Phong", staff_headcount=40)
    response = await client.patch("/v1/units/06652", json={field: ""}, headers=await office(db))
    assert response.status_code == 422, response.text
    assert field in field_errors(response)
    [unit] = await stored(db, "06652")
    assert (unit.name, unit.kind, unit.active, unit.staff_headcount) == ("Phường Hà Phong", "ward", True, 40)


async def test_patch_unknown_unit_is_404(client, db):
    response = await client.patch("/v1/units/09999", json={"staff_headcount": 1}, headers=await office(db))
    assert response.status_code == 404


async def test_retired_code_can_be_reused_and_old_unit_stays_retired(client, db):
    await create_unit(db, "06652", name="Phường Hà Phong")
    headers = await office(db)
    retired = await client.patch("/v1/units/06652", json={"active": False}, headers=headers)
    assert retired.status_code == 200, retired.text
    assert retired.json()["active"] is False

    reused = await client.post("/v1/units", json=new_unit(name="Phường Hà Phong mới"), headers=headers)
    assert reused.status_code == 201, reused.text
    current = await client.get("/v1/units/06652", headers=headers)
    assert current.json()["name"] == "Phường Hà Phong mới" and current.json()["active"] is True

    old, new = await stored(db, "06652")
    assert (old.name, old.active) == ("Phường Hà Phong", False)
    assert (new.name, new.active) == ("Phường Hà Phong mới", True)


async def test_reactivating_a_reused_code_never_makes_two_active_units(client, db):
    """Once a code is reused, PATCH {"active": true} addresses the active successor: the old unit must not
    come back (409 or a no-op on the successor are both acceptable; two active units are not)."""
    await create_unit(db, "06652", name="Phường Hà Phong")
    headers = await office(db)
    await client.patch("/v1/units/06652", json={"active": False}, headers=headers)
    assert (await client.post("/v1/units", json=new_unit(name="Phường mới"), headers=headers)).status_code == 201

    response = await client.patch("/v1/units/06652", json={"active": True}, headers=headers)
    assert response.status_code in (200, 409), response.text
    if response.status_code == 200:
        assert response.json()["name"] == "Phường mới"
    old, new = await stored(db, "06652")
    assert (old.active, new.active) == (False, True)
    assert (await client.get("/v1/units/06652", headers=headers)).json()["name"] == "Phường mới"


# --- roles ---------------------------------------------------------------------------------------


async def test_ward_app_sees_only_its_own_unit(client, db):
    await seed_directory(db)
    ward = auth(await create_key(db, "ward_app", unit="06652"))
    assert codes(await client.get("/v1/units", headers=ward)) == ["06652"]
    assert codes(await client.get("/v1/units?kind=ward", headers=ward)) == ["06652"]
    assert codes(await client.get("/v1/units", params={"q": "ha khanh"}, headers=ward)) == []
    assert (await client.get("/v1/units/06652", headers=ward)).status_code == 200
    other = await client.get("/v1/units/06649", headers=ward)
    assert other.status_code == 403
    assert other.headers["content-type"].startswith(PROBLEM)


async def test_ops_centre_reads_the_directory(client, db):
    await seed_directory(db)
    ops = auth(await create_key(db, "ops_centre"))
    assert len(codes(await client.get("/v1/units", headers=ops))) == 6
    assert (await client.get("/v1/units/06649", headers=ops)).status_code == 200


@pytest.mark.parametrize("role", ["ward_app", "ops_centre", "app_backend"])
async def test_only_office_writes_units(client, db, role):
    await create_unit(db, "06652", name="Phường Hà Phong")
    key = auth(await create_key(db, role, unit="06652" if role == "ward_app" else None))
    post = await client.post("/v1/units", json=new_unit("06649", name="Phường Hà Khánh"), headers=key)
    assert post.status_code == 403
    assert post.headers["content-type"].startswith(PROBLEM)
    patch = await client.patch("/v1/units/06652", json={"name": "Đổi tên"}, headers=key)
    assert patch.status_code == 403
    assert await count_units(db) == 1
    [unit] = await stored(db, "06652")
    assert unit.name == "Phường Hà Phong"
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(UnitChange)) == 1  # the creation only


async def revoked_key(client, db) -> str:
    key = await create_key(db, "office")
    listed = await client.get("/v1/keys", headers=auth(key))
    [key_id] = [k["id"] for k in listed.json()]
    assert (await client.post(f"/v1/keys/{key_id}/revoke", headers=auth(key))).status_code == 200
    return key


@pytest.mark.parametrize("case", ["none", "unknown", "malformed", "revoked"])
async def test_bad_credentials_are_401_problem_and_store_nothing(client, db, case):
    headers = {
        "none": {},
        "unknown": auth("ioc_" + "x" * 43),
        "malformed": {"Authorization": "Basic b2ZmaWNlOnNlY3JldA=="},
        "revoked": auth(await revoked_key(client, db)) if case == "revoked" else {},
    }[case]
    for response in (
        await client.get("/v1/units", headers=headers),
        await client.post("/v1/units", json=new_unit(), headers=headers),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["status"] == 401
    assert await count_units(db) == 0


# --- what the schema says, the service does (found by tests/contract/test_fuzzing.py) ---------------


@pytest.mark.parametrize(("headcount", "status", "kept"), [(40.0, 201, 40), (4e1, 201, 40), (40.5, 422, None)])
async def test_a_headcount_is_a_json_integer_and_40_0_is_one(client, db, headcount, status, kept):
    response = await client.post("/v1/units", json=new_unit(staff_headcount=headcount), headers=await office(db))
    assert response.status_code == status, response.text
    assert [u.staff_headcount for u in await stored(db, "06652")] == ([kept] if kept is not None else [])


@pytest.mark.parametrize("headcount", ["40", True])
async def test_a_headcount_as_text_or_boolean_is_refused(client, db, headcount):
    response = await client.post("/v1/units", json=new_unit(staff_headcount=headcount), headers=await office(db))
    assert response.status_code == 422
    assert list(field_errors(response)) == ["staff_headcount"]
    assert await count_units(db) == 0


async def test_null_for_active_is_absent_so_a_new_unit_is_active(client, db):
    body = new_unit(active=None, email=None, phone=None, staff_headcount=None)
    response = await client.post("/v1/units", json=body, headers=await office(db))
    assert response.status_code == 201, response.text
    assert response.json()["active"] is True


async def test_an_empty_phone_for_a_new_unit_is_refused(client, db):
    response = await client.post("/v1/units", json=new_unit(phone=""), headers=await office(db))
    assert response.status_code == 422
    assert list(field_errors(response)) == ["phone"]


@pytest.mark.parametrize("email", ["hp@ubnd.test", "hp@ubnd.local", "hp@localhost", "hp@[127.0.0.1]"])
async def test_an_address_mail_cannot_reach_is_refused(client, db, email):
    response = await client.post("/v1/units", json=new_unit(email=email), headers=await office(db))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("email", "email_invalid")]


async def test_a_name_whose_case_folding_outgrows_its_column_is_stored_and_found(client, db):
    # "ß" folds to "ss": 200 of them make a search name of 400 characters, over its column.
    response = await client.post("/v1/units", json=new_unit(name="ß" * 200), headers=await office(db))
    assert response.status_code == 201, response.text
    assert codes(await client.get("/v1/units", params={"q": "ssss"}, headers=await office(db))) == ["06652"]


async def test_an_empty_query_parameter_is_absent(client, db):
    await seed_directory(db)
    everything = codes(await client.get("/v1/units", headers=await office(db)))
    response = await client.get("/v1/units?kind=&parent_code=&q=&active=", headers=await office(db))
    assert codes(response) == everything and len(everything) == 6


@pytest.mark.parametrize("code", ["06652%00", "%2006652", "0665 2", "-06652", "0" * 33])
async def test_a_code_outside_the_pattern_is_422_not_a_lookup(client, db, code):
    response = await client.get(f"/v1/units/{code}", headers=await office(db))
    assert response.status_code == 422
    assert list(field_errors(response)) == ["code"]
