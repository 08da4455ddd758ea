"""The Office imports the unit directory's CSV over HTTP (the file `ioc units import` reads): all of it,
or, if a line is bad, nothing, with each bad line named."""

from __future__ import annotations

from sqlalchemy import func, select

from services.api.models import Unit
from tests.builders import auth, create_key, create_unit

OWN = (
    "code,name,kind,parent_code,email,phone,staff_headcount\n"
    "HL-VP,Văn phòng HĐND và UBND,department,,vanphong@halong.example,,40\n"
    "06652,Phường Hà Phong,ward,,ubnd.haphong@halong.example,0912 000 652,24\n"
)
GSO = "ward_code,ward_name,ward_type,district_code\n06655,Hà Khẩu,Phường,193\n"


def csv(content: str) -> dict[str, str]:
    return {"Content-Type": "text/csv; charset=utf-8"}


async def count(db) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(Unit))


async def test_a_unit_file_is_imported_and_importing_it_again_changes_nothing(client, db):
    office = await create_key(db, "office")
    await create_unit(db, "193", kind="town", name="Thành phố Hạ Long")
    first = await client.post("/v1/units/import", content=OWN.encode(), headers=auth(office, **csv(OWN)))
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    again = await client.post("/v1/units/import", content=OWN.encode(), headers=auth(office, **csv(OWN)))
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2}
    changed = OWN.replace(",24\n", ",26\n")
    assert (
        await client.post("/v1/units/import", content=changed.encode(), headers=auth(office, **csv(OWN)))
    ).json() == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
    }
    gso = await client.post("/v1/units/import", content=("\ufeff" + GSO).encode(), headers=auth(office, **csv(GSO)))
    assert gso.json() == {"created": 1, "updated": 0, "unchanged": 0}
    unit = (await client.get("/v1/units/06655", headers=auth(office))).json()
    assert unit["name"] == "Hà Khẩu" and unit["kind"] == "ward" and unit["parent_code"] == "193"
    assert unit["staff_headcount"] is None
    audit = (await client.get("/v1/audit?kind=units_imported", headers=auth(office))).json()["items"]
    assert [e["detail"]["created"] for e in audit] == [1, 0, 0, 2]


async def test_one_bad_line_and_nothing_is_imported(client, db):
    office = await create_key(db, "office")
    bad = OWN + "HL-X,Phòng X,ministry,,,,\n06653,Phường Hồng Hà,ward,,,0168 123 4567,\n"
    refused = await client.post("/v1/units/import", content=bad.encode(), headers=auth(office, **csv(bad)))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["detail"] == "Tệp CSV có 2 dòng không hợp lệ; chưa đơn vị nào được thay đổi."
    assert {e["code"] for e in problem["errors"]} == {"csv_line_invalid"}
    assert [(line["line"], line["unit_code"]) for line in problem["lines"]] == [(4, "HL-X"), (5, "06653")]
    assert problem["lines"][1]["errors"][0]["code"] == "phone_old_format"
    assert "Dòng 5 (06653)" in problem["errors"][1]["message"] and "0381 234 567" in problem["errors"][1]["message"]
    assert await count(db) == 0


async def test_what_is_not_a_unit_file_is_refused(client, db):
    office = await create_key(db, "office")
    for content in (b"ten,ma\nHa Phong,06652\n", b"\xff\xfe not utf-8", b""):
        refused = await client.post("/v1/units/import", content=content, headers=auth(office, **csv("")))
        assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "csv_unreadable"
    as_json = await client.post("/v1/units/import", json={"csv": OWN}, headers=auth(office))
    assert as_json.status_code == 415 and "text/csv" in as_json.json()["detail"]
    too_big = b"code,name,kind\n" + b"x" * (1024 * 1024)
    assert (await client.post("/v1/units/import", content=too_big, headers=auth(office, **csv("")))).status_code == 413
    ops = await create_key(db, "ops_centre")
    assert (
        await client.post("/v1/units/import", content=OWN.encode(), headers=auth(ops, **csv(OWN)))
    ).status_code == 403
    assert await count(db) == 0
