"""Folding stored events into the aggregates the metrics read.

A person (unit, audience, keyed hash of the subject) counts as adopted while their latest event, by
``occurred_at``, is ``installed`` or ``activated``. Each change of that state is a +1 or -1 on its
Vietnam day in ``daily``; the running sum of ``daily`` is the adoption curve, and ``unit_stats``
holds its current value.

For each person a batch touches, the fold reads the latest event folded before. When the person's
new events all come after it (the rule: events arrive roughly in order), their changes follow from
that event's state and the new events alone. Events also arrive late and out of order: such a
person's timeline is recomputed from their events, once without the batch and once with it, and
the difference goes into ``daily`` and ``unit_stats``. An uninstall followed by a re-install
therefore counts once, and an old event arriving late corrects the day it belongs to.

Folding is serialised by a transaction-level advisory lock, and a batch is marked folded in the same
transaction, so running the job twice, or on two workers at once, counts every event once. Each fold
takes a bounded number of events, so a backlog is worked off in steps of the same size. The SQL is
in ``repository.py``.
"""

from __future__ import annotations

from typing import NamedTuple

from services.adoption.aggregation import repository
from shared.db import Connection


class Folded(NamedTuple):
    batches: int  # folded now
    left: int  # still pending (beyond ``max_events``), as far as this fold saw


async def fold_pending(conn: Connection, *, max_events: int) -> Folded:
    """Fold the oldest pending batches, about ``max_events`` events' worth (at least one batch), into the
    aggregates."""
    async with conn.transaction():
        await repository.lock(conn)
        pending = await repository.pending_batches(conn)
        if not pending:
            return Folded(0, 0)
        now: list[int] = []
        total = 0
        for batch in pending:
            if now and total + batch["events"] > max_events:
                break
            now.append(batch["id"])
            total += batch["events"]
        folded = await repository.fold(conn, now)
        await repository.bump_version(conn)
    return Folded(folded, len(pending) - len(now))


async def fold_all(conn: Connection, *, max_events: int) -> int:
    """Fold until nothing is pending; returns how many batches were folded."""
    total = 0
    while folded := (await fold_pending(conn, max_events=max_events)).batches:
        total += folded
    return total
