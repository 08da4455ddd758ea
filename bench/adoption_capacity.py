"""The capacity model's per-unit costs (``docs/capacity.md``), measured on this machine at two sizes.

    uv run python -m bench.adoption_capacity                        # two runs of bench.adoption, ~5 min
    uv run python -m bench.adoption_capacity --sizes 50000:50 200000:200

Runs ``bench.adoption`` once per size (events of the timed ingest : units; shorter GET phases), reads
each run's results and derives what the model multiplies by the city's, the province's and the
nation's volumes:

- an event stored and folded: microseconds of CPU of the app, of the PostgreSQL backends storing
  it (``pg_app``) and of the fold's backend (``pg_worker``), over the ingest phase;
- a poll of ``GET /v1/adoption/units``: milliseconds of the app's CPU a request, with a body
  (``steady``: the body computed once per version, as between two folds) and conditional (``If-None-
  Match``, mostly 304), at the run's full size.

Each figure is printed with the model's (``MODEL``; a poll with a body is modelled as a fixed cost
plus a cost per unit row) and their ratio, at both sizes; the per-event figures should not depend on
the size. Exit status 1 when a ratio falls outside ``[1 / TOLERANCE, TOLERANCE]`` (the machine's speed
wanders by a third within an hour, and further when it is shared) or a run fails its own checks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from bench.processes import ROOT

# The per-unit costs docs/capacity.md builds on (its "Per-unit costs" table; µs and ms of CPU of one
# core of this machine). Change both together.
MODEL = {
    "event_app_us": 7.0,
    "event_pg_app_us": 10.0,
    "event_pg_worker_us": 8.0,
    "poll_body_fixed_ms": 0.3,
    "poll_body_per_unit_ms": 0.0005,
    "poll_conditional_ms": 0.35,
}
TOLERANCE = 2.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Check the capacity model's per-unit costs at two sizes.")
    p.add_argument(
        "--sizes",
        nargs=2,
        default=["100000:50", "400000:200"],
        metavar="EVENTS:UNITS",
        help="the two runs' events and units (100000:50 400000:200)",
    )
    p.add_argument("--get-duration", type=float, default=5.0, help="measured seconds of each GET run (5)")
    return p.parse_args()


def run_bench(events: int, units: int, get_duration: float) -> dict[str, Any]:
    """One ``bench.adoption`` run; returns its results (the JSON file it wrote)."""
    command = [
        sys.executable,
        "-m",
        "bench.adoption",
        f"--events={events}",
        f"--units={units}",
        "--small-events=10000",
        "--get-warmup=1",
        f"--get-duration={get_duration}",
    ]
    print(f"$ {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    lines = done.stdout.splitlines()
    found = [line.split()[1] for line in lines if line.startswith("results: ")]
    if not found:
        sys.stdout.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"bench.adoption --events {events} wrote no results")
    result: dict[str, Any] = json.loads((ROOT / found[0]).read_text())
    result["exit_status"] = done.returncode
    result["file"] = found[0]
    return result


def per_unit(result: dict[str, Any], get_duration: float) -> dict[str, float]:
    """The run's per-unit CPU costs."""
    ingest = result["ingest"]
    cpu = ingest["cpu_pct"]
    seconds_an_event = ingest["elapsed_seconds"] / ingest["events"] / 100  # × % of a core → s an event
    gets = result["gets"]["large"]

    def poll_ms(mode: str) -> float:
        r = gets[mode]
        return r["cpu_pct"]["app"] / 100 * get_duration / r["completed"] * 1000

    return {
        "event_app_us": cpu["app"] * seconds_an_event * 1e6,
        "event_pg_app_us": cpu["pg_app"] * seconds_an_event * 1e6,
        "event_pg_worker_us": cpu["pg_worker"] * seconds_an_event * 1e6,
        "poll_body_ms": poll_ms("steady"),
        "poll_conditional_ms": poll_ms("conditional"),
        "other_cpu_pct": max(ingest["cpu_pct"]["other"], gets["steady"]["cpu_pct"]["other"]),
    }


def modelled(figure: str, units: int) -> float:
    if figure == "poll_body_ms":
        return MODEL["poll_body_fixed_ms"] + MODEL["poll_body_per_unit_ms"] * units
    return MODEL[figure]


def main() -> int:
    args = parse_args()
    sizes = [tuple(int(x) for x in size.split(":")) for size in args.sizes]
    runs = []
    for events, units in sizes:
        result = run_bench(events, units, args.get_duration)
        runs.append((events, units, result, per_unit(result, args.get_duration)))
    figures = ("event_app_us", "event_pg_app_us", "event_pg_worker_us", "poll_body_ms", "poll_conditional_ms")
    header = f"{'figure':<22}" + "".join(f"{f'{e:,} events, {u} units':>44}" for e, u, _, _ in runs)
    print("\n" + header)
    print(f"{'':<22}" + f"{'measured   model   ratio':>44}" * len(runs))
    ok = True
    for figure in figures:
        cells = []
        for _, units, _, got in runs:
            model = modelled(figure, units)
            ratio = got[figure] / model
            ok &= 1 / TOLERANCE <= ratio <= TOLERANCE
            cells.append(f"{got[figure]:>26.3f} {model:>7.3f} {ratio:>7.2f}")
        print(f"{figure:<22}" + "".join(f"{c:>44}" for c in cells))
    small, large = runs[0][3], runs[1][3]
    print("\nlarge / small, per event: " + ", ".join(f"{f} {large[f] / small[f]:.2f}" for f in figures[:3]))
    for events, units, result, got in runs:
        print(
            f"run {events:,}:{units}: exit {result['exit_status']}, ratio {result['checks']['rate_ratio']['value']},"
            f" others took up to {got['other_cpu_pct']}% of a core; {result['file']}"
        )
        ok &= result["checks"]["figures_match"]["pass"] and result["checks"]["ingest_complete"]["pass"]
    print(f"\nmodel's per-unit costs within a factor {TOLERANCE:g} at both sizes: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
