"""How events become figures: timelines, late events, folding twice, rates, self-reports, sorting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.adoption.subjects import person_key
from services.adoption.worker import build_worker
from shared.timeutil import utcnow
from tests.adoption.builders import add_unit, event, fold, settled
from tests.builders import auth, create_key, create_unit
from tests.support.workers import running


@pytest.fixture
async def keys(adoption, db) -> dict[str, str]:
    return {"app": await create_key(db, "app_backend"), "office": await create_key(db, "office")}


async def post(client, key: str, *events: dict) -> None:
    response = await client.post("/v1/adoption/events", json={"events": list(events)}, headers=auth(key))
    assert response.status_code == 202 and not response.json()["rejected"], response.text


async def get(app, client, key: str, url: str):
    await settled(app)
    response = await client.get(url, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


async def units(app, client, key: str, query: str = "") -> dict[str, dict]:
    return {r["unit_code"]: r for r in await get(app, client, key, f"/v1/adoption/units{query}")}


async def staff_series(app, client, key: str, unit: str, start: str, end: str) -> list[int]:
    url = f"/v1/adoption/timeseries?unit_code={unit}&from={start}&to={end}"
    return [p["staff_adopted"] for p in (await get(app, client, key, url))["points"]]


async def test_uninstall_then_reinstall_counts_once_with_a_dip_on_the_right_day(adoption, adoption_client, keys):
    await add_unit(adoption, "06652", headcount=10)
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at="2020-02-18T09:00:00+07:00"),
        event("0912000001", "uninstalled", at="2020-02-19T23:30:00+07:00"),
        event("0912000001", at="2020-02-21T08:00:00+07:00"),
        event("0912000002", at="2020-02-18T10:00:00+07:00"),
    )
    await fold(adoption)
    assert (await units(adoption, adoption_client, keys["office"]))["06652"]["staff_adopted"] == 2
    series = await staff_series(adoption, adoption_client, keys["office"], "06652", "2020-02-17", "2020-02-22")
    assert series == [0, 2, 1, 1, 2, 2]


async def test_installed_then_activated_counts_once(adoption, adoption_client, keys):
    await add_unit(adoption, "06652", headcount=10)
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-18T09:00:00+07:00"))
    await fold(adoption)
    await post(adoption_client, keys["app"], event("0912000001", "activated", at="2020-02-19T09:00:00+07:00"))
    await fold(adoption)
    assert (await units(adoption, adoption_client, keys["office"]))["06652"]["staff_adopted"] == 1
    series = await staff_series(adoption, adoption_client, keys["office"], "06652", "2020-02-17", "2020-02-20")
    assert series == [0, 1, 1, 1]


def story(unit: str) -> dict[str, dict]:
    """P installs, uninstalls, reinstalls; Q installs and uninstalls; R's uninstall predates its install."""
    return {
        "p1": event("0912000001", at="2020-02-10T09:00:00+07:00", unit=unit),
        "p2": event("0912000001", "uninstalled", at="2020-02-15T09:00:00+07:00", unit=unit),
        "p3": event("0912000001", at="2020-02-20T09:00:00+07:00", unit=unit),
        "q1": event("0912000002", at="2020-02-12T09:00:00+07:00", unit=unit),
        "q2": event("0912000002", "uninstalled", at="2020-02-16T09:00:00+07:00", unit=unit),
        "r1": event("0912000003", "uninstalled", at="2020-02-11T09:00:00+07:00", unit=unit),
        "r2": event("0912000003", at="2020-02-14T09:00:00+07:00", unit=unit),
    }


async def test_late_events_give_the_same_figures_as_events_in_order(adoption, adoption_client, keys):
    await add_unit(adoption, "IN-ORDER", headcount=10)
    await add_unit(adoption, "LATE", headcount=10)
    in_order, late = story("IN-ORDER"), story("LATE")
    for name in ("p1", "r1", "q1", "r2", "p2", "q2", "p3"):  # one batch per event, in time order
        await post(adoption_client, keys["app"], in_order[name])
        await fold(adoption)
    # The reinstall and R's install are folded first; the uninstalls that happened before them come later.
    await post(adoption_client, keys["app"], late["p1"], late["p3"], late["q1"], late["r2"])
    await fold(adoption)
    await post(adoption_client, keys["app"], late["q2"], late["p2"])
    await fold(adoption)
    await post(adoption_client, keys["app"], late["r1"])
    await fold(adoption)

    rows = await units(adoption, adoption_client, keys["office"])
    expected = [0, 1, 1, 2, 2, 3, 2, 1, 1, 1, 1, 2, 2]  # 9 Feb … 21 Feb
    for code in ("IN-ORDER", "LATE"):
        assert (
            await staff_series(adoption, adoption_client, keys["office"], code, "2020-02-09", "2020-02-21") == expected
        )
        assert rows[code]["staff_adopted"] == 2
        assert rows[code]["last_event_at"] == "2020-02-20T09:00:00+07:00"


async def test_folding_twice_or_concurrently_counts_each_event_once(adoption, adoption_client, keys):
    await add_unit(adoption, "06652", headcount=10)
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-18T09:00:00+07:00"))
    await post(adoption_client, keys["app"], event("0912000002", at="2020-02-19T09:00:00+07:00"))
    await post(adoption_client, keys["app"], event("0912000001", "uninstalled", at="2020-02-20T09:00:00+07:00"))
    assert sum(await asyncio.gather(fold(adoption), fold(adoption))) == 3

    async def aggregates():
        async with adoption.state.pg.acquire() as conn:
            daily = await conn.fetch("SELECT * FROM adoption.daily ORDER BY unit_code, audience, day")
            stats = await conn.fetch("SELECT * FROM adoption.unit_stats ORDER BY unit_code, audience")
        return [tuple(r) for r in daily], [tuple(r) for r in stats]

    before = await aggregates()
    assert await fold(adoption) == 0
    assert await aggregates() == before
    assert (await units(adoption, adoption_client, keys["office"]))["06652"]["staff_adopted"] == 1
    series = await staff_series(adoption, adoption_client, keys["office"], "06652", "2020-02-18", "2020-02-20")
    assert series == [1, 2, 1]


@pytest.mark.parametrize(
    ("install_id", "uninstall_id", "series"),
    [("t2", "t1", [1, 1]), ("t1", "t2", [0, 1])],
    ids=["install-later", "uninstall-later"],
)
async def test_events_at_the_same_instant_are_ordered_by_event_id_in_every_later_fold(
    adoption, adoption_client, keys, install_id, uninstall_id, series
):
    """An uninstall and an install at the same second: the one with the greater event id is the later,
    also for the folds that come after (their person's latest state is read back)."""
    await add_unit(adoption, "06652", headcount=10)
    same = "2020-02-18T09:00:00+07:00"
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at=same, event_id=install_id),
        event("0912000001", "uninstalled", at=same, event_id=uninstall_id),
    )
    await fold(adoption)
    await post(adoption_client, keys["app"], event("0912000001", "activated", at="2020-02-19T09:00:00+07:00"))
    await fold(adoption)

    assert (await units(adoption, adoption_client, keys["office"]))["06652"]["staff_adopted"] == 1
    assert await staff_series(adoption, adoption_client, keys["office"], "06652", "2020-02-18", "2020-02-19") == series


async def test_two_people_whose_person_keys_collide_are_never_merged(adoption, adoption_client, keys):
    """The 64-bit person key could, in theory, be the same for two people; the fold tells them apart by
    the full identity (a collision is forced here by rewriting the second person's key)."""
    await add_unit(adoption, "06652", headcount=10)
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-18T09:00:00+07:00", event_id="a1"))
    await fold(adoption)
    await post(
        adoption_client,
        keys["app"],
        event("0912000002", at="2020-02-19T09:00:00+07:00", event_id="b1"),
        event("0912000002", "uninstalled", at="2020-02-20T09:00:00+07:00", event_id="b2"),
    )
    async with adoption.state.pg.acquire() as conn:
        await conn.execute(
            "UPDATE adoption.events SET person = (SELECT person FROM adoption.events WHERE event_id = 'a1')"
            " WHERE event_id IN ('b1', 'b2')"
        )
    await fold(adoption)
    # The first person is still adopted: their activation changes nothing, whatever the other one did.
    await post(adoption_client, keys["app"], event("0912000001", "activated", at="2020-02-21T09:00:00+07:00"))
    await fold(adoption)

    assert (await units(adoption, adoption_client, keys["office"]))["06652"]["staff_adopted"] == 1
    series = await staff_series(adoption, adoption_client, keys["office"], "06652", "2020-02-18", "2020-02-21")
    assert series == [1, 2, 1, 1]


async def test_a_batch_committed_after_a_later_one_was_folded_still_follows_it(adoption, adoption_client, keys):
    """A batch takes its id when its transaction begins and is folded once committed: a batch can be
    folded ahead of a lower one. The lower one's events are then folded against it all the same."""
    await add_unit(adoption, "06652", headcount=10)
    subject_hash = adoption.state.hasher("0912000001")
    async with adoption.state.pg.acquire() as slow, slow.transaction():
        batch = await slow.fetchval("INSERT INTO adoption.batches (events) VALUES (1) RETURNING id")
        await slow.execute(
            "INSERT INTO adoption.events (event_id, batch_id, unit_code, person, subject_hash, audience, type,"
            " occurred_at) VALUES ('late', $1, '06652', $2, $3, 'staff', 'uninstalled', '2020-02-20T09:00:00+07:00')",
            batch,
            person_key(subject_hash, "06652", "staff"),
            subject_hash,
        )
        # The install, posted meanwhile, gets a higher batch id and is folded first.
        await post(adoption_client, keys["app"], event("0912000001", at="2020-02-18T09:00:00+07:00"))
        await fold(adoption)
        assert (await units(adoption, adoption_client, keys["office"]))["06652"]["staff_adopted"] == 1
    await fold(adoption)

    assert (await units(adoption, adoption_client, keys["office"]))["06652"]["staff_adopted"] == 0
    series = await staff_series(adoption, adoption_client, keys["office"], "06652", "2020-02-17", "2020-02-21")
    assert series == [0, 1, 1, 0, 0]


async def test_the_worker_folds_a_batch_as_soon_as_it_is_committed(adoption, adoption_client, adoption_settings, keys):
    await add_unit(adoption, "06652", headcount=10)
    # Its timer is far away: only the NOTIFY of a committed batch can wake it in time.
    worker = build_worker(adoption_settings.model_copy(update={"aggregate_poll_seconds": 120}), poll_delay=0.05)

    async def pending() -> int:
        async with adoption.state.pg.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM adoption.batches WHERE aggregated_at IS NULL")

    await post(adoption_client, keys["app"], event("0912000001"))
    async with running(worker):
        async with asyncio.timeout(10):
            while await pending():  # folded once the worker listens (it folds what it may have missed)
                await asyncio.sleep(0.02)
        await post(adoption_client, keys["app"], event("0912000002"), event("0900000003", audience="citizen"))
        async with asyncio.timeout(10):
            while await pending():
                await asyncio.sleep(0.02)
    row = (await units(adoption, adoption_client, keys["office"]))["06652"]
    assert (row["staff_adopted"], row["citizens_adopted"]) == (2, 1)


async def test_rates_without_headcount_and_with_a_headcount_set_here(adoption, adoption_client, keys):
    await add_unit(adoption, "ZERO", headcount=0)
    await add_unit(adoption, "NONE")
    await add_unit(adoption, "REG", headcount=10)
    await post(
        adoption_client,
        keys["app"],
        *(event(f"091200000{i}", unit=code) for code in ("ZERO", "NONE", "REG") for i in (1, 2)),
    )
    await fold(adoption)
    rows = await units(adoption, adoption_client, keys["office"])
    for code in ("ZERO", "NONE"):
        assert rows[code]["staff_rate"] is None and rows[code]["staff_adopted"] == 2
        assert rows[code]["at_target"] is None
    assert rows["REG"]["staff_rate"] == 0.2
    summary = await get(adoption, adoption_client, keys["office"], "/v1/adoption/summary")
    assert (summary["units_without_headcount"], summary["units_at_target"], summary["units_lagging"]) == (2, 0, 1)
    assert (summary["staff_total"], summary["staff_adopted"], summary["staff_rate"]) == (10, 2, 0.2)

    for code, staff in (("REG", 4), ("ZERO", 2)):
        response = await adoption_client.put(
            f"/v1/adoption/units/{code}/headcount",
            json={"staff": staff, "as_of": "2020-02-20"},
            headers=auth(keys["office"]),
        )
        assert response.status_code == 200, response.text
    rows = await units(adoption, adoption_client, keys["office"])
    assert (rows["REG"]["staff_total"], rows["REG"]["staff_rate"], rows["REG"]["at_target"]) == (4, 0.5, False)
    assert (rows["ZERO"]["staff_total"], rows["ZERO"]["staff_rate"], rows["ZERO"]["at_target"]) == (2, 1.0, True)
    summary = await get(adoption, adoption_client, keys["office"], "/v1/adoption/summary")
    assert (summary["units_without_headcount"], summary["units_at_target"], summary["units_lagging"]) == (1, 1, 1)
    assert (summary["staff_total"], summary["staff_adopted"], summary["staff_rate"]) == (6, 4, 0.6667)


async def test_self_reported_and_measured_units(adoption, adoption_client, db, keys):
    await add_unit(adoption, "06652", headcount=10)
    await add_unit(adoption, "06653")
    await add_unit(adoption, "06654")
    await post(adoption_client, keys["app"], event("0912000001"), event("0912000002", audience="citizen"))
    await fold(adoption)
    await create_unit(db, "06653")
    ward = await create_key(db, "ward_app", unit="06653")
    report = {
        "unit_code": "06653",
        "as_of": "2020-02-20",
        "staff_total": 20,
        "staff_installed": 15,
        "citizens_guided": 40,
    }
    response = await adoption_client.post("/v1/adoption/reports", json=report, headers=auth(ward))
    assert response.status_code == 201, response.text
    too_many = {**report, "as_of": "2020-02-21", "staff_installed": 21}
    response = await adoption_client.post("/v1/adoption/reports", json=too_many, headers=auth(keys["office"]))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")

    rows = await units(adoption, adoption_client, keys["office"])
    assert rows["06652"]["source"] == "measured"
    assert (rows["06652"]["staff_adopted"], rows["06652"]["citizens_adopted"]) == (1, 1)
    reported = rows["06653"]
    assert reported["source"] == "self_reported" and reported["reported_as_of"] == "2020-02-20"
    assert (reported["staff_total"], reported["staff_adopted"], reported["citizens_adopted"]) == (20, 15, 40)
    assert reported["staff_rate"] == 0.75
    assert rows["06654"]["source"] == "none"
    summary = await get(adoption, adoption_client, keys["office"], "/v1/adoption/summary")
    assert (summary["units_measured"], summary["units_self_reported"]) == (1, 1)
    assert (summary["staff_total"], summary["staff_adopted"], summary["citizens_adopted"]) == (30, 16, 41)


async def test_units_sorted_with_nulls_last_and_filtered_by_kind(adoption, adoption_client, keys):
    for code, headcount in (("A", 8), ("B", 4), ("C", None), ("D", 8)):
        await add_unit(adoption, code, headcount=headcount)
    await add_unit(adoption, "HL-VP", kind="department", headcount=10)
    adopted = {"A": 2, "B": 3, "C": 1, "D": 4, "HL-VP": 5}  # rates .25, .75, null, .5, .5
    await post(
        adoption_client,
        keys["app"],
        *(event(f"09120000{i:02d}", unit=code) for code, n in adopted.items() for i in range(n)),
    )
    await fold(adoption)

    async def order(query: str) -> list[str]:
        return list(await units(adoption, adoption_client, keys["office"], query))

    assert await order("?sort=staff_rate&order=asc&kind=ward") == ["A", "D", "B", "C"]
    assert await order("?sort=staff_rate&order=desc&kind=ward") == ["B", "D", "A", "C"]
    assert await order("?kind=department") == ["HL-VP"]
    assert await order("?sort=staff_adopted&order=desc") == ["HL-VP", "D", "B", "A", "C"]
    response = await adoption_client.get("/v1/adoption/units?sort=colour", headers=auth(keys["office"]))
    assert response.status_code == 422


async def test_change_7d_counts_the_last_weeks_net_change(adoption, adoption_client, keys):
    await add_unit(adoption, "06652", headcount=10)
    now = utcnow()
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at=now - timedelta(days=20)),
        event("0912000002", at=now - timedelta(days=3)),
        event("0912000003", at=now - timedelta(days=2)),
        event("0912000001", "uninstalled", at=now - timedelta(days=1)),
        event("0912000004", at=now - timedelta(days=12)),
        event("0900000005", at=now - timedelta(days=1), audience="citizen"),
    )
    await fold(adoption)
    row = (await units(adoption, adoption_client, keys["office"]))["06652"]
    assert (row["staff_adopted"], row["change_7d"]) == (3, 1)
