"""The events' partitions, on asyncpg: list, make (taking their rows out of the default partition),
and drop (keeping each person's latest event). Table names come from the models; a partition's name
is the events table's with its month, ``events_2026_12``."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from services.adoption.models import Batch, Event, EventId
from shared.db import Connection, column_names, table

EVENTS, EVENT_IDS = table(Event), table(EventId)
E = EVENTS.c
SCHEMA = EVENTS.schema
DEFAULT = f"{EVENTS.name}_default"
ZONE = "Asia/Ho_Chi_Minh"  # a month is a Vietnam month, as a day of ``daily`` is a Vietnam day
COLUMNS = column_names(EVENTS.c)
# The columns that tell people apart (``person`` is a 64-bit key of them), and their latest event first.
IDENTITY = column_names((E.unit_code, E.audience, E.subject_hash))

# Held while partitions are made or dropped: one worker at a time does it.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('adoption.partitions'))"
# The fold's own lock (``aggregation/repository.py``): dropped events must all be folded.
FOLD_LOCK = "SELECT pg_advisory_xact_lock(hashtext('adoption.aggregate'))"
PENDING = f"SELECT exists (SELECT FROM {table(Batch).fullname} WHERE aggregated_at IS NULL)"  # noqa: S608

MONTHLY = f"""
SELECT c.relname AS name
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = '{EVENTS.fullname}'::regclass AND c.relname ~ '^{EVENTS.name}_[0-9]{{4}}_[0-9]{{2}}$'
ORDER BY 1
"""  # noqa: S608 (names from the models)


class Month(NamedTuple):
    first: date  # its first day

    @property
    def name(self) -> str:
        return f"{EVENTS.name}_{self.first:%Y_%m}"

    def next(self) -> Month:
        y, m = divmod(self.first.year * 12 + self.first.month, 12)
        return Month(date(y, m + 1, 1))

    def previous(self) -> Month:
        y, m = divmod(self.first.year * 12 + self.first.month - 2, 12)
        return Month(date(y, m + 1, 1))

    @staticmethod
    def of(day: date | datetime) -> Month:
        return Month(date(day.year, day.month, 1))

    @staticmethod
    def parse(name: str) -> Month:
        year, month = name.removeprefix(f"{EVENTS.name}_").split("_")
        return Month(date(int(year), int(month), 1))


def _bound(month: Month) -> str:
    """The month's first instant, as a literal (a date from ``Month`` only: no text from outside)."""
    return f"'{month.first.isoformat()} 00:00:00 {ZONE}'::timestamptz"


async def monthly(conn: Connection) -> list[Month]:
    """The monthly partitions, oldest first."""
    return [Month.parse(r["name"]) for r in await conn.fetch(MONTHLY)]


async def make(conn: Connection, month: Month) -> int:
    """Make ``month``'s partition (inside the caller's transaction), moving into it the month's events
    stored meanwhile in the default partition; returns how many moved. Attaching it locks the default
    partition while the default is checked for the month's rows (none are left)."""
    part, default = f"{SCHEMA}.{month.name}", f"{SCHEMA}.{DEFAULT}"
    lo, hi = _bound(month), _bound(month.next())
    in_month = f"occurred_at >= {lo} AND occurred_at < {hi}"
    await conn.execute(f"CREATE TABLE {part} (LIKE {EVENTS.fullname} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    moved: int = await conn.fetchval(f"""
        WITH moved AS (DELETE FROM {default} WHERE {in_month} RETURNING {COLUMNS})
        , inserted AS (INSERT INTO {part} ({COLUMNS}) SELECT {COLUMNS} FROM moved RETURNING 1)
        SELECT count(*) FROM inserted
    """)  # noqa: S608 (names from the models, bounds from dates)
    # The constraint proves the rows in range: ATTACH then skips its own scan of the partition.
    await conn.execute(f"ALTER TABLE {part} ADD CONSTRAINT {month.name}_in_month CHECK ({in_month})")
    await conn.execute(f"ALTER TABLE {EVENTS.fullname} ATTACH PARTITION {part} FOR VALUES FROM ({lo}) TO ({hi})")
    await conn.execute(f"ALTER TABLE {part} DROP CONSTRAINT {month.name}_in_month")
    return moved


async def drop(conn: Connection, month: Month) -> tuple[int, int]:
    """Detach and drop ``month``'s partition (inside the caller's transaction), keeping in the default
    partition each person's latest event of the month (and dropping there the events it supersedes,
    kept from months dropped before), and forgetting the dropped events' ids; returns (events dropped,
    events kept).

    The fold reads a person's latest folded events to know their state before new ones: their latest
    event kept, the state stays known, and a late event after it still finds what came before it."""
    part, default = f"{SCHEMA}.{month.name}", f"{SCHEMA}.{DEFAULT}"
    await conn.execute(f"ALTER TABLE {EVENTS.fullname} DETACH PARTITION {part}")
    row = await conn.fetchrow(f"""
        WITH kept AS (
            INSERT INTO {EVENTS.fullname} ({COLUMNS})
            SELECT DISTINCT ON ({IDENTITY}) {COLUMNS} FROM {part}
            ORDER BY {IDENTITY}, occurred_at DESC, event_id DESC
            RETURNING event_id, person, {IDENTITY}
        ), superseded AS (
            DELETE FROM {default} d USING kept k
            WHERE d.person = k.person AND (d.unit_code, d.audience, d.subject_hash) = (k.unit_code, k.audience,
                  k.subject_hash) AND d.occurred_at < {_bound(month)}
            RETURNING d.event_id
        ), forgotten AS (
            DELETE FROM {EVENT_IDS.fullname}
            WHERE event_id IN (SELECT event_id FROM {part} EXCEPT SELECT event_id FROM kept
                               UNION ALL SELECT event_id FROM superseded)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM forgotten) AS dropped, (SELECT count(*) FROM kept) AS kept
    """)  # noqa: S608 (names from the models, the bound from a date)
    assert row is not None, "one row"
    await conn.execute(f"DROP TABLE {part}")
    return row["dropped"], row["kept"]
