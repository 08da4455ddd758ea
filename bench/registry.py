"""Benchmark of ``POST /v1/registrations``: the registry against the ceiling of its own stack.

    uv run python -m bench.registry                 # about 1.5 minutes
    uv run python -m bench.registry --duration 20   # longer measured windows

Both targets run as one uvicorn worker (uvloop, httptools, log level warning, no access log), one after
the other, measured by the same load generator (``bench/loadgen.py``, in its own process):

* registry: ``services.api.app:create_app`` on a fresh database ``ioc_bench_<random>`` (migrated,
  seeded with units, one directive addressing them all, and an office key with the highest limit);
* ceiling: ``bench/ceiling_app.py``, FastAPI + asyncpg doing one INSERT per request.

Figures: throughput with 64 clients in a closed loop, and p50/p99 latency at a fixed offered rate of
200 requests/s in an open loop, latency counted from each request's scheduled time. Request ``n``
registers unit ``n % units`` with a name and phone carrying ``n``, so every registration differs from
the active one and must answer 201 with a new version; the bench checks that against the database.

Targets: throughput registry/ceiling >= 0.5; registry p99 <= 4 x ceiling p99 at 200 rps; the registry's
peak RSS (VmHWM, from /proc/PID/status) <= 150 MiB. Results go to ``bench/results/registry-<time>.json``
(server logs to ``bench/results/logs/``); exit status 1 if a target or a sanity check fails. The
database, Redis keys and processes are removed in every case, Ctrl-C and errors included.
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
from pathlib import Path
from typing import Any

from bench.environment import BenchEnv, postgres_version
from bench.processes import ROOT, Server, machine_busy_seconds, postgres_backends_cpu, run_loadgen

RESULTS = ROOT / "bench" / "results"
MIN_THROUGHPUT_RATIO = 0.5  # with the shared rate limits on (the bench key carries the highest limit)
MAX_P99_RATIO = 4.0
MAX_PEAK_RSS_MIB = 150.0
NOISE_PCT = 15  # CPU of other processes (% of one core) above which a run is flagged as noisy


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Registry vs ceiling benchmark of POST /v1/registrations.")
    p.add_argument("--clients", type=int, default=64, help="closed-loop clients (default 64)")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop offered rate, req/s (default 200)")
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds per phase (default 15)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each phase (default 3)")
    p.add_argument("--units", type=int, default=50, help="units the registrations rotate over (default 50)")
    return p.parse_args()


def bodies(env: BenchEnv) -> list[str]:
    """One template per unit; the load generator puts the request number where ``%N%`` stands."""
    return [
        json.dumps(
            {
                "directive_id": env.directive_id,
                "unit_code": code,
                "full_name": "Nguyễn Văn An %N%",
                "position": "Chuyên viên",
                "phone": "091%N%",  # 091 + 7 digits: a valid Vietnamese mobile for every n
                "email": "an.nv@halong.gov.vn",
                "note": "Kỹ sư công nghệ thông tin",
            },
            ensure_ascii=False,
        )
        for code in env.unit_codes
    ]


def measure(
    server: Server, spec: dict[str, Any], workdir: Path, args: argparse.Namespace, counter: int, database: str
) -> dict[str, Any]:
    """Both phases against a running server; returns their reports and the server's memory."""
    spec_path = workdir / f"{server.name}.json"  # holds the API key: kept out of bench/results
    spec_path.write_text(json.dumps({**spec, "port": server.port}, ensure_ascii=False), encoding="utf-8")
    phases = {
        "throughput": ["--mode", "closed", "--connections", str(args.clients)],
        # A few warm connections; the generator opens more whenever all are busy at a due time.
        "latency": ["--mode", "open", "--rate", str(args.rate), "--connections", "8"],
    }
    out: dict[str, Any] = {}
    for phase, options in phases.items():
        print(f"  {server.name}: {phase} ({' '.join(options[1:])})", file=sys.stderr, flush=True)
        pg_before = postgres_backends_cpu(database)
        before = (server.cpu_seconds(), machine_busy_seconds(), time.monotonic())
        report = run_loadgen(
            spec_path,
            *options,
            "--warmup", str(args.warmup), "--duration", str(args.duration), "--start", str(counter),
        )  # fmt: skip
        after = (server.cpu_seconds(), machine_busy_seconds(), time.monotonic())
        pg_after = postgres_backends_cpu(database)
        counter = report["next_counter"]
        server_s, busy_s, wall = (b - a for a, b in zip(before, after, strict=True))
        postgres_s = sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items())
        # In % of one core. "others" is everything else: PostgreSQL's background processes, and whatever
        # else runs on the machine meanwhile (noise, if large).
        report["cpu_pct"] = {
            "server": round(server_s / wall * 100),
            "postgres": round(postgres_s / wall * 100),
            "loadgen": round(report["loadgen_cpu_seconds"] / wall * 100),
            "others": round((busy_s - server_s - postgres_s - report["loadgen_cpu_seconds"]) / wall * 100),
            "machine": round(busy_s / wall * 100),
            "machine_capacity": (os.cpu_count() or 1) * 100,
        }
        out[phase] = report
    out["memory_kib"] = server.memory_kib()
    out["next_counter"] = counter
    return out


def non_2xx(*reports: dict[str, Any]) -> dict[str, int]:
    """Non-2xx statuses and transport errors over whole phases, warm-up included."""
    bad: dict[str, int] = {}
    for r in reports:
        for status, n in r["statuses_all"].items():
            if not status.startswith("2"):
                bad[status] = bad.get(status, 0) + n
        for error, n in r["errors"].items():
            bad[error] = bad.get(error, 0) + n
    return bad


def _check(value: object, target: str, ok: bool, **detail: object) -> dict[str, Any]:
    return {"value": value, "target": target, "pass": ok, **detail}


def evaluate(reg: dict[str, Any], ceil: dict[str, Any], written: dict[str, int], units: int) -> dict[str, Any]:
    tput = reg["throughput"]["throughput_rps"] / ceil["throughput"]["throughput_rps"]
    p99 = reg["latency"]["latency_ms"]["p99"] / ceil["latency"]["latency_ms"]["p99"]
    peak_mib = reg["memory_kib"]["VmHWM"] / 1024
    phases = (reg["throughput"], reg["latency"])
    created = sum(r["statuses_all"].get("201", 0) for r in phases)
    answered = sum(sum(r["statuses_all"].values()) for r in phases)
    reg_bad, ceil_bad = non_2xx(*phases), non_2xx(ceil["throughput"], ceil["latency"])
    failed = sum(n for r in phases for n in r["errors"].values())  # timeouts, resets: no answer
    return {
        "throughput_ratio": _check(round(tput, 3), f">= {MIN_THROUGHPUT_RATIO}", tput >= MIN_THROUGHPUT_RATIO),
        "p99_ratio": _check(round(p99, 2), f"<= {MAX_P99_RATIO}", p99 <= MAX_P99_RATIO),
        "peak_rss_mib": _check(round(peak_mib, 1), f"<= {MAX_PEAK_RSS_MIB:g}", peak_mib <= MAX_PEAK_RSS_MIB),
        # Sanity, not targets: without them the figures above would not mean what they say.
        "registry_all_201": _check(
            f"{created}/{answered}", "all 201", created == answered and not reg_bad, non_2xx=reg_bad
        ),
        # A request that timed out on the client may still have committed: it is a version without a 201.
        "registry_versions_written": _check(
            written,
            f"{created} <= versions <= {created + failed}, outbox = versions, active = {units}",
            created <= written["versions"] <= created + failed
            and written["outbox"] == written["versions"]
            and written["active"] == units,
        ),
        "ceiling_all_2xx": _check(
            sum(sum(r["statuses_all"].values()) for r in (ceil["throughput"], ceil["latency"])),
            "all 2xx",
            not ceil_bad,
            non_2xx=ceil_bad,
        ),
    }


def print_table(reg: dict[str, Any], ceil: dict[str, Any], checks: dict[str, Any], args: argparse.Namespace) -> None:
    def ms(report: dict[str, Any], *keys: str) -> str:
        return " / ".join(f"{report['latency_ms'][k]:.1f}" for k in keys)

    def cpu(report: dict[str, Any]) -> str:
        return "/".join(str(report["cpu_pct"][k]) for k in ("server", "postgres", "loadgen", "others"))

    def verdict(name: str) -> str:
        c = checks[name]
        return f"{c['value']!s:>7}  {c['target']:<7}  {'PASS' if c['pass'] else 'FAIL'}"

    rt, ct, rl, cl = reg["throughput"], ceil["throughput"], reg["latency"], ceil["latency"]
    rows = [
        (f"throughput, {args.clients} clients (req/s)", rt["throughput_rps"], ct["throughput_rps"],
         verdict("throughput_ratio")),
        ("  p50 / p99 (ms)", ms(rt, "p50", "p99"), ms(ct, "p50", "p99"), ""),
        ("  CPU %: server/postgres/loadgen/other", cpu(rt), cpu(ct), ""),
        (f"p50 at {args.rate:g} req/s, open loop (ms)", ms(rl, "p50"), ms(cl, "p50"), ""),
        (f"p99 at {args.rate:g} req/s, open loop (ms)", ms(rl, "p99"), ms(cl, "p99"),
         verdict("p99_ratio")),
        ("  p99.9 / max (ms)", ms(rl, "p999", "max"), ms(cl, "p999", "max"), ""),
        ("  CPU %: server/postgres/loadgen/other", cpu(rl), cpu(cl), ""),
        ("  connections used", rl["max_connections_used"], cl["max_connections_used"], ""),
        ("peak RSS, VmHWM (MiB)", round(reg["memory_kib"]["VmHWM"] / 1024, 1),
         round(ceil["memory_kib"]["VmHWM"] / 1024, 1), verdict("peak_rss_mib")),
    ]  # fmt: skip
    print(f"\n{'':<40}{'registry':>16}{'ceiling':>16}   {'value':>7}  {'target':<7}  result")
    print("-" * 102)
    for label, r, c, extra in rows:
        print(f"{label:<40}{r!s:>16}{c!s:>16}   {extra}")
    print("-" * 102)
    for name in ("registry_all_201", "registry_versions_written", "ceiling_all_2xx"):
        c = checks[name]
        detail = f", non-2xx/errors: {c['non_2xx'] or 'none'}" if "non_2xx" in c else ""
        print(f"{name}: {c['value']} (expect {c['target']}{detail})  {'PASS' if c['pass'] else 'FAIL'}")
    print("CPU % is of one core (this machine has", reg["throughput"]["cpu_pct"]["machine_capacity"] // 100, "cores).")
    if rt["throughput_rps"] < args.rate:
        print(
            f"NOTE: the registry's capacity ({rt['throughput_rps']} req/s) is below the offered {args.rate:g} req/s:"
            " the open loop overloads it, so its latency is queueing time (and requests time out)."
        )
    noisy = max(r["cpu_pct"]["others"] for r in (rt, rl, ct, cl))
    if noisy > NOISE_PCT:
        print(f"WARNING: other processes used up to {noisy}% of a core during a phase: figures are noisy, rerun.")


def _sigterm(*_: object) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks, like Ctrl-C does


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _sigterm)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    env = BenchEnv()
    try:
        with tempfile.TemporaryDirectory(prefix="ioc-bench-") as tmp:
            print(f"setting up database {env.database} ...", file=sys.stderr, flush=True)
            env.setup(args.units)
            spec = {
                "host": "127.0.0.1",
                "path": "/v1/registrations",
                "headers": {"Authorization": f"Bearer {env.api_key}"},
                "bodies": bodies(env),
            }
            logs = RESULTS / "logs"
            with Server("registry", "services.api.app:create_app", env.registry_env(),
                        logs / f"{run_id}-registry.log") as server:  # fmt: skip
                reg = measure(server, spec, Path(tmp), args, 0, env.database)
            written = env.registry_counts()
            with Server("ceiling", "bench.ceiling_app:create_app", {"BENCH_CEILING_DSN": env.dsn},
                        logs / f"{run_id}-ceiling.log") as server:  # fmt: skip
                ceil = measure(server, spec, Path(tmp), args, reg["next_counter"], env.database)
            pg_version = asyncio.run(postgres_version())
    finally:
        print("cleaning up ...", file=sys.stderr, flush=True)
        env.teardown()

    checks = evaluate(reg, ceil, written, args.units)
    print_table(reg, ceil, checks, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"registry-{run_id}.json"
    result = {
        "run_id": run_id,
        "config": vars(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "postgres": pg_version},
        "registry": reg,
        "ceiling": ceil,
        "checks": checks,
    }
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults: {path.relative_to(ROOT)}")
    return 0 if all(c["pass"] for c in checks.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything was cleaned up on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
