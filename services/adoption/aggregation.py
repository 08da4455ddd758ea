"""Folding ingested events into the aggregates the metrics read.

A person (unit, audience, keyed hash of the subject) counts as adopted while their latest event, by
``occurred_at``, is ``installed`` or ``activated``. Each change of that state is a +1 or -1 on its
Vietnam day in ``daily``; the running sum of ``daily`` is the adoption curve, and ``unit_stats``
holds its current value.

Events arrive late and out of order, so a batch is folded by recomputing the timelines of the people
it touches: once over the events already folded, once with the batch's events added, and the
difference goes into ``daily`` and ``unit_stats``. An uninstall followed by a re-install therefore
counts once, and an old event arriving late corrects the day it belongs to.

Folding is serialised by a transaction-level advisory lock, and a batch is marked folded in the same
transaction, so running the job twice, or on two workers at once, counts every event once. Each fold
takes a bounded number of events, so a backlog is worked off in steps of the same size.
"""

from __future__ import annotations

import asyncpg

LOCK = "SELECT pg_advisory_xact_lock(hashtext('adoption.aggregate'))"
# The batches not folded yet, oldest first, with their sizes (a handful: the worker keeps up).
PENDING = "SELECT id, events FROM adoption.batches WHERE aggregated_at IS NULL ORDER BY id"

# $1: the batches folded now. The other batches not folded yet count in neither timeline; they are
# read in this statement, so that a batch committed after PENDING was read is left out too.
# Timelines are read through the (person, occurred_at) index; partitions use the full identity, so
# that even a collision of two 64-bit person keys could not merge two people.
FOLD = """
WITH later AS (
    SELECT coalesce(array_agg(id), '{}') AS ids
    FROM adoption.batches WHERE aggregated_at IS NULL AND id <> ALL($1::bigint[])
), people AS (
    SELECT DISTINCT person FROM adoption.events WHERE batch_id = ANY($1::bigint[])
), timeline AS (
    -- Each person's events through the (person, occurred_at) index, one lookup a person: OFFSET 0 keeps
    -- the planner from flattening the lateral query into a scan of the whole table.
    SELECT e.unit_code, e.audience, e.subject_hash, e.person, e.occurred_at, e.event_id,
           e.type <> 'uninstalled' AS adopted, e.batch_id = ANY($1::bigint[]) AS is_new
    FROM people p, later
    CROSS JOIN LATERAL (SELECT * FROM adoption.events x
                        WHERE x.person = p.person AND x.batch_id <> ALL(later.ids) OFFSET 0) e
), before_fold AS (
    SELECT unit_code, audience, occurred_at, adopted,
           coalesce(lag(adopted) OVER (PARTITION BY person, unit_code, audience, subject_hash
                                       ORDER BY occurred_at, event_id), false) AS was_adopted
    FROM timeline WHERE NOT is_new
), after_fold AS (
    SELECT unit_code, audience, occurred_at, adopted,
           coalesce(lag(adopted) OVER (PARTITION BY person, unit_code, audience, subject_hash
                                       ORDER BY occurred_at, event_id), false) AS was_adopted
    FROM timeline
), changes AS (
    SELECT unit_code, audience, (occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day,
           (adopted::int - was_adopted::int) AS delta
    FROM after_fold WHERE adopted <> was_adopted
    UNION ALL
    SELECT unit_code, audience, (occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
           -(adopted::int - was_adopted::int)
    FROM before_fold WHERE adopted <> was_adopted
), by_day AS (
    SELECT unit_code, audience, day, sum(delta)::int AS delta
    FROM changes GROUP BY unit_code, audience, day HAVING sum(delta) <> 0
), daily_written AS (
    INSERT INTO adoption.daily AS d (unit_code, audience, day, delta)
    SELECT unit_code, audience, day, delta FROM by_day
    ON CONFLICT (unit_code, audience, day) DO UPDATE SET delta = d.delta + EXCLUDED.delta
    RETURNING 1
), by_unit AS (
    SELECT coalesce(c.unit_code, l.unit_code) AS unit_code, coalesce(c.audience, l.audience) AS audience,
           coalesce(c.delta, 0) AS delta, l.last_event_at
    FROM (SELECT unit_code, audience, sum(delta)::int AS delta FROM by_day GROUP BY unit_code, audience) c
    FULL JOIN (SELECT unit_code, audience, max(occurred_at) AS last_event_at
               FROM timeline WHERE is_new GROUP BY unit_code, audience) l USING (unit_code, audience)
), stats_written AS (
    INSERT INTO adoption.unit_stats AS s (unit_code, audience, adopted, last_event_at)
    SELECT unit_code, audience, delta, last_event_at FROM by_unit
    ON CONFLICT (unit_code, audience) DO UPDATE
    SET adopted = s.adopted + EXCLUDED.adopted,
        last_event_at = greatest(s.last_event_at, EXCLUDED.last_event_at)
    RETURNING 1
), folded AS (
    UPDATE adoption.batches SET aggregated_at = now() WHERE id = ANY($1::bigint[]) RETURNING id
)
SELECT (SELECT count(*) FROM folded) AS batches, (SELECT count(*) FROM daily_written) AS days,
       (SELECT count(*) FROM stats_written) AS units
"""

BUMP_VERSION = "UPDATE adoption.state SET version = version + 1, changed_at = now() WHERE id = 1"


async def fold_pending(conn: asyncpg.Connection, *, max_events: int) -> int:
    """Fold the oldest pending batches, about ``max_events`` events' worth (at least one batch), into the
    aggregates; returns how many batches were folded."""
    async with conn.transaction():
        await conn.execute(LOCK)
        pending = await conn.fetch(PENDING)
        if not pending:
            return 0
        now, total = [], 0
        for batch in pending:
            if now and total + batch["events"] > max_events:
                break
            now.append(batch["id"])
            total += batch["events"]
        # Timelines sort in memory: give the sort room rather than spill to disk.
        await conn.execute("SET LOCAL work_mem = '64MB'")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        result = await conn.fetchrow(FOLD, now)
        await conn.execute(BUMP_VERSION)
    return result["batches"]


async def fold_all(conn: asyncpg.Connection, *, max_events: int) -> int:
    """Fold until nothing is pending."""
    total = 0
    while folded := await fold_pending(conn, max_events=max_events):
        total += folded
    return total
