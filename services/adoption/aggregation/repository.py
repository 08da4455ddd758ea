"""The fold's SQL, on asyncpg: one statement folds a set of stored batches into ``daily`` and
``unit_stats`` (the rules it applies: ``aggregation/service.py``).

The fold is hand-written SQL, tuned with ``bench/adoption_fold.py``: it is the worker's whole cost
per event (``docs/performance.md``, "The fold"). Table names, and the columns a statement lists,
come from the models.
"""

from __future__ import annotations

import asyncpg

from services.adoption.models import Batch, Daily, Event, State, UnitStats
from shared.db import Connection, column_names, table

BATCHES, EVENTS, DAILY, UNIT_STATS, STATE = (table(m).fullname for m in (Batch, Event, Daily, UnitStats, State))
B, D, S = table(Batch).c, table(Daily).c, table(UnitStats).c


LOCK = "SELECT pg_advisory_xact_lock(hashtext('adoption.aggregate'))"
# The batches not folded yet, oldest first, with their sizes (a handful: the worker keeps up).
PENDING = f"SELECT {column_names((B.id, B.events))} FROM {BATCHES} WHERE aggregated_at IS NULL ORDER BY id"  # noqa: S608 (names from the model)

# $1: the batches folded now. The other batches not folded yet count in no timeline; they are read in
# this statement, so that a batch committed after PENDING was read is left out too. A person's
# identity is (unit, audience, subject hash) and ``person`` a 64-bit key of it: were two people's keys
# the same, a latest event of another identity sends the fold to the timeline, which tells them apart.
FOLD = f"""
WITH pending AS (
    SELECT coalesce(array_agg(id), '{{}}') AS ids
    FROM {BATCHES} WHERE aggregated_at IS NULL AND id <> ALL($1::bigint[])
), later AS (
    -- Every batch below the lowest one not folded is folded. Above it, the batches folded already
    -- committed before a lower one did: with concurrent writers that is common, and a few thousand
    -- events at most; after a writer stalled, all those folded meanwhile, read once by the fold
    -- that takes its batch.
    SELECT ids, below,
           (SELECT coalesce(array_agg(id), '{{}}') FROM {BATCHES}
            WHERE id > below AND aggregated_at IS NOT NULL) AS folded_ahead,
           -- The latest folded event's time (each unit's is in unit_stats): the lookups below skip
           -- the partitions of the months after it (those made ahead), which hold no folded event.
           (SELECT max(last_event_at) FROM {UNIT_STATS}) AS folded_until
    FROM pending, LATERAL (SELECT min(id) AS below FROM unnest($1::bigint[] || pending.ids) id) lowest
), ahead AS MATERIALIZED (
    -- The people with events in batches folded ahead: the lookups below read batches under ``below``
    -- only, so these people's timelines are recomputed instead.
    SELECT DISTINCT e.person FROM later, {EVENTS} e WHERE e.batch_id = ANY(later.folded_ahead)
), new AS MATERIALIZED (
    SELECT person, unit_code, audience, subject_hash, occurred_at, event_id, type <> 'uninstalled' AS adopted
    FROM {EVENTS} WHERE batch_id = ANY($1::bigint[])
    -- In the whole key of in_order's window: the lookups below then walk the person index's pages
    -- in order rather than at random, and in_order's window gets its rows in its own order (its hash
    -- join keeps this order), which PostgreSQL's sort checks before sorting.
    ORDER BY person, unit_code, audience, subject_hash, occurred_at, event_id
), touched AS (
    -- Each new event with the two latest events of its person folded before, read through the
    -- (person, occurred_at, batch_id) index newest first, and whether all of the person's new events
    -- come after those (most do: events arrive in order). The batch condition is checked on the
    -- index's entries, so the new events (and other unfolded ones) are passed over without reading
    -- their rows.
    -- Both at the same instant would need event ids to be told apart, and another identity under the
    -- same key the full one: the timeline. Otherwise the later one's state is the person's state.
    -- (Aggregated per person here, which costs less than ranking them in each lookup.)
    SELECT n.person,
           coalesce(max(p.occurred_at) FILTER (WHERE p.adopted) = max(p.occurred_at), false) AS was_adopted,
           coalesce(min(n.occurred_at) <= max(p.occurred_at)
                    OR (min(p.occurred_at) = max(p.occurred_at) AND min(p.event_id) <> max(p.event_id))
                    OR NOT bool_and((n.unit_code, n.audience, n.subject_hash)
                                    = (p.unit_code, p.audience, p.subject_hash)), false)
           OR n.person IN (SELECT person FROM ahead) AS out_of_order
    FROM new n CROSS JOIN later
    LEFT JOIN LATERAL (SELECT x.unit_code, x.audience, x.subject_hash, x.occurred_at, x.event_id,
                              x.type <> 'uninstalled' AS adopted
                       FROM {EVENTS} x
                       WHERE x.person = n.person AND x.occurred_at <= later.folded_until
                             AND x.batch_id < later.below
                       ORDER BY x.occurred_at DESC LIMIT 2) p ON true
    GROUP BY n.person
), in_order AS (
    SELECT n.unit_code, n.audience, n.occurred_at, n.adopted,
           coalesce(lag(n.adopted) OVER (PARTITION BY n.person, n.unit_code, n.audience, n.subject_hash
                                         ORDER BY n.occurred_at, n.event_id),
                    t.was_adopted, false) AS was_adopted
    FROM new n JOIN touched t USING (person)
    WHERE NOT t.out_of_order
), timeline AS (
    -- The out-of-order people's events through the person index, one lookup a person:
    -- OFFSET 0 keeps the planner from flattening the lateral query into a scan of the whole table.
    SELECT e.unit_code, e.audience, e.subject_hash, e.person, e.occurred_at, e.event_id,
           e.type <> 'uninstalled' AS adopted, e.batch_id = ANY($1::bigint[]) AS is_new
    FROM touched t, later
    CROSS JOIN LATERAL (SELECT * FROM {EVENTS} x
                        WHERE x.person = t.person AND x.batch_id <> ALL(later.ids) OFFSET 0) e
    WHERE t.out_of_order
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
    FROM in_order WHERE adopted <> was_adopted
    UNION ALL
    SELECT unit_code, audience, (occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
           (adopted::int - was_adopted::int)
    FROM after_fold WHERE adopted <> was_adopted
    UNION ALL
    SELECT unit_code, audience, (occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
           -(adopted::int - was_adopted::int)
    FROM before_fold WHERE adopted <> was_adopted
), by_day AS (
    SELECT unit_code, audience, day, sum(delta)::int AS delta
    FROM changes GROUP BY unit_code, audience, day HAVING sum(delta) <> 0
), daily_written AS (
    INSERT INTO {DAILY} AS d ({column_names((D.unit_code, D.audience, D.day, D.delta))})
    SELECT unit_code, audience, day, delta FROM by_day
    ON CONFLICT (unit_code, audience, day) DO UPDATE SET delta = d.delta + EXCLUDED.delta
    RETURNING 1
), by_unit AS (
    SELECT coalesce(c.unit_code, l.unit_code) AS unit_code, coalesce(c.audience, l.audience) AS audience,
           coalesce(c.delta, 0) AS delta, l.last_event_at
    FROM (SELECT unit_code, audience, sum(delta)::int AS delta FROM by_day GROUP BY unit_code, audience) c
    FULL JOIN (SELECT unit_code, audience, max(occurred_at) AS last_event_at
               FROM new GROUP BY unit_code, audience) l USING (unit_code, audience)
), stats_written AS (
    INSERT INTO {UNIT_STATS} AS s ({column_names((S.unit_code, S.audience, S.adopted, S.last_event_at))})
    SELECT unit_code, audience, delta, last_event_at FROM by_unit
    ON CONFLICT (unit_code, audience) DO UPDATE
    SET adopted = s.adopted + EXCLUDED.adopted,
        last_event_at = greatest(s.last_event_at, EXCLUDED.last_event_at)
    RETURNING 1
), folded AS (
    UPDATE {BATCHES} SET aggregated_at = now() WHERE id = ANY($1::bigint[]) RETURNING id
)
SELECT (SELECT count(*) FROM folded) AS batches, (SELECT count(*) FROM daily_written) AS days,
       (SELECT count(*) FROM stats_written) AS units
"""  # noqa: S608 (names from the models)

FOLD_SETTINGS = (
    # Timelines sort in memory: give the sort room rather than spill to disk.
    "SET LOCAL work_mem = '64MB'",
    # Every row the fold reads is found by key: the batches' events, then person by person (plain
    # index scans: a bitmap scan for each person costs more than it saves). Without statistics (a
    # fast-growing table, autovacuum late or off) the planner would scan all events instead.
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL enable_bitmapscan = off",
)
# The metrics' ETags change with the figures (``metrics/cache.py``).
BUMP_VERSION = f"UPDATE {STATE} SET version = version + 1, changed_at = now() WHERE id = 1"  # noqa: S608 (names from the model)


async def lock(conn: Connection) -> None:
    """Serialise folding until the transaction ends (a second worker waits for the first)."""
    await conn.execute(LOCK)


async def pending_batches(conn: Connection) -> list[asyncpg.Record]:
    """The batches not folded yet, oldest first: (id, events)."""
    return await conn.fetch(PENDING)


async def fold(conn: Connection, batch_ids: list[int]) -> int:
    """Fold ``batch_ids`` into the aggregates and mark them folded (inside the caller's transaction);
    returns how many were marked."""
    await conn.execute("; ".join(FOLD_SETTINGS))  # one round trip
    folded = await conn.fetchrow(FOLD, batch_ids)
    assert folded is not None, "the fold's statement returns one row"
    marked: int = folded["batches"]
    return marked


async def bump_version(conn: Connection) -> None:
    await conn.execute(BUMP_VERSION)
