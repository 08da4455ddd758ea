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
transaction, so running the job twice, or on two workers at once, counts every event once.
"""

from __future__ import annotations

import asyncpg

LOCK = "SELECT pg_advisory_xact_lock(hashtext('adoption.aggregate'))"

FOLD = """
WITH pending AS (
    SELECT id FROM adoption.batches WHERE aggregated_at IS NULL ORDER BY id LIMIT $1
), people AS (
    SELECT DISTINCT unit_code, audience, subject_hash
    FROM adoption.events WHERE batch_id IN (SELECT id FROM pending)
), timeline AS (
    SELECT e.unit_code, e.audience, e.subject_hash, e.occurred_at, e.event_id, e.type <> 'uninstalled' AS adopted,
           e.batch_id IN (SELECT id FROM pending) AS is_new
    FROM adoption.events e
    JOIN people p USING (unit_code, audience, subject_hash)
    JOIN adoption.batches b ON b.id = e.batch_id
    WHERE b.aggregated_at IS NOT NULL OR b.id IN (SELECT id FROM pending)
), before_fold AS (
    SELECT unit_code, audience, occurred_at, adopted,
           coalesce(lag(adopted) OVER (PARTITION BY unit_code, audience, subject_hash
                                       ORDER BY occurred_at, event_id), false) AS was_adopted
    FROM timeline WHERE NOT is_new
), after_fold AS (
    SELECT unit_code, audience, occurred_at, adopted,
           coalesce(lag(adopted) OVER (PARTITION BY unit_code, audience, subject_hash
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
               FROM adoption.events WHERE batch_id IN (SELECT id FROM pending)
               GROUP BY unit_code, audience) l USING (unit_code, audience)
), stats_written AS (
    INSERT INTO adoption.unit_stats AS s (unit_code, audience, adopted, last_event_at)
    SELECT unit_code, audience, delta, last_event_at FROM by_unit
    ON CONFLICT (unit_code, audience) DO UPDATE
    SET adopted = s.adopted + EXCLUDED.adopted,
        last_event_at = greatest(s.last_event_at, EXCLUDED.last_event_at)
    RETURNING 1
), folded AS (
    UPDATE adoption.batches SET aggregated_at = now() WHERE id IN (SELECT id FROM pending) RETURNING id
)
SELECT (SELECT count(*) FROM folded) AS batches, (SELECT count(*) FROM daily_written) AS days,
       (SELECT count(*) FROM stats_written) AS units
"""

BUMP_VERSION = "UPDATE adoption.state SET version = version + 1, changed_at = now() WHERE id = 1"


async def fold_pending(conn: asyncpg.Connection, *, batch_limit: int) -> int:
    """Fold up to ``batch_limit`` pending batches into the aggregates; returns how many were folded."""
    async with conn.transaction():
        await conn.execute(LOCK)
        result = await conn.fetchrow(FOLD, batch_limit)
        if result["batches"]:
            await conn.execute(BUMP_VERSION)
    return result["batches"]


async def fold_all(conn: asyncpg.Connection, *, batch_limit: int) -> int:
    """Fold until nothing is pending."""
    total = 0
    while folded := await fold_pending(conn, batch_limit=batch_limit):
        total += folded
    return total
