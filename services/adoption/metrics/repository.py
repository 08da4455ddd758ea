"""The metrics' reads, on asyncpg: a few rows of the aggregates, whatever the number of events.

Hand-written SQL: these reads answer the screens' polls, and are the cost of every poll that finds a
new version (``docs/performance.md``, "The metrics"). Table names come from the models.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from services.adoption.models import ABOVE_THE_CITY, Daily, DirectoryUnit, Headcount, Report, State, UnitStats
from shared.db import table

UNITS, HEADCOUNTS, REPORTS = table(DirectoryUnit).fullname, table(Headcount).fullname, table(Report).fullname
UNIT_STATS, DAILY = table(UnitStats).fullname, table(Daily).fullname
ST = table(State)

# The units the city's figures count: those still active, the city and the province themselves aside.
CITY_UNITS = f"SELECT code FROM {UNITS} WHERE active AND kind NOT IN {ABOVE_THE_CITY}"  # noqa: S608 (names from the model)

# One row per unit: its headcount (newest of its own, else the registry's), its measured figures,
# its newest self-report, and the last week's change.
UNIT_FIGURES = f"""
SELECT u.code, u.name, u.kind,
       coalesce(h.staff, u.registry_headcount) AS headcount,
       s.adopted AS staff_measured, s.last_event_at AS staff_last,
       c.adopted AS citizens_measured, c.last_event_at AS citizens_last,
       r.as_of AS reported_as_of, r.staff_total AS reported_total, r.staff_installed AS reported_installed,
       r.citizens_guided AS reported_citizens,
       w.delta AS change_7d
FROM {UNITS} u
LEFT JOIN LATERAL (SELECT staff FROM {HEADCOUNTS} h WHERE h.unit_code = u.code
                   ORDER BY as_of DESC LIMIT 1) h ON true
LEFT JOIN {UNIT_STATS} s ON s.unit_code = u.code AND s.audience = 'staff'
LEFT JOIN {UNIT_STATS} c ON c.unit_code = u.code AND c.audience = 'citizen'
LEFT JOIN LATERAL (SELECT * FROM {REPORTS} r WHERE r.unit_code = u.code
                   ORDER BY as_of DESC LIMIT 1) r ON true
LEFT JOIN LATERAL (SELECT sum(delta)::int AS delta FROM {DAILY} d
                   WHERE d.unit_code = u.code AND d.audience = 'staff' AND d.day > $1) w ON true
WHERE u.code IN ({CITY_UNITS}) AND ($2::text IS NULL OR u.kind = $2)
"""  # noqa: S608 (names from the models)

# $1: one unit (its whole history, even once retired), or NULL: the city, the units its summary
# counts (a retired unit's people left the city's figures with it; counted on, they would count
# twice once they sign up again under the unit that took its place).
DAILY_DELTAS = f"""
WITH units AS (SELECT $1::text AS code WHERE $1 IS NOT NULL UNION ALL {CITY_UNITS} AND $1 IS NULL)
SELECT audience, day, sum(delta)::int AS delta
FROM {DAILY}
WHERE unit_code IN (SELECT code FROM units) AND day <= $3
GROUP BY audience, day
HAVING day >= $2
UNION ALL
SELECT audience, NULL, sum(delta)::int
FROM {DAILY}
WHERE unit_code IN (SELECT code FROM units) AND day < $2
GROUP BY audience
"""  # noqa: S608 (names from the models)

STATE = f"SELECT {ST.c.version.name}, {ST.c.changed_at.name} FROM {ST.fullname} WHERE id = 1"  # noqa: S608 (names from the model)


async def unit_figures(db: asyncpg.Pool | asyncpg.Connection, *, since: date, kind: str | None) -> list[asyncpg.Record]:
    """A row per unit the city counts (of ``kind``, if given); ``change_7d`` counts the days after ``since``."""
    return await db.fetch(UNIT_FIGURES, since, kind)


async def daily_deltas(
    db: asyncpg.Pool | asyncpg.Connection, *, unit_code: str | None, start: date, end: date
) -> list[asyncpg.Record]:
    """(audience, day, delta) for each day from ``start`` to ``end`` with a change, and (audience, NULL,
    delta) for everything before ``start``: of one unit, or of the city's units (``unit_code`` None)."""
    return await db.fetch(DAILY_DELTAS, unit_code, start, end)


async def state(db: asyncpg.Pool | asyncpg.Connection) -> asyncpg.Record:
    """(version, changed_at) of the figures."""
    row = await db.fetchrow(STATE)
    assert row is not None, "the state's one row exists from the first migration on"
    return row
