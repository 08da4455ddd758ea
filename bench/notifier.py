"""Benchmark of the notifier: 10,000 notifications from enqueue to recorded ``sent``, against the ceiling
of a plain aiosmtplib/httpx loop sending the same messages to the same local sinks.

    uv run python -m bench.notifier                  # a few minutes on 2 cores
    uv run python -m bench.notifier --messages 2500  # a quicker look

One run, in this order:

1. a fresh database ``ioc_bench_<random>`` (the registry's migrations, which create ``auth``, then the
   notifier's), and two sinks in processes of their own (``bench/sinks.py``): an SMTP server (aiosmtpd)
   and an eSMS-shaped SMS gateway, both counting what they receive and the duplicates (e-mail by its
   ``X-IOC-Notification`` header, SMS by ``RequestId``);
2. notifier: ``python -m services.notifier.worker`` as a subprocess (SMTP without TLS to the sink, the
   gateway provider on the sink, rate limits far above what is reached, SMS quiet hours moved away
   from now, Redis database 12 and a queue prefix of its own, log level WARNING). Once the worker is up
   (its arq health-check key exists) and idle, the clock starts at the first of ``--messages`` GoLive
   enqueues (``shared.queues.enqueue_message``, a few dozen at a time; each message gives one SMS and
   one e-mail) and stops at the ``sent_at`` of the last of the 2 x N notifications recorded ``sent``
   (polled in the database). Enqueueing runs while the worker works: it is part of the notifier's time,
   and its CPU (in this bench process) is shown apart;
3. ceiling: ``bench/direct.py`` in a subprocess sends the rows the notifier wrote (same ids, recipients,
   subjects and bodies) straight to the reset sinks, with as many concurrent tasks as the worker has
   jobs (``IOC_WORKER_CONCURRENCY``), each sending a message's SMS and e-mail at once, over as many
   SMTP connections as ``IOC_SMTP_CONNECTIONS``. Its clock runs from its first send to its last answer
   (connections opened beforehand, as the worker's engine and clients are before the first job).

The mixed run (``--mode mixed``, or ``both``, the default, after the SMS-only run on the same
database, emptied in between): Zalo on, against a ZNS-shaped sink (``bench/sinks.py`` ``zns``, with
its token endpoint) on which half the recipients are Zalo users; each GoLive then gives an e-mail and
a Zalo notification, and for the other half the SMS that replaces a refused ZNS message. Each person
still gets two messages: the rate counts those (2 x N), as the SMS-only run does.

Targets: notifier rate / ceiling rate >= 0.5; no duplicate at any sink; the worker's peak RSS
(VmHWM, from /proc/PID/status) <= 200 MiB; with both runs, the mixed run's ratio to its ceiling within
10 % of the SMS-only run's (``--mode both``). Sanity: every notification sent exactly once, none failed
or retried. CPU is split between the sender (worker or loop), PostgreSQL (the run's backends, and its
background processes apart), Redis, the sinks, this bench process and "other" (the rest of the
machine: noise, flagged when large). Results go to ``bench/results/notifier-<time>.json`` and the
processes' logs to ``bench/results/logs/``; exit status 1 if a target or a check fails. The database,
the run's Redis keys and every process are removed in every case, Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.environment import NOTIFIER_REDIS_URL, BenchEnv, postgres_version
from bench.processes import (
    ROOT,
    Child,
    WorkerChild,
    machine_busy_seconds,
    pids_with_cmdline,
    postgres_backends_cpu,
    postgres_background_cpu,
    process_cpu_seconds,
)
from bench.sinks import Sink
from shared import queues
from shared.contracts import DirectiveRef, FocalPointRef, GoLive, UnitRef
from shared.settings import CommonSettings
from shared.timeutil import VIETNAM, to_vietnam, utcnow

RESULTS = ROOT / "bench" / "results"
MIN_RATE_RATIO = 0.5
MIXED_WITHIN = 0.10  # the mixed run's ratio to its ceiling may be this much below the SMS-only run's
MAX_PEAK_RSS_MIB = 200.0
NOISE_PCT = 15  # CPU of other processes (% of one core) above which a run is flagged as noisy
JOB = "notifier.directive.go_live"
MAIL_FROM = "Trung tâm điều hành thành phố thông minh Hạ Long <ioc@halong.example>"
GATEWAY = {"name": "bench", "brandname": "UBND-HALONG", "sms_type": "2"}
PUBLIC_URL, RECEIPT_TOKEN = "http://127.0.0.1:8002", "bench-token"
NAMES = ("Nguyễn Văn An", "Trần Thị Ngọc Ánh", "Lê Hoàng Đức", "Phạm Thu Hương", "Vũ Minh Quân")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Notifier vs plain-loop ceiling: e-mail + SMS to local sinks.")
    p.add_argument("--messages", type=int, default=5000, help="GoLive messages, 2 notifications each (5000)")
    p.add_argument("--concurrency", type=int, default=100, help="IOC_WORKER_CONCURRENCY and the loop's tasks (100)")
    p.add_argument("--smtp-connections", type=int, default=4, help="IOC_SMTP_CONNECTIONS and the loop's (4)")
    p.add_argument("--enqueue-concurrency", type=int, default=32, help="enqueues in flight (32)")
    p.add_argument("--timeout", type=float, default=360.0, help="seconds the notifier may take (360)")
    p.add_argument(
        "--mode", choices=("sms", "mixed", "both"), default="both", help="SMS only, half on Zalo, or both (both)"
    )
    return p.parse_args()


def golive_messages(count: int) -> list[dict[str, Any]]:
    """``count`` GoLive messages to distinct focal points (phones, e-mails), over 50 wards."""
    now = utcnow()
    directive = DirectiveRef(
        id=uuid.uuid4(),
        number="984/UBND",
        title="Chuẩn bị công tác vận hành chính thức Trung tâm điều hành thành phố thông minh",
        deadline=datetime(2020, 2, 15, tzinfo=VIETNAM),
        operation_starts_at=datetime(2020, 2, 25, 8, tzinfo=VIETNAM),
    )
    units = [
        UnitRef(
            code=f"BN{k:03d}",
            name=f"Phường Hà Phong {k}",
            kind="ward",
            email=f"ubnd.bn{k:03d}@halong.example",
            phone=f"+8420338{k:05d}",
        )
        for k in range(50)
    ]
    messages = []
    for i in range(count):
        focal_point = FocalPointRef(
            id=uuid.uuid4(),
            version=1,
            full_name=f"{NAMES[i % len(NAMES)]} {i}",
            position="Chuyên viên",
            phone=f"+8491{i:07d}",  # 091 + 7 digits: a distinct mobile each
            email=f"canbo{i:05d}@halong.example",
            submitted_at=now,
            on_time=True,
        )
        message = GoLive(
            message_id=uuid.uuid4(), occurred_at=now, directive=directive, unit=units[i % 50], focal_point=focal_point
        )
        messages.append(message.model_dump(mode="json"))
    return messages


def quiet_hours_away_from_now() -> tuple[str, str]:
    """A quiet window that excludes the run (otherwise the SMS are deferred to its end)."""
    now = to_vietnam(utcnow())
    return (now + timedelta(hours=3)).strftime("%H:%M"), (now + timedelta(hours=4)).strftime("%H:%M")


class NotifierWorker(WorkerChild):
    """``python -m services.notifier.worker``."""

    def __init__(self, env: dict[str, str], log_path: Path, health_key: str, redis_url: str = NOTIFIER_REDIS_URL):
        super().__init__("notifier-worker", "services.notifier.worker", env, log_path, [health_key], redis_url)


def worker_env(
    env: BenchEnv, smtp: Sink, sms: Sink, args: argparse.Namespace, sink_dir: str, zns: Sink | None = None
) -> dict[str, str]:
    quiet_start, quiet_end = quiet_hours_away_from_now()
    gateway = {**GATEWAY, "url": sms.url, "api_key": sms.api_key, "secret_key": sms.secret_key, "per_second": 0}
    zalo = {"IOC_ZALO_PROVIDER": "off"}
    if zns is not None:
        zalo = {
            "IOC_ZALO_PROVIDER": "zns",
            "IOC_ZALO_SEND_URL": zns.url,
            "IOC_ZALO_TOKEN_URL": zns.token_url,
            "IOC_ZALO_APP_ID": "bench-app",
            "IOC_ZALO_APP_SECRET": "bench-app-secret",
            "IOC_ZALO_REFRESH_TOKEN": "bench-refresh-token",
            "IOC_ZALO_PER_SECOND": "0",
        }
    return {
        **zalo,
        "IOC_ENVIRONMENT": "bench",
        "IOC_DATABASE_URL": env.sqlalchemy_url,
        "IOC_REDIS_URL": env.redis_url,
        "IOC_QUEUE_PREFIX": env.queue_prefix,
        "IOC_LOG_LEVEL": "WARNING",
        "IOC_LOG_JSON": "true",
        "IOC_EMAIL_PROVIDER": "smtp",
        "IOC_SMTP_HOST": "127.0.0.1",
        "IOC_SMTP_PORT": str(smtp.port),
        "IOC_SMTP_SECURITY": "none",
        "IOC_SMTP_CONNECTIONS": str(args.smtp_connections),
        "IOC_MAIL_FROM": MAIL_FROM,
        "IOC_EMAIL_PER_SECOND": "0",  # 0: no rate limit, like the ceiling loop
        "IOC_SMS_PROVIDER": "gateway",
        "IOC_SMS_GATEWAYS": json.dumps([gateway]),
        "IOC_SMS_QUIET_START": quiet_start,
        "IOC_SMS_QUIET_END": quiet_end,
        "IOC_PUBLIC_URL": PUBLIC_URL,
        "IOC_RECEIPT_TOKEN": RECEIPT_TOKEN,
        "IOC_SINK_DIR": sink_dir,  # unused (both providers are real), kept out of the repository
        "IOC_WORKER_CONCURRENCY": str(args.concurrency),
        "IOC_WORKER_METRICS_PORT": "0",
    }


class Meter:
    """CPU seconds of named processes, the machine's busy time and the wall clock, between two points."""

    def __init__(self, database: str, **probes: Callable[[], float]) -> None:
        self.database, self.probes = database, probes
        self.redis_pids = pids_with_cmdline(b"redis-server", b":6379\0")

    def read(self) -> dict[str, Any]:
        return {
            "probes": {name: probe() for name, probe in self.probes.items()},
            "postgres": postgres_backends_cpu(self.database),
            "postgres_bg": postgres_background_cpu(),
            "redis": sum(process_cpu_seconds(pid) for pid in self.redis_pids),
            "bench": time.process_time(),
            "busy": machine_busy_seconds(),
            "wall": time.monotonic(),
        }

    @staticmethod
    def pct(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
        """CPU used between the two readings, in % of one core."""
        wall = after["wall"] - before["wall"]
        used = {name: after["probes"][name] - before["probes"][name] for name in after["probes"]}
        for group in ("postgres", "postgres_bg"):
            used[group] = sum(t - before[group].get(pid, 0.0) for pid, t in after[group].items())
        used["redis"] = after["redis"] - before["redis"]
        used["bench"] = after["bench"] - before["bench"]
        busy = after["busy"] - before["busy"]
        out = {name: round(seconds / wall * 100) for name, seconds in used.items()}
        out["other"] = round((busy - sum(used.values())) / wall * 100)
        out["machine"] = round(busy / wall * 100)
        out["machine_capacity"] = (os.cpu_count() or 1) * 100
        return out


STATUS_QUERY = """
SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status IN ('temporary_failure', 'permanent_failure')) AS failed,
       count(*) AS created,
       extract(epoch FROM max(sent_at))::float8 AS last_sent_at
FROM notify.notifications
"""


async def run_notifier(
    env: BenchEnv,
    args: argparse.Namespace,
    messages: list[dict[str, Any]],
    worker: NotifierWorker,
    meter: Meter,
    mode: str = "sms",
) -> dict[str, Any]:
    """Enqueue every message (the clock starts at the first), wait until every notification is sent."""
    expected = 2 * len(messages)
    settings = CommonSettings(redis_url=NOTIFIER_REDIS_URL, queue_prefix=env.queue_prefix)
    pool = await queues.connect(settings)
    conn = await asyncpg.connect(env.dsn)
    slots = asyncio.Semaphore(args.enqueue_concurrency)
    refused = 0

    async def enqueue(i: int, message: dict[str, Any]) -> None:
        nonlocal refused
        async with slots:
            job_id = f"{env.queue_prefix}-{mode}-{i}"
            if not await queues.enqueue(pool, settings, JOB, message, job_id=job_id):
                refused += 1

    try:
        before = meter.read()
        started_wall, started = time.time(), time.perf_counter()
        enqueuing = asyncio.gather(*(enqueue(i, m) for i, m in enumerate(messages)))
        enqueued_in: float | None = None
        last_report = started
        status: dict[str, Any] = {}
        outcome = "done"
        while True:
            await asyncio.sleep(0.2)
            if enqueued_in is None and enqueuing.done():
                enqueuing.result()
                enqueued_in = time.perf_counter() - started
            status = dict(await conn.fetchrow(STATUS_QUERY))
            if status["sent"] >= expected:
                break
            now = time.perf_counter()
            if not worker.alive():
                outcome = "worker died"
                break
            if now - started > args.timeout:
                outcome = "timed out"
                break
            if now - last_report >= 10:
                print(f"  notifier: {status['sent']}/{expected} sent after {now - started:.0f} s", file=sys.stderr)
                last_report = now
        after = meter.read()
        await enqueuing
        if enqueued_in is None:
            enqueued_in = time.perf_counter() - started
        # The clock stops at the last recorded send (the database's clock: the same machine's).
        done_at = status["last_sent_at"] or time.time()
        elapsed = done_at - started_wall if outcome == "done" else time.perf_counter() - started
        by_status = {r["status"]: r["n"] for r in await conn.fetch(
            "SELECT status, count(*) AS n FROM notify.notifications GROUP BY status"
        )}  # fmt: skip
        retried = await conn.fetchval("SELECT count(*) FROM notify.notifications WHERE attempts > 1")
    finally:
        await conn.close()
        await pool.aclose()
    return {
        "outcome": outcome,
        "expected": expected,
        "sent": status.get("sent", 0),
        "created": status.get("created", 0),
        "by_status": by_status,
        "retried": retried,
        "enqueue_refused": refused,
        "enqueue_seconds": round(enqueued_in, 3),
        "elapsed_seconds": round(elapsed, 3),
        "rate_per_second": round(status.get("sent", 0) / elapsed, 1),
        "cpu_pct": Meter.pct(before, after),
    }


async def notification_rows(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text, message_id::text, channel, recipient, recipient_name, subject, body, template_id,"
            " template_data::text FROM notify.notifications ORDER BY created_at, id"
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


class DirectLoop(Child):
    """``python -m bench.direct SPEC`` over pipes: it prepares, says ready, sends on our word."""

    def __init__(self, spec_path: Path, log_path: Path) -> None:
        super().__init__("ceiling-loop", log_path)
        self.spec_path = spec_path

    def start(self) -> None:
        proc = self.spawn([sys.executable, "-m", "bench.direct", str(self.spec_path)], {}, pipes=True)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            proc.wait(10)
            raise RuntimeError(f"{self.name} failed to start:\n{self.log_tail()}")

    def go(self, meter: Meter) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        before = meter.read()
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        after = meter.read()
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"{self.name} failed:\n{self.log_tail()}")
        self.proc.wait(30)
        return {**json.loads(line), "cpu_pct": Meter.pct(before, after)}


def count_log_events(path: Path, event: str) -> int:
    try:
        return sum(event in line for line in path.read_text(errors="replace").splitlines())
    except OSError:
        return 0


def _check(value: object, target: str, ok: bool, **detail: object) -> dict[str, Any]:
    return {"value": value, "target": target, "pass": ok, **detail}


def evaluate(notifier: dict[str, Any], ceiling: dict[str, Any], messages: int, mode: str = "sms") -> dict[str, Any]:
    ratio = notifier["rate_per_second"] / ceiling["rate_per_second"] if ceiling["rate_per_second"] else 0.0
    peak_mib = notifier["memory_kib"]["VmHWM"] / 1024
    n_sinks, c_sinks = notifier["sinks"], ceiling["sinks"]
    n_dups = sum(sink["duplicates"] for sink in n_sinks.values())
    c_dups = sum(sink["duplicates"] for sink in c_sinks.values())
    # Rows still created/sending at a timeout are not failures: "all sent" below catches them. In the
    # mixed run half the Zalo messages are refused (those people are not on Zalo), each logged once.
    refused = messages // 2 if mode == "mixed" else 0
    failed = sum(notifier["by_status"].get(s, 0) for s in ("temporary_failure", "permanent_failure")) - refused
    failures = failed + notifier["retried"] + notifier["send_failed_logged"] - refused
    expected = {"email": messages, "sms": messages - refused}
    if mode == "mixed":
        expected["zns"] = messages - refused

    def arrived(sinks: dict[str, Any]) -> bool:
        return all(
            sinks[k]["unique"] == n and sinks[k]["received"] == n and not sinks[k]["invalid"]
            for k, n in expected.items()
        )

    return {
        "rate_ratio": _check(round(ratio, 3), f">= {MIN_RATE_RATIO}", ratio >= MIN_RATE_RATIO),
        "duplicates": _check(n_dups, "0", n_dups == 0, ceiling=c_dups),
        "worker_peak_rss_mib": _check(round(peak_mib, 1), f"<= {MAX_PEAK_RSS_MIB:g}", peak_mib <= MAX_PEAK_RSS_MIB),
        # Sanity, not targets: without them the figures above would not mean what they say.
        "notifier_all_sent": _check(
            f"{notifier['sent']}/{notifier['expected']}",
            f"all sent, {messages} e-mails and {messages} phone messages each once at the sinks, none failed"
            " (but the refused ZNS) or retried",
            notifier["outcome"] == "done"
            and notifier["sent"] == notifier["expected"] == notifier["created"] - refused
            and failures == 0
            and notifier["enqueue_refused"] == 0
            and arrived(n_sinks),
            outcome=notifier["outcome"],
            failures=failures,
        ),
        "ceiling_all_sent": _check(
            sum(ceiling["sent"].values()),
            f"{2 * messages}, each once at the sinks",
            not ceiling["failures"] and sum(ceiling["sent"].values()) == 2 * messages and arrived(c_sinks),
            failures=ceiling["failures"],
        ),
    }


CPU_KEYS = ("sender", "postgres", "postgres_bg", "redis", "smtp_sink", "sms_sink", "zns_sink", "bench", "other")


def print_table(notifier: dict[str, Any], ceiling: dict[str, Any], checks: dict[str, Any]) -> None:
    def verdict(name: str) -> str:
        c = checks[name]
        return f"{c['value']!s:>7}  {c['target']:<7}  {'PASS' if c['pass'] else 'FAIL'}"

    def sinks(run: dict[str, Any], key: str) -> str:
        return f"{run['sinks']['email'][key]} / {run['sinks']['sms'][key]}"

    n, c = notifier, ceiling
    rows = [
        ("notifications sent per second", n["rate_per_second"], c["rate_per_second"], verdict("rate_ratio")),
        ("  elapsed (s)", n["elapsed_seconds"], c["elapsed_seconds"], ""),
        ("  of which enqueueing (s)", n["enqueue_seconds"], "-", ""),
        ("received at sinks: e-mail / SMS", sinks(n, "received"), sinks(c, "received"), ""),
        *(
            [("received at the ZNS sink (accepted)", n["sinks"]["zns"]["unique"], c["sinks"]["zns"]["unique"], "")]
            if "zns" in n["sinks"]
            else []
        ),
        ("duplicates at sinks: e-mail / SMS", sinks(n, "duplicates"), sinks(c, "duplicates"), verdict("duplicates")),
        ("failures (rows failed/retried, errors)", checks["notifier_all_sent"]["failures"],
         sum(c["failures"].values()), ""),
        ("worker peak RSS, VmHWM (MiB)", round(n["memory_kib"]["VmHWM"] / 1024, 1), "-",
         verdict("worker_peak_rss_mib")),
    ]  # fmt: skip
    print(f"\n{'':<42}{'notifier':>14}{'ceiling':>14}   {'value':>7}  {'target':<7}  result")
    print("-" * 100)
    for label, a, b, extra in rows:
        print(f"{label:<42}{a!s:>14}{b!s:>14}   {extra}")
    print("-" * 100)
    print("CPU, % of one core (this machine has", n["cpu_pct"]["machine_capacity"] // 100, "cores):")
    print(f"  {'':<10}" + "".join(f"{k:>12}" for k in CPU_KEYS))
    for name, run in (("notifier", n), ("ceiling", c)):
        print(f"  {name:<10}" + "".join(f"{run['cpu_pct'].get(k, '-'):>12}" for k in CPU_KEYS))
    print("  sender: the worker, or the plain loop; postgres: the run's backends; postgres_bg: the rest of PostgreSQL")
    for name in ("notifier_all_sent", "ceiling_all_sent"):
        ch = checks[name]
        print(f"{name}: {ch['value']} (expect {ch['target']})  {'PASS' if ch['pass'] else 'FAIL'}")
    noisy = max(run["cpu_pct"]["other"] for run in (n, c))
    if noisy > NOISE_PCT:
        print(f"WARNING: other processes used up to {noisy}% of a core during a run: figures are noisy, rerun.")


def _sigterm(*_: object) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks, like Ctrl-C does


TRUNCATE = (
    "TRUNCATE notify.receipts, notify.notifications, notify.sms_daily_counts, notify.zalo_tokens,"
    " notify.idempotency_keys"
)


async def empty_notifier(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(TRUNCATE)
    finally:
        await conn.close()


def run_mode(
    mode: str,
    env: BenchEnv,
    args: argparse.Namespace,
    sinks: dict[str, Sink],
    tmp: str,
    run_id: str,
    children: list[Child],
) -> dict[str, Any]:
    """One run (SMS only, or half on Zalo): the notifier, then the ceiling loop on the rows it wrote."""
    logs = RESULTS / "logs"
    smtp, sms, zns = sinks["smtp"], sinks["sms"], sinks["zns"] if mode == "mixed" else None
    messages = golive_messages(args.messages)
    for sink in sinks.values():
        sink.reset()
    asyncio.run(empty_notifier(env.dsn))
    worker_log = logs / f"{run_id}-notifier-{mode}-worker.log"
    worker = NotifierWorker(
        worker_env(env, smtp, sms, args, str(Path(tmp) / "sink"), zns),
        worker_log,
        f"{queues.queue_name(CommonSettings(queue_prefix=env.queue_prefix), queues.NOTIFIER)}:health-check",
    )
    children.append(worker)
    print(f"[{mode}] starting the notifier worker ...", file=sys.stderr, flush=True)
    worker.start()
    time.sleep(1.0)  # let its startup sweep and first polls settle
    print(f"[{mode}] notifier: {args.messages} messages ...", file=sys.stderr)
    probes: dict[str, Callable[[], float]] = {"smtp_sink": smtp.cpu_seconds, "sms_sink": sms.cpu_seconds}
    if zns is not None:
        probes["zns_sink"] = zns.cpu_seconds
    meter = Meter(env.database, sender=worker.cpu_seconds, **probes)
    notifier = asyncio.run(run_notifier(env, args, messages, worker, meter, mode))
    notifier["memory_kib"] = worker.memory_kib()
    notifier["sinks"] = {"email": smtp.stats(), "sms": sms.stats(), **({"zns": zns.stats()} if zns else {})}
    worker.stop()
    notifier["send_failed_logged"] = count_log_events(worker_log, "send_failed")
    n = notifier
    print(f"  notifier: {n['sent']} sent in {n['elapsed_seconds']} s ({n['outcome']})", file=sys.stderr)

    print(f"[{mode}] ceiling: the same notifications by a plain loop ...", file=sys.stderr, flush=True)
    for sink in sinks.values():
        sink.reset()
    spec_path = Path(tmp) / f"direct-{mode}.json"
    callback = f"{PUBLIC_URL}/v1/sms/receipts/{GATEWAY['name']}?token={RECEIPT_TOKEN}"
    spec = {
        "concurrency": args.concurrency,
        "smtp_connections": args.smtp_connections,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "mail_from": MAIL_FROM,
        "gateway": {
            **GATEWAY,
            "url": sms.url,
            "api_key": sms.api_key,
            "secret_key": sms.secret_key,
            "callback_url": callback,
        },
        "zalo": {"url": zns.url} if zns else None,
        "items": asyncio.run(notification_rows(env.dsn)),
    }
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    loop = DirectLoop(spec_path, logs / f"{run_id}-notifier-{mode}-ceiling.log")
    children.append(loop)
    loop.start()
    meter = Meter(env.database, sender=loop.cpu_seconds, **probes)
    ceiling = loop.go(meter)
    ceiling["sinks"] = {"email": smtp.stats(), "sms": sms.stats(), **({"zns": zns.stats()} if zns else {})}
    print(f"  ceiling: {sum(ceiling['sent'].values())} sent in {ceiling['elapsed_seconds']} s", file=sys.stderr)
    return {"notifier": notifier, "ceiling": ceiling, "checks": evaluate(notifier, ceiling, args.messages, mode)}


def compare(sms_only: dict[str, Any], mixed: dict[str, Any]) -> dict[str, Any]:
    """The mixed run against the SMS-only run: rates, and ratios to their ceilings."""
    sms_ratio = sms_only["checks"]["rate_ratio"]["value"]
    mixed_ratio = mixed["checks"]["rate_ratio"]["value"]
    relative = mixed_ratio / sms_ratio if sms_ratio else 0.0
    return {
        "mixed_vs_sms_rate": round(mixed["notifier"]["rate_per_second"] / sms_only["notifier"]["rate_per_second"], 3),
        "mixed_vs_sms_ceiling_ratio": _check(
            round(relative, 3), f">= {1 - MIXED_WITHIN:g}", relative >= 1 - MIXED_WITHIN
        ),
    }


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _sigterm)
    for name in [k for k in os.environ if k.startswith("IOC_")]:  # the worker gets exactly ours
        print(f"ignoring {name} from the environment", file=sys.stderr)
        del os.environ[name]
    run_id = time.strftime("%Y%m%d-%H%M%S")
    logs = RESULTS / "logs"
    modes = ("sms", "mixed") if args.mode == "both" else (args.mode,)
    # arq's keys cannot be prefixed: our jobs' (ids carry the prefix), the sweeper's, any retries', and
    # the acknowledgements the worker queues for the registry, which nothing consumes here (arq_jobs).
    env = BenchEnv(redis_url=NOTIFIER_REDIS_URL, arq_jobs=True)
    env.extra_redis_patterns = [
        f"arq:*{env.queue_prefix}*",
        "arq:*notifier.notifications.sweep:*",
        "arq:*notifier.zalo.token.renew:*",
        "arq:*send:*",
    ]
    children: list[Child] = []
    runs: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ioc-bench-") as tmp:
            print(f"setting up database {env.database} ...", file=sys.stderr, flush=True)
            env.setup_notifier()
            pg_version = asyncio.run(postgres_version())
            sinks = {kind: Sink(kind, logs / f"{run_id}-notifier-{kind}-sink.log") for kind in ("smtp", "sms", "zns")}
            for sink in sinks.values():
                children.append(sink)
                sink.start()
            for mode in modes:
                runs[mode] = run_mode(mode, env, args, sinks, tmp, run_id, children)
    finally:
        print("cleaning up ...", file=sys.stderr, flush=True)
        for child in reversed(children):
            child.stop()
        env.teardown()

    passed = True
    for mode, run in runs.items():
        print(f"\n=== {'SMS only' if mode == 'sms' else 'mixed: half the recipients on Zalo'} ===")
        print_table(run["notifier"], run["ceiling"], run["checks"])
        passed = passed and all(c["pass"] for c in run["checks"].values())
    comparison = compare(runs["sms"], runs["mixed"]) if len(runs) == 2 else None
    if comparison is not None:
        check = comparison["mixed_vs_sms_ceiling_ratio"]
        print(
            f"\nmixed vs SMS only: notifications/s x{comparison['mixed_vs_sms_rate']}; ratio to the ceiling"
            f" x{check['value']} (target {check['target']})  {'PASS' if check['pass'] else 'FAIL'}"
        )
        passed = passed and check["pass"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"notifier-{run_id}.json"
    result = {
        "run_id": run_id,
        "config": vars(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "postgres": pg_version},
        **runs.get("sms", {}),
        "mixed": runs.get("mixed"),
        "comparison": comparison,
    }
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults: {path.relative_to(ROOT)}")
    return 0 if passed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything was cleaned up on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
