"""The figures the screens poll, read from the aggregates: a few rows, whatever the number of events."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from services.adoption.metrics import repository
from services.adoption.metrics.schemas import Point, Summary, Timeseries, UnitRow
from shared.problems import NotFound, ensure_date_range
from shared.timeutil import utcnow, vietnam_today

if TYPE_CHECKING:
    from services.adoption.units.service import UnitCodes

# A time series spans at most this many days, both ends included.
MAX_DAYS = 731

SORT_KEYS = (
    "staff_rate",
    "staff_adopted",
    "staff_total",
    "citizens_adopted",
    "change_7d",
    "last_event_at",
    "unit_code",
    "unit_name",
)


def _row(record: asyncpg.Record, target: float) -> UnitRow:
    measured = record["staff_last"] is not None or record["citizens_last"] is not None
    reported = record["reported_as_of"] is not None
    if measured:
        source, adopted, citizens = "measured", record["staff_measured"] or 0, record["citizens_measured"] or 0
        total = record["headcount"]
    elif reported:
        source, adopted, citizens = "self_reported", record["reported_installed"], record["reported_citizens"]
        total = record["headcount"] if record["headcount"] is not None else record["reported_total"]
    else:
        source, adopted, citizens, total = "none", 0, 0, record["headcount"]
    rate = round(adopted / total, 4) if total else None
    last = max((t for t in (record["staff_last"], record["citizens_last"]) if t is not None), default=None)
    return UnitRow(
        unit_code=record["code"],
        unit_name=record["name"],
        kind=record["kind"],
        staff_total=total,
        staff_adopted=adopted,
        staff_rate=rate,
        citizens_adopted=citizens,
        change_7d=(record["change_7d"] or 0) if measured else None,
        last_event_at=last,
        source=source,
        reported_as_of=record["reported_as_of"] if source == "self_reported" else None,
        at_target=None if rate is None else rate >= target,
    )


async def unit_rows(db: asyncpg.Pool | asyncpg.Connection, *, target: float, kind: str | None = None) -> list[UnitRow]:
    """A row per unit the city counts (of ``kind``, if given), in no particular order."""
    week_ago = vietnam_today() - timedelta(days=7)
    return [_row(r, target) for r in await repository.unit_figures(db, since=week_ago, kind=kind)]


def sort_rows(rows: list[UnitRow], key: str, descending: bool) -> list[UnitRow]:
    """Sorted by ``key``; rows without a value (no headcount, no events) always come last."""
    by_code = sorted(rows, key=lambda r: r.unit_code)  # ties stay in code order, either direction
    present = sorted(
        (r for r in by_code if getattr(r, key) is not None), key=lambda r: getattr(r, key), reverse=descending
    )
    return present + [r for r in by_code if getattr(r, key) is None]


def today() -> date:
    """The Vietnam date the figures count to (``change_7d`` counts the week before it)."""
    return vietnam_today()


def summary_of(rows: list[UnitRow], *, target: float, as_of: datetime) -> Summary:
    with_total = [r for r in rows if r.staff_total]
    staff_total = sum(r.staff_total or 0 for r in with_total)
    staff_adopted = sum(r.staff_adopted for r in with_total)
    return Summary(
        as_of=as_of,
        target_rate=target,
        staff_total=staff_total,
        staff_adopted=staff_adopted,
        staff_rate=round(staff_adopted / staff_total, 4) if staff_total else None,
        citizens_adopted=sum(r.citizens_adopted for r in rows),
        units=len(rows),
        units_at_target=sum(1 for r in rows if r.at_target),
        units_lagging=sum(1 for r in rows if r.at_target is False),
        units_without_headcount=len(rows) - len(with_total),
        units_measured=sum(1 for r in rows if r.source == "measured"),
        units_self_reported=sum(1 for r in rows if r.source == "self_reported"),
    )


async def timeseries(
    db: asyncpg.Pool | asyncpg.Connection, *, unit_code: str | None, start: date, end: date, interval: str
) -> Timeseries:
    """Adopted people at the end of each day (or ISO week) from ``start`` to ``end``, Vietnam dates."""
    deltas: dict[str, dict[date, int]] = {"staff": {}, "citizen": {}}
    base = {"staff": 0, "citizen": 0}
    for record in await repository.daily_deltas(db, unit_code=unit_code, start=start, end=end):
        if record["day"] is None:
            base[record["audience"]] = record["delta"]
        else:
            deltas[record["audience"]][record["day"]] = record["delta"]
    points: list[Point] = []
    running = dict(base)
    day = start
    period_start = start
    while day <= end:
        for audience in running:
            running[audience] += deltas[audience].get(day, 0)
        closes_period = interval == "day" or day.isoweekday() == 7 or day == end
        if closes_period:
            points.append(
                Point(
                    period_start=period_start,
                    period_end=day,
                    staff_adopted=running["staff"],
                    citizens_adopted=running["citizen"],
                )
            )
            period_start = day + timedelta(days=1)
        day += timedelta(days=1)
    return Timeseries.model_validate(
        {"unit_code": unit_code, "interval": interval, "from": start, "to": end, "points": points}
    )


def series_range(start: date | None, end: date | None) -> tuple[date, date]:
    """The range asked for, from 29 days ago to today where an end is not given; 422 if reversed or
    longer than ``MAX_DAYS``."""
    today = vietnam_today(utcnow())
    start, end = start or today - timedelta(days=29), end or today
    ensure_date_range(start, end, max_days=MAX_DAYS)
    return start, end


async def ensure_unit_known(pool: asyncpg.Pool, unit_codes: UnitCodes, code: str) -> None:
    """404 for a code no unit of the directory has ever had (a retired unit's history stays readable)."""
    if code not in await unit_codes.known(pool):
        raise NotFound("unit-not-found", code=code)
