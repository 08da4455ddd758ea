"""The adoption service does what its OpenAPI document says (found by tests/contract/test_fuzzing.py):
JSON integers, RFC 3339 times and dates within 1900-2199, unit codes by their pattern, and rules
that a schema cannot state named by their code."""

from __future__ import annotations

import pytest

from tests.adoption.builders import add_unit, event, fold
from tests.builders import auth, create_key

EVENTS = "/v1/adoption/events"
SERIES = "/v1/adoption/timeseries"


@pytest.fixture
async def office(adoption, db) -> dict[str, str]:
    await add_unit(adoption, "06652", headcount=10)
    return auth(await create_key(db, "office"))


def codes(response) -> list[tuple[str, str]]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


@pytest.mark.parametrize(("staff", "status"), [(45, 200), (45.0, 200), (45.5, 422), ("45", 422), (True, 422)])
async def test_a_headcount_is_a_json_integer(adoption_client, office, staff, status):
    body = {"staff": staff, "as_of": "2020-02-20"}
    response = await adoption_client.put("/v1/adoption/units/06652/headcount", json=body, headers=office)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["staff"] == 45


async def test_installed_above_the_total_names_its_rule(adoption_client, office):
    body = {"unit_code": "06652", "as_of": "2020-02-20", "staff_total": 20, "staff_installed": 21, "citizens_guided": 0}
    response = await adoption_client.post("/v1/adoption/reports", json=body, headers=office)
    assert response.status_code == 422
    assert codes(response) == [("staff_installed", "installed_above_total")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from=2020-02-20&to=2020-02-19", [("to", "range_reversed")]),
        ("from=2018-01-01&to=2020-01-02", [("to", "range_too_long")]),
        ("from=0001-01-01&to=0001-01-02", [("from", "year_out_of_range"), ("to", "year_out_of_range")]),
        ("unit_code=06652%00", [("unit_code", "unit_code_invalid")]),
    ],
)
async def test_a_bad_range_or_code_is_422_with_its_code(adoption_client, office, query, expected):
    response = await adoption_client.get(f"{SERIES}?{query}", headers=office)
    assert response.status_code == 422
    assert codes(response) == expected


async def test_a_headcount_for_a_code_outside_the_pattern_is_422(adoption_client, office):
    response = await adoption_client.put(
        "/v1/adoption/units/06652%00/headcount", json={"staff": 1, "as_of": "2020-02-20"}, headers=office
    )
    assert response.status_code == 422
    assert codes(response) == [("code", "unit_code_invalid")]


@pytest.mark.parametrize(
    ("occurred_at", "code"),
    [
        ("2020-02-20 09:15:00+07:00", "datetime_parsing"),  # a space for T: msgspec's decoding took it
        ("2020-02-20T09:15:00+0700", "datetime_parsing"),  # an offset without its colon: the same
        ("0001-01-01T00:00:00+07:00", "year_out_of_range"),  # before year 1 in UTC
    ],
)
async def test_an_event_time_is_rfc_3339_within_1900_to_2199(adoption_client, office, occurred_at, code):
    body = {"events": [event("0912345678", at=occurred_at), event("0912345679")]}
    response = await adoption_client.post(EVENTS, json=body, headers=office)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1
    assert [(r["index"], [(e["field"], e["code"]) for e in r["errors"]]) for r in response.json()["rejected"]] == [
        (0, [("occurred_at", code)])
    ]


async def test_an_event_before_year_1_in_utc_does_not_break_the_metrics(adoption, adoption_client, office):
    # Its time, in UTC, is before year 1, which Python cannot hold: once folded, every read of the
    # metrics would fail on it.
    body = {"events": [event("0912345678", at="0001-01-01T00:00:00+07:00")]}
    assert (await adoption_client.post(EVENTS, json=body, headers=office)).status_code == 422
    await fold(adoption)
    for url in ("/v1/adoption/units", "/v1/adoption/summary"):
        assert (await adoption_client.get(url, headers=office)).status_code == 200


async def test_events_that_are_not_json_are_415(adoption_client, office):
    body = b'{"events": []}'
    response = await adoption_client.post(EVENTS, content=body, headers={**office, "Content-Type": "text/plain"})
    assert response.status_code == 415


async def test_no_valid_event_names_each_events_rule(adoption_client, office):
    body = {"events": [event("0912345678", unit="09999")]}
    response = await adoption_client.post(EVENTS, json=body, headers=office)
    assert response.status_code == 422
    assert [[e["code"] for e in r["errors"]] for r in response.json()["rejected"]] == [["unit_codes_unknown"]]
