"""The event writer: requests waiting at the same moment are stored together, and each still gets its
own count, or its own error, whatever the others in its group hold."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.adoption.events.copy_stream import POSTGRES_EPOCH, EventRow, microseconds, timestamp
from services.adoption.events.writer import EventWriter
from services.adoption.subjects import SubjectHasher, person_key
from tests.adoption.builders import add_unit

HASHER = SubjectHasher(b"test-subject-key")
AT = datetime.fromisoformat("2026-11-20T09:15:00.123456+07:00")


def rows(*event_ids: str, unit: str = "06652") -> list[EventRow]:
    made = []
    for n, event_id in enumerate(event_ids):
        subject_hash = HASHER(f"09123456{n:02d}")
        person = person_key(subject_hash, unit, "staff")
        made.append((event_id, unit, person, subject_hash, "staff", "installed", microseconds(AT)))
    return made


@pytest.mark.parametrize(
    "written",
    [
        "2026-11-20T09:15:00.123456+07:00",
        "2026-11-20T02:15:00.123456Z",
        "2026-11-19T22:45:00.123456-03:30",
        "1969-12-31T23:59:59.999999+14:00",
        "0001-01-01T00:00:00-00:01",
        "9999-12-31T00:00:00.999999-23:59",
    ],
)
def test_microseconds_are_those_since_postgresqls_epoch_whatever_the_offset(written):
    moment = datetime.fromisoformat(written)
    exact = (moment - POSTGRES_EPOCH) // timedelta(microseconds=1)
    assert microseconds(moment) == exact
    assert microseconds(moment.astimezone(UTC)) == exact
    assert timestamp(exact) == moment


def test_microseconds_of_a_zone_with_summer_time():
    """Only fixed offsets take the wall-time shortcut: across a change of Paris's offset, the zone's own
    rules count (the shortcut would be an hour off)."""
    paris = ZoneInfo("Europe/Paris")
    winter, summer = datetime(2026, 3, 28, 12, tzinfo=paris), datetime(2026, 3, 30, 12, tzinfo=paris)
    assert microseconds(summer) - microseconds(winter) == (2 * 24 - 1) * 3_600_000_000
    assert microseconds(summer) == microseconds(summer.astimezone(UTC))


async def stored(app) -> tuple[list[str], list[int]]:
    """The stored event ids, and the sizes of the batches (one a transaction), in order."""
    async with app.state.pg.acquire() as conn:
        events = [r["event_id"] for r in await conn.fetch("SELECT event_id FROM adoption.events ORDER BY 1")]
        batches = [r["events"] for r in await conn.fetch("SELECT events FROM adoption.batches ORDER BY id")]
    return events, batches


@pytest.fixture
async def pool(adoption):
    await add_unit(adoption, "06652")
    return adoption.state.pg


async def test_requests_waiting_together_are_stored_in_one_transaction(adoption, pool):
    writer = EventWriter(writers=1)
    counts = await asyncio.gather(
        writer.store(pool, rows("a1", "a2")), writer.store(pool, rows("b1")), writer.store(pool, rows("c1", "c2"))
    )
    assert counts == [2, 1, 2]
    assert await stored(adoption) == (["a1", "a2", "b1", "c1", "c2"], [5])


async def test_every_value_is_stored_as_it_was_given(adoption, pool):
    [row] = rows("exact")
    assert await EventWriter().store(pool, [row]) == 1
    async with pool.acquire() as conn:
        got = await conn.fetchrow("SELECT * FROM adoption.events")
    assert (got["event_id"], got["unit_code"], got["person"], got["subject_hash"]) == row[:4]
    assert (got["audience"], got["type"], got["occurred_at"]) == ("staff", "installed", AT)
    assert timestamp(row[6]) == AT


async def test_a_group_stops_at_max_events_and_never_splits_a_request(adoption, pool):
    writer = EventWriter(writers=1, max_events=3)
    counts = await asyncio.gather(*(writer.store(pool, rows(f"{r}1", f"{r}2")) for r in "abc"))
    assert counts == [2, 2, 2]
    assert (await stored(adoption))[1] == [2, 2, 2]


async def test_a_known_event_in_a_group_leaves_each_request_its_own_count(adoption, pool):
    writer = EventWriter(writers=1)
    assert await writer.store(pool, rows("known")) == 1
    counts = await asyncio.gather(writer.store(pool, rows("known", "x1", "x2")), writer.store(pool, rows("y1")))
    assert counts == [2, 1]
    assert (await stored(adoption))[0] == ["known", "x1", "x2", "y1"]


async def test_one_event_in_two_waiting_requests_is_stored_once(adoption, pool):
    writer = EventWriter(writers=1)
    counts = await asyncio.gather(writer.store(pool, rows("e1", "e2")), writer.store(pool, rows("e2", "e3")))
    assert counts == [2, 1]
    assert (await stored(adoption))[0] == ["e1", "e2", "e3"]


async def test_a_request_failing_on_its_own_rows_fails_alone(adoption, pool):
    writer = EventWriter(writers=1)
    too_long = rows("bad", unit="U" * 40)  # the API's validation never lets such a code through
    good, bad = await asyncio.gather(
        writer.store(pool, rows("g1", "g2")), writer.store(pool, too_long), return_exceptions=True
    )
    assert good == 2
    assert isinstance(bad, asyncpg.StringDataRightTruncationError)
    assert (await stored(adoption))[0] == ["g1", "g2"]


async def test_with_the_database_away_the_requests_fail_and_the_writer_goes_on(adoption, pool):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    away = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{port}/none", min_size=0, timeout=2)
    writer = EventWriter(writers=1)
    results = await asyncio.gather(
        writer.store(away, rows("lost1")), writer.store(away, rows("lost2")), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results), results
    assert await writer.store(pool, rows("after")) == 1
    assert (await stored(adoption))[0] == ["after"]
    await away.close()
