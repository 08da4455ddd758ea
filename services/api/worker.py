"""The registry's worker: relays the outbox to the other services' queues and keeps tables tidy.

Run with ``python -m services.api.worker``. The relay looks at the outbox every ``outbox_poll_seconds``
(0.2 s), so a registration reaches the notifier's queue within a fraction of a second. It does not
wait for a NOTIFY: one in each registration's transaction made registrations commit one at a time
(migration 0005).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import structlog

from services.api import notices, outbox
from services.api.models import idempotency_keys
from services.api.registrations.service import compose_registered
from services.api.settings import RegistrySettings, get_settings
from shared import queues
from shared.db import create_engine, session_factory
from shared.idempotency import purge_idempotency_keys
from shared.logs import configure_logging

log = structlog.get_logger("registry.worker")


class OutboxRelay:
    """Drains the outbox on a short timer."""

    def __init__(self, settings: RegistrySettings, sessions: Any, redis: queues.ArqRedis) -> None:
        self.settings, self.sessions, self.redis = settings, sessions, redis
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._drain_forever())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self) -> int:
        """Relay until the outbox is empty or Redis refuses; returns how many rows went out."""
        total = 0
        while True:
            moved = await outbox.relay_pending(
                self.sessions,
                self.redis,
                queue_name=lambda s: queues.queue_name(self.settings, s),
                composers={"notifier.focal_point.registered": compose_registered},
                batch_size=self.settings.outbox_batch_size,
                redis_timeout=self.settings.redis_timeout_seconds + 1,
            )
            total += moved
            if moved < self.settings.outbox_batch_size:
                return total

    async def _drain_forever(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self.drain()
                backoff = 1.0
            except Exception as exc:  # database away: try again later, nothing is lost
                log.warning("outbox_drain_failed", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            await asyncio.sleep(self.settings.outbox_poll_seconds)


async def schedule_notices(ctx: dict[str, Any]) -> int:
    """registry.notices.schedule: reminders, deadline digests and go-live notices that came due."""
    return await notices.run_schedule(ctx["sessions"], ctx["settings"])


async def purge_idempotency(ctx: dict[str, Any]) -> int:
    """registry.idempotency.purge: forget Idempotency-Keys past their retention."""
    settings: RegistrySettings = ctx["settings"]
    return await purge_idempotency_keys(
        ctx["engine"], idempotency_keys, timedelta(hours=settings.idempotency_retention_hours)
    )


def build_worker(settings: RegistrySettings | None = None, **options: Any) -> Any:
    settings = settings or get_settings()

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["engine"] = create_engine(settings, pool_size=4, max_overflow=2)
        ctx["sessions"] = session_factory(ctx["engine"])
        ctx["relay"] = OutboxRelay(settings, ctx["sessions"], ctx["redis"])
        ctx["relay"].start()
        log.info("registry_worker_started", queue=queues.queue_name(settings, queues.REGISTRY))

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "relay" in ctx:
            await ctx["relay"].stop()
        if "engine" in ctx:
            await ctx["engine"].dispose()

    return queues.make_worker(
        settings,
        queues.REGISTRY,
        cron_jobs=[
            queues.cron(
                schedule_notices,
                name="registry.notices.schedule",
                second=30,
                unique=True,
                run_at_startup=True,
                timeout=50,
            ),
            queues.cron(
                purge_idempotency,
                name="registry.idempotency.purge",
                minute=17,
                second=0,
                unique=True,
                run_at_startup=False,
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
