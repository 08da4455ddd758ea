"""Contract tests of GET /v1/directives/{id}/compliance: counts, DHIS2 rates, the deadline, exports."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from services.api.registrations.schemas import RegistrationCreate
from shared.timeutil import VIETNAM
from tests.builders import auth, create_directive, create_key, create_unit, register_focal_point, registration

PROBLEM = "application/problem+json"
DEADLINE = datetime(2020, 2, 15, tzinfo=VIETNAM)  # exclusive
JUST_BEFORE = datetime(2020, 2, 14, 23, 59, 59, tzinfo=VIETNAM)
UNITS = {
    "06649": "Phường Hà Khánh",
    "06652": "Phường Hà Phong",
    "06655": "Phường Hà Khẩu",
    "06658": "Phường Cao Xanh",
    "HL-VP": "Văn phòng HĐND và UBND thành phố",
}


async def directive_for(db, codes: list[str] | None = None):
    """Directive 984/UBND (deadline 2020-02-15 00:00 +07:00) addressed to ``codes`` (default: all UNITS)."""
    codes = codes or list(UNITS)
    for code in codes:
        await create_unit(db, code, name=UNITS[code], kind="department" if code.startswith("HL") else "ward")
    return await create_directive(db, codes, number="984/UBND", deadline=DEADLINE, issued_on=date(2020, 2, 13))


async def register_at(db, directive, code: str, when: datetime, **fields: object):
    """A registration received by the server at ``when`` (the service path the API uses)."""
    data = RegistrationCreate.model_validate(registration(directive.id, code, **fields))
    out, created = await register_focal_point(db, data, received_at=when)
    assert created
    return out


async def report(client, db, directive, role: str = "office", **params: str):
    key = await create_key(db, role, unit="06652" if role == "ward_app" else None)
    return await client.get(f"/v1/directives/{directive.id}/compliance", params=params, headers=auth(key))


def statuses(body: dict) -> dict[str, str]:
    return {u["unit_code"]: u["status"] for u in body["units"]}


# --- counts and rates ----------------------------------------------------------------------------


async def test_counts_and_dhis2_rates(client, db):
    directive = await directive_for(db)
    await register_at(db, directive, "06649", datetime(2020, 2, 14, 9, tzinfo=VIETNAM))
    await register_at(db, directive, "06652", JUST_BEFORE)
    await register_at(db, directive, "06655", DEADLINE)
    await register_at(db, directive, "HL-VP", DEADLINE + timedelta(days=3))

    response = await report(client, db, directive)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["directive_id"] == str(directive.id)
    assert body["deadline"] == "2020-02-15T00:00:00+07:00"
    assert (body["expected"], body["submitted"], body["on_time"], body["late"], body["missing"]) == (5, 4, 2, 2, 1)
    assert body["reporting_rate"] == pytest.approx(4 / 5)  # submitted / expected
    assert body["on_time_rate"] == pytest.approx(2 / 5)  # on_time / expected
    assert statuses(body) == {
        "06649": "on_time",
        "06652": "on_time",
        "06655": "late",
        "06658": "missing",
        "HL-VP": "late",
    }


async def test_rates_are_fractions_of_expected_rounded(client, db):
    directive = await directive_for(db, ["06649", "06652", "06655"])
    await register_at(db, directive, "06649", JUST_BEFORE)
    await register_at(db, directive, "06652", DEADLINE + timedelta(hours=1))
    body = (await report(client, db, directive)).json()
    assert body["reporting_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert body["on_time_rate"] == pytest.approx(1 / 3, abs=1e-4)


async def test_no_submission_means_everything_missing(client, db):
    directive = await directive_for(db, ["06649", "06652"])
    body = (await report(client, db, directive)).json()
    assert (body["expected"], body["submitted"], body["missing"]) == (2, 0, 2)
    assert body["reporting_rate"] == 0 and body["on_time_rate"] == 0
    assert all(u["focal_point"] is None and u["submitted_at"] is None for u in body["units"])


async def test_unit_rows_carry_name_time_and_contact(client, db):
    directive = await directive_for(db, ["06652", "06658"])
    await register_at(db, directive, "06652", JUST_BEFORE, phone="+84 912 345 678")
    body = (await report(client, db, directive)).json()
    rows = {u["unit_code"]: u for u in body["units"]}
    assert rows["06652"]["unit_name"] == "Phường Hà Phong"
    assert rows["06652"]["submitted_at"] == "2020-02-14T23:59:59+07:00"
    assert rows["06652"]["focal_point"] == {
        "full_name": "Nguyễn Văn An",
        "phone": "+84912345678",
        "email": "an.nv@halong.gov.vn",
    }
    assert body["units"][0]["unit_code"] == "06658"  # missing units come first: whom to call


# --- the deadline ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "status"),
    [(JUST_BEFORE, "on_time"), (DEADLINE, "late"), (DEADLINE - timedelta(microseconds=1), "on_time")],
    ids=["23:59:59", "deadline", "1us-before"],
)
async def test_deadline_is_exclusive(client, db, received, status):
    directive = await directive_for(db, ["06652"])
    out = await register_at(db, directive, "06652", received)
    assert out.on_time is (status == "on_time")
    assert statuses((await report(client, db, directive)).json()) == {"06652": status}
    focal_points = await client.get(
        f"/v1/directives/{directive.id}/focal-points", headers=auth(await create_key(db, "office"))
    )
    assert [fp["on_time"] for fp in focal_points.json()] == [status == "on_time"]


async def test_late_replacement_keeps_an_on_time_unit_on_time(client, db):
    directive = await directive_for(db, ["06652"])
    await register_at(db, directive, "06652", JUST_BEFORE)
    await register_at(
        db, directive, "06652", DEADLINE + timedelta(days=5), full_name="Trần Thị Bình", phone="0987 654 321"
    )
    body = (await report(client, db, directive)).json()
    [row] = body["units"]
    assert row["status"] == "on_time"
    assert row["submitted_at"] == "2020-02-14T23:59:59+07:00"  # the first still-standing submission
    assert row["focal_point"]["full_name"] == "Trần Thị Bình"  # but today's contact
    assert row["focal_point"]["phone"] == "+84987654321"
    assert (body["submitted"], body["on_time"], body["late"]) == (1, 1, 0)


async def test_withdrawal_makes_the_unit_missing_again(client, db):
    directive = await directive_for(db, ["06652", "06649"])
    first = await register_at(db, directive, "06652", JUST_BEFORE)
    await register_at(db, directive, "06649", JUST_BEFORE)
    office = auth(await create_key(db, "office"))
    withdrawn = await client.post(f"/v1/registrations/{first.id}/withdraw", json={"reason": "Nghỉ hưu"}, headers=office)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"

    body = (await report(client, db, directive)).json()
    assert statuses(body) == {"06652": "missing", "06649": "on_time"}
    assert (body["submitted"], body["missing"], body["reporting_rate"]) == (1, 1, 0.5)

    # registering again after the deadline starts a new, late, standing
    await register_at(db, directive, "06652", DEADLINE + timedelta(days=1), full_name="Lê Văn Cường")
    assert statuses((await report(client, db, directive)).json())["06652"] == "late"


async def test_withdrawal_is_office_only(client, db):
    directive = await directive_for(db, ["06652"])
    first = await register_at(db, directive, "06652", JUST_BEFORE)
    ward = auth(await create_key(db, "ward_app", unit="06652"))
    refused = await client.post(f"/v1/registrations/{first.id}/withdraw", json={"reason": "x"}, headers=ward)
    assert refused.status_code == 403
    assert statuses((await report(client, db, directive)).json()) == {"06652": "on_time"}


async def test_registration_over_http_counts_at_receipt_time(client, db):
    await create_unit(db, "06652", name="Phường Hà Phong")
    directive = await create_directive(db, ["06652"])  # due in a week
    ward = auth(await create_key(db, "ward_app", unit="06652"))
    posted = await client.post("/v1/registrations", json=registration(directive.id), headers=ward)
    assert posted.status_code == 201, posted.text
    body = (await report(client, db, directive)).json()
    assert statuses(body) == {"06652": "on_time"}
    assert body["units"][0]["submitted_at"] == posted.json()["submitted_at"]


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["office", "ops_centre"])
async def test_office_and_ops_centre_read_compliance(client, db, role):
    directive = await directive_for(db, ["06652"])
    assert (await report(client, db, directive, role)).status_code == 200


@pytest.mark.parametrize("role", ["ward_app", "app_backend"])
async def test_other_roles_may_not_read_compliance(client, db, role):
    directive = await directive_for(db, ["06652"])  # the ward app's own unit, even
    response = await report(client, db, directive, role)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_unknown_directive_is_404(client, db):
    office = auth(await create_key(db, "office"))
    response = await client.get(f"/v1/directives/{uuid.uuid4()}/compliance", headers=office)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)


# --- files for the Office ------------------------------------------------------------------------


async def scenario(db):
    directive = await directive_for(db, ["06649", "06652", "06655"])
    await register_at(db, directive, "06652", JUST_BEFORE)
    await register_at(db, directive, "06655", DEADLINE, full_name='=HYPERLINK("http://x")')
    return directive


async def test_csv_export(client, db):
    directive = await scenario(db)
    response = await report(client, db, directive, format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())  # BOM: Excel reads the Vietnamese right
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, *units = rows
    assert header[:4] == ["Mã đơn vị", "Tên đơn vị", "Loại", "Trạng thái"]
    assert len(units) == 3
    by_code = {r[0]: r for r in units}
    assert by_code["06649"][3] == "Chưa gửi"
    assert by_code["06652"][1] == "Phường Hà Phong" and by_code["06652"][3] == "Đúng hạn"
    assert by_code["06652"][2] == "Phường"  # kinds in Vietnamese, like the rest of the sheet
    assert by_code["06655"][3] == "Muộn"
    # "+84…" would be read as a formula by Excel: a quote prefix is the accepted CSV defence
    assert by_code["06652"][6] == "0912 345 678"  # national form: no formula guard needed
    assert not any(cell.startswith("=") for row in units for cell in row)  # no formula injection


async def xlsx_rows(client, db) -> tuple[list, list[list]]:
    directive = await scenario(db)
    response = await report(client, db, directive, format="xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formulas run
    header, *units = [list(r) for r in sheet.iter_rows(values_only=True)]
    return header, units


async def test_xlsx_export(client, db):
    header, units = await xlsx_rows(client, db)
    assert header[:4] == ["Mã đơn vị", "Tên đơn vị", "Loại", "Trạng thái"]
    assert sorted(r[0] for r in units) == ["06649", "06652", "06655"]
    assert {r[0]: r[3] for r in units} == {"06649": "Chưa gửi", "06652": "Đúng hạn", "06655": "Muộn"}
    assert {r[0]: r[1] for r in units}["06652"] == "Phường Hà Phong"
    assert {r[0]: r[2] for r in units}["06652"] == "Phường"


async def test_xlsx_cells_are_the_values_of_the_table(client, db):
    _, units = await xlsx_rows(client, db)
    by_code = {r[0]: r for r in units}
    assert by_code["06652"][6] == "0912 345 678"  # phones as officials read them, typed as text
    assert by_code["06655"][5] == '=HYPERLINK("http://x")'  # shown as text, not run


@pytest.mark.parametrize("fmt", ["pdf", "CSV"])
async def test_unknown_format_is_422(client, db, fmt):
    directive = await directive_for(db, ["06652"])
    response = await report(client, db, directive, format=fmt)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in response.json()["errors"]] == ["format"]


async def test_an_empty_format_is_the_json_report(client, db):
    # An empty query parameter is an absent one (the contract writes its filters as ?kind=&q=).
    directive = await directive_for(db, ["06652"])
    response = await report(client, db, directive, format="")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["expected"] == 1
