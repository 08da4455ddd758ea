"""Benchmark of the notifier's lanes: a confirmation's time from its registration's 201 to its SMS at the
gateway, first with nothing queued (the baseline), then with a backlog of bulk jobs being worked off.

    uv run python -m bench.lanes            # 50,000 bulk jobs, 2 registrations a second for 30 s a phase
    uv run python -m bench.lanes --quick    # 20,000 bulk jobs, 10 s a phase
    uv run python -m bench.lanes --help

One run, in this order:

1. a fresh database ``ioc_bench_<random>`` (the registry's migrations and the notifier's, units, one
   directive addressing them all, an office key), Redis database 10 under a queue prefix of the run's
   own, and the two sinks of ``bench/sinks.py`` in processes of their own (SMTP; an eSMS-shaped gateway
   that keeps each SMS's arrival time by phone). As subprocesses, like ``make run`` starts them: the
   registry's HTTP app (one uvicorn worker), its worker (``python -m services.api.worker``: the outbox
   relay, acknowledgements) and the notifier's worker (``python -m services.notifier.worker``: its
   defaults, SMTP to the sink, the gateway provider on the SMS sink, rate limits off, SMS quiet hours
   moved away from the run, no metrics port);
2. warm-up: a few registrations, their SMS awaited, not measured;
3. baseline: registrations posted over HTTP on a fixed schedule (``--rate`` a second for
   ``--duration`` seconds, each a new focal point of a unit of its own with a mobile number of its
   own), each in a task of its own so a slow answer delays no later post. A confirmation's latency
   runs from the moment its 201 reached the bench to the moment its SMS reached the gateway sink (both
   read from this machine's clock); the bench then waits for every confirmation's SMS;
4. backlog: ``--bulk`` AdoptionNudge messages (each to a unit of its own with an e-mail and a mobile:
   one e-mail and one SMS) enqueued on the bulk lane with ``shared.queues.enqueue_message``, many at a
   time; once the notifier has been sending them for ``--settle`` seconds, the same registrations
   again, measured the same way while the backlog drains. The bulk lane's queue is sampled at the start
   and end of the measurement: a large part of the backlog must still be waiting when the last
   confirmation arrives, or the run did not measure what it claims.

For each confirmation the stages come from the records the services keep anyway: the 201 (bench), the
relay's enqueue and the priority lane's start (the arq result of the outbox row's job), the
notification row's insert (``notify.notifications.created_at``), the SMS at the gateway (sink) and the
recorded ``sent_at``: where a slow confirmation waited is in the table.

Target: p99 of the latency with the backlog <= 2 s (exit status 1 when missed). Checks: every
registration answered 201; every confirmation SMS arrived exactly once, no duplicate at either sink;
at least half of the backlog still queued when the last confirmation arrived; the notifier worker's
peak RSS (VmHWM) <= 200 MiB. CPU is split between the processes as in ``bench/notifier.py``. Results
go to ``bench/results/lanes-<time>.json``, the processes' logs to ``bench/results/logs/``; the
database, the run's Redis keys (its prefix, and arq's keys of its jobs and their results) and every
process are removed in every case, Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.environment import LANES_REDIS_URL, BenchEnv, postgres_version
from bench.notifier import Meter, count_log_events, worker_env
from bench.processes import ROOT, Child, Server, WorkerChild
from bench.sinks import Sink
from shared import queues
from shared.contracts import BULK, NOTIFIER, PRIORITY, REGISTRY, AdoptionNudge, UnitRef
from shared.phones import national_format
from shared.settings import CommonSettings
from shared.timeutil import to_vietnam, utcnow

RESULTS = ROOT / "bench" / "results"
TARGET_P99_SECONDS = 2.0
MAX_PEAK_RSS_MIB = 200.0
MIN_BACKLOG_LEFT = 0.5  # share of the bulk jobs still queued when the last confirmation arrives
NOISE_PCT = 15  # CPU of other processes (% of one core) above which a run is flagged as noisy
WARMUP_REGISTRATIONS = 4
REGISTRATION_PHONES = "091"  # national prefix of the focal points' mobiles (the nudged units': 098)
NAMES = ("Nguyễn Văn An", "Trần Thị Ngọc Ánh", "Lê Hoàng Đức", "Phạm Thu Hương", "Vũ Minh Quân")
STAGES = ("relay", "pickup", "create", "send", "record")
STAGE_LABELS = {
    "relay": "201 -> enqueued by the relay",
    "pickup": "enqueued -> job started",
    "create": "job started -> row inserted",
    "send": "row inserted -> SMS at gateway",
    "record": "SMS at gateway -> sent_at",
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="A confirmation's 201-to-SMS latency, without and with a backlog in the notifier's bulk lane."
    )
    p.add_argument("--bulk", type=int, default=50_000, help="AdoptionNudge jobs queued on the bulk lane (50000)")
    p.add_argument("--rate", type=float, default=2.0, help="registrations a second in each phase (2)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of registrations in each phase (30)")
    p.add_argument("--settle", type=float, default=5.0, help="seconds of nudges sent before measuring (5)")
    p.add_argument("--enqueue-concurrency", type=int, default=256, help="bulk enqueues in flight (256)")
    p.add_argument("--concurrency", type=int, default=100, help="IOC_WORKER_CONCURRENCY, jobs a lane (100)")
    p.add_argument("--smtp-connections", type=int, default=4, help="IOC_SMTP_CONNECTIONS, a lane's (4)")
    p.add_argument("--arrival-timeout", type=float, default=60.0, help="seconds to wait for the last SMS (60)")
    p.add_argument("--quick", action="store_true", help="a quicker look: --bulk 20000 --duration 10")
    args = p.parse_args()
    if args.quick:
        args.bulk, args.duration = 20_000, 10.0
    return args


def current_week() -> str:
    year, week, _ = to_vietnam(utcnow()).isocalendar()
    return f"{year}-W{week:02d}"


def nudges(count: int, queue_prefix: str) -> list[tuple[str, AdoptionNudge]]:
    """(job id, message): ``count`` nudges to distinct units, each with an e-mail and a mobile, so each
    gives one e-mail and one SMS (distinct numbers: the daily SMS cap holds none). Job ids carry the
    run's prefix, so that its arq keys are recognisable."""
    now, week = utcnow(), current_week()
    out = []
    for i in range(count):
        unit = UnitRef(
            code=f"BK{i:05d}",
            name=f"Phường Bãi Cháy {i}",
            kind="ward",
            email=f"ubnd.bk{i:05d}@halong.example",
            phone=f"+8498{i:07d}",  # 098 + 7 digits: a distinct mobile each
        )
        message = AdoptionNudge(
            message_id=uuid.uuid4(),
            occurred_at=now,
            unit=unit,
            week=week,
            staff_total=120,
            staff_adopted=30,
            staff_rate=0.25,
            target_rate=0.8,
        )
        out.append((f"{queue_prefix}-nudge-{i}", message))
    return out


def registration_body(env: BenchEnv, n: int) -> dict[str, Any]:
    """Registration ``n``: a new focal point for unit ``n`` (each unit registers once, so no
    superseded version and no extra e-mail), with a mobile of its own."""
    return {
        "directive_id": env.directive_id,
        "unit_code": env.unit_codes[n],
        "full_name": f"{NAMES[n % len(NAMES)]} {n}",
        "position": "Chuyên viên",
        "phone": f"{REGISTRATION_PHONES}{n:07d}",
        "email": f"dau.moi{n:04d}@halong.example",
    }


def gateway_phone(n: int) -> str:
    """Registration ``n``'s phone as the gateway receives it (national form, no spaces)."""
    return national_format(f"+84{REGISTRATION_PHONES[1:]}{n:07d}").replace(" ", "")


async def post_registrations(
    client: httpx.AsyncClient, env: BenchEnv, first: int, count: int, rate: float
) -> list[dict[str, Any]]:
    """Post registrations ``first .. first+count-1`` due at fixed times ``rate`` a second (open loop);
    each record holds when its answer reached the bench (Unix seconds) and its status."""
    start = time.perf_counter() + 0.05
    records: list[dict[str, Any]] = []

    async def one(k: int) -> None:
        n = first + k
        await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
        record: dict[str, Any] = {"n": n, "phone": gateway_phone(n), "posted_at": time.time()}
        try:
            response = await client.post("/v1/registrations", json=registration_body(env, n))
            record["answered_at"] = time.time()
            record["status"] = response.status_code
            if response.status_code == 201:
                record["focal_point_id"] = response.json()["id"]
        except httpx.HTTPError as exc:
            record["answered_at"], record["status"] = time.time(), type(exc).__name__
        records.append(record)

    await asyncio.gather(*(one(k) for k in range(count)))
    return sorted(records, key=lambda r: r["n"])


async def await_arrivals(sms: Sink, phones: list[str], patience: float) -> dict[str, list[float]]:
    """The gateway's arrival times of ``phones``' SMS, once all have one (or ``patience`` s passed)."""
    deadline = time.monotonic() + patience
    while True:
        arrivals = await asyncio.to_thread(sms.arrivals, REGISTRATION_PHONES)
        if all(p in arrivals for p in phones) or time.monotonic() > deadline:
            return {p: arrivals.get(p, []) for p in phones}
        await asyncio.sleep(0.25)


def quantiles(values: list[float]) -> dict[str, float | None]:
    """Count, p50, p95, p99 and max. Nearest rank: a quantile q is the smallest value that at least a
    share q of the values do not exceed, so of fewer than a hundred values p99 is the largest."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(round(q * len(ordered), 6)) - 1)]

    return {"n": len(ordered), "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1]}


class Phase:
    """One measured phase: registrations posted, their confirmations awaited, the stages looked up."""

    def __init__(self, name: str, first: int, count: int) -> None:
        self.name, self.first, self.count = name, first, count
        self.records: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}

    async def run(
        self, client: httpx.AsyncClient, env: BenchEnv, sms: Sink, args: argparse.Namespace, meter: Meter | None
    ) -> None:
        before = meter.read() if meter else None
        self.records = await post_registrations(client, env, self.first, self.count, args.rate)
        self.extra["posted_until"] = time.time()
        if meter and before:
            self.extra["cpu_pct"] = Meter.pct(before, meter.read())
        arrivals = await await_arrivals(sms, [r["phone"] for r in self.records], args.arrival_timeout)
        self.extra["arrivals_complete_at"] = time.time()
        for record in self.records:
            record["arrivals"] = arrivals[record["phone"]]
            if record["arrivals"] and "answered_at" in record:
                record["latency"] = record["arrivals"][0] - record["answered_at"]

    def summary(self) -> dict[str, Any]:
        latencies = [r["latency"] for r in self.records if "latency" in r]
        stages = {s: [r["stages"][s] for r in self.records if s in r.get("stages", {})] for s in STAGES}
        http = [r["answered_at"] - r["posted_at"] for r in self.records]
        return {
            "registrations": self.count,
            "created_201": sum(r["status"] == 201 for r in self.records),
            "statuses": _tally(str(r["status"]) for r in self.records),
            "confirmations_arrived": sum(bool(r["arrivals"]) for r in self.records),
            "confirmations_repeated": sum(len(r["arrivals"]) > 1 for r in self.records),
            "latency_s": quantiles(latencies),
            "http_s": quantiles(http),
            "stages_s": {s: quantiles(v) for s, v in stages.items()},
            **self.extra,
        }


def _tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


STAGE_QUERY = """
SELECT o.ref->>'focal_point_id' AS focal_point_id, o.id::text AS message_id,
       extract(epoch FROM n.created_at)::float8 AS created, extract(epoch FROM n.sent_at)::float8 AS sent,
       n.status, n.attempts, n.lane
FROM registry.outbox o
LEFT JOIN notify.notifications n ON n.message_id = o.id AND n.channel = 'sms'
WHERE o.job_name = 'notifier.focal_point.registered'
"""


async def add_stages(env: BenchEnv, phases: list[Phase]) -> None:
    """Each confirmation's stages, from the outbox row, its job's arq result and its SMS row."""
    conn = await asyncpg.connect(env.dsn)
    try:
        rows = {r["focal_point_id"]: dict(r) for r in await conn.fetch(STAGE_QUERY)}
    finally:
        await conn.close()
    redis = queues.client(CommonSettings(redis_url=env.redis_url, queue_prefix=env.queue_prefix))
    try:
        ids = [row["message_id"] for row in rows.values()]
        results = await redis.mget([f"arq:result:{i}" for i in ids]) if ids else []
    finally:
        await redis.aclose()
    jobs = {i: json.loads(raw) for i, raw in zip(ids, results, strict=True) if raw}
    for phase in phases:
        for record in phase.records:
            row = rows.get(record.get("focal_point_id", ""))
            if row is None:
                continue
            job = jobs.get(row["message_id"], {})
            record.update(notification_status=row["status"], attempts=row["attempts"], lane=row["lane"])
            marks = {
                "answered": record["answered_at"],
                "enqueued": job["et"] / 1000 if "et" in job else None,
                "started": job["st"] / 1000 if "st" in job else None,
                "created": row["created"],
                "arrived": record["arrivals"][0] if record["arrivals"] else None,
                "sent": row["sent"],
            }
            points = ("answered", "enqueued", "started", "created", "arrived", "sent")
            record["stages"] = {
                stage: marks[b] - marks[a]
                for stage, a, b in zip(STAGES, points[:-1], points[1:], strict=True)
                if marks[a] is not None and marks[b] is not None
            }


class Backlog:
    """The bulk lane's queue and the nudges' notifications, sampled."""

    def __init__(self, settings: CommonSettings) -> None:
        self.queue = queues.queue_name(settings, NOTIFIER, BULK)

    async def sample(self, redis: queues.ArqRedis, conn: asyncpg.Connection) -> dict[str, Any]:
        queued = await redis.zcard(self.queue)
        sent = await conn.fetchval(
            "SELECT count(*) FROM notify.notifications WHERE kind = 'adoption_lagging' AND status = 'sent'"
        )
        return {"at": time.time(), "queued": queued, "nudge_notifications_sent": sent}


async def enqueue_backlog(
    redis: queues.ArqRedis, settings: CommonSettings, messages: list[tuple[str, AdoptionNudge]], in_flight: int
) -> dict[str, Any]:
    """Enqueue every nudge through ``shared.queues.enqueue_message``, ``in_flight`` at a time."""
    slots = asyncio.Semaphore(in_flight)
    refused = 0

    async def one(job_id: str, message: AdoptionNudge) -> None:
        nonlocal refused
        async with slots:
            if not await queues.enqueue_message(redis, settings, message, job_id=job_id):
                refused += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(job_id, m) for job_id, m in messages))
    return {
        "enqueued": len(messages) - refused,
        "refused": refused,
        "seconds": round(time.perf_counter() - started, 2),
        "bench_cpu_seconds": round(time.process_time() - cpu, 2),
    }


async def measure(
    env: BenchEnv, args: argparse.Namespace, server: Server, sms: Sink, meter: Meter, notifier: Child
) -> dict[str, Any]:
    """Warm-up, baseline, backlog; returns both phases' summaries and the backlog's samples."""
    settings = CommonSettings(redis_url=env.redis_url, queue_prefix=env.queue_prefix)
    per_phase = round(args.rate * args.duration)
    redis = await queues.connect(settings)
    conn = await asyncpg.connect(env.dsn)
    headers = {"Authorization": f"Bearer {env.api_key}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    backlog = Backlog(settings)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", headers=headers, limits=limits, timeout=30
        ) as client:
            print(f"warm-up: {WARMUP_REGISTRATIONS} registrations ...", file=sys.stderr, flush=True)
            warmup = Phase("warm-up", 0, WARMUP_REGISTRATIONS)
            await warmup.run(client, env, sms, args, None)

            print(f"baseline: {per_phase} registrations at {args.rate:g}/s ...", file=sys.stderr, flush=True)
            baseline = Phase("baseline", WARMUP_REGISTRATIONS, per_phase)
            await baseline.run(client, env, sms, args, meter)
            baseline.extra["backlog_end"] = await backlog.sample(redis, conn)

            print(f"backlog: enqueueing {args.bulk} AdoptionNudge jobs on the bulk lane ...", file=sys.stderr)
            messages = await asyncio.to_thread(nudges, args.bulk, env.queue_prefix)
            enqueue = await enqueue_backlog(redis, settings, messages, args.enqueue_concurrency)
            del messages
            enqueued = await backlog.sample(redis, conn)
            print(
                f"  enqueued in {enqueue['seconds']} s; {enqueued['queued']} queued,"
                f" {enqueued['nudge_notifications_sent']} nudge notifications sent so far",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(args.settle)
            if not notifier.alive():
                raise RuntimeError(f"the notifier worker died:\n{notifier.log_tail()}")
            start = await backlog.sample(redis, conn)
            settle_rate = (start["nudge_notifications_sent"] - enqueued["nudge_notifications_sent"]) / (
                start["at"] - enqueued["at"]
            )
            print(
                f"backlog: {per_phase} registrations at {args.rate:g}/s, {start['queued']} bulk jobs queued,"
                f" nudges going out at {settle_rate:.0f} notifications/s ...",
                file=sys.stderr,
                flush=True,
            )
            loaded = Phase("backlog", WARMUP_REGISTRATIONS + per_phase, per_phase)
            await loaded.run(client, env, sms, args, meter)
            end = await backlog.sample(redis, conn)
            end["at_last_confirmation"] = loaded.extra["arrivals_complete_at"]
            # The queue when the last confirmation arrived: the sample above is at most a poll later.
            loaded.extra.update(
                enqueue=enqueue,
                backlog_enqueued=enqueued,
                backlog_start=start,
                backlog_end=end,
                settle_rate_per_second=round(settle_rate, 1),
                nudge_rate_per_second=round(
                    (end["nudge_notifications_sent"] - start["nudge_notifications_sent"]) / (end["at"] - start["at"]),
                    1,
                ),
            )
    finally:
        await conn.close()
        await redis.aclose()
    await add_stages(env, [warmup, baseline, loaded])
    return {"warmup": warmup, "baseline": baseline, "backlog": loaded}


def _check(value: object, target: str, ok: bool, **detail: object) -> dict[str, Any]:
    return {"value": value, "target": target, "pass": ok, **detail}


def evaluate(
    baseline: dict[str, Any], loaded: dict[str, Any], sinks: dict[str, Any], memory_kib: dict[str, int], bulk: int
) -> dict[str, Any]:
    p99 = loaded["latency_s"]["p99"]
    peak_mib = memory_kib["VmHWM"] / 1024
    left = loaded["backlog_end"]["queued"]
    duplicates = sinks["email"]["duplicates"] + sinks["sms"]["duplicates"]
    phases = (baseline, loaded)
    created = sum(p["created_201"] for p in phases)
    posted = sum(p["registrations"] for p in phases)
    once = sum(p["confirmations_arrived"] - p["confirmations_repeated"] for p in phases)
    complete = all(p["latency_s"]["n"] == p["registrations"] for p in phases)
    return {
        "backlog_p99_s": _check(
            round(p99, 3) if p99 is not None else None,
            f"<= {TARGET_P99_SECONDS:g} s",
            p99 is not None and complete and p99 <= TARGET_P99_SECONDS,
        ),
        "all_201": _check(f"{created}/{posted}", "all 201", created == posted),
        "confirmations_once": _check(f"{once}/{posted}", "all once", once == posted and complete),
        "sink_duplicates": _check(duplicates, "0", duplicates == 0),
        # The lane was busy throughout: nudges went out during the measurement, and many still waited.
        "backlog_left": _check(
            left,
            f">= {MIN_BACKLOG_LEFT * bulk:g}",
            left >= MIN_BACKLOG_LEFT * bulk and loaded["nudge_rate_per_second"] > 0,
            nudge_rate_per_second=loaded["nudge_rate_per_second"],
        ),
        "worker_peak_rss_mib": _check(round(peak_mib, 1), f"<= {MAX_PEAK_RSS_MIB:g}", peak_mib <= MAX_PEAK_RSS_MIB),
    }


CPU_KEYS = ("notifier", "registry", "registry_worker", "postgres", "postgres_bg", "redis", "sinks", "bench", "other")


def print_table(result: dict[str, Any]) -> None:
    b, n, checks = result["baseline"], result["backlog"], result["checks"]

    def s(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    def verdict(name: str) -> str:
        c = checks[name]
        return f"{c['value']!s:>8}  {c['target']:<8}  {'PASS' if c['pass'] else 'FAIL'}"

    ratio = result["p99_ratio"]
    rows = [
        ("registrations posted / answered 201", f"{b['registrations']} / {b['created_201']}",
         f"{n['registrations']} / {n['created_201']}", verdict("all_201")),
        ("201 -> SMS at gateway, p50 (s)", s(b["latency_s"]["p50"]), s(n["latency_s"]["p50"]), ""),
        ("  p95 (s)", s(b["latency_s"]["p95"]), s(n["latency_s"]["p95"]), ""),
        ("  p99 (s)", s(b["latency_s"]["p99"]), s(n["latency_s"]["p99"]), verdict("backlog_p99_s")),
        ("  max (s)", s(b["latency_s"]["max"]), s(n["latency_s"]["max"]), ""),
        ("  backlog p99 / baseline p99", "", "-" if ratio is None else f"{ratio:.2f}", ""),
        ("POST /v1/registrations, p50 / max (s)", f"{s(b['http_s']['p50'])} / {s(b['http_s']['max'])}",
         f"{s(n['http_s']['p50'])} / {s(n['http_s']['max'])}", ""),
    ]  # fmt: skip
    for stage in STAGES:
        rows.append(
            (
                f"  {STAGE_LABELS[stage]}, p50 / p99",
                f"{s(b['stages_s'][stage]['p50'])} / {s(b['stages_s'][stage]['p99'])}",
                f"{s(n['stages_s'][stage]['p50'])} / {s(n['stages_s'][stage]['p99'])}",
                "",
            )
        )
    start, end = n["backlog_start"], n["backlog_end"]
    rows += [
        ("bulk jobs queued: start / end of measurement", f"0 / {b['backlog_end']['queued']}",
         f"{start['queued']} / {end['queued']}", verdict("backlog_left")),
        ("nudge notifications sent a second", "-", n["nudge_rate_per_second"], ""),
        ("confirmation SMS at the gateway once / repeated",
         f"{b['confirmations_arrived'] - b['confirmations_repeated']} / {b['confirmations_repeated']}",
         f"{n['confirmations_arrived'] - n['confirmations_repeated']} / {n['confirmations_repeated']}",
         verdict("confirmations_once")),
        ("duplicates at the sinks (whole run): e-mail / SMS", "",
         f"{result['sinks']['email']['duplicates']} / {result['sinks']['sms']['duplicates']}",
         verdict("sink_duplicates")),
        ("notifier worker peak RSS, VmHWM (MiB)", "", round(result["memory_kib"]["notifier"]["VmHWM"] / 1024, 1),
         verdict("worker_peak_rss_mib")),
    ]  # fmt: skip
    print(f"\n{'':<50}{'baseline':>16}{'backlog':>18}   {'value':>8}  {'target':<8}  result")
    print("-" * 118)
    for label, x, y, extra in rows:
        print(f"{label:<50}{x!s:>16}{y!s:>18}   {extra}")
    print("-" * 118)
    enqueue = n["enqueue"]
    print(
        f"backlog: {enqueue['enqueued']} AdoptionNudge jobs enqueued in {enqueue['seconds']} s"
        f" ({result['config']['enqueue_concurrency']} in flight); nudge notifications sent:"
        f" {start['nudge_notifications_sent']} before the measurement, {end['nudge_notifications_sent']} at its end"
    )
    print("CPU, % of one core (this machine has", b["cpu_pct"]["machine_capacity"] // 100, "cores):")
    print(f"  {'':<10}" + "".join(f"{k:>16}" for k in CPU_KEYS))
    for name, phase in (("baseline", b), ("backlog", n)):
        print(f"  {name:<10}" + "".join(f"{phase['cpu_pct'].get(k, '-'):>16}" for k in CPU_KEYS))
    noisy = max(phase["cpu_pct"]["other"] for phase in (b, n))
    if noisy > NOISE_PCT:
        print(f"WARNING: other processes used up to {noisy}% of a core during a phase: figures are noisy, rerun.")


def cron_markers() -> list[str]:
    """Patterns of arq's in-progress markers of the workers' cron jobs (``arq:in-progress:NAME:TIME``):
    arq keeps one for a while after each run, and nothing in it names the run's queues."""
    from services.api.settings import RegistrySettings
    from services.api.worker import build_worker as registry_worker
    from services.notifier.settings import NotifierSettings
    from services.notifier.worker import build_worker as notifier_worker

    workers = (registry_worker(RegistrySettings()), notifier_worker(NotifierSettings()))
    names = [job.name for w in workers for consumer in w.consumers for job in consumer.cron_jobs]
    return [f"arq:in-progress:{name}:*" for name in names]


def _sigterm(*_: object) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks, like Ctrl-C does


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _sigterm)
    for name in [k for k in os.environ if k.startswith("IOC_")]:  # the services get exactly ours
        print(f"ignoring {name} from the environment", file=sys.stderr)
        del os.environ[name]
    run_id = time.strftime("%Y%m%d-%H%M%S")
    logs = RESULTS / "logs"
    env = BenchEnv(redis_url=LANES_REDIS_URL, arq_jobs=True)
    # The nudges' job ids carry the prefix; the services' own jobs are found through their queues and
    # results (``arq_jobs``). The cron jobs' markers name no run: removing another run's costs it one
    # more run of a cron job, which each of them allows.
    env.extra_redis_patterns = [f"arq:*{env.queue_prefix}*", *cron_markers()]
    settings = CommonSettings(redis_url=env.redis_url, queue_prefix=env.queue_prefix)
    children: list[Child] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ioc-bench-") as tmp:
            print(f"setting up database {env.database} ...", file=sys.stderr, flush=True)
            env.setup_notifier(WARMUP_REGISTRATIONS + 2 * round(args.rate * args.duration))
            smtp = Sink("smtp", logs / f"{run_id}-lanes-smtp-sink.log")
            sms = Sink("sms", logs / f"{run_id}-lanes-sms-sink.log")
            for sink in (smtp, sms):
                children.append(sink)
                sink.start()
            service_env = {**env.registry_env(), "IOC_WORKER_METRICS_PORT": "0"}
            print("starting the registry app, its worker and the notifier worker ...", file=sys.stderr, flush=True)
            server = Server(
                "registry", "services.api.app:create_app", service_env, logs / f"{run_id}-lanes-registry.log"
            )
            children.append(server)
            server.start()
            registry_worker = WorkerChild(
                "registry-worker",
                "services.api.worker",
                service_env,
                logs / f"{run_id}-lanes-registry-worker.log",
                [f"{queues.queue_name(settings, REGISTRY)}:health-check"],
                env.redis_url,
            )
            children.append(registry_worker)
            registry_worker.start()
            notifier_log = logs / f"{run_id}-lanes-notifier-worker.log"
            notifier = WorkerChild(
                "notifier-worker",
                "services.notifier.worker",
                worker_env(env, smtp, sms, args, str(Path(tmp) / "sink")),
                notifier_log,
                [f"{queues.queue_name(settings, NOTIFIER, lane)}:health-check" for lane in (PRIORITY, BULK)],
                env.redis_url,
            )
            children.append(notifier)
            notifier.start()
            time.sleep(1.0)  # let the workers' startup jobs (sweep, notices) settle
            meter = Meter(
                env.database,
                notifier=notifier.cpu_seconds,
                registry=server.cpu_seconds,
                registry_worker=registry_worker.cpu_seconds,
                sinks=lambda: smtp.cpu_seconds() + sms.cpu_seconds(),
            )
            phases = asyncio.run(measure(env, args, server, sms, meter, notifier))
            memory = {
                "notifier": notifier.memory_kib(),
                "registry": server.memory_kib(),
                "registry_worker": registry_worker.memory_kib(),
            }
            sinks = {"email": smtp.stats(), "sms": sms.stats()}
            pg_version = asyncio.run(postgres_version())
            for child in reversed(children):
                child.stop()
            logged = {
                "send_failed": count_log_events(notifier_log, "send_failed"),
                "outbox_resent": count_log_events(logs / f"{run_id}-lanes-registry-worker.log", "outbox_resent"),
            }
    finally:
        print("cleaning up ...", file=sys.stderr, flush=True)
        for child in reversed(children):
            child.stop()
        env.teardown()

    baseline, loaded = phases["baseline"].summary(), phases["backlog"].summary()
    b99, n99 = baseline["latency_s"]["p99"], loaded["latency_s"]["p99"]
    result: dict[str, Any] = {
        "run_id": run_id,
        "config": vars(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "postgres": pg_version},
        "target_p99_s": TARGET_P99_SECONDS,
        "warmup": phases["warmup"].summary(),
        "baseline": baseline,
        "backlog": loaded,
        "p99_ratio": round(n99 / b99, 2) if b99 and n99 is not None else None,
        "sinks": sinks,
        "memory_kib": memory,
        "logged": logged,
        "records": {name: phase.records for name, phase in phases.items()},
    }
    result["checks"] = evaluate(baseline, loaded, sinks, memory["notifier"], args.bulk)
    print_table(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"lanes-{run_id}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults: {path.relative_to(ROOT)}")
    return 0 if all(c["pass"] for c in result["checks"].values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything was cleaned up on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
