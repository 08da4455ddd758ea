"""Keeping the events' monthly partitions: this month's and the next ones made ahead, and, with a
retention of N months, the partitions of months before the last N dropped.

Events land in their month's partition, or in the default partition when their month has none (older
than the first partition, or beyond those made ahead: the worker has not run for a while); making a
month's partition moves its events out of the default. Dropping a month keeps each person's latest
event of it (in the default partition), so that the fold still knows their state; ``daily`` and
``unit_stats`` are aggregates and keep their whole history. Both steps are idempotent, and serialised
by an advisory lock; a month is dropped only while every batch is folded (under the fold's lock).
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import structlog

from services.adoption.partitions import repository
from services.adoption.partitions.repository import Month
from shared.db import Connection

log = structlog.get_logger("adoption.partitions")


class Kept(NamedTuple):
    made: list[str]
    dropped: list[str]


async def make_ahead(conn: Connection, today: date, *, ahead: int) -> list[str]:
    """Make this month's partition and the next ``ahead`` months', those missing; returns their names."""
    made = []
    async with conn.transaction():
        await conn.execute(repository.LOCK)
        have = set(await repository.monthly(conn))
        month = Month.of(today)
        for _ in range(ahead + 1):
            if month not in have:
                moved = await repository.make(conn, month)
                log.info("event_partition_made", partition=month.name, moved_from_default=moved)
                made.append(month.name)
            month = month.next()
    return made


async def drop_expired(conn: Connection, today: date, *, retention_months: int) -> list[str]:
    """Drop the partitions of months before the last ``retention_months`` (this month counted);
    returns their names. Does nothing while a batch waits to be folded (the next run drops them)."""
    oldest_kept = Month.of(today)
    for _ in range(retention_months - 1):
        oldest_kept = oldest_kept.previous()
    dropped = []
    async with conn.transaction():
        await conn.execute(repository.LOCK)
        expired = [m for m in await repository.monthly(conn) if m < oldest_kept]
        if not expired:
            return []
        await conn.execute(repository.FOLD_LOCK)
        if await conn.fetchval(repository.PENDING):
            log.info("event_partitions_wait_for_fold", expired=[m.name for m in expired])
            return []
        for month in expired:
            forgotten, kept = await repository.drop(conn, month)
            log.info("event_partition_dropped", partition=month.name, events_dropped=forgotten, events_kept=kept)
            dropped.append(month.name)
    return dropped


async def keep(conn: Connection, today: date, *, ahead: int, retention_months: int | None) -> Kept:
    """Both steps: partitions made ahead, then those past the retention (if any) dropped."""
    made = await make_ahead(conn, today, ahead=ahead)
    dropped = await drop_expired(conn, today, retention_months=retention_months) if retention_months else []
    return Kept(made, dropped)
