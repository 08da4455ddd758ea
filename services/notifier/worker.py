"""The notifier's worker: turns the registry's messages into notifications and sends them.

Run with ``python -m services.notifier.worker``. One job per message (``notifier.focal_point.registered``
and the others of ``shared.contracts.JOB_MESSAGES``) creates its notifications and sends them at once;
retries and quiet-hour deferrals are ``notifier.notification.send`` jobs; a sweeper re-sends what a
lost job or a killed worker left behind.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import structlog
from pydantic import ValidationError

from services.notifier.planning import plan
from services.notifier.providers import build_providers
from services.notifier.ratelimit import ProviderRateLimiter
from services.notifier.sending import MAX_RATE_WAIT_SECONDS, Sender
from services.notifier.settings import NotifierSettings, get_settings
from shared import queues
from shared.contracts import JOB_MESSAGES
from shared.db import create_pg_pool
from shared.logs import configure_logging

log = structlog.get_logger("notifier.worker")
SEND_JOB = "notifier.notification.send"


def message_job(job_name: str):
    """The job for one kind of message: validate, plan, create, send."""

    async def job(ctx: dict[str, Any], payload: dict[str, Any]) -> int:
        try:
            message = queues.parse_message(job_name, payload)
        except ValidationError as exc:  # a message no retry can fix: log it and drop it
            log.error("message_rejected", job=job_name, errors=exc.errors(include_url=False)[:5])
            return 0
        sender: Sender = ctx["sender"]
        drafts = plan(message, office_email=ctx["settings"].office_email)
        return await sender.create_and_send(message.message_id, drafts)

    job.__qualname__ = job.__name__ = job_name.replace(".", "_")
    return queues.func(job, name=job_name)


async def send_notification(ctx: dict[str, Any], notification_id: str) -> str | None:
    """notifier.notification.send: one (re)try of one notification."""
    return await ctx["sender"].send(uuid.UUID(notification_id))


async def sweep(ctx: dict[str, Any]) -> int:
    """notifier.notifications.sweep: re-send rows stuck in created/sending/temporary_failure."""
    ids = await ctx["sender"].stuck()
    for notification_id in ids:
        await ctx["redis"].enqueue_job(SEND_JOB, str(notification_id), _queue_name=ctx["queue"])
    if ids:
        log.warning("swept_stuck_notifications", count=len(ids))
    return len(ids)


def build_worker(settings: NotifierSettings | None = None, **options: Any) -> Any:
    settings = settings or get_settings()

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["queue"] = queues.queue_name(settings, queues.NOTIFIER)
        ctx["pg"] = await create_pg_pool(settings)
        ctx["http"] = httpx.AsyncClient(limits=httpx.Limits(max_connections=settings.worker_concurrency))
        ctx["providers"] = build_providers(settings, ctx["http"])

        async def schedule(notification_id: uuid.UUID, at: datetime, attempt: int) -> None:
            await ctx["redis"].enqueue_job(
                SEND_JOB,
                str(notification_id),
                _queue_name=ctx["queue"],
                _job_id=f"send:{notification_id}:{attempt}:{int(at.timestamp())}",
                _defer_until=at,
            )

        ctx["sender"] = Sender(
            settings,
            ctx["pg"],
            ctx["providers"],
            ProviderRateLimiter(ctx["redis"], ctx["queue"]),
            schedule,
        )
        log.info(
            "notifier_worker_started", queue=ctx["queue"], email=settings.email_provider, sms=settings.sms_provider
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        for provider in ctx.get("providers", {}).values():
            await provider.close()
        if "http" in ctx:
            await ctx["http"].aclose()
        if "pg" in ctx:
            await ctx["pg"].close()

    return queues.make_worker(
        settings,
        queues.NOTIFIER,
        functions=[
            *(message_job(name) for name in JOB_MESSAGES if name.startswith("notifier.")),
            queues.func(send_notification, name=SEND_JOB),
        ],
        cron_jobs=[
            queues.cron(
                sweep,
                name="notifier.notifications.sweep",
                unique=True,
                run_at_startup=True,
                second=set(range(0, 60, settings.sweep_every_seconds)),
                timeout=25,
            )
        ],
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.worker_concurrency,
        job_timeout=settings.send_timeout_seconds + MAX_RATE_WAIT_SECONDS + 5,
        **options,
    )


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    queues.run(lambda: build_worker(settings))


if __name__ == "__main__":
    main()
