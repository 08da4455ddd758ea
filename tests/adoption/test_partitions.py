"""Events partitioned by month: partitions made ahead, events of months without one still stored and
folded, the retention dropping old months while the figures keep their history, and the migration
keeping the events stored before it."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from services.adoption.events.copy_stream import microseconds
from services.adoption.events.writer import EventWriter
from services.adoption.migrations import upgrade
from services.adoption.partitions import service as partitions
from services.adoption.partitions.repository import Month, monthly
from services.adoption.subjects import SubjectHasher, person_key
from services.adoption.worker import build_worker
from shared.db import asyncpg_dsn
from shared.timeutil import vietnam_today
from tests.adoption.builders import add_unit, event, fold, settled
from tests.builders import auth, create_key
from tests.support.databases import create_database, drop_database
from tests.support.workers import running

UNIT = "06652"


@pytest.fixture
async def keys(adoption, db) -> dict[str, str]:
    return {"app": await create_key(db, "app_backend"), "office": await create_key(db, "office")}


@pytest.fixture
async def pg(adoption):
    """The app's pool, with no monthly partition (every event in the default one) before and after."""

    async def drop_all() -> None:
        async with adoption.state.pg.acquire() as conn:
            for month in await monthly(conn):
                await conn.execute(f"DROP TABLE adoption.{month.name}")

    await add_unit(adoption, UNIT, headcount=10)
    await drop_all()
    yield adoption.state.pg
    await drop_all()


async def post(client, key: str, *events: dict) -> dict:
    response = await client.post("/v1/adoption/events", json={"events": list(events)}, headers=auth(key))
    assert response.status_code == 202 and not response.json()["rejected"], response.text
    return response.json()


async def figures(app, client, key: str, start: str, end: str) -> tuple[int, list[int]]:
    """The unit's staff adopted now, and its staff adopted on each day from ``start`` to ``end``."""
    await settled(app)
    row = (await client.get("/v1/adoption/units", headers=auth(key))).json()[0]
    url = f"/v1/adoption/timeseries?unit_code={UNIT}&from={start}&to={end}"
    points = (await client.get(url, headers=auth(key))).json()["points"]
    return row["staff_adopted"], [p["staff_adopted"] for p in points]


async def where(pg, *event_ids: str) -> list[str]:
    """The partition holding each event."""
    async with pg.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, tableoid::regclass::text AS part FROM adoption.events WHERE event_id = ANY($1)",
            list(event_ids),
        )
    found = {r["event_id"]: r["part"].removeprefix("adoption.") for r in rows}
    return [found.get(e, "gone") for e in event_ids]


async def test_this_month_and_those_ahead_are_made_once(pg):
    async with pg.acquire() as conn:
        made = await partitions.make_ahead(conn, date(2026, 12, 5), ahead=3)
        assert made == ["events_2026_12", "events_2027_01", "events_2027_02", "events_2027_03"]
        assert await partitions.make_ahead(conn, date(2026, 12, 31), ahead=3) == []
        assert await partitions.make_ahead(conn, date(2027, 1, 1), ahead=3) == ["events_2027_04"]
        assert [m.name for m in await monthly(conn)] == made + ["events_2027_04"]


async def test_the_worker_makes_this_months_partition_and_the_next_when_it_starts(adoption_settings, pg):
    worker = build_worker(adoption_settings, poll_delay=0.05)
    this_month = Month.of(vietnam_today())
    async with running(worker):
        async with asyncio.timeout(10):
            while len(made := [m.name for m in await monthly(pg)]) < 2:
                await asyncio.sleep(0.05)
    assert made == [this_month.name, this_month.next().name]


async def test_a_month_starts_at_midnight_vietnam_time(adoption, adoption_client, keys, pg):
    async with pg.acquire() as conn:
        await partitions.make_ahead(conn, date(2020, 2, 1), ahead=1)
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at="2020-02-29T23:59:59+07:00", event_id="feb"),
        event("0912000002", at="2020-02-29T17:00:00Z", event_id="mar"),  # 00:00 on 1 March in Hạ Long
    )
    assert await where(pg, "feb", "mar") == ["events_2020_02", "events_2020_03"]


async def test_events_of_a_month_without_partition_land_fold_and_move_into_it(adoption, adoption_client, keys, pg):
    async with pg.acquire() as conn:
        await partitions.make_ahead(conn, date(2026, 12, 5), ahead=1)
    # Someone uninstalled in December; their install of February 2020 arrives later still.
    await post(adoption_client, keys["app"], event("0912000001", "uninstalled", at="2026-12-02T09:00:00+07:00"))
    await fold(adoption)
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-21T09:00:00+07:00", event_id="old"))
    assert await where(pg, "old") == ["events_default"]
    await fold(adoption)
    now, series = await figures(adoption, adoption_client, keys["office"], "2020-02-20", "2020-02-22")
    assert (now, series) == (0, [0, 1, 1])

    async with pg.acquire() as conn:  # the worker of February 2020 makes its month
        assert await partitions.make_ahead(conn, date(2020, 2, 1), ahead=0) == ["events_2020_02"]
    assert await where(pg, "old") == ["events_2020_02"]
    # A later event of that month lands in it, and the timeline is recomputed as before.
    await post(adoption_client, keys["app"], event("0912000001", "uninstalled", at="2020-02-22T09:00:00+07:00"))
    await fold(adoption)
    now, series = await figures(adoption, adoption_client, keys["office"], "2020-02-20", "2020-02-23")
    assert (now, series) == (0, [0, 1, 0, 0])


async def test_a_late_event_finds_a_later_one_folded_in_the_months_ahead(adoption, adoption_client, keys, pg):
    """The fold looks a person up only in the months up to the latest event folded: a month ahead
    holding a folded event is one of them."""
    async with pg.acquire() as conn:
        await partitions.make_ahead(conn, date(2020, 2, 1), ahead=2)
    await post(adoption_client, keys["app"], event("0912000001", at="2020-03-10T09:00:00+07:00", event_id="mar"))
    await fold(adoption)
    # Their install of February arrives later: it moves the day they adopted, not how many did.
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-10T09:00:00+07:00", event_id="feb"))
    await fold(adoption)
    assert await where(pg, "feb", "mar") == ["events_2020_02", "events_2020_03"]
    now, series = await figures(adoption, adoption_client, keys["office"], "2020-02-09", "2020-03-11")
    assert now == 1 and series[:2] == [0, 1] and set(series[1:]) == {1}


async def test_an_event_folded_in_the_default_partition_is_still_looked_up(adoption, adoption_client, keys, pg):
    """A folded event older than every month, in the default partition, is a person's state like any other."""
    async with pg.acquire() as conn:
        await partitions.make_ahead(conn, date(2020, 2, 1), ahead=1)
    # January has no partition: the install lands in the default one, older than every month.
    await post(adoption_client, keys["app"], event("0912000001", at="2020-01-10T09:00:00+07:00", event_id="jan"))
    await fold(adoption)
    await post(
        adoption_client, keys["app"], event("0912000001", "uninstalled", at="2020-02-10T09:00:00+07:00", event_id="feb")
    )
    await fold(adoption)
    assert await where(pg, "jan", "feb") == ["events_default", "events_2020_02"]
    now, series = await figures(adoption, adoption_client, keys["office"], "2020-01-09", "2020-02-11")
    assert now == 0 and series[:2] == [0, 1] and series[-2:] == [0, 0]


async def test_an_event_id_known_in_another_month_is_a_duplicate(adoption, adoption_client, keys, pg):
    async with pg.acquire() as conn:
        await partitions.make_ahead(conn, date(2020, 2, 1), ahead=1)
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-20T09:00:00+07:00", event_id="once"))
    again = event("0912000001", "uninstalled", at="2020-03-20T09:00:00+07:00", event_id="once")
    assert await post(adoption_client, keys["app"], again, event("0912000002")) == {
        "accepted": 1,
        "duplicates": 1,
        "rejected": [],
    }
    await fold(adoption)
    assert (await figures(adoption, adoption_client, keys["office"], "2020-03-20", "2020-03-20"))[0] == 2


async def test_the_retention_drops_old_months_and_the_figures_keep_their_history(adoption, adoption_client, keys, pg):
    async with pg.acquire() as conn:
        await partitions.make_ahead(conn, date(2020, 1, 1), ahead=3)
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at="2020-01-10T09:00:00+07:00", event_id="p1-jan"),
        event("0912000002", at="2020-01-12T09:00:00+07:00", event_id="p2-jan"),
        event("0912000002", "uninstalled", at="2020-02-05T09:00:00+07:00", event_id="p2-feb"),
        event("0912000003", at="2020-03-03T09:00:00+07:00", event_id="p3-mar"),
        event("0912000004", at="2020-01-05T09:00:00+07:00", event_id="p4-jan-1"),
        event("0912000004", "uninstalled", at="2020-01-06T09:00:00+07:00", event_id="p4-jan-2"),
    )
    window = ("2020-01-04", "2020-03-04")
    # Nothing is dropped while a batch waits to be folded: its events would never count.
    async with pg.acquire() as conn:
        assert await partitions.drop_expired(conn, date(2020, 3, 15), retention_months=2) == []
    await fold(adoption)
    before = await figures(adoption, adoption_client, keys["office"], *window)
    assert before[0] == 2

    async with pg.acquire() as conn:
        assert await partitions.drop_expired(conn, date(2020, 3, 15), retention_months=2) == ["events_2020_01"]
        assert await partitions.drop_expired(conn, date(2020, 3, 15), retention_months=2) == []
        assert [m.name for m in await monthly(conn)] == ["events_2020_02", "events_2020_03", "events_2020_04"]
    assert await figures(adoption, adoption_client, keys["office"], *window) == before
    # Each person's latest event of January is kept; the rest of the month is gone, ids included.
    assert await where(pg, "p1-jan", "p2-jan", "p4-jan-1", "p4-jan-2") == [
        "events_default",
        "events_default",
        "gone",
        "events_default",
    ]
    # So the state of January's people is still known: activating counts nobody twice, a late
    # install between January and February's uninstall changes nothing, an uninstall counts.
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", "activated", at="2020-03-20T09:00:00+07:00"),
        event("0912000002", at="2020-02-01T09:00:00+07:00"),
    )
    await fold(adoption)
    assert await figures(adoption, adoption_client, keys["office"], *window) == before
    await post(adoption_client, keys["app"], event("0912000001", "uninstalled", at="2020-03-21T09:00:00+07:00"))
    await fold(adoption)
    assert (await figures(adoption, adoption_client, keys["office"], *window))[0] == 1


async def test_dropping_a_later_month_supersedes_what_an_earlier_one_kept(adoption, adoption_client, keys, pg):
    async with pg.acquire() as conn:
        await partitions.make_ahead(conn, date(2020, 1, 1), ahead=2)
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at="2020-01-10T09:00:00+07:00", event_id="jan"),
        event("0912000001", "activated", at="2020-02-10T09:00:00+07:00", event_id="feb"),
    )
    await fold(adoption)
    async with pg.acquire() as conn:
        await partitions.drop_expired(conn, date(2020, 2, 15), retention_months=1)
        assert await where(pg, "jan", "feb") == ["events_default", "events_2020_02"]
        await partitions.drop_expired(conn, date(2020, 3, 15), retention_months=1)
    assert await where(pg, "jan", "feb") == ["gone", "events_default"]
    assert (await figures(adoption, adoption_client, keys["office"], "2020-01-10", "2020-01-10")) == (1, [1])


async def test_the_migration_keeps_the_events_stored_before_it():
    name, url = await create_database("ioc_test_partitions")
    try:
        await asyncio.to_thread(upgrade, url, "a0005")
        hasher = SubjectHasher(b"test-subject-key")
        subject = hasher("+84912000001")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute("INSERT INTO adoption.batches (id, events) VALUES (1, 3)")
            await conn.executemany(
                "INSERT INTO adoption.events (event_id, batch_id, unit_code, subject_hash, person, audience, type,"
                " occurred_at) VALUES ($1, 1, $2, $3, $4, 'staff', $5, $6::text::timestamptz)",
                [
                    (event_id, UNIT, subject, person_key(subject, UNIT, "staff"), kind, at)
                    for event_id, kind, at in (
                        ("a", "installed", "2020-02-20T09:00:00+07:00"),
                        ("b", "uninstalled", "2020-02-29T23:30:00+07:00"),
                        ("c", "installed", "2020-03-01T00:30:00+07:00"),
                    )
                ],
            )
            stored = sorted(sorted(dict(r).items()) for r in await conn.fetch("SELECT * FROM adoption.events"))
            await asyncio.to_thread(upgrade, url, "head")
            rows = await conn.fetch("SELECT tableoid::regclass::text AS part, * FROM adoption.events ORDER BY event_id")
            assert sorted(sorted((k, v) for k, v in dict(r).items() if k != "part") for r in rows) == stored
            assert [r["part"] for r in rows] == [
                "adoption.events_2020_02",
                "adoption.events_2020_02",
                "adoption.events_2020_03",
            ]
            # The ids are still known, whatever time a replay carries.
            pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=1)
            try:
                replay = (
                    "a",
                    UNIT,
                    person_key(subject, UNIT, "staff"),
                    subject,
                    "staff",
                    "installed",
                    microseconds(rows[0]["occurred_at"]) + 1,
                )
                assert await EventWriter().store(pool, [replay]) == 0
            finally:
                await pool.close()
            assert await conn.fetchval("SELECT count(*) FROM adoption.events") == 3
        finally:
            await conn.close()
    finally:
        await drop_database(name)
