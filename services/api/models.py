"""The registry's tables (schema ``registry``). Nothing here is ever deleted: units retire, focal
points are superseded or withdrawn, and every change leaves a row."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import REGISTRY
from shared.db import schema_metadata
from shared.idempotency import idempotency_table
from shared.outbox import Outbox, OutboxColumns


class Base(DeclarativeBase):
    metadata = schema_metadata("registry")


UNIT_KINDS = ("department", "agency", "ward", "commune", "town", "city", "province")
FOCAL_POINT_STATUSES = ("active", "superseded", "withdrawn")


class Unit(Base):
    """A department, agency, ward or commune. ``code`` is the GSO code for wards and communes and the
    project's own for departments. GSO codes are reused after mergers, so a code is unique only among
    active units; a retired unit keeps its id and its history."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(f"kind IN {UNIT_KINDS}", name="kind_known"),
        CheckConstraint("staff_headcount IS NULL OR staff_headcount >= 0", name="headcount_not_negative"),
        Index("ix_units_code", "code"),
        Index("uq_units_code_active", "code", unique=True, postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    staff_headcount: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    search_name: Mapped[str] = mapped_column(String(200), doc="name without accents, lower-case, for ?q=")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UnitChange(Base):
    """Audit trail of the directory: who changed which unit, from what, to what."""

    __tablename__ = "unit_changes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    changed_by: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Directive(Base):
    __tablename__ = "directives"
    __table_args__ = (UniqueConstraint("number", "issue_year", name="uq_directives_number_issue_year"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(64))
    # Numbering restarts every year: 984/UBND of 2020 and of 2021 are different documents.
    issue_year: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(String(500))
    issued_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    operation_starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(200))


class DirectiveUnit(Base):
    """A unit a directive addresses. Its row is also the lock that serialises that unit's registrations."""

    __tablename__ = "directive_units"

    directive_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("directives.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True, index=True)


class FocalPoint(Base):
    """One version of a unit's focal point for a directive. Exactly one version per (directive, unit)
    may be active: the partial unique index says so, whatever the application does."""

    __tablename__ = "focal_points"
    __table_args__ = (
        CheckConstraint(f"status IN {FOCAL_POINT_STATUSES}", name="status_known"),
        UniqueConstraint("directive_id", "unit_id", "version", name="uq_focal_points_directive_unit_version"),
        Index(
            "uq_focal_points_one_active",
            "directive_id",
            "unit_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    directive_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("directives.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    full_name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254))
    note: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the unbroken run of versions this one belongs to began (reset by a withdrawal): a unit's
    # compliance comes from its first still-standing submission, so a replacement keeps "on time".
    standing_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)


class ScheduledNotice(Base):
    """A notice the registry's worker decided (a reminder offset, the deadline digest, the go-live
    notice) for one directive. Its row, written in the same transaction as the outbox rows it causes,
    is what makes the decision happen once however many workers run the schedule."""

    __tablename__ = "scheduled_notices"
    __table_args__ = (CheckConstraint("kind IN ('reminder', 'digest', 'go_live')", name="kind_known"),)

    directive_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("directives.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(32), primary_key=True, doc="reminder offset (3d, 1d, 08:00) or ''")
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    messages: Mapped[int] = mapped_column(Integer, doc="jobs written to the outbox")
    skipped: Mapped[str | None] = mapped_column(Text, doc="why nothing was sent (too late, ...)")


class ManualReminder(Base):
    """The last reminder the Office sent now ("Nhắc ngay") to a unit for a directive: at most one per
    ``IOC_MANUAL_REMINDER_INTERVAL_MINUTES``, checked and set in the transaction that queues it."""

    __tablename__ = "manual_reminders"

    directive_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("directives.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    last_sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_sent_by: Mapped[str] = mapped_column(String(200))


class OutboxMessage(OutboxColumns, Base):
    """A message for another service, written in the same transaction as the change that causes it
    (``shared/outbox.py``). A registration's row carries ids only (``ref``), from the database
    function; the relay composes its message."""


outbox = Outbox(OutboxMessage, sender=REGISTRY)
idempotency_keys = idempotency_table(Base.metadata)
