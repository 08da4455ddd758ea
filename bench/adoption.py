"""Benchmark of the adoption service: 1,000,000 app events in over HTTP until the summary shows them,
against the database's own ceiling (COPY of the same rows), and the per-unit metrics under pollers.

    uv run python -m bench.adoption                      # about 3 minutes on 2 cores
    uv run python -m bench.adoption --events 200000      # a quicker look

One run, in this order (details of the event stream in ``bench/adoption_support.py``):

1. a fresh database ``ioc_bench_<random>``: the registry's migrations (``auth``), then the adoption
   service's; 50 units with staff headcounts (through ``apply_unit_change``, as the registry's
   messages arrive), an ``app_backend`` key and an ``ops_centre`` key (both 1M requests/min).
   ``uvicorn services.adoption.app:create_app`` (one worker, uvloop, httptools) and
   ``python -m services.adoption.worker`` (the folding worker; its default batch limit and polling)
   as subprocesses, Redis database 11 under a queue prefix of the run's own;
2. 10k events (people drawn at random from the 1M run's, all of each one's events: the same mix) are
   POSTed and folded, then ``GET /v1/adoption/units`` is measured under 16 pollers (below);
3. the event tables are emptied (TRUNCATE events, batches, daily, unit_stats: as fresh as a new
   database) and a CHECKPOINT taken; then 1,000,000 events in 1,000 POSTs of 1,000 (pre-encoded
   bodies, 8 keep-alive connections, ``bench/adoption_load.py``). The clock runs from the first POST
   until ``GET /v1/adoption/summary`` shows the staff and citizens adopted that the bench computed
   itself from the events, read after the database says every batch is folded: the time includes the
   worker's folding;
4. ceiling: the same 1,000,000 rows (same event ids, keyed hashes, units, types, times) COPYed with
   asyncpg's ``copy_records_to_table`` into a table with ``adoption.events``' columns, checks and
   unique key (primary key on ``event_id``), in a scratch schema of the same database, after a
   CHECKPOINT; three times, once just before step 3 and twice after it, and the median run is the
   ceiling (one COPY lasts a few seconds, and such short runs vary from one to the next:
   ``docs/performance.md``, "Adoption");
5. ``GET /v1/adoption/units`` again at 1M events.

The pollers: 16 connections in a closed loop on the same URL (the screens), 2 s of warm-up then 10 s
measured, three runs at each size: ``cold`` (no If-None-Match, so every answer is a body, while
``adoption.state``'s version is bumped every second as folding does while events flow: each bump
makes the cached body stale), ``steady`` (no bump: the body computed once per version is served
from memory) and ``conditional`` (each poller sends the last ETag it got, with the bumps: mostly
304s, what screens really do).

Targets: events/s of the service / rows/s of the COPY >= 0.3; p99 of ``GET /units`` at 1M <= 1.5 x
its p99 at 10k (cold and steady); the worker's peak RSS (VmHWM) <= 250 MiB (the app's is reported).
Sanity: every POST answered 202 with every event accepted, the per-unit figures and the city's
daily time series equal the bench's own computation, 1M event rows with every batch folded (a batch
is a transaction: the POSTs stored together), as many people as the stream has (phones written in
several forms are one person), the daily deltas sum to the units' figures, the COPY wrote every
row, every GET answered 200 (or 304). CPU is split between the app, the worker, the run's PostgreSQL
backends, PostgreSQL's own processes, Redis, the load process, this bench process and "other" (the
rest of the machine: flagged when large). Results go to ``bench/results/adoption-<time>.json``, the
processes' logs to ``bench/results/logs/``; exit status 1 if a target or a check fails. The
database, the run's Redis keys and every process are removed in every case, Ctrl-C and errors
included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.adoption_support import (
    BATCHES,
    BUMP,
    EMPTY_EVENTS,
    AdoptionWorker,
    Dataset,
    LoadProcess,
    Meter,
    PySpy,
    World,
    copy_ceiling,
    copy_rows,
    database_checks,
    explain_hot_sql,
    hot_spots,
    make_dataset,
    make_partitions,
    make_world,
    postgres_settings,
    seed,
    write_bodies,
)
from bench.environment import BenchEnv
from bench.processes import ROOT, Child, Server

RESULTS = ROOT / "bench" / "results"
ADOPTION_REDIS_URL = "redis://127.0.0.1:6379/11"  # a database of its own: arq's cron keys are global
SUBJECT_KEY = "bench-subject-key-not-a-secret"
MIN_RATE_RATIO = 0.3
MAX_P99_GROWTH = 1.5
MAX_WORKER_RSS_MIB = 250.0
NOISE_PCT = 15  # CPU of other processes (% of one core) above which a run is flagged as noisy
UNITS_PATH = "/v1/adoption/units"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Adoption service: ingest vs COPY ceiling, GET /units p99, memory.")
    p.add_argument("--events", type=int, default=1_000_000, help="events of the timed ingest (1,000,000)")
    p.add_argument("--small-events", type=int, default=10_000, help="events of the first GET measurement (10,000)")
    p.add_argument("--per-request", type=int, default=1000, help="events per POST (1,000, the contract's maximum)")
    p.add_argument(
        "--post-connections", type=int, default=8, help="concurrent POST connections (8: a backlog being pushed)"
    )
    p.add_argument("--units", type=int, default=50, help="units (50)")
    p.add_argument("--days", type=int, default=60, help="days the events are spread over (60)")
    p.add_argument("--pollers", type=int, default=16, help="concurrent GET pollers (16)")
    p.add_argument("--get-warmup", type=float, default=2.0, help="unmeasured seconds of each GET run (2)")
    p.add_argument("--get-duration", type=float, default=10.0, help="measured seconds of each GET run (10)")
    p.add_argument("--bump-every", type=float, default=1.0, help="seconds between version bumps, cold runs (1)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds the 1M ingest may take (300)")
    p.add_argument("--seed", type=int, default=984, help="of the event stream (984)")
    p.add_argument(
        "--older-months",
        type=int,
        default=0,
        help="empty monthly partitions of events made before the stream's first month (0)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also py-spy the app during the big ingest (py-spy in the venv: uv pip install py-spy) and"
        " EXPLAIN ANALYZE the ingest INSERT and the folds on the loaded tables (figures then include the"
        " profiler's cost)",
    )
    return p.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def service_env(env: BenchEnv) -> dict[str, str]:
    """The IOC_* variables of the app and the worker."""
    return {
        "IOC_DATABASE_URL": env.sqlalchemy_url,
        "IOC_REDIS_URL": ADOPTION_REDIS_URL,
        "IOC_QUEUE_PREFIX": env.queue_prefix,
        "IOC_SUBJECT_HMAC_KEY": SUBJECT_KEY,
        "IOC_ENVIRONMENT": "bench",
        "IOC_LOG_LEVEL": "WARNING",
        "IOC_LOG_JSON": "true",
        # The weekly nudges would go to the notifier's queue (under our prefix) and add work to the
        # run if it crossed Monday 08:00 in Vietnam: due late on Sundays instead.
        "IOC_WEEKLY_NUDGE_WEEKDAY": "7",
        "IOC_WEEKLY_NUDGE_HOUR": "23",
    }


class Run:
    """The phases, against one database, app and worker."""

    def __init__(
        self,
        args: argparse.Namespace,
        env: BenchEnv,
        world: World,
        app: Server,
        worker: AdoptionWorker,
        keys: tuple[str, str],
        workdir: Path,
        logs: Path,
        run_id: str,
        children: list[Child],
    ) -> None:
        self.args, self.env, self.world, self.app, self.worker = args, env, world, app, worker
        self.backend_key, self.screens_key = keys
        self.workdir, self.logs, self.run_id, self.children = workdir, logs, run_id, children
        self.meter = Meter(
            env.database, {"app": app.pid, "worker": worker.pid}, app=app.cpu_seconds, worker=worker.cpu_seconds
        )
        self.base = f"http://127.0.0.1:{app.port}"

    def _spec(self, name: str, **spec: Any) -> Path:
        path = self.workdir / f"{name}.json"  # holds an API key: kept out of bench/results
        path.write_text(json.dumps({"host": "127.0.0.1", "port": self.app.port, "timeout": 60, **spec}))
        return path

    # --- ingest ---------------------------------------------------------------------------------

    async def ingest(self, ds: Dataset, limit_seconds: float, profile: bool = False) -> dict[str, Any]:
        """POST every body of ``ds``; the clock stops when the summary shows its expected totals."""
        assert ds.expected is not None
        bodies_file = self.workdir / f"bodies-{ds.name}.bin"
        counts = write_bodies(self.world, ds, bodies_file, self.args.per_request)
        expected = {"staff_adopted": ds.expected.staff_adopted, "citizens_adopted": ds.expected.citizens_adopted}
        spec = self._spec(
            f"post-{ds.name}",
            path="/v1/adoption/events",
            headers={"Authorization": f"Bearer {self.backend_key}"},
            bodies_file=str(bodies_file),
            connections=self.args.post_connections,
        )
        poster = LoadProcess(
            f"poster-{ds.name}", "post", spec, self.logs / f"{self.run_id}-adoption-post-{ds.name}.log"
        )
        self.children.append(poster)
        poster.start()  # bodies encoded into requests, connections open
        conn = await asyncpg.connect(self.env.dsn)
        http = httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {self.screens_key}"})
        report: dict[str, Any] | None = None
        outcome, polls, last_summary = "done", 0, {}
        spy = None
        if profile and PySpy.executable():
            spy = PySpy(
                self.app,
                self.logs / f"{self.run_id}-adoption-app.collapsed",
                self.logs / f"{self.run_id}-adoption-py-spy.log",
            )
            self.children.append(spy)
            spy.start()
            await asyncio.sleep(1.0)
        try:
            before = self.meter.read()
            poster.go()
            started = time.perf_counter()
            last_progress = settled_since = started

            async def summary() -> dict[str, Any]:
                nonlocal polls
                polls += 1
                response = await http.get("/v1/adoption/summary")
                response.raise_for_status()
                return response.json()

            while True:
                await asyncio.sleep(0.1)
                now = time.perf_counter()
                if report is None and poster.proc is not None and poster.proc.poll() is not None:
                    report = poster.result()
                    settled_since = now  # from here on, wait for the worker to go idle (below)
                last_summary = await summary()
                reached = all(last_summary[k] == v for k, v in expected.items())
                state = dict(await conn.fetchrow(BATCHES)) if reached or now - last_progress >= 10 else None
                if reached and state is not None:
                    folded = state["pending"] == 0  # batches: one per transaction, of one or more POSTs
                    if folded and state["events"] == ds.expected.events:
                        # Read after the database says all is folded: the summary shows everything.
                        last_summary = await summary()
                        if all(last_summary[k] == v for k, v in expected.items()):
                            done_wall = time.time()
                            break
                if state is not None and now - last_progress >= 10:
                    log(
                        f"  {ds.name}: {state['events']}/{ds.expected.events} events in,"
                        f" {state['pending']} batches to fold, after {now - started:.0f} s"
                    )
                    last_progress = now
                if report is not None:
                    # Every POST answered: if not all were accepted, or the totals never come, stop once
                    # the worker is idle for a while.
                    state = dict(await conn.fetchrow(BATCHES))
                    if state["pending"]:
                        settled_since = now
                    elif now - settled_since > 15:
                        outcome = "posts failed" if _post_failures(report, counts) else "summary never matched"
                        break
                if not self.app.alive() or not self.worker.alive():
                    outcome = "app or worker died"
                    break
                if now - started > limit_seconds:
                    outcome = "timed out"
                    break
            after = self.meter.read()
            if report is None:
                report = poster.result(timeout=120)
        finally:
            await http.aclose()
            await conn.close()
            poster.stop()
            bodies_file.unlink(missing_ok=True)
            if spy is not None:
                spy.stop()
                if report is not None:
                    report["app_hot_spots"] = hot_spots(spy.out)
        if outcome != "done":
            done_wall = time.time()
        elapsed = done_wall - report["first_send_wall"]
        posting = report["last_answer_wall"] - report["first_send_wall"]
        return {
            "outcome": outcome,
            "events": ds.expected.events,
            "people": ds.expected.people,
            "requests": len(counts),
            "expected_totals": expected,
            "summary": last_summary,
            "elapsed_seconds": round(elapsed, 3),
            "events_per_second": round(ds.expected.events / elapsed, 1),
            "posting_seconds": round(posting, 3),
            "posting_events_per_second": round(ds.expected.events / posting, 1) if posting else None,
            "fold_lag_after_last_post_seconds": round(done_wall - report["last_answer_wall"], 3),
            "summary_polls": polls,
            "accepted": sum(report["accepted"]),
            "post": {k: v for k, v in report.items() if k not in ("accepted", "app_hot_spots")},
            "app_hot_spots": report.get("app_hot_spots"),
            "post_failures": _post_failures(report, counts),
            "cpu_pct": Meter.pct(before, after, load=report["cpu_seconds"]),
        }

    # --- correctness ------------------------------------------------------------------------------

    async def verify(self, ds: Dataset) -> dict[str, Any]:
        """The service's figures against the bench's own: per unit, and the city's daily series."""
        assert ds.expected is not None
        exp = ds.expected
        async with httpx.AsyncClient(
            base_url=self.base, headers={"Authorization": f"Bearer {self.screens_key}"}, timeout=30
        ) as http:
            units = (await http.get(UNITS_PATH)).raise_for_status().json()
            first, last = self.world.first_day, self.world.last_day
            series = (
                (await http.get("/v1/adoption/timeseries", params={"from": str(first), "to": str(last)}))
                .raise_for_status()
                .json()
            )
        headcounts = {u.code: u.headcount for u in self.world.units}
        unit_mismatches = [
            row["unit_code"]
            for row in units
            if row["staff_adopted"] != exp.by_unit[(row["unit_code"], "staff")]
            or row["citizens_adopted"] != exp.by_unit[(row["unit_code"], "citizen")]
            or row["staff_total"] != headcounts[row["unit_code"]]
        ]
        want = exp.cumulative(first, last)
        got = [
            (date.fromisoformat(p["period_end"]), p["staff_adopted"], p["citizens_adopted"]) for p in series["points"]
        ]
        day_mismatches = [str(w[0]) for w, g in zip(want, got, strict=False) if w != g]
        database = await database_checks(self.env.dsn)
        ok = (
            len(units) == len(self.world.units)
            and not unit_mismatches
            and len(got) == len(want)
            and not day_mismatches
            and database["event_rows"] == exp.events
            and database["events"] == exp.events
            and database["pending"] == 0
            and database["people"] == exp.people
            and database["stats_daily_mismatches"] == 0
        )
        return {
            "pass": ok,
            "units": len(units),
            "unit_mismatches": unit_mismatches,
            "days": len(got),
            "day_mismatches": day_mismatches[:10],
            "people_expected": exp.people,
            "database": database,
        }

    # --- GET /units under pollers -----------------------------------------------------------------

    async def pollers(self, label: str) -> dict[str, Any]:
        conn = await asyncpg.connect(self.env.dsn)
        runs = {}
        try:
            for name, bump, conditional in (
                ("cold", True, False),
                ("steady", False, False),
                ("conditional", True, True),
            ):
                runs[name] = await self._poll(conn, label, name, bump, conditional)
        finally:
            await conn.close()
        return runs

    async def _poll(
        self, conn: asyncpg.Connection, label: str, name: str, bump: bool, conditional: bool
    ) -> dict[str, Any]:
        a = self.args
        log(f"  GET {UNITS_PATH} at {label}: {name} ({a.pollers} pollers, {a.get_warmup:g}+{a.get_duration:g} s)")
        await conn.execute(BUMP)  # each run starts on a version no body was computed for yet
        await asyncio.sleep(0.2)
        spec = self._spec(
            f"poll-{label}-{name}",
            path=UNITS_PATH,
            headers={"Authorization": f"Bearer {self.screens_key}"},
            connections=a.pollers,
            warmup=a.get_warmup,
            duration=a.get_duration,
            conditional=conditional,
            timeout=10,
        )
        poller = LoadProcess(
            f"poller-{label}-{name}", "poll", spec, self.logs / f"{self.run_id}-adoption-poll-{label}-{name}.log"
        )
        self.children.append(poller)
        poller.start()
        before = self.meter.read()
        bumps, next_bump = 0, time.monotonic() + a.bump_every
        assert poller.proc is not None
        while poller.proc.poll() is None:
            if bump and time.monotonic() >= next_bump:
                await conn.execute(BUMP)
                bumps += 1
                next_bump += a.bump_every
            await asyncio.sleep(0.02)
        after = self.meter.read()
        report = poller.result()
        report["bumps"] = bumps
        report["cpu_pct"] = Meter.pct(before, after, load=report["cpu_seconds"])
        return report

    async def empty(self) -> None:
        conn = await asyncpg.connect(self.env.dsn)
        try:
            for statement in EMPTY_EVENTS:
                await conn.execute(statement)
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    async def ceiling(self, ds: Dataset) -> dict[str, Any]:
        """One COPY of the dataset's rows. They are built anew each time: a million tuples kept in this
        process through the ingest would cost it collections, on the cores the service is measured on."""
        from services.adoption.subjects import SubjectHasher

        rows = copy_rows(self.world, ds, SubjectHasher(SUBJECT_KEY.encode()), self.args.per_request)
        return await copy_ceiling(self.env.dsn, rows, self.meter)


def median_ceiling(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The COPY run of median speed (its figures and CPU), with every run's rows/s in the order run."""
    median = sorted(runs, key=lambda r: r["rows_per_second"])[len(runs) // 2]
    return {
        **median,
        "runs_rows_per_second": [r["rows_per_second"] for r in runs],
        "every_run_complete": all(r["rows"] == median["rows"] for r in runs),
    }


def _post_failures(report: dict[str, Any], counts: list[int]) -> int:
    """POSTs not answered 202 with all their events accepted."""
    accepted = report["accepted"]
    return sum(1 for got, want in zip(accepted, counts, strict=False) if got != want) + len(counts) - len(accepted)


def _check(value: object, target: str, ok: bool, **detail: object) -> dict[str, Any]:
    return {"value": value, "target": target, "pass": ok, **detail}


def _ok_statuses(report: dict[str, Any], allowed: tuple[str, ...]) -> bool:
    return not report["errors"] and all(s in allowed for s in report["statuses_all"])


def evaluate(result: dict[str, Any]) -> dict[str, Any]:
    big, copy = result["ingest"], result["ceiling"]
    ratio = big["events_per_second"] / copy["rows_per_second"] if copy["rows_per_second"] else 0.0
    small_gets, big_gets = result["gets"]["small"], result["gets"]["large"]
    growth = {
        name: big_gets[name]["latency_ms"]["p99"] / small_gets[name]["latency_ms"]["p99"]
        for name in ("cold", "steady", "conditional")
    }
    worker_mib = result["memory_kib"]["worker"]["VmHWM"] / 1024
    gets_ok = all(
        _ok_statuses(r, ("200", "304") if name == "conditional" else ("200",))
        for runs in (small_gets, big_gets)
        for name, r in runs.items()
    )

    def noise(*phases: dict[str, Any]) -> dict[str, Any]:
        """The most CPU other processes took during the phases a figure comes from."""
        other = max(p["cpu_pct"]["other"] for p in phases)
        return {"other_cpu_pct_max": other, "noisy": other > NOISE_PCT}

    return {
        "rate_ratio": _check(round(ratio, 3), f">= {MIN_RATE_RATIO}", ratio >= MIN_RATE_RATIO, **noise(big, copy)),
        "units_p99_growth_cold": _check(
            round(growth["cold"], 2),
            f"<= {MAX_P99_GROWTH}",
            growth["cold"] <= MAX_P99_GROWTH,
            **noise(small_gets["cold"], big_gets["cold"]),
        ),
        "units_p99_growth_steady": _check(
            round(growth["steady"], 2),
            f"<= {MAX_P99_GROWTH}",
            growth["steady"] <= MAX_P99_GROWTH,
            **noise(small_gets["steady"], big_gets["steady"]),
        ),
        "worker_peak_rss_mib": _check(
            round(worker_mib, 1), f"<= {MAX_WORKER_RSS_MIB:g}", worker_mib <= MAX_WORKER_RSS_MIB
        ),
        # Sanity, not targets: without them the figures above would not mean what they say.
        "ingest_complete": _check(
            f"{big['accepted']}/{big['events']}",
            "every POST 202 with all events accepted; summary reached",
            big["outcome"] == "done"
            and big["post_failures"] == 0
            and result["ingest_small"]["outcome"] == "done"
            and result["ingest_small"]["post_failures"] == 0,
            outcome=big["outcome"],
            post_failures=big["post_failures"],
        ),
        "figures_match": _check(
            f"large: {'yes' if result['verify']['large']['pass'] else 'NO'},"
            f" small: {'yes' if result['verify']['small']['pass'] else 'NO'}",
            "per unit, daily series, rows, batches, people",
            result["verify"]["large"]["pass"] and result["verify"]["small"]["pass"],
        ),
        "ceiling_complete": _check(
            copy["rows"],
            f"{big['events']} rows in each run",
            copy["rows"] == big["events"] and copy["every_run_complete"],
        ),
        "gets_ok": _check("yes" if gets_ok else "NO", "all 200 (conditional: 200/304), no errors", gets_ok),
        "logs_clean": _check(
            result["logged_problems"],
            "no warning or error logged by the app or the worker (e.g. fold_failed)",
            not any(result["logged_problems"].values()),
        ),
    }


def print_table(result: dict[str, Any], checks: dict[str, Any], args: argparse.Namespace) -> None:
    def verdict(name: str) -> str:
        c = checks[name]
        noisy = f" (noisy: others took {c['other_cpu_pct_max']}% of a core)" if c.get("noisy") else ""
        return f"{c['value']!s:>8}  {c['target']:<7}  {'PASS' if c['pass'] else 'FAIL'}{noisy}"

    big, small, copy = result["ingest"], result["ingest_small"], result["ceiling"]
    sg, bg = result["gets"]["small"], result["gets"]["large"]
    mem = result["memory_kib"]

    def ms(r: dict[str, Any], k: str) -> str:
        return f"{r['latency_ms'][k]:.1f}"

    n_big = f"{big['events'] / 1e6:g}M" if big["events"] >= 1e6 else f"{big['events'] // 1000}k"
    n_small = f"{small['events'] // 1000}k"
    rows: list[tuple[str, object, object, str]] = [
        (
            f"ingest {n_big} events, events/s (service | COPY)",
            big["events_per_second"],
            copy["rows_per_second"],
            verdict("rate_ratio"),
        ),
        ("  elapsed s (first POST -> summary | COPY)", big["elapsed_seconds"], copy["elapsed_seconds"], ""),
        (
            "  COPY rows/s: before | after | after (median used)",
            "",
            " | ".join(f"{r / 1000:.0f}k" for r in copy["runs_rows_per_second"]),
            "",
        ),
        (
            "  of which posting s | fold lag after last POST s",
            big["posting_seconds"],
            big["fold_lag_after_last_post_seconds"],
            "",
        ),
        ("  POST p50 / p99 ms", f"{big['post']['latency_ms']['p50']} / {big['post']['latency_ms']['p99']}", "", ""),
        (f"  ({n_small} warm-up load: events/s)", small["events_per_second"], "", ""),
    ]
    for name in ("cold", "steady", "conditional"):
        target = {"cold": "units_p99_growth_cold", "steady": "units_p99_growth_steady"}.get(name)
        rows.append(
            (
                f"GET /units {name}: p99 ms ({n_small} | {n_big})",
                ms(sg[name], "p99"),
                ms(bg[name], "p99"),
                verdict(target)
                if target
                else f"{bg[name]['latency_ms']['p99'] / sg[name]['latency_ms']['p99']:>8.2f}  (info)",
            )
        )
        rows.append(
            (
                "  p50 ms | req/s",
                f"{ms(sg[name], 'p50')} | {sg[name]['throughput_rps']:.0f}",
                f"{ms(bg[name], 'p50')} | {bg[name]['throughput_rps']:.0f}",
                "",
            )
        )
    rows += [
        ("worker peak RSS, VmHWM MiB (worker | app)", round(mem["worker"]["VmHWM"] / 1024, 1),
         round(mem["app"]["VmHWM"] / 1024, 1), verdict("worker_peak_rss_mib")),
    ]  # fmt: skip
    print(f"\n{'':<50}{'':>16}{'':>16}   {'value':>8}  {'target':<7}  result")
    print("-" * 110)
    for label, a, b, extra in rows:
        print(f"{label:<50}{a!s:>16}{b!s:>16}   {extra}")
    print("-" * 110)
    keys = ("app", "worker", "pg_app", "pg_worker", "pg_rest", "postgres_bg", "redis", "load", "bench", "other")
    shown = {"postgres_bg": "pg_bg"}
    print(f"CPU, % of one core (this machine has {big['cpu_pct']['machine_capacity'] // 100} cores):")
    print(f"  {'':<22}" + "".join(f"{shown.get(k, k):>10}" for k in keys))
    phases = [("ingest", big), ("ceiling COPY", copy)] + [
        (f"GET {size} {name}", runs[name]) for size, runs in ((n_small, sg), (n_big, bg)) for name in runs
    ]
    for label, r in phases:
        print(f"  {label:<22}" + "".join(f"{r['cpu_pct'].get(k, 0):>10}" for k in keys))
    print("  pg_app / pg_worker: the PostgreSQL backends serving the app / the worker (ingest INSERTs / folding);")
    print("  pg_rest: the run's other backends (the bench's: summary checks, version bumps, the COPY);")
    print("  pg_bg: PostgreSQL's own processes; load: poster/pollers; bench: this process; other: the rest")
    for name in ("ingest_complete", "figures_match", "ceiling_complete", "gets_ok", "logs_clean"):
        c = checks[name]
        print(f"{name}: {c['value']} (expect {c['target']})  {'PASS' if c['pass'] else 'FAIL'}")
    if spots := big.get("app_hot_spots"):
        print(f"App during the ingest, py-spy ({spots['samples']} samples), % of samples:")
        print("  self:      " + "\n             ".join(f"{pct:5.1f}  {frame}" for pct, frame in spots["self"][:10]))
        print(
            "  inclusive: "
            + "\n             ".join(f"{pct:5.1f}  {frame}" for pct, frame in spots["inclusive_ours"][:12])
        )
    if explain := result.get("explain_ms"):
        print("EXPLAIN ANALYZE on the loaded tables, ms: " + ", ".join(f"{k}: {v:.1f}" for k, v in explain.items()))
    noisy = [f"{label} ({r['cpu_pct']['other']}%)" for label, r in phases if r["cpu_pct"]["other"] > NOISE_PCT]
    if noisy:
        print(f"WARNING: other processes used over {NOISE_PCT}% of a core during: {', '.join(noisy)}.")
        print("         The figures from those phases are noisy: rerun on a quiet machine.")


def _sigterm(*_: object) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks, like Ctrl-C does


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _sigterm)
    for name in [k for k in os.environ if k.startswith("IOC_")]:  # the processes get exactly ours
        log(f"ignoring {name} from the environment")
        del os.environ[name]
    run_id = time.strftime("%Y%m%d-%H%M%S")
    logs = RESULTS / "logs"
    env = BenchEnv(redis_url=ADOPTION_REDIS_URL)
    # arq's cron job keys cannot be prefixed: the folding safety net's, the weekly job's, the partitions'.
    env.extra_redis_patterns = [
        "arq:*adoption.batches.fold*",
        "arq:*adoption.weekly.notify*",
        "arq:*adoption.partitions.keep*",
    ]
    children: list[Child] = []
    result: dict[str, Any] = {"run_id": run_id, "config": vars(args)}
    started = time.monotonic()
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # the bodies (~175 MB) stay off the disk
    try:
        with tempfile.TemporaryDirectory(prefix="ioc-bench-", dir=shm) as tmp:
            from services.adoption.migrations import upgrade as upgrade_adoption
            from services.api.migrations import upgrade as upgrade_api

            log(f"setting up database {env.database} ...")
            env.create()
            upgrade_api(env.sqlalchemy_url)
            upgrade_adoption(env.sqlalchemy_url)
            made = asyncio.run(make_partitions(env.dsn, args.days, older_months=args.older_months))
            log(f"event partitions: {made[0]} to {made[-1]} ({len(made)})")
            log(f"generating {args.events} events ...")
            world = make_world(args.events, units=args.units, days=args.days, seed=args.seed)
            keys = asyncio.run(seed(env.sqlalchemy_url, world.units))
            large = make_dataset(world, "large")
            small = make_dataset(world, "small", args.small_events)
            senv = service_env(env)
            app = Server("adoption-app", "services.adoption.app:create_app", senv, logs / f"{run_id}-adoption-app.log")
            children.append(app)
            app.start()
            health = f"{env.queue_prefix}:adoption:health-check"
            worker = AdoptionWorker(senv, logs / f"{run_id}-adoption-worker.log", ADOPTION_REDIS_URL, health)
            children.append(worker)
            worker.start()
            run = Run(args, env, world, app, worker, keys, Path(tmp), logs, run_id, children)

            async def phases() -> None:
                log(f"{small.name}: {args.small_events} events ...")
                result["ingest_small"] = await run.ingest(small, limit_seconds=60)
                result["verify_small"] = await run.verify(small)
                result["gets_small"] = await run.pollers(f"{args.small_events // 1000}k")
                # The ceiling is measured three times, once before the ingest and twice after, and its
                # median is the baseline: one COPY of a few seconds varies from one run to the next,
                # and the machine drifts meanwhile (docs/performance.md, "Adoption").
                log("ceiling: COPY of the same rows, before the ingest ...")
                ceilings = [await run.ceiling(large)]
                log(f"  {ceilings[-1]['rows']} rows in {ceilings[-1]['elapsed_seconds']} s")
                await run.empty()
                log(f"ingest: {args.events} events in {len(large.order) // args.per_request} POSTs ...")
                result["ingest"] = await run.ingest(large, limit_seconds=args.timeout, profile=args.profile)
                log(f"  {result['ingest']['outcome']} in {result['ingest']['elapsed_seconds']} s")
                result["verify_large"] = await run.verify(large)
                if args.profile:
                    result["explain_ms"], result["explain_plans"] = await explain_hot_sql(env.dsn)
                    log(f"  EXPLAIN ANALYZE, ms: {result['explain_ms']}")
                log("ceiling: COPY of the same rows, twice after the ingest ...")
                for _ in range(2):
                    ceilings.append(await run.ceiling(large))
                    log(f"  {ceilings[-1]['rows']} rows in {ceilings[-1]['elapsed_seconds']} s")
                result["ceiling"] = median_ceiling(ceilings)
                result["gets_large"] = await run.pollers(f"{args.events // 1000}k")
                result["postgres"] = await postgres_settings(env.dsn)

            asyncio.run(phases())
            if "explain_plans" in result:
                plans = logs / f"{run_id}-adoption-explain.txt"
                plans.write_text(result.pop("explain_plans"))
                log(f"  plans: {plans.relative_to(ROOT)}")
            result["memory_kib"] = {"worker": worker.memory_kib(), "app": app.memory_kib()}
            result["logged_problems"] = {
                name: _count_problems(child.log_path) for name, child in (("app", app), ("worker", worker))
            }
    finally:
        log("cleaning up ...")
        for child in reversed(children):
            with contextlib.suppress(Exception):
                child.stop()
        env.teardown()

    result["gets"] = {"small": result.pop("gets_small"), "large": result.pop("gets_large")}
    result["verify"] = {"small": result.pop("verify_small"), "large": result.pop("verify_large")}
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_end": os.getloadavg(),
        "postgres": result.pop("postgres", {}),
    }
    result["runtime_seconds"] = round(time.monotonic() - started, 1)
    checks = evaluate(result)
    result["checks"] = checks
    print_table(result, checks, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"adoption-{run_id}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"\nresults: {path.relative_to(ROOT)} (run took {result['runtime_seconds']:.0f} s)")
    return 0 if all(c["pass"] for c in checks.values()) else 1


def _count_problems(path: Path) -> int:
    """Warnings and errors the process logged (log level WARNING: nothing else is written)."""
    try:
        return sum(1 for line in path.read_text(errors="replace").splitlines() if line.strip())
    except OSError:
        return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything was cleaned up on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
