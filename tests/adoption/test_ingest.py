"""POST /v1/adoption/events: what the app's backend (and a ward app) sees when it sends events."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from shared.timeutil import utcnow
from tests.adoption.builders import add_unit, event, fold, settled
from tests.builders import auth, create_key, create_unit

EVENTS = "/v1/adoption/events"


async def stored_events(app) -> int:
    async with app.state.pg.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM adoption.events")


async def figures(app, client, key) -> tuple[dict, list[dict]]:
    """The summary (without its as_of) and the unit rows, after folding what is pending."""
    await fold(app)
    await settled(app)
    summary = (await client.get("/v1/adoption/summary", headers=auth(key))).json()
    summary.pop("as_of")
    units = (await client.get("/v1/adoption/units", headers=auth(key))).json()
    return summary, units


@pytest.fixture
async def keys(adoption, db) -> dict[str, str]:
    await add_unit(adoption, "06652", headcount=10)
    await add_unit(adoption, "06653", headcount=10)
    return {"app": await create_key(db, "app_backend"), "office": await create_key(db, "office")}


async def test_valid_events_are_accepted_and_counted(adoption, adoption_client, keys):
    body = {"events": [event("0912345678"), event("0912345679"), event("0900000001", audience="citizen")]}
    response = await adoption_client.post(EVENTS, json=body, headers=auth(keys["app"]))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    summary, _ = await figures(adoption, adoption_client, keys["office"])
    assert (summary["staff_adopted"], summary["citizens_adopted"]) == (2, 1)


async def test_a_replayed_batch_is_all_duplicates_and_changes_no_figure(adoption, adoption_client, keys):
    batch = {
        "events": [
            event("0912345678", at="2020-02-18T09:00:00+07:00"),
            event("0912345679", at="2020-02-18T10:00:00+07:00", unit="06653"),
            event("0912345678", "uninstalled", at="2020-02-19T09:00:00+07:00"),
            event("0900000001", audience="citizen"),
        ]
    }
    first = await adoption_client.post(EVENTS, json=batch, headers=auth(keys["app"]))
    assert first.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    before = await figures(adoption, adoption_client, keys["office"])
    assert before[0]["staff_adopted"] == 1 and before[0]["citizens_adopted"] == 1

    replay = await adoption_client.post(EVENTS, json=batch, headers=auth(keys["app"]))
    assert replay.status_code == 202
    assert replay.json() == {"accepted": 0, "duplicates": 4, "rejected": []}
    assert await figures(adoption, adoption_client, keys["office"]) == before
    assert await stored_events(adoption) == 4
    # Not even the version moves: the screens' next poll is a 304.
    async with adoption.state.pg.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM adoption.batches") == 1


async def test_a_batch_of_known_and_new_events_stores_and_counts_the_new_ones(adoption, adoption_client, keys):
    known = [event("0912345678", at="2020-02-18T09:00:00+07:00"), event("0912345679", at="2020-02-18T10:00:00+07:00")]
    first = await adoption_client.post(EVENTS, json={"events": known}, headers=auth(keys["app"]))
    assert first.json()["accepted"] == 2
    again = {"events": [*known, event("0912345670", at="2020-02-19T09:00:00+07:00")]}
    second = await adoption_client.post(EVENTS, json=again, headers=auth(keys["app"]))
    assert second.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
    summary, _ = await figures(adoption, adoption_client, keys["office"])
    assert summary["staff_adopted"] == 3
    async with adoption.state.pg.acquire() as conn:
        assert [r["events"] for r in await conn.fetch("SELECT events FROM adoption.batches ORDER BY id")] == [2, 1]


async def test_the_same_event_twice_in_one_request_counts_once(adoption, adoption_client, keys):
    once = event("0912345678")
    body = {"events": [once, dict(once), event("0912345679")]}
    response = await adoption_client.post(EVENTS, json=body, headers=auth(keys["app"]))
    assert response.json() == {"accepted": 2, "duplicates": 1, "rejected": []}
    summary, _ = await figures(adoption, adoption_client, keys["office"])
    assert summary["staff_adopted"] == 2
    assert await stored_events(adoption) == 2


async def test_each_invalid_event_comes_back_with_its_index_and_the_valid_ones_are_taken(
    adoption, adoption_client, keys
):
    future = (utcnow() + timedelta(hours=2)).isoformat()
    no_subject = event("0911000007")
    del no_subject["subject"]
    body = {
        "events": [
            event("0911000000"),
            {**event("0911000001"), "audience": "robot"},
            {**event("0911000002"), "type": "opened"},
            event("0911000003", at="2020-02-20T09:15:00"),  # no offset
            {**event("0911000004"), "occurred_at": 1582165000},  # a number, not RFC 3339
            event("0911000005", at=future),
            event("0911000006", unit="99999"),  # no such unit
            no_subject,
            {**event("0911000008"), "device": "iPhone"},  # a field the contract does not name
            event("0911000009", unit="06653"),
        ]
    }
    response = await adoption_client.post(EVENTS, json=body, headers=auth(keys["app"], **{"Accept-Language": "en"}))
    assert response.status_code == 202, response.text
    result = response.json()
    assert (result["accepted"], result["duplicates"]) == (2, 0)
    fields = {r["index"]: [e["field"] for e in r["errors"]] for r in result["rejected"]}
    assert fields == {
        1: ["audience"],
        2: ["type"],
        3: ["occurred_at"],
        4: ["occurred_at"],
        5: ["occurred_at"],
        6: ["unit_code"],
        7: ["subject"],
        8: ["device"],
    }
    assert all(e["message"] for r in result["rejected"] for e in r["errors"])
    summary, units = await figures(adoption, adoption_client, keys["office"])
    assert summary["staff_adopted"] == 2
    assert {u["unit_code"]: u["staff_adopted"] for u in units} == {"06652": 1, "06653": 1}


async def test_no_valid_event_is_a_422_problem_with_the_rejected_events(adoption, adoption_client, keys):
    body = {"events": [{**event("0911000001"), "audience": "robot"}, event("0911000002", unit="99999")]}
    response = await adoption_client.post(EVENTS, json=body, headers=auth(keys["app"]))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert [(r["index"], r["errors"][0]["field"]) for r in problem["rejected"]] == [(0, "audience"), (1, "unit_code")]
    assert await stored_events(adoption) == 0


async def test_at_most_1000_events_a_request(adoption, adoption_client, keys):
    too_many = {"events": [event(f"09110{i:05d}") for i in range(1001)]}
    response = await adoption_client.post(EVENTS, json=too_many, headers=auth(keys["app"]))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await stored_events(adoption) == 0

    exactly = {"events": too_many["events"][:1000]}
    response = await adoption_client.post(EVENTS, json=exactly, headers=auth(keys["app"]))
    assert response.status_code == 202
    assert response.json()["accepted"] == 1000


async def test_a_body_over_1_mib_is_413(adoption, adoption_client, keys):
    body = json.dumps({"events": [event("0912345678")]}).encode() + b" " * (1024 * 1024)
    response = await adoption_client.post(
        EVENTS, content=body, headers=auth(keys["app"], **{"Content-Type": "application/json"})
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await stored_events(adoption) == 0


async def test_envelope_errors_are_422_problems(adoption, adoption_client, keys):
    bodies = {
        "no events": b"{}",
        "events a number": b'{"events": 3}',
        "events an object": b'{"events": {"0": {}}}',
        "not JSON": b"not json at all",
        "empty, and a field the contract does not name": b'{"events": [], "batch": 1}',
    }
    for case, body in bodies.items():
        response = await adoption_client.post(
            EVENTS, content=body, headers=auth(keys["app"], **{"Content-Type": "application/json"})
        )
        assert response.status_code == 422, case
        assert response.headers["content-type"].startswith("application/problem+json"), case
        assert response.json()["errors"], case
    assert await stored_events(adoption) == 0


async def test_roles(adoption, adoption_client, db, keys):
    both_units = {"events": [event("0912000001"), event("0912000002", unit="06653")]}
    response = await adoption_client.post(EVENTS, json=both_units, headers=auth(keys["app"]))
    assert response.status_code == 202 and response.json()["accepted"] == 2

    await create_unit(db, "06652")
    await create_unit(db, "06653")
    ward = await create_key(db, "ward_app", unit="06652")
    own = await adoption_client.post(EVENTS, json={"events": [event("0912000003")]}, headers=auth(ward))
    assert own.status_code == 202 and own.json()["accepted"] == 1
    other = {"events": [event("0912000004"), event("0912000005", unit="06653")]}
    response = await adoption_client.post(EVENTS, json=other, headers=auth(ward))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")

    ops = await create_key(db, "ops_centre")
    body = {"events": [event("0912000006")]}
    assert (await adoption_client.post(EVENTS, json=body, headers=auth(ops))).status_code == 403
    assert (await adoption_client.post(EVENTS, json=body)).status_code == 401
    assert (await adoption_client.post(EVENTS, json=body, headers=auth("not-a-key"))).status_code == 401
    assert await stored_events(adoption) == 3


async def test_unit_codes_in_events_are_read_upper_case(adoption, adoption_client, db, keys):
    await add_unit(adoption, "HL-01", headcount=4)
    await create_unit(db, "HL-01")
    ward = await create_key(db, "ward_app", unit="HL-01")
    body = {"events": [event("0912000001", unit="hl-01"), event("0912000002", unit="Hl-01")]}
    response = await adoption_client.post(EVENTS, json=body, headers=auth(ward))
    assert response.status_code == 202 and response.json()["accepted"] == 2
    _, units = await figures(adoption, adoption_client, keys["office"])
    assert {u["unit_code"]: u["staff_adopted"] for u in units}["HL-01"] == 2


async def test_one_phone_written_two_ways_is_one_person(adoption, adoption_client, keys):
    body = {
        "events": [
            event("0912 345 678", at="2020-02-18T09:00:00+07:00"),
            event("+84912345678", "activated", at="2020-02-19T09:00:00+07:00"),
            event("0987.654.321", at="2020-02-18T09:00:00+07:00", unit="06653"),
            event("+84987654321", "uninstalled", at="2020-02-19T09:00:00+07:00", unit="06653"),
        ]
    }
    response = await adoption_client.post(EVENTS, json=body, headers=auth(keys["app"]))
    assert response.json()["accepted"] == 4
    _, units = await figures(adoption, adoption_client, keys["office"])
    # One person installed then activated (1, not 2); one person installed then uninstalled (0, not 1).
    assert {u["unit_code"]: u["staff_adopted"] for u in units} == {"06652": 1, "06653": 0}


async def test_one_batch_posted_three_times_at_once_is_stored_once(adoption, adoption_client, keys):
    """The app's backend retries while the first try is still in flight: one post takes the events,
    the others find them known (and count them as duplicates) whichever commits first."""
    batch = {"events": [event(f"09123000{i:02d}") for i in range(20)] + [event("0900000002", audience="citizen")]}
    answers = await asyncio.gather(
        *(adoption_client.post(EVENTS, json=batch, headers=auth(keys["app"])) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert sorted(a.json()["accepted"] for a in answers) == [0, 0, 21]
    assert sorted(a.json()["duplicates"] for a in answers) == [0, 21, 21]
    assert await stored_events(adoption) == 21
    summary, _ = await figures(adoption, adoption_client, keys["office"])
    assert (summary["staff_adopted"], summary["citizens_adopted"]) == (20, 1)


async def test_the_person_key_of_new_events_is_the_one_migration_a0003_computed_for_old_ones(
    adoption, adoption_client, keys
):
    """Events stored before migration a0003 got their person key from SQL, new ones from Python: the
    two must agree, or an old install and a new uninstall of one person would count as two people."""
    from importlib import import_module

    a0003 = import_module("services.adoption.migrations.versions.2026-11-30_adoption_person_key_xor")
    body = {"events": [event("0912 345 678"), event("Tai-Khoan-7", unit="06653", audience="citizen")]}
    assert (await adoption_client.post(EVENTS, json=body, headers=auth(keys["app"]))).json()["accepted"] == 2
    async with adoption.state.pg.acquire() as conn:
        rows = await conn.fetch(f"SELECT person, {a0003.PERSON} AS in_sql FROM adoption.events")  # noqa: S608
    assert len(rows) == 2
    assert all(r["person"] == r["in_sql"] for r in rows)
