"""The acknowledged outbox: a change and the messages it causes commit together; a relay puts the
messages on their consumers' queues, and a message counts as delivered only once its consumer says
it has recorded it.

- Writers call :meth:`Outbox.add` inside their transaction. Nothing on a request's path talks to
  Redis, so Redis being away never fails or slows a write.
- The relay (the producing service's worker) enqueues new rows with ``_job_id`` = the row's id, so
  two passes cannot enqueue one row twice, and stamps ``relayed_at``.
- The consumer handles the message (idempotently: it may come more than once) and acknowledges it
  with a ``{sender}.outbox.acknowledge`` job on the sender's queue (``shared.queues.consumer_job``);
  that job stamps ``acknowledged_at``.
- A row relayed but not acknowledged within ``outbox_ack_timeout_seconds`` is looked up in Redis: a
  job still there is only waiting for a busy or stopped consumer; a job Redis no longer has (restarted
  without its data, failed over to a lagging replica, flushed, evicted, or the acknowledgement was
  lost) is enqueued again under a new job id. A marker key notices at once when Redis has lost its
  data, and then every unacknowledged row is looked up without waiting for the timeout.

Redis may lose everything at any moment and every message still arrives; consumers, idempotent by
their own unique keys, act on it once.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from prometheus_client import Counter
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared import queues
from shared.contracts import Message
from shared.loops import repeat
from shared.settings import CommonSettings
from shared.timeutil import utcnow

log = structlog.get_logger("outbox")

RESENT = Counter("ioc_outbox_resent_total", "Messages sent again: unacknowledged and gone from Redis", ["sender"])


class OutboxColumns:
    """The outbox table of a producing service: ``class OutboxMessage(OutboxColumns, Base): pass``."""

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, doc="the message's id")
    queue: Mapped[str] = mapped_column(String(64), doc="the consuming service (for people reading the table)")
    job_name: Mapped[str] = mapped_column(String(128), doc="names the message's type (shared.contracts)")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ref: Mapped[dict[str, Any] | None] = mapped_column(JSONB, doc="ids the relay composes the payload from")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="last put on the queue")
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"), doc="times put on the queue")
    last_error: Mapped[str | None] = mapped_column(Text)

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint("payload IS NOT NULL OR ref IS NOT NULL", name="payload_or_ref"),
            Index("ix_outbox_pending", "created_at", postgresql_where=text("relayed_at IS NULL")),
            Index(
                "ix_outbox_unacknowledged",
                "relayed_at",
                postgresql_where=text("relayed_at IS NOT NULL AND acknowledged_at IS NULL"),
            ),
        )


def job_id(message_id: uuid.UUID, attempt: int) -> str:
    """The arq job id of a row's ``attempt``-th enqueueing (a resend must not collide with the first)."""
    return str(message_id) if attempt <= 1 else f"{message_id}.{attempt}"


Composer = Callable[[AsyncSession, uuid.UUID, dict[str, Any]], Awaitable[Message]]


class Outbox:
    """One producing service's outbox (its ``OutboxColumns`` model)."""

    def __init__(self, model: type[OutboxColumns], sender: str) -> None:
        self.model, self.sender = model, sender
        self.table: Table = model.__table__  # type: ignore[attr-defined]  # mapped: the mixin does not say

    def add(self, session: AsyncSession, message: Message) -> None:
        """Stage ``message`` in the caller's transaction; it leaves when the transaction commits."""
        assert message.sender == self.sender, f"{type(message).__name__} is not sent by {self.sender}"
        row: Callable[..., OutboxColumns] = self.model  # a mapped class: its columns are keywords
        session.add(
            row(
                id=message.message_id,
                queue=message.consumer(),
                job_name=message.job,
                payload=message.model_dump(mode="json"),
            )
        )

    def acknowledge_job(self) -> Any:
        """The job that records acknowledgements (the sender's worker takes it)."""
        table = self.table

        async def acknowledge(ctx: dict[str, Any], message_ids: list[str]) -> int:
            ids = []
            for value in message_ids:
                try:
                    ids.append(uuid.UUID(value))
                except (ValueError, TypeError, AttributeError):
                    log.warning("acknowledgement_ignored", value=str(value)[:64])
            sessions: async_sessionmaker[AsyncSession] = ctx["sessions"]
            async with sessions() as session, session.begin():
                result = await session.execute(
                    update(table)
                    .where(table.c.id.in_(ids), table.c.acknowledged_at.is_(None))
                    .values(acknowledged_at=func.now())
                )
            return cast(CursorResult[Any], result).rowcount or 0

        return queues.func(acknowledge, name=queues.acknowledge_job_name(self.sender))

    def purge_job(self) -> Any:
        """The job that deletes acknowledged rows past ``outbox_retention_days``."""
        table = self.table

        async def purge(ctx: dict[str, Any]) -> int:
            settings: CommonSettings = ctx["settings"]
            async with ctx["sessions"]() as session, session.begin():
                result = await session.execute(
                    delete(table).where(
                        table.c.acknowledged_at < func.now() - timedelta(days=settings.outbox_retention_days)
                    )
                )
            return cast(CursorResult[Any], result).rowcount or 0

        return queues.cron(purge, name=f"{self.sender}.outbox.purge", minute=23, second=0, unique=True, timeout=60)


class Relay:
    """Moves an outbox's rows to their consumers' queues, and sends again what Redis lost."""

    def __init__(
        self,
        outbox: Outbox,
        sessions: async_sessionmaker[AsyncSession],
        redis: queues.ArqRedis,
        settings: CommonSettings,
        *,
        composers: dict[str, Composer] | None = None,
    ) -> None:
        self.outbox, self.sessions, self.redis, self.settings = outbox, sessions, redis, settings
        self.composers = composers or {}
        self._marker_key = f"{settings.queue_prefix}:{outbox.sender}:outbox-marker"
        self._last_overdue_check = 0.0
        self._marker_seen = False

    async def run(self) -> None:
        """Relay until cancelled: new rows every ``outbox_poll_seconds``, overdue ones now and then."""
        await repeat(self.step, name=f"{self.outbox.sender}-outbox-relay", pause=self._pause)

    def _pause(self, moved: object) -> float:
        return 0.0 if moved == self.settings.outbox_batch_size else self.settings.outbox_poll_seconds

    async def step(self) -> int:
        """One pass: data loss noticed, new rows relayed, overdue rows looked up. Returns rows relayed."""
        lost = await self._redis_lost_data()
        moved = await self.relay_new()
        now = utcnow().timestamp()
        if lost or now - self._last_overdue_check >= min(5.0, self.settings.outbox_ack_timeout_seconds):
            self._last_overdue_check = now
            cutoff = utcnow() - timedelta(seconds=0 if lost else self.settings.outbox_ack_timeout_seconds)
            while await self.resend_overdue(cutoff) == self.settings.outbox_batch_size:
                pass
        return moved

    async def _redis_lost_data(self) -> bool:
        """True when the marker key this relay keeps in Redis is gone: Redis lost data (or this relay
        just started). Whoever sets it again does the full check; the other relays carry on."""
        if await self.redis.exists(self._marker_key):
            self._marker_seen = True
            return False
        if not await self.redis.set(self._marker_key, secrets.token_hex(8), nx=True):
            return False
        if self._marker_seen:  # it was there, and Redis no longer has it
            log.warning("redis_data_loss_suspected", sender=self.outbox.sender, action="checking unacknowledged")
        else:
            log.info("outbox_marker_set", sender=self.outbox.sender, action="checking unacknowledged")
        self._marker_seen = True
        return True

    async def relay_new(self) -> int:
        """Enqueue up to a batch of rows never relayed, oldest first; returns how many went out.

        Rows are locked with SKIP LOCKED, so several relays (scaled workers) share the work, and a
        relay that dies mid-batch leaves its rows pending. A row that carries only ids (``ref``) has
        its message composed by ``composers[job_name]`` first, and kept in the row."""
        model = self.outbox.model
        relayed = 0
        async with self.sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(model)
                    .where(model.relayed_at.is_(None))
                    .order_by(model.created_at)
                    .limit(self.settings.outbox_batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            now = utcnow()
            for row in rows:
                try:
                    if row.payload is None:
                        composed = await self.composers[row.job_name](session, row.id, row.ref or {})
                        row.payload = composed.model_dump(mode="json")
                    await queues.enqueue(self.redis, self.settings, row.job_name, row.payload, job_id=job_id(row.id, 1))
                except Exception as exc:  # Redis away: keep what went through, the rest waits for the next pass
                    log.warning("outbox_relay_interrupted", pending=len(rows) - relayed, error=type(exc).__name__)
                    row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    break
                row.relayed_at, row.attempts = now, 1
                relayed += 1
        if relayed:
            log.info("outbox_relayed", sender=self.outbox.sender, count=relayed)
        return relayed

    async def resend_overdue(self, cutoff: datetime) -> int:
        """Look up a batch of rows last relayed before ``cutoff`` and still unacknowledged: postpone
        those whose job Redis still holds, enqueue the others again. Returns how many were looked at."""
        model = self.outbox.model
        async with self.sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(model)
                    .where(
                        model.relayed_at.is_not(None),
                        model.acknowledged_at.is_(None),
                        model.relayed_at < cutoff,
                    )
                    .order_by(model.relayed_at)
                    .limit(self.settings.outbox_batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            known = await queues.jobs_known(self.redis, [job_id(r.id, r.attempts) for r in rows])
            now, resent = utcnow(), 0
            for row, waiting in zip(rows, known, strict=True):
                if not waiting:
                    assert row.payload is not None, "a relayed row holds its message"
                    attempt = row.attempts + 1
                    await queues.enqueue(
                        self.redis, self.settings, row.job_name, row.payload, job_id=job_id(row.id, attempt)
                    )
                    row.attempts = attempt
                    resent += 1
                row.relayed_at = now
        if resent:
            RESENT.labels(self.outbox.sender).inc(resent)
            log.warning("outbox_resent", sender=self.outbox.sender, count=resent, looked_at=len(rows))
        return len(rows)
