"""The notifier's worker: turns the other services' messages into notifications and sends them.

Run with ``python -m services.notifier.worker``. Messages arrive in three lanes (``ioc:notifier:priority``,
``…:normal``, ``…:bulk``; see ``shared/contracts.py``), each taken by an arq worker of its own with
its own database pool, HTTP client and SMTP connections, so a confirmation never waits behind a
backlog of nudges (they share only the process's CPU). A message's job creates its notifications and
sends them at once, then acknowledges
the message to its sender; retries and quiet-hour deferrals are ``notifier.notification.send`` jobs in
the notification's lane; a sweeper on the service's own queue (``ioc:notifier``) resends what a lost
job or a killed worker left behind.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import structlog

from services.notifier.digest import send_daily_digest
from services.notifier.models import idempotency_keys
from services.notifier.planning import plan
from services.notifier.providers import build_providers
from services.notifier.ratelimit import ProviderRateLimiter
from services.notifier.sending import MAX_RATE_WAIT_SECONDS, Sender
from services.notifier.settings import NotifierSettings, get_settings
from services.notifier.zalo_templates import templates as zalo_templates
from services.notifier.zalo_tokens import ZaloTokens
from shared import idempotency, queues
from shared.contracts import BULK, JOB_MESSAGES, LANES, NORMAL, NOTIFIER, Message
from shared.db import create_engine, create_pg_pool, session_factory

log = structlog.get_logger("notifier.worker")
SEND_JOB = "notifier.notification.send"
METRICS_PORT = 9102


def lane_functions(lane: str) -> list[Any]:
    """The jobs a lane's worker takes: every message type, and sends, with that lane's sender."""

    async def handle(ctx: dict[str, Any], message: Message) -> int:
        sender: Sender = ctx["senders"][lane]
        return await sender.create_and_send(
            message.message_id, plan(message, office_email=ctx["settings"].office_email)
        )

    async def send_notification(ctx: dict[str, Any], notification_id: str) -> str | None:
        """notifier.notification.send: one (re)try of one notification."""
        sender: Sender = ctx["senders"][lane]
        return await sender.send(uuid.UUID(notification_id))

    return [
        *(queues.consumer_job(name, handle) for name in JOB_MESSAGES if name.startswith(f"{NOTIFIER}.")),
        queues.func(send_notification, name=SEND_JOB),
    ]


async def daily_digest(ctx: dict[str, Any]) -> int:
    """notifier.digest.daily: yesterday's held and failed notifications, to the Office (once)."""
    return await send_daily_digest(ctx["senders"][BULK])


async def sweep(ctx: dict[str, Any]) -> int:
    """notifier.notifications.sweep: re-send rows stuck in created/sending/temporary_failure."""
    settings: NotifierSettings = ctx["settings"]
    stuck = await ctx["senders"][NORMAL].stuck()
    for notification_id, lane in stuck:
        await queues.enqueue_job(
            ctx["redis"], queues.queue_name(settings, NOTIFIER, lane), SEND_JOB, str(notification_id)
        )
    if stuck:
        log.warning("swept_stuck_notifications", count=len(stuck))
    followed = 0
    if "zalo" in ctx["senders"][NORMAL].providers:
        followed = await ctx["senders"][NORMAL].follow_up_unconfirmed()
    return len(stuck) + followed


async def renew_zalo_token(ctx: dict[str, Any]) -> bool:
    """notifier.zalo.token.renew: renew the OA's access token when its expiry is near, even while
    nothing is sent (each renewal also replaces the refresh token, which would expire unused)."""
    tokens: ZaloTokens | None = ctx.get("zalo_tokens")
    return await tokens.renew_if_due() if tokens is not None else False


def build_worker(settings: NotifierSettings | None = None, **options: Any) -> queues.WorkerProcess:
    settings = settings or get_settings()

    async def startup(ctx: dict[str, Any]) -> None:
        redis = ctx["redis"]
        ctx["engine"] = create_engine(settings, pool_size=2, max_overflow=0)  # the hourly purges
        ctx["sessions"] = session_factory(ctx["engine"])
        limiter = ProviderRateLimiter(redis, queues.queue_name(settings, NOTIFIER))
        ctx["senders"], ctx["closing"] = {}, []
        ctx["zalo_tokens"] = None
        if settings.zalo_provider == "zns":
            zalo_templates(settings.templates_dir)  # a mistake in zalo.toml stops the worker at once
            token_pg = await create_pg_pool(settings, max_size=2)
            token_http = httpx.AsyncClient()
            ctx["zalo_tokens"] = ZaloTokens(settings, token_pg, token_http)
            ctx["closing"] += [token_http.aclose, token_pg.close]
        for lane in LANES:
            pg = await create_pg_pool(settings, max_size=settings.lane_db_pool_size)
            http = httpx.AsyncClient(limits=httpx.Limits(max_connections=settings.worker_concurrency))
            providers = build_providers(settings, http, ctx["zalo_tokens"])
            ctx["closing"] += [*(p.close for p in providers.values()), http.aclose, pg.close]

            async def schedule(notification_id: uuid.UUID, at: datetime, attempt: int, lane: str = lane) -> None:
                await queues.enqueue_job(
                    redis,
                    queues.queue_name(settings, NOTIFIER, lane),
                    SEND_JOB,
                    str(notification_id),
                    job_id=f"send:{notification_id}:{attempt}:{int(at.timestamp())}",
                    at=at,
                )

            ctx["senders"][lane] = Sender(settings, lane, pg, providers, limiter, schedule)
        log.info(
            "notifier_worker_started",
            lanes=LANES,
            email=settings.email_provider,
            sms=settings.sms_provider,
            zalo=settings.zalo_provider,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        for close in ctx.get("closing", []):
            await close()
        if "engine" in ctx:
            await ctx["engine"].dispose()

    consumers = [
        # The service's own queue: the sweeper, and jobs queued there before the lanes existed.
        queues.Consumer(
            queues.queue_name(settings, NOTIFIER),
            functions=lane_functions(NORMAL),
            cron_jobs=[
                queues.cron(
                    sweep,
                    name="notifier.notifications.sweep",
                    unique=True,
                    run_at_startup=True,
                    second=set(range(0, 60, settings.sweep_every_seconds)),
                    timeout=25,
                ),
                queues.cron(
                    daily_digest, name="notifier.digest.daily", minute=set(range(0, 60, 10)), second=5, unique=True
                ),
                queues.cron(
                    renew_zalo_token,
                    name="notifier.zalo.token.renew",
                    minute=set(range(0, 60, 10)),
                    second=20,
                    unique=True,
                    timeout=30,
                ),
                idempotency.purge_job(idempotency_keys),
            ],
        ),
        *(
            queues.Consumer(
                queues.queue_name(settings, NOTIFIER, lane),
                functions=lane_functions(lane),
                max_jobs=settings.worker_concurrency,
            )
            for lane in LANES
        ),
    ]
    return queues.WorkerProcess(
        settings,
        NOTIFIER,
        consumers,
        startup=startup,
        shutdown=shutdown,
        job_timeout=settings.send_timeout_seconds + MAX_RATE_WAIT_SECONDS + 5,
        default_metrics_port=METRICS_PORT,
        **options,
    )


def main() -> None:
    queues.run(build_worker, get_settings())


if __name__ == "__main__":
    main()
