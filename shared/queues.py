"""The one place that knows the queue library (arq on Redis).

Everything that enqueues or runs jobs goes through here, so that a later move to another Redis queue
library touches this module only. Payloads are JSON (never pickle) and validated against the shared
contracts on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import uvloop
from arq import ArqRedis, create_pool, cron, func
from arq.connections import RedisSettings
from arq.worker import Worker

from shared.contracts import JOB_MESSAGES, Message
from shared.settings import CommonSettings

REGISTRY = "registry"
NOTIFIER = "notifier"
ADOPTION = "adoption"

# arq's default lets an unconsumed job expire after a day; a consumer that is down over a long
# weekend must still find its work, so jobs relayed from an outbox live for 30 days.
JOB_EXPIRY = timedelta(days=30)


def queue_name(settings: CommonSettings, service: str) -> str:
    return f"{settings.queue_prefix}:{service}"


def redis_settings(settings: CommonSettings, *, retries: int = 0) -> RedisSettings:
    """Connection settings; workers pass ``retries`` so that a restarting Redis does not kill them."""
    rs = RedisSettings.from_dsn(settings.redis_url)
    rs.conn_timeout = max(1, int(settings.redis_timeout_seconds))
    rs.conn_retries = retries
    return rs


def serialize(job: dict[str, Any]) -> bytes:
    return json.dumps(job, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def deserialize(raw: bytes) -> dict[str, Any]:
    return json.loads(raw)


async def connect(settings: CommonSettings) -> ArqRedis:
    """A pool for enqueueing (raises if Redis does not answer)."""
    return await create_pool(redis_settings(settings), job_serializer=serialize, job_deserializer=deserialize, retry=0)


async def enqueue_message(redis: ArqRedis, *, queue: str, job_name: str, message: dict[str, Any], job_id: str) -> bool:
    """Enqueue one job whose only argument is ``message``; False when that job id is already known."""
    JOB_MESSAGES[job_name].model_validate(message)  # never send what the consumer would refuse
    job = await redis.enqueue_job(job_name, message, _job_id=job_id, _queue_name=queue, _expires=JOB_EXPIRY)
    return job is not None


def parse_message(job_name: str, payload: dict[str, Any]) -> Message:
    """The consumer's side: a job's argument as its contract model (raises ValidationError)."""
    return JOB_MESSAGES[job_name].model_validate(payload)


def make_worker(
    settings: CommonSettings,
    service: str,
    *,
    functions: list[Any] = (),
    cron_jobs: list[Any] = (),
    on_startup: Any = None,
    on_shutdown: Any = None,
    burst: bool = False,
    job_timeout: float = 30,
    max_jobs: int = 20,
    handle_signals: bool = True,
    poll_delay: float | None = None,
) -> Worker:
    """An arq worker on ``service``'s queue, with JSON payloads and short job timeouts.

    Short timeouts matter: a SIGKILLed worker's job is retried only after its in-progress key expires
    (the longest job timeout + 10 s). Long work is split into small jobs instead.
    """
    return Worker(
        functions=list(functions),
        cron_jobs=list(cron_jobs),
        queue_name=queue_name(settings, service),
        redis_settings=redis_settings(settings, retries=30),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        burst=burst,
        job_timeout=job_timeout,
        max_jobs=max_jobs,
        handle_signals=handle_signals,
        job_serializer=serialize,
        job_deserializer=deserialize,
        keep_result=3600,
        health_check_key=f"{queue_name(settings, service)}:health-check",
        health_check_interval=10,
        job_completion_wait=10,
        max_burst_jobs=-1,
        log_results=False,
        poll_delay=settings.worker_poll_seconds if poll_delay is None else poll_delay,
    )


# Re-exported so that services declare jobs and schedules without importing arq themselves.
__all__ = [
    "ArqRedis",
    "connect",
    "cron",
    "enqueue_message",
    "func",
    "make_worker",
    "parse_message",
    "queue_name",
    "run",
]


def run(build: Callable[[], Worker]) -> None:
    """Build and run a worker until SIGTERM/SIGINT, on uvloop (the loop uvicorn runs the HTTP apps on).
    The worker binds its event loop when it is built, so uvloop goes in first."""
    uvloop.install()
    build().run()
