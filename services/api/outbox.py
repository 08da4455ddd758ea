"""The transactional outbox: a change and the jobs it causes commit together, then a relay moves the
jobs to Redis.

Writers call :func:`add_message` inside their transaction. Inserting a row fires a PostgreSQL
``NOTIFY`` (a trigger made by the migration), which wakes the relay in the registry's worker at once;
a periodic pass catches anything a lost notice missed. The relay enqueues each row with ``_job_id`` =
its id, so a second pass cannot enqueue twice, and stamps ``relayed_at``. When Redis is down, rows
simply wait: a registration never fails because of Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.models import OutboxMessage
from shared.contracts import JOB_MESSAGES, Message
from shared.queues import enqueue_message
from shared.timeutil import utcnow

log = structlog.get_logger("outbox")


def add_message(session: AsyncSession, *, queue: str, job_name: str, message: Message) -> None:
    """Stage a job in the caller's transaction; ``message.message_id`` becomes the row and job id."""
    assert isinstance(message, JOB_MESSAGES[job_name])
    session.add(
        OutboxMessage(
            id=message.message_id,
            queue=queue,
            job_name=job_name,
            payload=message.model_dump(mode="json"),
        )
    )


Composer = Callable[[AsyncSession, uuid.UUID, dict[str, Any]], Awaitable[Message]]


async def relay_pending(
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    *,
    queue_name: Callable[[str], str],
    composers: dict[str, Composer],
    batch_size: int = 500,
    redis_timeout: float = 2.0,
) -> int:
    """Enqueue up to ``batch_size`` pending rows, oldest first; returns how many were relayed.

    Rows are locked with SKIP LOCKED, so several relays (scaled workers) share the work without
    enqueueing a row twice at the same time, and a relay that dies mid-batch leaves its rows pending.
    A row without a payload (a registration: its database function stores only ids) has its message
    composed by ``composers[job_name]`` first, and kept in the row.
    """
    relayed = 0
    async with sessions() as session, session.begin():
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.relayed_at.is_(None))
                .order_by(OutboxMessage.created_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        now = utcnow()
        for row in rows:
            try:
                if row.payload is None:
                    composed = await composers[row.job_name](session, row.id, row.ref or {})
                    row.payload = composed.model_dump(mode="json")
                await asyncio.wait_for(
                    enqueue_message(
                        redis,
                        queue=queue_name(row.queue),
                        job_name=row.job_name,
                        message=row.payload,
                        job_id=str(row.id),
                    ),
                    redis_timeout,
                )
            except Exception as exc:  # Redis away: keep what went through, the rest waits for the next pass
                log.warning(
                    "outbox_relay_interrupted", relayed=relayed, pending=len(rows) - relayed, error=type(exc).__name__
                )
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                break
            row.relayed_at = now
            relayed += 1
    if relayed:
        log.info("outbox_relayed", count=relayed)
    return relayed
