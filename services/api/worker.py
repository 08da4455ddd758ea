"""The registry's worker: relays the outbox to the other services' queues and records their
acknowledgements, decides the scheduled notices, and keeps tables tidy.

Run with ``python -m services.api.worker``.
"""

from __future__ import annotations

from typing import Any

import structlog

from services.api import notices
from services.api.models import idempotency_keys, outbox
from services.api.registrations.service import compose_registered
from services.api.settings import RegistrySettings, get_settings
from shared import idempotency, queues
from shared.contracts import REGISTRY, FocalPointRegistered
from shared.db import create_engine, session_factory
from shared.outbox import Relay

log = structlog.get_logger("registry.worker")
METRICS_PORT = 9100


async def schedule_notices(ctx: dict[str, Any]) -> int:
    """registry.notices.schedule: reminders, deadline digests and go-live notices that came due."""
    return await notices.run_schedule(ctx["sessions"], ctx["settings"])


def relay(settings: RegistrySettings, sessions: Any, redis: queues.ArqRedis) -> Relay:
    """The registry's outbox relay (a registration's row is composed into its message when relayed)."""
    return Relay(outbox, sessions, redis, settings, composers={FocalPointRegistered.job: compose_registered})


def build_worker(settings: RegistrySettings | None = None, **options: Any) -> queues.WorkerProcess:
    settings = settings or get_settings()

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["engine"] = create_engine(settings, pool_size=4, max_overflow=2)
        ctx["sessions"] = session_factory(ctx["engine"])
        ctx["relay"] = relay(settings, ctx["sessions"], ctx["redis"])
        ctx["tasks"].start(ctx["relay"].run(), name="outbox-relay")
        log.info("registry_worker_started", queue=queues.queue_name(settings, REGISTRY))

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "engine" in ctx:
            await ctx["engine"].dispose()

    consumer = queues.Consumer(
        queues.queue_name(settings, REGISTRY),
        functions=[outbox.acknowledge_job()],
        cron_jobs=[
            queues.cron(
                schedule_notices,
                name="registry.notices.schedule",
                second=30,
                unique=True,
                run_at_startup=True,
                timeout=50,
            ),
            idempotency.purge_job(idempotency_keys),
            outbox.purge_job(),
        ],
    )
    return queues.WorkerProcess(
        settings,
        REGISTRY,
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
