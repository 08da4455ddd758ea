"""The adoption service's tables (schema ``adoption``).

Events are kept (deduplicated by ``event_id``, subjects only as keyed hashes), partitioned by month and
dropped past the retention; everything the metrics read is an aggregate kept current by the worker:
``unit_stats`` (a row per unit and audience) and ``daily`` (the net change of adopted people per unit,
audience and Vietnam day).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import ADOPTION
from shared.db import schema_metadata
from shared.idempotency import idempotency_table
from shared.outbox import Outbox, OutboxColumns


class Base(DeclarativeBase):
    metadata = schema_metadata("adoption")


AUDIENCES = ("staff", "citizen")
EVENT_TYPES = ("installed", "activated", "uninstalled")
# The kinds of unit above the city's wards, communes and departments: the city's figures leave them out.
ABOVE_THE_CITY = ("city", "province")


class DirectoryUnit(Base):
    """A unit of the registry's directory, as this service's copy holds it (kept in step by queue
    messages, ``units/service.py``). The registry's own table is another service's and never read."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    registry_headcount: Mapped[int | None] = mapped_column(Integer, doc="staff_headcount from the registry")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Headcount(Base):
    """A unit's staff headcount as of a date (the newest wins over the registry's figure)."""

    __tablename__ = "headcounts"
    __table_args__ = (CheckConstraint("staff >= 0", name="staff_not_negative"),)

    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    staff: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Report(Base):
    """A unit's own count, for units with no event feed (self-reported, and shown as such)."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("staff_total >= 0 AND staff_installed >= 0 AND citizens_guided >= 0", name="not_negative"),
        CheckConstraint("staff_installed <= staff_total", name="installed_within_total"),
    )

    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    staff_total: Mapped[int] = mapped_column(Integer)
    staff_installed: Mapped[int] = mapped_column(Integer)
    citizens_guided: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Batch(Base):
    """A stored batch: the events stored in one transaction (one request's, or those of several
    requests arriving together), the unit of work of the fold. Not a request's list of events."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_pending", "id", postgresql_where=text("aggregated_at IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    events: Mapped[int] = mapped_column(Integer)
    aggregated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventId(Base):
    """An event id stored once: the dedupe of events (the partitioned ``events`` cannot hold a unique
    key on ``event_id`` alone, ``docs/decisions.md``). Forgotten with the event's month by the retention."""

    __tablename__ = "event_ids"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)


class Event(Base):
    """A stored event, its subject a keyed hash (``subjects.py``), in the partition of its month
    (Vietnam time) of ``occurred_at``, or the default partition (``partitions/``). Its id is in
    ``event_ids``."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(f"audience IN {AUDIENCES}", name="audience_known"),
        CheckConstraint(f"type IN {EVENT_TYPES}", name="type_known"),
        # A person's timeline, read when their adoption is recomputed (person: see subjects.person_key);
        # the batch lets the fold pass over events not folded yet on the index's entries (a0004).
        Index("ix_events_person", "person", "occurred_at", "batch_id"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )
    # The table has no primary key (partitioned, its unique keys would have to hold occurred_at);
    # the ORM needs one, and (event_id, occurred_at) is unique (event_ids).
    __mapper_args__ = {"primary_key": ["event_id", "occurred_at"]}

    event_id: Mapped[str] = mapped_column(String(100))
    batch_id: Mapped[int] = mapped_column(BigInteger, index=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    subject_hash: Mapped[bytes] = mapped_column(LargeBinary(32), doc="HMAC-SHA256 of the subject, never the subject")
    person: Mapped[int] = mapped_column(BigInteger, doc="64-bit key of (unit, audience, subject_hash)")
    audience: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(12))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Daily(Base):
    """Net change of adopted people on a Vietnam day; the running sum is the adoption curve."""

    __tablename__ = "daily"

    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    audience: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    delta: Mapped[int] = mapped_column(Integer)


class UnitStats(Base):
    """A unit's adopted people of one audience now (the running sum of ``daily``), and their last event."""

    __tablename__ = "unit_stats"

    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    audience: Mapped[str] = mapped_column(String(8), primary_key=True)
    adopted: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class State(Base):
    """One row: ``version`` changes whenever any figure the metrics show changes (the ETag's source)."""

    __tablename__ = "state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WeeklyNotice(Base):
    """That a week's nudges and digest were decided (so that they go once per week); written in the
    same transaction as their outbox rows."""

    __tablename__ = "weekly_notices"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    units_nudged: Mapped[int] = mapped_column(Integer)


class OutboxMessage(OutboxColumns, Base):
    """A message for the notifier (weekly nudges and digest), written with the decision that causes it
    (``shared/outbox.py``)."""


outbox = Outbox(OutboxMessage, sender=ADOPTION)
idempotency_keys = idempotency_table(Base.metadata)
