"""The adoption service's worker: folds ingested events into the aggregates, keeps the unit directory
in step with the registry, and sends the weekly nudges and digest.

Run with ``python -m services.adoption.worker``. Folding wakes on PostgreSQL NOTIFY (a batch
committed) and also polls, in case a notice was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from pydantic import ValidationError

from services.adoption import aggregation, weekly
from services.adoption.settings import AdoptionSettings, get_settings
from services.adoption.units.service import apply_unit_change
from shared import queues
from shared.contracts import UnitChanged
from shared.db import asyncpg_dsn, create_engine, create_pg_pool, session_factory
from shared.logs import configure_logging
from shared.pglisten import listen_forever

log = structlog.get_logger("adoption.worker")
INGESTED = "adoption_ingested"


class Aggregator:
    """Folds pending batches whenever PostgreSQL says one arrived, and on a timer."""

    def __init__(self, settings: AdoptionSettings, pg) -> None:
        self.settings, self.pg = settings, pg
        self.wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        def heard(listening: bool) -> None:
            if listening:
                self.wake.set()

        self._tasks = [
            asyncio.create_task(
                listen_forever(asyncpg_dsn(self.settings.database_url), INGESTED, self.wake.set, on_state=heard)
            ),
            asyncio.create_task(self._fold_forever()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def fold(self) -> int:
        async with self.pg.acquire() as conn:
            return await aggregation.fold_all(conn, max_events=self.settings.aggregate_max_events)

    async def _fold_forever(self) -> None:
        backoff = 1.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.aggregate_poll_seconds)
            self.wake.clear()
            started = loop.time()
            try:
                async with self.pg.acquire() as conn:
                    folded = await aggregation.fold_pending(conn, max_events=self.settings.aggregate_max_events)
                backoff = 1.0
            except Exception as exc:  # database away: the batches wait, nothing is lost
                log.warning("fold_failed", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if folded.batches:
                log.info("batches_folded", batches=folded.batches)
                self.wake.set()  # fold again: more may have come
                if not folded.left:
                    # Let the next batches gather for a moment (under load, fewer and larger folds;
                    # a quiet service still folds each batch as soon as it is committed).
                    await asyncio.sleep(max(self.settings.aggregate_interval_seconds - (loop.time() - started), 0))


async def unit_changed(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """adoption.unit.changed: the registry created or changed a unit."""
    try:
        message = queues.parse_message("adoption.unit.changed", payload)
    except ValidationError as exc:
        log.error("message_rejected", job="adoption.unit.changed", errors=exc.errors(include_url=False)[:5])
        return
    assert isinstance(message, UnitChanged)
    async with ctx["sessions"]() as session:
        await apply_unit_change(session, message)


async def fold_pending(ctx: dict[str, Any]) -> int:
    """adoption.batches.fold: the safety net of the NOTIFY-driven folding."""
    return await ctx["aggregator"].fold()


async def weekly_notices(ctx: dict[str, Any]) -> int:
    """adoption.weekly.notify: nudges to lagging units and the Office's digest, once a week."""
    return await weekly.send_weekly(ctx["sessions"], ctx["pg"], ctx["redis"], ctx["settings"])


def build_worker(settings: AdoptionSettings | None = None, **options: Any) -> Any:
    settings = settings or get_settings()

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["engine"] = create_engine(settings, pool_size=4, max_overflow=2)
        ctx["sessions"] = session_factory(ctx["engine"])
        ctx["pg"] = await create_pg_pool(settings)
        ctx["aggregator"] = Aggregator(settings, ctx["pg"])
        ctx["aggregator"].start()
        log.info("adoption_worker_started", queue=queues.queue_name(settings, queues.ADOPTION))

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "aggregator" in ctx:
            await ctx["aggregator"].stop()
        if "pg" in ctx:
            await ctx["pg"].close()
        if "engine" in ctx:
            await ctx["engine"].dispose()

    return queues.make_worker(
        settings,
        queues.ADOPTION,
        functions=[queues.func(unit_changed, name="adoption.unit.changed")],
        cron_jobs=[
            queues.cron(fold_pending, name="adoption.batches.fold", second=45, unique=True, timeout=50),
            queues.cron(
                weekly_notices,
                name="adoption.weekly.notify",
                minute=5,
                second=0,
                unique=True,
                timeout=60,
            ),
        ],
        on_startup=startup,
        on_shutdown=shutdown,
        **options,
    )


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    queues.run(lambda: build_worker(settings))


if __name__ == "__main__":
    main()
