"""The one place that knows the queue library (arq on Redis).

Everything that enqueues or runs jobs goes through here, so that a later move to another Redis queue
library touches this module only. Payloads are JSON (never pickle) and validated against the shared
contracts on both sides.

A worker process (:class:`WorkerProcess`) takes jobs from one or more queues, one arq worker each,
and outlives Redis: arq's worker exits when its connection breaks, so each one runs under a loop that
lets its running jobs finish, waits (with backoff) until Redis answers again and starts a fresh
worker. A Sentinel failover is one such outage: the fresh worker's connections go to the new master
(``shared.redis_clients``). ``ioc_worker_redis_up`` and ``ioc_worker_redis_reconnects_total`` on the
process's metrics port show it. What Redis lost meanwhile comes back from PostgreSQL: the outboxes
resend what their consumers never acknowledged, and the notifier's sweeper resends its stuck
notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import structlog
import uvloop
from arq import ArqRedis, cron, func
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.cron import CronJob
from arq.worker import Function, Worker
from prometheus_client import Counter, Gauge, start_http_server
from pydantic import ValidationError

from shared import redis_clients
from shared.contracts import ADOPTION, JOB_MESSAGES, LANES, NOTIFIER, REGISTRY, Message
from shared.logs import configure_logging
from shared.loops import Backoff, Tasks, repeat
from shared.settings import CommonSettings

log = structlog.get_logger("queues")

# arq's default lets an unconsumed job expire after a day; a consumer that is down over a long
# weekend must still find its work, so jobs live for 30 days.
JOB_EXPIRY = timedelta(days=30)
# How long a stopping (or disconnected) worker lets its running jobs finish before cancelling them.
JOB_COMPLETION_WAIT_SECONDS = 10

REDIS_UP = Gauge("ioc_worker_redis_up", "1 while the worker's connection to Redis works", ["queue"])
REDIS_RECONNECTS = Counter("ioc_worker_redis_reconnects_total", "Workers restarted after losing Redis", ["queue"])
QUEUED = Gauge("ioc_queue_jobs", "Jobs waiting in the queue (sampled)", ["queue"])


def queue_name(settings: CommonSettings, service: str, lane: str | None = None) -> str:
    """``ioc:notifier`` (a service's queue) or ``ioc:notifier:priority`` (one of its lanes)."""
    return f"{settings.queue_prefix}:{service}" + (f":{lane}" if lane else "")


def message_queue(settings: CommonSettings, message_type: type[Message]) -> str:
    """The queue a message type travels on: its consumer's, in its lane."""
    return queue_name(settings, message_type.consumer(), message_type.lane)


def serialize(job: dict[str, Any]) -> bytes:
    return json.dumps(job, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def deserialize(raw: bytes) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(raw)
    return job


def client(settings: CommonSettings) -> ArqRedis:
    """A Redis client for enqueueing (the one server, or the master the sentinels name). It connects on
    first use and again after a failure, so it may be created while Redis is down or failing over;
    each command fails fast (``redis_timeout_seconds``) meanwhile."""
    redis = redis_clients.client(settings, redis_class=ArqRedis)
    redis.job_serializer, redis.job_deserializer = serialize, deserialize
    return redis


async def connect(settings: CommonSettings) -> ArqRedis:
    """A client that has answered a PING (raises if Redis does not answer)."""
    redis = client(settings)
    try:
        await redis.ping()
    except BaseException:
        await redis.aclose()
        raise
    return redis


async def enqueue(
    redis: ArqRedis, settings: CommonSettings, job_name: str, payload: dict[str, Any], *, job_id: str
) -> bool:
    """Enqueue one job whose only argument is ``payload`` (a message of ``job_name``'s type) on its
    message type's queue; False when a job with that id is already known."""
    message_type = JOB_MESSAGES[job_name]
    message_type.model_validate(payload)  # never send what the consumer would refuse
    job = await redis.enqueue_job(
        job_name, payload, _job_id=job_id, _queue_name=message_queue(settings, message_type), _expires=JOB_EXPIRY
    )
    return job is not None


async def enqueue_message(redis: ArqRedis, settings: CommonSettings, message: Message, *, job_id: str) -> bool:
    return await enqueue(redis, settings, message.job, message.model_dump(mode="json"), job_id=job_id)


async def enqueue_job(
    redis: ArqRedis,
    queue: str,
    job_name: str,
    *args: Any,
    job_id: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Enqueue a service's own job (not a message between services); False if ``job_id`` is known."""
    job = await redis.enqueue_job(
        job_name, *args, _job_id=job_id, _queue_name=queue, _defer_until=at, _expires=JOB_EXPIRY
    )
    return job is not None


async def jobs_known(redis: ArqRedis, job_ids: Sequence[str]) -> list[bool]:
    """For each job id, whether Redis still holds it (queued, deferred or running)."""
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id)
        return [bool(count) for count in await pipe.execute()]


def parse_message(job_name: str, payload: dict[str, Any]) -> Message:
    """The consumer's side: a job's argument as its contract model (raises ValidationError)."""
    return JOB_MESSAGES[job_name].model_validate(payload)


def acknowledge_job_name(sender: str) -> str:
    return f"{sender}.outbox.acknowledge"


class Acknowledgements:
    """The consumer's side of the acknowledged outbox: ids of the messages this process has recorded,
    sent back to each message's sender as one ``{sender}.outbox.acknowledge`` job per flush. An
    acknowledgement lost with Redis costs a resend, which the consumer recognises and acknowledges
    again."""

    MAX_PENDING = 100_000  # beyond this (Redis away for long), the oldest are dropped: they come back
    BATCH = 1000

    def __init__(self, redis: ArqRedis, settings: CommonSettings) -> None:
        self.redis, self.settings = redis, settings
        self._pending: dict[str, list[str]] = defaultdict(list)

    def add(self, sender: str, message_id: str) -> None:
        pending = self._pending[sender]
        pending.append(message_id)
        if len(pending) > self.MAX_PENDING:
            del pending[: len(pending) - self.MAX_PENDING]

    async def flush(self) -> int:
        """Send what is pending; raises (keeping the rest) when Redis refuses."""
        sent = 0
        for sender, pending in self._pending.items():
            while pending:
                batch = pending[: self.BATCH]
                await enqueue_job(self.redis, queue_name(self.settings, sender), acknowledge_job_name(sender), batch)
                del pending[: len(batch)]
                sent += len(batch)
        return sent

    async def run(self, every: float = 0.1) -> None:
        await repeat(self.flush, name="acknowledgements", pause=every)


M = TypeVar("M", bound=Message)


def consumer_job(job_name: str, handle: Callable[[dict[str, Any], M], Awaitable[Any]]) -> Function:
    """The job that takes ``job_name``'s messages: validate, ``handle(ctx, message)``, acknowledge.

    ``handle`` records the message's effects in the consumer's database and is idempotent (a message
    may come twice); only once it has returned is the message acknowledged. A message that fails
    validation can never be handled: it is logged and acknowledged, so that it is not sent again.
    """
    message_type = JOB_MESSAGES[job_name]

    async def job(ctx: dict[str, Any], payload: Any) -> Any:
        try:
            message = message_type.model_validate(payload)
        except ValidationError as exc:
            log.error("message_rejected", job=job_name, errors=exc.errors(include_url=False)[:5])
            message_id = payload.get("message_id") if isinstance(payload, dict) else None
            if isinstance(message_id, str):
                ctx["acks"].add(message_type.sender, message_id)
            return None
        result = await handle(ctx, cast(M, message))
        ctx["acks"].add(message_type.sender, str(message.message_id))
        return result

    job.__qualname__ = job.__name__ = job_name.replace(".", "_")
    return func(job, name=job_name)


@dataclass
class Consumer:
    """One queue a worker process takes jobs from, with its own share of the process's jobs."""

    queue: str
    functions: Sequence[Function] = ()
    cron_jobs: Sequence[CronJob] = ()
    max_jobs: int = 20


Hook = Callable[[dict[str, Any]], Awaitable[None]]


class WorkerProcess:
    """A service's worker: its queues' arq workers, the resources they share (``ctx``), and its metrics.

    ``startup(ctx)`` runs once before any job, with ``ctx["redis"]`` (a client), ``ctx["settings"]`` and
    ``ctx["tasks"]`` (where it starts the service's background loops) in it; the loops are stopped after
    the last job, then ``shutdown(ctx)`` runs. Neither waits for Redis: jobs start when Redis
    answers, and whatever else the service runs (relays, folds) works meanwhile.
    """

    def __init__(
        self,
        settings: CommonSettings,
        service: str,
        consumers: Sequence[Consumer],
        *,
        startup: Hook | None = None,
        shutdown: Hook | None = None,
        job_timeout: float = 30,
        default_metrics_port: int = 0,
        burst: bool = False,
        poll_delay: float | None = None,
    ) -> None:
        self.settings, self.service, self.consumers = settings, service, list(consumers)
        self.startup_hook, self.shutdown_hook = startup, shutdown
        self.job_timeout, self.burst = job_timeout, burst
        configured = settings.worker_metrics_port
        self.metrics_port = default_metrics_port if configured is None else configured
        self.poll_delay = settings.worker_poll_seconds if poll_delay is None else poll_delay
        self.ctx: dict[str, Any] = {"settings": settings}
        self.workers: set[Worker] = set()
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()

    async def run(self) -> None:
        """Take jobs until :meth:`stop` (or, in burst mode, until every queue is empty)."""
        if self.metrics_port:
            try:
                start_http_server(self.metrics_port, addr=self.settings.worker_metrics_host)
            except OSError as exc:  # another worker of this service on the same host has the port
                log.warning("worker_metrics_unavailable", port=self.metrics_port, error=str(exc))
        redis = client(self.settings)
        acks = Acknowledgements(redis, self.settings)
        background = Tasks()
        self.ctx.update(redis=redis, acks=acks, tasks=background)
        try:
            if self.startup_hook:
                await self.startup_hook(self.ctx)
            self._started.set()
            background.start(repeat(self._sample_queues, name="queue-depth", pause=10), name="queue-depth")
            background.start(acks.run(), name="acknowledgements")
            await asyncio.gather(*(self._consume(c) for c in self.consumers))
        finally:
            await background.stop()
            with contextlib.suppress(Exception):  # what cannot be sent now comes back as a resend
                await acks.flush()
            if self.shutdown_hook:
                await self.shutdown_hook(self.ctx)
            for consumer in self.consumers:
                with contextlib.suppress(Exception):
                    await redis.delete(self._health_key(consumer))
            await redis.aclose()

    async def started(self) -> None:
        """Returns once ``startup`` has run (for tests that act on the worker's resources)."""
        await self._started.wait()

    async def stop(self) -> None:
        """Stop taking jobs, let running ones finish (up to 10 s), then stop."""
        self._stopping.set()
        await asyncio.gather(*(self._retire(worker) for worker in list(self.workers)))

    def _health_key(self, consumer: Consumer) -> str:
        return f"{consumer.queue}:health-check"

    def _worker(self, consumer: Consumer) -> Worker:
        return Worker(
            functions=list(consumer.functions),
            cron_jobs=list(consumer.cron_jobs),
            queue_name=consumer.queue,
            redis_pool=self.ctx["redis"],
            ctx=self.ctx,
            burst=self.burst,
            job_timeout=self.job_timeout,
            max_jobs=consumer.max_jobs,
            handle_signals=False,
            keep_result=3600,
            health_check_key=self._health_key(consumer),
            health_check_interval=10,
            job_completion_wait=JOB_COMPLETION_WAIT_SECONDS,
            max_burst_jobs=-1,
            log_results=False,
            poll_delay=self.poll_delay,
            job_serializer=serialize,
            job_deserializer=deserialize,
        )

    async def _consume(self, consumer: Consumer) -> None:
        """Run arq workers on ``consumer.queue`` one after another until stopped: a worker that lost
        Redis (or failed in any other way) is replaced once Redis answers again."""
        backoff = Backoff(first=1.0, longest=30.0)
        while not self._stopping.is_set():
            worker = self._worker(consumer)
            self.workers.add(worker)
            REDIS_UP.labels(consumer.queue).set(1)
            try:
                await worker.async_run()
                return  # burst mode: the queue is empty
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    return
                raise
            except Exception as exc:
                REDIS_UP.labels(consumer.queue).set(0)
                log.warning("worker_lost_redis", queue=consumer.queue, error=type(exc).__name__, detail=str(exc)[:200])
                await self._retire(worker)
            finally:
                self.workers.discard(worker)
            await self._wait_for_redis(consumer, backoff)

    async def _retire(self, worker: Worker) -> None:
        """Let ``worker``'s running jobs finish (up to the completion wait), then cancel the rest."""
        worker.allow_pick_jobs = False
        running = [t for t in worker.tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=JOB_COMPLETION_WAIT_SECONDS)
        for task in worker.tasks.values():
            if not task.done():
                task.cancel()
            elif not task.cancelled() and task.exception() is not None:
                # a job that finished while Redis was away could not record its end: arq runs it again
                log.info("job_end_unrecorded", queue=worker.queue_name, error=type(task.exception()).__name__)
        # A cancellation that lands inside a Redis command can be swallowed by the client: repeat it.
        while worker.main_task is not None and not worker.main_task.done():
            worker.main_task.cancel()
            await asyncio.wait([worker.main_task], timeout=1)

    async def _wait_for_redis(self, consumer: Consumer, backoff: Backoff) -> None:
        delay = backoff.next()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            try:
                await self.ctx["redis"].ping()
            except Exception as exc:
                delay = backoff.next()
                log.warning("redis_unavailable", queue=consumer.queue, error=type(exc).__name__, retry_in=delay)
                continue
            backoff.reset()
            REDIS_RECONNECTS.labels(consumer.queue).inc()
            log.info("worker_reconnected", queue=consumer.queue)
            return

    async def _sample_queues(self) -> None:
        async with self.ctx["redis"].pipeline(transaction=False) as pipe:
            for consumer in self.consumers:
                pipe.zcard(consumer.queue)
            counts = await pipe.execute()
        for consumer, count in zip(self.consumers, counts, strict=True):
            QUEUED.labels(consumer.queue).set(count)


S = TypeVar("S", bound=CommonSettings)


def run(build: Callable[[S], WorkerProcess], settings: S) -> None:
    """Run the worker process ``build(settings)`` until SIGTERM/SIGINT, logging as the settings say, on
    uvloop (the loop uvicorn runs the HTTP apps on): a service worker's ``main``."""
    configure_logging(settings.log_level, json_output=settings.log_json)

    async def main() -> None:
        process = build(settings)
        loop = asyncio.get_running_loop()
        stopping: list[asyncio.Task[None]] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stopping.append(asyncio.ensure_future(process.stop())))
        await process.run()

    uvloop.install()
    asyncio.run(main())


__all__ = [
    "ADOPTION",
    "LANES",
    "Acknowledgements",
    "NOTIFIER",
    "REGISTRY",
    "ArqRedis",
    "Consumer",
    "CronJob",
    "WorkerProcess",
    "client",
    "connect",
    "consumer_job",
    "cron",
    "enqueue",
    "enqueue_job",
    "enqueue_message",
    "func",
    "jobs_known",
    "message_queue",
    "parse_message",
    "queue_name",
    "run",
]
