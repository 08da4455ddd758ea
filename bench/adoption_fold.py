"""The adoption fold alone, for comparing versions of ``services/adoption/aggregation/``.

    uv run python -m bench.adoption_fold              # about 25 s
    uv run python -m bench.adoption_fold --explain    # and the plan of one fold, about halfway

The same 1,000,000 events as ``bench/adoption.py`` (same stream, seed and batches of 1,000; the same
monthly partitions, ``--older-months`` more before them) are stored in a fresh database 18 batches
at a time, and each time folded with ``fold_all`` (as the worker does under load: about 18,000
events a fold). Reported: the CPU time of the PostgreSQL backend during
the folds, per event, overall and by stretch of the table's growth. There is no target: the figure
to watch in the whole system is ``pg_worker`` in ``bench/adoption.py``, and this one moves the same
way, with far less noise than the whole benchmark's ratio; two runs of one code still differ by a few
per cent (``docs/performance.md``, "Adoption"): compare versions over several runs each, interleaved.

Checks: every batch folded, the daily deltas summing to the units' figures, and the units' figures
equal to the bench's own computation from the events (``expected_figures``). The database is
dropped at the end, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from pathlib import Path

import asyncpg

from bench.adoption_support import (
    CEILING_COLUMNS,
    Dataset,
    copy_rows,
    make_dataset,
    make_partitions,
    make_world,
    seed,
)
from bench.environment import BenchEnv
from bench.processes import process_cpu_seconds
from services.adoption.aggregation import repository as fold_sql
from services.adoption.aggregation import service as aggregation
from services.adoption.migrations import upgrade as upgrade_adoption
from services.adoption.subjects import SubjectHasher
from services.api.migrations import upgrade as upgrade_api

SUBJECT_KEY = b"bench-subject-key-not-a-secret"
# About what one fold takes in bench/adoption.py's ingest: the worker folds at most every 0.2 s
# (IOC_AGGREGATE_INTERVAL_SECONDS), and a fold takes what arrived meanwhile.
BATCHES_A_FOLD = 18


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Adoption: the fold's PostgreSQL CPU per event, alone.")
    p.add_argument("--events", type=int, default=1_000_000, help="events (1,000,000)")
    p.add_argument("--explain", action="store_true", help="write EXPLAIN (ANALYZE, BUFFERS) of the middle fold")
    p.add_argument(
        "--older-months",
        type=int,
        default=0,
        help="empty monthly partitions of events made before the stream's first month (0)",
    )
    return p.parse_args()


async def run(env: BenchEnv, args: argparse.Namespace) -> int:
    world = make_world(args.events)
    ds = make_dataset(world, "large")
    await seed(env.sqlalchemy_url, world.units)
    made = await make_partitions(env.dsn, 60, older_months=args.older_months)
    print(f"event partitions: {made[0]} to {made[-1]} ({len(made)}), and the default one")
    batches: dict[int, list[tuple]] = defaultdict(list)
    for row in copy_rows(world, ds, SubjectHasher(SUBJECT_KEY)):
        batches[row[1]].append(row)
    ids = sorted(batches)
    conn = await asyncpg.connect(env.dsn, server_settings={"jit": "off"})  # as the services' connections
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        cpu, done = 0.0, 0
        stretch = (0.0, 0)  # (cpu, done) where the current stretch of the table's growth began
        middle = len(ids) // BATCHES_A_FOLD // 2
        for step, first in enumerate(range(0, len(ids), BATCHES_A_FOLD)):
            group = ids[first : first + BATCHES_A_FOLD]
            for batch in group:
                await conn.execute(
                    "INSERT INTO adoption.batches (id, events) VALUES ($1, $2)", batch, len(batches[batch])
                )
                await conn.copy_records_to_table(
                    "events", schema_name="adoption", records=batches[batch], columns=CEILING_COLUMNS
                )
            if args.explain and step == middle:
                await explain(conn, group)
            before = process_cpu_seconds(backend)
            await aggregation.fold_all(conn, max_events=BATCHES_A_FOLD * 1000)
            cpu += process_cpu_seconds(backend) - before
            done += sum(len(batches[b]) for b in group)
            if done - stretch[1] >= 200_000 or first + BATCHES_A_FOLD >= len(ids):
                per_event = (cpu - stretch[0]) / (done - stretch[1]) * 1e6
                print(f"  events {stretch[1]:>9,} to {done:>9,}: {per_event:5.2f} µs an event")
                stretch = (cpu, done)
        print(f"fold, PostgreSQL backend CPU: {cpu / done * 1e6:.2f} µs an event over {done:,} events")
        return await checks(conn, ds)
    finally:
        await conn.close()


async def explain(conn: asyncpg.Connection, group: list[int]) -> None:
    """The plan of folding ``group``, in a transaction rolled back (the timed fold then does it)."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        for statement in fold_sql.FOLD_SETTINGS:
            await conn.execute(statement)
        plan = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + fold_sql.FOLD, group)]
    finally:
        await transaction.rollback()
    path = Path(__file__).parent / "results" / "adoption-fold-plan.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(plan) + "\n")
    print(f"  plan of the fold of batches {group[0]}-{group[-1]}: {path.relative_to(Path.cwd())} ({plan[-1]})")


async def checks(conn: asyncpg.Connection, ds: Dataset) -> int:
    pending = await conn.fetchval("SELECT count(*) FROM adoption.batches WHERE aggregated_at IS NULL")
    stats = {
        (r["unit_code"], r["audience"]): r["adopted"]
        for r in await conn.fetch("SELECT unit_code, audience, adopted FROM adoption.unit_stats")
    }
    daily = {
        (r["unit_code"], r["audience"]): r["total"]
        for r in await conn.fetch("SELECT unit_code, audience, sum(delta) AS total FROM adoption.daily GROUP BY 1, 2")
    }
    expected = ds.expected.by_unit
    ok = {
        "every batch folded": pending == 0,
        "daily deltas sum to the units' figures": all(daily.get(k, 0) == v for k, v in stats.items()),
        "units' figures as computed from the events": {k: stats.get(k, 0) for k in expected} == expected
        and stats.keys() <= expected.keys(),
    }
    for name, passed in ok.items():
        print(f"{name}: {'PASS' if passed else 'FAIL'}")
    return 0 if all(ok.values()) else 1


def main() -> int:
    args = parse_args()
    env = BenchEnv()
    try:
        env.create()
        upgrade_api(env.sqlalchemy_url)
        upgrade_adoption(env.sqlalchemy_url)
        return asyncio.run(run(env, args))
    finally:
        env.teardown()


if __name__ == "__main__":
    sys.exit(main())
