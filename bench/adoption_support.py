"""What ``bench/adoption.py`` needs besides its flow: the synthetic event stream and the figures it
must produce, the database seeding, the worker process, CPU accounting and the COPY ceiling.

The stream (seeded, so every run posts the same events):

* ``units`` units (codes like ``06589``; departments, agencies, wards, communes), each with a staff
  headcount (30..300) that the registry would have announced;
* staff: 60-105 % of each unit's headcount are people with events; citizens fill the rest of the
  events, spread over the units (fewer in departments);
* a person is a phone number (about 10 % of citizens: an account id instead), written in varying
  forms from one event to the next (``0912 345 678``, ``+84912345678``, ``84912345678``...), which the
  service must recognise as one person; 1 to 6 events each (mean about 2.6): ``installed`` first,
  then ``activated``, ``uninstalled``, re-installs...; ``occurred_at`` spread over the last
  ``days`` days, at least a minute apart within a person, all at least 15 minutes in the past;
* events arrive roughly in the order they occurred, but 15 % of them late (up to days), so that
  folding sees out-of-order timelines; requests carry 1,000 consecutive events of that arrival order;
* event ids are random 32-hex strings (the app backend's UUIDs), all distinct.

The expected figures (per unit and audience: people adopted; per Vietnam day: the net change) are
computed here from the events, independently of the service, with the contract's rule: a person is
adopted while their latest event (by ``occurred_at``) is ``installed`` or ``activated``.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import itertools
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import redis

from bench.processes import (
    Child,
    machine_busy_seconds,
    pids_with_cmdline,
    postgres_backends_cpu,
    postgres_background_cpu,
    process_cpu_seconds,
)

VN = timezone(timedelta(hours=7))  # Vietnam has no DST: a fixed offset, which orjson writes "+07:00"
DAY = 86_400
KINDS = ("department",) * 8 + ("agency",) * 2 + ("ward",) * 36 + ("commune",) * 4
EVENTS_PER_PERSON = ((1, 0.20), (2, 0.30), (3, 0.22), (4, 0.15), (5, 0.08), (6, 0.05))


@dataclass(frozen=True)
class UnitSpec:
    code: str
    name: str
    kind: str
    headcount: int


@dataclass
class World:
    """Every person and event of the run; datasets are subsets of people (all of each one's events)."""

    units: list[UnitSpec]
    person_unit: list[str]
    person_audience: list[str]
    person_subject: list[str]  # the base of the person's subject forms (see ``subject_forms``)
    # per person: [(occurred_ts, arrival_ts, event_id, type, index of the subject's form), ...],
    # by occurred_ts
    person_events: list[list[tuple[int, float, str, str, str]]]
    first_day: date
    last_day: date


def subject_forms(base: str) -> tuple[str, ...]:
    """The ways a person's subject is written: a phone (``base``: the 9 digits after the leading 0 of a
    Vietnamese mobile) in six forms, or an account id (``base`` starting ``zalo-``) in three."""
    if base.startswith("zalo-"):
        return (base, base.upper(), f" {base} ")
    return (
        "0" + base,
        "+84" + base,
        "84" + base,
        f"0{base[:2]} {base[2:5]} {base[5:]}",
        f"0{base[:2]}.{base[2:5]}.{base[5:]}",
        f"(+84) {base[:2]} {base[2:5]} {base[5:]}",
    )


def make_world(total_events: int, *, units: int = 50, days: int = 60, seed: int = 984) -> World:
    """People and their events, ``total_events`` in all (the last person's timeline cut to fit)."""
    rng = random.Random(seed)
    unit_specs = []
    for k in range(units):
        kind = KINDS[k % len(KINDS)]
        headcount = rng.randint(60, 300) if kind in ("department", "agency") else rng.randint(30, 120)
        label = {"department": "Sở", "agency": "Ban", "ward": "Phường", "commune": "Xã"}[kind]
        unit_specs.append(UnitSpec(f"{6589 + 3 * k:05d}", f"{label} số {k + 1}", kind, headcount))
    counts, weights = zip(*EVENTS_PER_PERSON, strict=True)
    count_cum = list(itertools.accumulate(weights))
    next_cum = list(itertools.accumulate((0.5, 0.3, 0.2)))  # after an install: activated, uninstalled, installed
    citizen_units = [u.code for u in unit_specs]
    citizen_cum = list(itertools.accumulate(0.2 if u.kind in ("department", "agency") else 1.0 for u in unit_specs))
    random_, expovariate, getrandbits = rng.random, rng.expovariate, rng.getrandbits

    end = int(time.time()) - 900  # 15 minutes ago: far inside the service's future tolerance
    start = end - days * DAY
    world = World(unit_specs, [], [], [], [], _vn_date(start), _vn_date(end))
    made = 0

    def add_person(unit: str, audience: str) -> None:
        nonlocal made
        p = len(world.person_unit)
        if audience == "citizen" and random_() < 0.1:
            base, n_forms = f"zalo-{(p * 2654435761) % 2**40:010x}", 3
        else:
            # p -> 10^8 residues is a bijection (7919 is prime to 10): distinct phones for every p.
            base, n_forms = f"9{(p * 7919 + 1234567) % 10**8:08d}", 6
        k = min(counts[bisect.bisect(count_cum, random_() * count_cum[-1])], total_events - made)
        events = []
        t = rng.randint(start, end - 3600)
        state = "uninstalled"
        for _ in range(k):
            if state == "uninstalled":
                kind = "installed"
            else:
                kind = ("activated", "uninstalled", "installed")[bisect.bisect(next_cum, random_())]
            late = 0.0 if random_() < 0.85 else expovariate(1 / DAY)
            events.append((t, t + late, f"{getrandbits(128):032x}", kind, int(random_() * n_forms)))
            state = kind
            t += max(60, int(expovariate(1 / (3 * DAY))))
            if t > end:
                break
        made += len(events)
        world.person_unit.append(unit)
        world.person_audience.append(audience)
        world.person_subject.append(base)
        world.person_events.append(events)

    for u in unit_specs:
        for _ in range(int(u.headcount * rng.uniform(0.6, 1.05))):
            if made < total_events:
                add_person(u.code, "staff")
    while made < total_events:
        add_person(citizen_units[bisect.bisect(citizen_cum, random_() * citizen_cum[-1])], "citizen")
    return world


def _vn_date(ts: float) -> date:
    return datetime.fromtimestamp(ts, VN).date()


@dataclass
class Expected:
    """What the service must show once everything is folded."""

    events: int
    people: int
    by_unit: dict[tuple[str, str], int]  # (unit, audience) -> adopted
    daily: dict[tuple[str, date], int]  # (audience, Vietnam day) -> net change, whole city
    staff_adopted: int = 0
    citizens_adopted: int = 0

    def cumulative(self, first: date, last: date) -> list[tuple[date, int, int]]:
        """(day, staff, citizens) adopted at the end of each day from ``first`` to ``last``."""
        running = {"staff": 0, "citizen": 0}
        for (audience, day), delta in self.daily.items():
            if day < first:
                running[audience] += delta
        out = []
        day = first
        while day <= last:
            for audience in running:
                running[audience] += self.daily.get((audience, day), 0)
            out.append((day, running["staff"], running["citizen"]))
            day += timedelta(days=1)
        return out


@dataclass
class Dataset:
    """A set of people's events, in arrival order, cut into request bodies."""

    name: str
    people: list[int]
    order: list[tuple[int, int]] = field(default_factory=list)  # (person, index in their timeline)
    expected: Expected | None = None


def make_dataset(world: World, name: str, events: int | None = None, seed: int = 7) -> Dataset:
    """All of the world's people (``events=None``), or randomly chosen people (all their events) up to
    exactly ``events`` events (the last one's timeline cut)."""
    people = list(range(len(world.person_unit)))
    limits: dict[int, int] = {}
    if events is not None:
        random.Random(seed).shuffle(people)
        chosen, total = [], 0
        for p in people:
            if total >= events:
                break
            take = min(len(world.person_events[p]), events - total)
            limits[p] = take
            chosen.append(p)
            total += take
        people = chosen
    ds = Dataset(name, people)
    order = [
        (world.person_events[p][i][1], p, i) for p in people for i in range(limits.get(p, len(world.person_events[p])))
    ]
    order.sort()
    ds.order = [(p, i) for _, p, i in order]
    ds.expected = expected_figures(world, ds, limits)
    return ds


def expected_figures(world: World, ds: Dataset, limits: dict[int, int]) -> Expected:
    by_unit: dict[tuple[str, str], int] = {(u.code, a): 0 for u in world.units for a in ("staff", "citizen")}
    daily: dict[tuple[str, date], int] = {}
    for p in ds.people:
        events = world.person_events[p][: limits.get(p, len(world.person_events[p]))]
        audience = world.person_audience[p]
        adopted = False
        for occurred, _, _, kind, _ in events:  # already by occurred_at, distinct times
            now_adopted = kind != "uninstalled"
            if now_adopted != adopted:
                key = (audience, _vn_date(occurred))
                daily[key] = daily.get(key, 0) + (1 if now_adopted else -1)
                adopted = now_adopted
        if adopted:
            by_unit[(world.person_unit[p], audience)] += 1
    exp = Expected(len(ds.order), len(ds.people), by_unit, daily)
    exp.staff_adopted = sum(n for (_, a), n in by_unit.items() if a == "staff")
    exp.citizens_adopted = sum(n for (_, a), n in by_unit.items() if a == "citizen")
    return exp


def write_bodies(world: World, ds: Dataset, path: Path, per_request: int = 1000) -> list[int]:
    """The request bodies (``{"events": [...]}``, JSON), length-prefixed in one file; returns the
    number of events of each."""
    counts = []
    forms: dict[int, tuple[str, ...]] = {}
    with open(path, "wb") as f:
        for start in range(0, len(ds.order), per_request):
            events = []
            for p, i in ds.order[start : start + per_request]:
                occurred, _, event_id, kind, form = world.person_events[p][i]
                written = forms.get(p)
                if written is None:
                    written = forms[p] = subject_forms(world.person_subject[p])
                events.append(
                    {
                        "event_id": event_id,
                        "unit_code": world.person_unit[p],
                        "subject": written[form],
                        "audience": world.person_audience[p],
                        "type": kind,
                        "occurred_at": datetime.fromtimestamp(occurred, VN),
                    }
                )
            body = orjson.dumps({"events": events})
            f.write(struct.pack("<Q", len(body)))
            f.write(body)
            counts.append(len(events))
    return counts


def read_bodies(path: Path) -> list[bytes]:
    data = Path(path).read_bytes()
    bodies, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<Q", data, at)
        bodies.append(data[at + 8 : at + 8 + n])
        at += 8 + n
    return bodies


def copy_rows(world: World, ds: Dataset, hasher: Callable[[str], bytes], per_request: int = 1000) -> list[tuple]:
    """The rows the service stores for ``ds``, as the ceiling's COPY writes them (batch = request number)."""
    from services.adoption.subjects import person_key

    hashes: dict[int, tuple[bytes, int]] = {}
    rows = []
    for n, (p, i) in enumerate(ds.order):
        occurred, _, event_id, kind, _ = world.person_events[p][i]
        known = hashes.get(p)
        if known is None:
            h = hasher(subject_forms(world.person_subject[p])[0])
            known = hashes[p] = (h, person_key(h, world.person_unit[p], world.person_audience[p]))
        rows.append(
            (
                event_id,
                n // per_request + 1,
                world.person_unit[p],
                known[0],
                known[1],
                world.person_audience[p],
                kind,
                datetime.fromtimestamp(occurred, UTC),
            )
        )
    return rows


# --- the database -----------------------------------------------------------------------------------


async def seed(database_url: str, units: list[UnitSpec]) -> tuple[str, str]:
    """The units (as the registry announces them, with headcounts) and two API keys: the app
    backend's (posts events) and the operations centre's (reads metrics). Returns both keys."""
    from services.adoption.settings import AdoptionSettings
    from services.adoption.units.service import apply_unit_change
    from services.api.keys import service as keys
    from services.api.keys.schemas import KeyCreate
    from shared.auth import Role
    from shared.contracts import UnitChanged, UnitRef
    from shared.db import create_engine, session_factory
    from shared.timeutil import utcnow

    settings = AdoptionSettings(database_url=database_url, log_level="WARNING")
    engine = create_engine(settings, pool_size=2, max_overflow=0)
    sessions = session_factory(engine)
    try:
        for u in units:
            async with sessions() as session:
                ref = UnitRef(code=u.code, name=u.name, kind=u.kind, email=f"u{u.code}@halong.example")
                message = UnitChanged(
                    message_id=uuid.uuid4(), occurred_at=utcnow(), active=True, staff_headcount=u.headcount, unit=ref
                )
                await apply_unit_change(session, message)
        made = []
        for name, role in (("bench app backend", Role.app_backend), ("bench screens", Role.ops_centre)):
            async with sessions() as session:
                # The highest limit a key may carry (1M/min): never the bottleneck here.
                created = await keys.create_key(
                    session, KeyCreate(name=name, role=role, rate_limit_per_minute=1_000_000)
                )
                made.append(created.key)
        return made[0], made[1]
    finally:
        await engine.dispose()


async def make_partitions(dsn: str, days: int, *, older_months: int = 0, ahead: int = 1) -> list[str]:
    """The events' monthly partitions a worker running all along would hold: from the month of the
    stream's first day (``days`` ago; ``older_months`` more before it) to the next month (the default)."""
    from services.adoption.partitions import service as partitions
    from services.adoption.partitions.repository import Month
    from shared.timeutil import vietnam_today

    today = vietnam_today()
    first = Month.of(today - timedelta(days=days + 1))
    for _ in range(older_months):
        first = first.previous()
    months = (today.year - first.first.year) * 12 + today.month - first.first.month
    conn = await asyncpg.connect(dsn)
    try:
        return await partitions.make_ahead(conn, first.first, ahead=months + ahead)
    finally:
        await conn.close()


EMPTY_EVENTS = (
    "TRUNCATE adoption.events, adoption.event_ids, adoption.batches, adoption.daily, adoption.unit_stats"
    " RESTART IDENTITY",
    "UPDATE adoption.state SET version = version + 1, changed_at = now() WHERE id = 1",
)
BUMP = "UPDATE adoption.state SET version = version + 1, changed_at = now() WHERE id = 1"
BATCHES = (
    "SELECT count(*) AS batches, count(*) FILTER (WHERE aggregated_at IS NULL) AS pending,"
    " coalesce(sum(events), 0)::bigint AS events FROM adoption.batches"
)

CEILING_SCHEMA = "bench_ceiling"
CEILING_COLUMNS = ("event_id", "batch_id", "unit_code", "subject_hash", "person", "audience", "type", "occurred_at")


async def copy_ceiling(dsn: str, rows: list[tuple], meter: Meter) -> dict[str, Any]:
    """COPY the rows into a table shaped like ``adoption.events`` (same columns, types and checks,
    and its unique key, the primary key on ``event_id``; not its two secondary indexes) in a scratch
    schema, in one ``copy_records_to_table``; the table is dropped afterwards. CPU is metered around
    the COPY alone, while its backend is still there to be counted."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {CEILING_SCHEMA} CASCADE; CREATE SCHEMA {CEILING_SCHEMA}")
        await conn.execute(
            f"CREATE TABLE {CEILING_SCHEMA}.events (LIKE adoption.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);"
            f" ALTER TABLE {CEILING_SCHEMA}.events ADD PRIMARY KEY (event_id)"
        )
        await conn.execute("CHECKPOINT")  # both timed phases start without a checkpoint's debt
        before = meter.read()
        started = time.perf_counter()
        status = await conn.copy_records_to_table(
            "events", schema_name=CEILING_SCHEMA, records=rows, columns=CEILING_COLUMNS
        )
        elapsed = time.perf_counter() - started
        after = meter.read()
        count = await conn.fetchval(f"SELECT count(*) FROM {CEILING_SCHEMA}.events")
        return {
            "status": status,
            "rows": count,
            "elapsed_seconds": round(elapsed, 3),
            "rows_per_second": round(len(rows) / elapsed, 1),
            "cpu_pct": Meter.pct(before, after),
        }
    finally:
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {CEILING_SCHEMA} CASCADE")
        finally:
            await conn.close()


async def database_checks(dsn: str) -> dict[str, Any]:
    """What the service stored: events, batches, people (distinct keyed hashes), and that the
    aggregates agree with each other (the daily deltas sum to each unit's figure)."""
    conn = await asyncpg.connect(dsn)
    try:
        batches = dict(await conn.fetchrow(BATCHES))
        events = await conn.fetchval("SELECT count(*) FROM adoption.events")
        people = await conn.fetchval(
            "SELECT count(*) FROM (SELECT DISTINCT unit_code, audience, subject_hash FROM adoption.events) p"
        )
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM adoption.unit_stats s FULL JOIN"
            " (SELECT unit_code, audience, sum(delta) AS total FROM adoption.daily GROUP BY 1, 2) d"
            " USING (unit_code, audience) WHERE coalesce(s.adopted, 0) <> coalesce(d.total, 0)"
        )
        sizes = {
            r["name"]: r["bytes"]
            for r in await conn.fetch(
                "SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'adoption' AND c.relkind = 'r'"
            )
        }
        daily_rows = await conn.fetchval("SELECT count(*) FROM adoption.daily")
        return {
            **batches,
            "event_rows": events,
            "people": people,
            "stats_daily_mismatches": mismatched,
            "daily_rows": daily_rows,
            "table_bytes": {k: v for k, v in sorted(sizes.items()) if v > 16384},
        }
    finally:
        await conn.close()


async def postgres_settings(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        names = (
            "server_version", "shared_buffers", "work_mem", "max_wal_size", "synchronous_commit",
            "checkpoint_timeout", "jit",
        )  # fmt: skip
        rows = await conn.fetch(
            "SELECT name, setting || coalesce(unit, '') AS value FROM pg_settings WHERE name = ANY($1)", list(names)
        )
        return {r["name"]: r["value"] for r in rows}
    finally:
        await conn.close()


# --- processes --------------------------------------------------------------------------------------


class AdoptionWorker(Child):
    """``python -m services.adoption.worker`` (arq serves in that very process: its pid is measured).
    Ready once its health-check key exists in Redis."""

    def __init__(self, env: dict[str, str], log_path: Path, redis_url: str, health_key: str) -> None:
        super().__init__("adoption-worker", log_path)
        self.env, self.redis_url, self.health_key = env, redis_url, health_key

    def start(self, timeout: float = 60.0) -> None:
        self.spawn([sys.executable, "-m", "services.adoption.worker"], self.env)
        client = redis.Redis.from_url(self.redis_url)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
                if client.exists(self.health_key):
                    return
                time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")


class LoadProcess(Child):
    """``python -m bench.adoption_load MODE SPEC`` over pipes (see that module)."""

    def __init__(self, name: str, mode: str, spec_path: Path, log_path: Path) -> None:
        super().__init__(name, log_path)
        self.mode, self.spec_path = mode, spec_path

    def start(self) -> None:
        proc = self.spawn([sys.executable, "-m", "bench.adoption_load", self.mode, str(self.spec_path)], {}, pipes=True)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            proc.wait(10)
            raise RuntimeError(f"{self.name} failed to start:\n{self.log_tail()}")

    def go(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 60.0) -> dict[str, Any]:
        """Its report (waits for the process to end)."""
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.proc.wait(timeout)
        if not line or self.proc.returncode != 0:
            raise RuntimeError(f"{self.name} failed ({self.proc.returncode}):\n{self.log_tail()}")
        return orjson.loads(line)


class Meter:
    """CPU seconds of named processes, PostgreSQL (the run's backends, split by the process they serve:
    ``pg_app`` and ``pg_worker`` for the ``clients`` given, ``pg_rest`` for the others such as the
    bench's; and PostgreSQL's own processes apart), Redis, this bench process, the machine's busy time
    and the wall clock, between two readings."""

    def __init__(self, database: str, clients: dict[str, int], **probes: Callable[[], float]) -> None:
        self.database, self.clients, self.probes = database, clients, probes
        self.redis_pids = pids_with_cmdline(b"redis-server", b":6379\0")

    def read(self) -> dict[str, Any]:
        backends = postgres_backends_cpu(self.database)
        owner_of_port = {port: name for name, pid in self.clients.items() for port in client_ports(pid)}
        ports = backend_client_ports(backends)
        return {
            "probes": {name: probe() for name, probe in self.probes.items()},
            "postgres": {pid: (owner_of_port.get(ports.get(pid, 0), "rest"), t) for pid, t in backends.items()},
            "postgres_bg": postgres_background_cpu(),
            "redis": sum(process_cpu_seconds(pid) for pid in self.redis_pids),
            "bench": time.process_time(),
            "busy": machine_busy_seconds(),
            "wall": time.monotonic(),
        }

    @staticmethod
    def pct(before: dict[str, Any], after: dict[str, Any], **extra_seconds: float) -> dict[str, int]:
        """CPU used between the readings, in % of one core; ``extra_seconds``: CPU of processes that
        ended meanwhile (the load generator reports its own)."""
        wall = after["wall"] - before["wall"]
        used = {name: after["probes"][name] - before["probes"][name] for name in after["probes"]}
        for key in ("pg_app", "pg_worker", "pg_rest"):
            used[key] = 0.0
        for pid, (owner, t) in after["postgres"].items():
            used[f"pg_{owner}"] += t - before["postgres"].get(pid, (owner, 0.0))[1]
        used["postgres_bg"] = sum(t - before["postgres_bg"].get(pid, 0.0) for pid, t in after["postgres_bg"].items())
        used["redis"] = after["redis"] - before["redis"]
        used["bench"] = after["bench"] - before["bench"]
        used.update(extra_seconds)
        busy = after["busy"] - before["busy"]
        out = {name: round(seconds / wall * 100) for name, seconds in used.items()}
        out["postgres"] = round(sum(used[k] for k in ("pg_app", "pg_worker", "pg_rest")) / wall * 100)
        out["other"] = round((busy - sum(used.values())) / wall * 100)
        out["machine"] = round(busy / wall * 100)
        out["machine_capacity"] = (os.cpu_count() or 1) * 100
        return out


def client_ports(pid: int) -> set[int]:
    """Local TCP ports of process ``pid``'s sockets (its connections to PostgreSQL among them)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def backend_client_ports(backends: Iterable[int]) -> dict[int, int]:
    """The client port of each PostgreSQL backend, from its process title (``... 127.0.0.1(43644) ...``)."""
    ports = {}
    for pid in backends:
        with contextlib.suppress(OSError, ValueError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
            at = title.index(b"127.0.0.1(") + 10
            ports[pid] = int(title[at : title.index(b")", at)])
    return ports


# --- profiling (``--profile``) -----------------------------------------------------------------------


class PySpy(Child):
    """``py-spy record`` of a process (raw collapsed stacks), from ``start`` until ``stop``."""

    def __init__(self, target: Child, out: Path, log_path: Path, rate: int = 100) -> None:
        super().__init__(f"py-spy-{target.name}", log_path)
        self.target, self.out, self.rate = target, out, rate

    @staticmethod
    def executable() -> str | None:
        found = Path(sys.executable).parent / "py-spy"
        return str(found) if found.exists() else shutil.which("py-spy")

    def start(self) -> None:
        exe = self.executable()
        assert exe is not None
        cmd = [exe, "record", "-p", str(self.target.pid), "-r", str(self.rate), "--nonblocking"]
        self.spawn([*cmd, "-f", "raw", "-o", str(self.out)], {})

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT makes py-spy write its output; wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            super().stop()


def hot_spots(collapsed: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares of the frames in py-spy's collapsed stacks (inclusive: the service's
    own ``services/`` frames only, the code under test)."""
    total = 0
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    try:
        lines = collapsed.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return {}

    def share(counter: collections.Counter[str], only_ours: bool) -> list[tuple[float, str]]:
        picked = [(f, n) for f, n in counter.most_common() if not only_ours or "services/" in f]
        return [(round(100 * n / total, 1), f) for f, n in picked[:top]]

    return {
        "samples": total,
        "self": share(own, False),
        "inclusive_ours": share(inclusive, True),
    }


async def explain_hot_sql(dsn: str) -> tuple[dict[str, float], str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the ingest's INSERT of the last batch's events (the path of a batch
    holding known events; new events are COPYed) and of the fold of the last 1, 5 and 50 batches (with
    the fold's own settings), on the loaded tables, each in a transaction rolled back. Returns each
    one's execution time in milliseconds, and the plans."""
    from services.adoption.aggregation.repository import FOLD, FOLD_SETTINGS
    from services.adoption.events.repository import INSERT_SKIPPING_KNOWN

    conn = await asyncpg.connect(dsn, server_settings={"jit": "off"})  # as the services' connections
    times: dict[str, float] = {}
    texts = []
    try:
        last = await conn.fetchval("SELECT max(id) FROM adoption.batches")
        rows = await conn.fetch("SELECT * FROM adoption.events WHERE batch_id = $1", last)
        payload = orjson.dumps(
            [
                {
                    "event_id": r["event_id"],
                    "unit_code": r["unit_code"],
                    "person": r["person"],
                    "subject_hash": r["subject_hash"].hex(),
                    "audience": r["audience"],
                    "type": r["type"],
                    "occurred_at": r["occurred_at"].isoformat(),
                }
                for r in rows
            ]
        ).decode()
        cases: list[tuple[str, list[str], str, list[Any]]] = [
            (
                f"ingest INSERT of {len(rows)} events (the path of a batch holding known events)",
                [f"DELETE FROM adoption.events WHERE batch_id = {last}"],
                INSERT_SKIPPING_KNOWN,
                [payload],
            )
        ]
        for n in (1, 5, 50):
            # Those batches count as not folded yet: the fold recomputes their people as it did.
            cases.append(
                (
                    f"fold of {n} batches",
                    [f"UPDATE adoption.batches SET aggregated_at = NULL WHERE id > {last - n}", *FOLD_SETTINGS],
                    FOLD,
                    [list(range(last - n + 1, last + 1))],
                )
            )
        for label, setup, query, params in cases:
            tr = conn.transaction()
            await tr.start()
            try:
                for statement in setup:
                    await conn.execute(statement)
                plan = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, WAL) " + query, *params)]
            finally:
                await tr.rollback()
            times[label] = float(plan[-1].split(":")[1].split()[0])  # "Execution Time: 12.3 ms"
            texts.append(f"== {label}\n" + "\n".join(plan))
        return times, "\n\n".join(texts) + "\n"
    finally:
        await conn.close()
