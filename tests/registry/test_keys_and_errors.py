"""Contract tests of API keys, problem+json errors, limits, health/docs endpoints, and the ``ioc`` CLI."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from services.api.models import Unit, UnitChange
from shared.auth import ApiKey
from tests.builders import auth, create_key, create_unit
from tests.support.cli import ioc

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    assert "Traceback" not in response.text and "SELECT" not in response.text
    return body


async def count(db, model) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(model))


# --- keys over HTTP ------------------------------------------------------------------------------


async def test_office_creates_a_key_that_works_at_once(client, db):
    office = auth(await create_key(db, "office"))
    response = await client.post("/v1/keys", json={"name": "Màn hình IOC", "role": "ops_centre"}, headers=office)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["role"] == "ops_centre" and created["unit_code"] is None
    assert created["key"].startswith(created["key_hint"])
    assert (await client.get("/v1/units", headers=auth(created["key"]))).status_code == 200
    async with db() as session:  # only a hash is stored
        stored = await session.scalar(select(ApiKey).where(ApiKey.name == "Màn hình IOC"))
        assert created["key"].encode() not in stored.key_hash


async def test_key_list_shows_no_secrets(client, db):
    office_key = await create_key(db, "office")
    await create_unit(db, "06652")
    ward_key = await create_key(db, "ward_app", unit="06652")
    response = await client.get("/v1/keys", headers=auth(office_key))
    assert response.status_code == 200, response.text
    keys = response.json()
    assert sorted(k["role"] for k in keys) == ["office", "ward_app"]
    assert all("key" not in k for k in keys)
    assert office_key not in response.text and ward_key not in response.text
    assert [k["unit_code"] for k in keys if k["role"] == "ward_app"] == ["06652"]


async def test_revoked_key_is_refused_at_once(client, db):
    office = auth(await create_key(db, "office"))
    victim = (await client.post("/v1/keys", json={"name": "cũ", "role": "ops_centre"}, headers=office)).json()
    assert (await client.get("/v1/units", headers=auth(victim["key"]))).status_code == 200

    revoked = await client.post(f"/v1/keys/{victim['id']}/revoke", headers=office)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"].endswith("+07:00")
    assert_problem(await client.get("/v1/units", headers=auth(victim["key"])), 401)
    listed = {k["id"]: k for k in (await client.get("/v1/keys", headers=office)).json()}
    assert listed[victim["id"]]["revoked_at"] is not None


async def test_only_office_manages_keys(client, db):
    await create_unit(db, "06652")
    for key in (await create_key(db, "ops_centre"), await create_key(db, "ward_app", unit="06652")):
        assert_problem(await client.get("/v1/keys", headers=auth(key)), 403)
        assert_problem(await client.post("/v1/keys", json={"name": "x", "role": "office"}, headers=auth(key)), 403)
    assert await count(db, ApiKey) == 2


async def test_ward_app_key_for_an_unknown_unit_is_422(client, db):
    office = auth(await create_key(db, "office"))
    body = {"name": "Phường ma", "role": "ward_app", "unit_code": "09999"}
    problem = assert_problem(await client.post("/v1/keys", json=body, headers=office), 422)
    assert [e["field"] for e in problem["errors"]] == ["unit_code"]
    assert "09999" in problem["errors"][0]["message"]
    assert await count(db, ApiKey) == 1


@pytest.mark.parametrize(
    "body", [{"role": "ward_app"}, {"role": "ops_centre", "unit_code": "06652"}], ids=["missing", "forbidden"]
)
async def test_ward_app_key_requires_a_unit_and_others_refuse_one(client, db, body):
    await create_unit(db, "06652")
    office = auth(await create_key(db, "office"))
    problem = assert_problem(await client.post("/v1/keys", json={"name": "x", **body}, headers=office), 422)
    assert [e["field"] for e in problem["errors"]] == ["unit_code"]
    assert await count(db, ApiKey) == 1


@pytest.mark.parametrize(
    "body", [{"role": "ward_app"}, {"role": "ops_centre", "unit_code": "06652"}], ids=["missing", "forbidden"]
)
async def test_role_and_unit_mismatch_is_refused_with_a_message(client, db, body):
    await create_unit(db, "06652")
    office = auth(await create_key(db, "office"))
    problem = assert_problem(await client.post("/v1/keys", json={"name": "x", **body}, headers=office), 422)
    assert any("ward_app" in e["message"] for e in problem["errors"])
    assert await count(db, ApiKey) == 1


# --- problem+json and languages ------------------------------------------------------------------


async def invalid_unit(client, db, **headers: str) -> dict:
    office = await create_key(db, "office")
    body = {"code": "06652", "name": "Phường Hà Phong", "kind": "village"}
    return assert_problem(await client.post("/v1/units", json=body, headers=auth(office, **headers)), 422)


async def test_validation_problem_is_vietnamese_by_default(client, db):
    problem = await invalid_unit(client, db)
    assert problem["type"].endswith("validation-error")
    assert problem["title"] == "Dữ liệu không hợp lệ"
    assert problem["detail"] == "Một số trường không hợp lệ."
    [error] = problem["errors"]
    assert error["field"] == "kind" and error["message"].startswith("Phải là một trong")
    assert await count(db, Unit) == 0


@pytest.mark.parametrize("header", ["en", "en-US,en;q=0.9", "vi;q=0.3,en-GB;q=0.8", "fr,en;q=0.5"])
async def test_problem_is_english_when_english_is_preferred(client, db, header):
    problem = await invalid_unit(client, db, **{"Accept-Language": header})
    assert problem["title"] == "Invalid request"
    assert problem["errors"][0]["message"].startswith("Must be one of")


@pytest.mark.parametrize("header", ["vi", "vi,en;q=0.5", "vi-VN,vi;q=0.9,en;q=0.8", "fr", "en;q=0"])
async def test_problem_stays_vietnamese_otherwise(client, db, header):
    problem = await invalid_unit(client, db, **{"Accept-Language": header})
    assert problem["title"] == "Dữ liệu không hợp lệ"


async def test_401_and_403_speak_the_clients_language(client, db):
    english = {"Accept-Language": "en-US,en;q=0.9"}
    unauthorized = assert_problem(await client.get("/v1/units", headers=english), 401)
    assert unauthorized["title"] == "Unauthorized"
    vietnamese = assert_problem(await client.get("/v1/units"), 401)
    assert vietnamese["title"] == "Chưa xác thực"
    ops = await create_key(db, "ops_centre")
    forbidden = assert_problem(await client.post("/v1/units", json={}, headers=auth(ops, **english)), 403)
    assert "ops_centre" in forbidden["detail"]


async def test_unknown_route_and_method_are_problems(client, db):
    office = auth(await create_key(db, "office"))
    assert_problem(await client.get("/v1/nothing-here", headers=office), 404)
    assert_problem(await client.get("/nothing"), 404)
    assert_problem(await client.delete("/v1/units", headers=office), 405)


async def test_malformed_json_is_422_problem(client, db):
    office = await create_key(db, "office")
    headers = auth(office, **{"Content-Type": "application/json"})
    problem = assert_problem(await client.post("/v1/units", content=b'{"code": "06652",', headers=headers), 422)
    assert problem["errors"]
    assert await count(db, Unit) == 0


# --- limits --------------------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(client, db):
    office = auth(await create_key(db, "office"))
    made = await client.post(
        "/v1/keys", json={"name": "chậm", "role": "ops_centre", "rate_limit_per_minute": 2}, headers=office
    )
    limited = auth(made.json()["key"])
    assert (await client.get("/v1/units", headers=limited)).status_code == 200
    assert (await client.get("/v1/units", headers=limited)).status_code == 200
    refused = await client.get("/v1/units", headers=limited)
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    # the limit is the key's own: other keys still pass
    assert (await client.get("/v1/units", headers=office)).status_code == 200


def oversized_unit() -> dict[str, object]:
    return {"code": "06652", "name": "Phường Hà Phong", "kind": "ward", "padding": "x" * (1024 * 1024)}


async def test_body_over_one_mib_is_413_and_stores_nothing(client, db):
    office = await create_key(db, "office")
    response = await client.post("/v1/units", json=oversized_unit(), headers=auth(office))
    assert_problem(response, 413)
    assert await count(db, Unit) == 0


async def test_streamed_body_over_one_mib_is_413(client, db):
    office = await create_key(db, "office")

    async def chunks():
        yield b'{"code": "06652", "name": "P", "kind": "ward", "padding": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    headers = auth(office, **{"Content-Type": "application/json"})
    response = await client.post("/v1/units", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert await count(db, Unit) == 0


async def test_body_just_under_the_limit_is_read(client, db):
    office = await create_key(db, "office")
    body = b'{"code": "06652", "name": "P", "kind": "ward", "x": "' + b"x" * (1024 * 1024 - 100) + b'"}'
    assert len(body) <= 1024 * 1024
    headers = auth(office, **{"Content-Type": "application/json"})
    response = await client.post("/v1/units", content=body, headers=headers)
    assert response.status_code == 422  # read and validated: the unknown field "x" is refused
    assert [e["field"] for e in response.json()["errors"]] == ["x"]


# --- endpoints without auth ----------------------------------------------------------------------


async def test_health_readiness_and_docs_need_no_key(client):
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/v1/units", "/v1/units/{code}", "/v1/directives", "/v1/registrations", "/v1/keys"):
        assert path in paths
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]


# --- the ioc command line ------------------------------------------------------------------------


async def test_cli_creates_lists_and_revokes_keys(client, registry_settings, tmp_path):
    made = await ioc(registry_settings, tmp_path, "keys", "create", "--role", "office", "--name", "Văn phòng")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert (await client.get("/v1/units", headers=auth(secret))).status_code == 200

    listed = await ioc(registry_settings, tmp_path, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout
    [row] = [line for line in listed.stdout.splitlines() if "Văn phòng" in line]
    key_id = row.split()[0]

    revoked = await ioc(registry_settings, tmp_path, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert_problem(await client.get("/v1/units", headers=auth(secret)), 401)


async def test_cli_refuses_a_ward_app_key_without_unit(registry_settings, tmp_path, db):
    made = await ioc(registry_settings, tmp_path, "keys", "create", "--role", "ward_app", "--name", "x")
    assert made.returncode != 0
    assert await count(db, ApiKey) == 0


GSO_CSV = """province_code,province_name,district_code,district_name,district_type,ward_code,ward_name,ward_type
22,Tỉnh Quảng Ninh,193,Thành phố Hạ Long,Thành phố,06649,Phường Hà Khánh,Phường
22,Tỉnh Quảng Ninh,193,Thành phố Hạ Long,Thành phố,06652,Phường Hà Phong,Phường
22,Tỉnh Quảng Ninh,193,Thành phố Hạ Long,Thành phố,06709,Xã Thống Nhất,Xã
"""


async def test_cli_imports_the_gso_list_once(client, db, registry_settings, tmp_path):
    await create_unit(db, "193", name="Thành phố Hạ Long", kind="city")
    csv_file = tmp_path / "gso.csv"
    csv_file.write_text(GSO_CSV, encoding="utf-8-sig")

    first = await ioc(registry_settings, tmp_path, "units", "import", str(csv_file))
    assert first.returncode == 0, first.stderr
    assert "created 3" in first.stdout and "rejected 0" in first.stdout
    office = auth(await create_key(db, "office"))
    units = (await client.get("/v1/units?parent_code=193", headers=office)).json()
    assert {u["code"]: (u["name"], u["kind"]) for u in units} == {
        "06649": ("Phường Hà Khánh", "ward"),
        "06652": ("Phường Hà Phong", "ward"),
        "06709": ("Xã Thống Nhất", "commune"),
    }
    changes = await count(db, UnitChange)

    second = await ioc(registry_settings, tmp_path, "units", "import", str(csv_file))
    assert second.returncode == 0, second.stderr
    assert "created 0" in second.stdout and "updated 0" in second.stdout and "unchanged 3" in second.stdout
    assert await count(db, Unit) == 4
    assert await count(db, UnitChange) == changes


# --- what the documents say, the service does (found by tests/contract/test_fuzzing.py) -------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/units/06652", "GET, PATCH"),
        ("DELETE", "/v1/units", "GET, POST"),
        ("PUT", "/v1/keys", "GET, POST"),
    ],
)
async def test_405_names_every_method_of_the_path(client, db, method, path, allowed):
    # Starlette names only the first route's methods: GET where PATCH is allowed too.
    response = await client.request(method, path, headers=auth(await create_key(db, "office")))
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_415(client, db, content_type):
    headers = auth(await create_key(db, "office"))
    if content_type:
        headers["Content-Type"] = content_type
    body = json.dumps({"code": "06652", "name": "Phường Hà Phong", "kind": "ward"})
    response = await client.post("/v1/units", content=body, headers=headers)
    assert response.status_code == 415  # not a 422 saying the body must be an object
    assert response.json()["type"] == "/problems/unsupported-media-type"


async def test_a_body_that_is_not_utf8_is_422_not_a_400_internal_error(client, db):
    headers = auth(await create_key(db, "office"), **{"Content-Type": "application/json"})
    response = await client.post("/v1/units", content=b'{"code": "\xff"}', headers=headers)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("body", "json_invalid")]


async def test_field_errors_carry_a_stable_code_beside_the_message(client, db):
    body = {"name": "x", "role": "ward_app", "rate_limit_per_minute": 0}
    response = await client.post("/v1/keys", json=body, headers=auth(await create_key(db, "office")))
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("unit_code", "role_needs_unit"),
        ("rate_limit_per_minute", "greater_than_equal"),
    }


@pytest.mark.parametrize(("key", "status"), [("k" * 255, 201), ("k" * 256, 422), ("a\u00adb", 422), (" ", 422)])
async def test_an_idempotency_key_is_as_its_pattern_says(client, db, key, status):
    headers = auth(await create_key(db, "office"), **{"Idempotency-Key": key})
    body = {"name": "Ứng dụng", "role": "ops_centre"}
    response = await client.post("/v1/keys", json=body, headers={k: v.encode("latin-1") for k, v in headers.items()})
    assert response.status_code == status, response.text


async def test_the_allowed_values_are_named_in_the_messages_own_language(client, db):
    key = await create_key(db)
    unit = {"code": "HL-X", "name": "Phòng X", "kind": "ministry"}
    vietnamese = (await client.post("/v1/units", json=unit, headers=auth(key))).json()["errors"][0]["message"]
    assert vietnamese == "Phải là một trong: department, agency, ward, commune, town, city, province."
    english = await client.post("/v1/units", json=unit, headers=auth(key, **{"Accept-Language": "en"}))
    assert (
        english.json()["errors"][0]["message"]
        == "Must be one of: department, agency, ward, commune, town, city, province."
    )


async def test_every_request_is_counted_once_in_its_series(client, db):
    office = await create_key(db, "office")

    async def series() -> dict[tuple[str, str], float]:
        text = (await client.get("/metrics", headers=auth(office))).text
        found = {}
        for name, labels, value in re.findall(r"^(ioc_http_request\w+)\{([^}]*)\} (\S+)$", text, re.M):
            if 'service="registry"' in labels and 'route="/v1/units"' in labels and 'le="' not in labels:
                found[(name, labels)] = float(value)
        return found

    before = await series()
    for _ in range(3):
        assert (await client.get("/v1/units", headers=auth(office))).status_code == 200
    assert (await client.post("/v1/units", json={}, headers=auth(office))).status_code == 422
    after = await series()
    grown = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}
    counts = {(name, labels): n for (name, labels), n in grown.items() if name.endswith(("_total", "_count"))}
    assert counts == {
        ("ioc_http_requests_total", 'method="GET",route="/v1/units",service="registry",status="200"'): 3,
        ("ioc_http_requests_total", 'method="POST",route="/v1/units",service="registry",status="422"'): 1,
        ("ioc_http_request_duration_seconds_count", 'method="GET",route="/v1/units",service="registry"'): 3,
        ("ioc_http_request_duration_seconds_count", 'method="POST",route="/v1/units",service="registry"'): 1,
    }
