"""The adoption service's worker: folds ingested events into the aggregates, keeps the unit directory
in step with the registry, decides the weekly nudges and digest (sent through its outbox), and keeps
the events' monthly partitions (made ahead, dropped past the retention).

Run with ``python -m services.adoption.worker``. Folding wakes on PostgreSQL NOTIFY (a batch
committed) and also polls, in case a notice was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

from services.adoption.aggregation import service as aggregation
from services.adoption.models import idempotency_keys, outbox
from services.adoption.partitions import service as partitions
from services.adoption.settings import AdoptionSettings, get_settings
from services.adoption.units.service import apply_unit_change
from services.adoption.weekly import service as weekly
from shared import idempotency, queues
from shared.contracts import ADOPTION, UnitChanged
from shared.db import asyncpg_dsn, create_engine, create_pg_pool, session_factory
from shared.loops import repeat
from shared.outbox import Relay
from shared.pglisten import listen_forever
from shared.timeutil import vietnam_today

log = structlog.get_logger("adoption.worker")
INGESTED = "adoption_ingested"
METRICS_PORT = 9101


class Aggregator:
    """Folds pending batches whenever PostgreSQL says one arrived, and on a timer."""

    def __init__(self, settings: AdoptionSettings, pg: asyncpg.Pool) -> None:
        self.settings, self.pg = settings, pg
        self.wake = asyncio.Event()

    def heard(self, listening: bool) -> None:
        if listening:  # (re)connected: a batch may have committed while nobody listened
            self.wake.set()

    async def listen(self) -> None:
        await listen_forever(asyncpg_dsn(self.settings.database_url), INGESTED, self.wake.set, on_state=self.heard)

    async def run(self) -> None:
        await repeat(self.step, name="fold", pause=0)

    async def fold(self) -> int:
        async with self.pg.acquire() as conn:
            return await aggregation.fold_all(conn, max_events=self.settings.aggregate_max_events)

    async def step(self) -> None:
        """Wait for a batch (or the poll interval), then fold what is pending."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), self.settings.aggregate_poll_seconds)
        self.wake.clear()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with self.pg.acquire() as conn:
                folded = await aggregation.fold_pending(conn, max_events=self.settings.aggregate_max_events)
        except BaseException:
            self.wake.set()  # fold again after the backoff: the batches wait, nothing is lost
            raise
        if folded.batches:
            log.info("batches_folded", batches=folded.batches)
            self.wake.set()  # fold again: more may have come
            if not folded.left:
                # Let the next batches gather for a moment (under load, fewer and larger folds;
                # a quiet service still folds each batch as soon as it is committed).
                await asyncio.sleep(max(self.settings.aggregate_interval_seconds - (loop.time() - started), 0))


async def unit_changed(ctx: dict[str, Any], message: UnitChanged) -> None:
    """adoption.unit.changed: the registry created or changed a unit."""
    async with ctx["sessions"]() as session:
        await apply_unit_change(session, message)


async def fold_batches(ctx: dict[str, Any]) -> int:
    """adoption.batches.fold: the safety net of the NOTIFY-driven folding (folds all that is pending)."""
    aggregator: Aggregator = ctx["aggregator"]
    return await aggregator.fold()


async def weekly_notices(ctx: dict[str, Any]) -> int:
    """adoption.weekly.notify: nudges to lagging units and the Office's digest, once a week."""
    return await weekly.send_weekly(ctx["sessions"], ctx["pg"], ctx["settings"])


async def keep_partitions(ctx: dict[str, Any]) -> partitions.Kept:
    """adoption.partitions.keep: this month's partition and those ahead made, those past the retention
    dropped (at start, then hourly: a month's partition exists long before its first event)."""
    settings: AdoptionSettings = ctx["settings"]
    async with ctx["pg"].acquire() as conn:
        return await partitions.keep(
            conn,
            vietnam_today(),
            ahead=settings.adoption_event_months_ahead,
            retention_months=settings.adoption_event_retention_months,
        )


def build_worker(settings: AdoptionSettings | None = None, **options: Any) -> queues.WorkerProcess:
    settings = settings or get_settings()

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["engine"] = create_engine(settings, pool_size=4, max_overflow=2)
        ctx["sessions"] = session_factory(ctx["engine"])
        ctx["pg"] = await create_pg_pool(settings)
        ctx["aggregator"] = Aggregator(settings, ctx["pg"])
        ctx["relay"] = Relay(outbox, ctx["sessions"], ctx["redis"], settings)
        ctx["tasks"].start(ctx["aggregator"].listen(), name="fold-listener")
        ctx["tasks"].start(ctx["aggregator"].run(), name="fold")
        ctx["tasks"].start(ctx["relay"].run(), name="outbox-relay")
        log.info("adoption_worker_started", queue=queues.queue_name(settings, ADOPTION))

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "pg" in ctx:
            await ctx["pg"].close()
        if "engine" in ctx:
            await ctx["engine"].dispose()

    consumer = queues.Consumer(
        queues.queue_name(settings, ADOPTION),
        functions=[queues.consumer_job(UnitChanged.job, unit_changed), outbox.acknowledge_job()],
        cron_jobs=[
            queues.cron(fold_batches, name="adoption.batches.fold", second=45, unique=True, timeout=50),
            queues.cron(
                keep_partitions,
                name="adoption.partitions.keep",
                minute=20,
                second=0,
                unique=True,
                timeout=600,
                run_at_startup=True,
            ),
            queues.cron(weekly_notices, name="adoption.weekly.notify", minute=5, second=0, unique=True, timeout=60),
            outbox.purge_job(),
            idempotency.purge_job(idempotency_keys),
        ],
    )
    return queues.WorkerProcess(
        settings,
        ADOPTION,
        [consumer],
        startup=startup,
        shutdown=shutdown,
        default_metrics_port=METRICS_PORT,
        **options,
    )


def main() -> None:
    queues.run(build_worker, get_settings())


if __name__ == "__main__":
    main()
