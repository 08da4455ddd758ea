"""The notifier's tables (schema ``notify``)."""

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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import LANES
from shared.db import schema_metadata
from shared.idempotency import idempotency_table


class Base(DeclarativeBase):
    metadata = schema_metadata("notify")


CHANNELS = ("email", "sms", "zalo")
# Channels that reach a phone: quiet hours and the daily cap per number apply to them.
PHONE_CHANNELS = ("sms", "zalo")
STATUSES = ("created", "sending", "sent", "delivered", "temporary_failure", "permanent_failure", "held_for_cap")
# Waiting for a send attempt (claimable once ``next_attempt_at`` comes); "sending" is claimable too once
# its worker is presumed dead.
WAITING = ("created", "temporary_failure")
# What did not reach its recipient, for good.
UNDELIVERED = ("held_for_cap", "permanent_failure")
# States nothing moves a notification out of (a late receipt included). An SMS held for the daily cap
# is not sent later: the Office's daily digest lists it.
FINAL = frozenset({"delivered", "permanent_failure", "held_for_cap"})


class Notification(Base):
    """One message to one recipient on one channel. Committed (``created``) before any send; its
    ``dedupe_key`` makes every job that creates it idempotent."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        CheckConstraint(f"channel IN {CHANNELS}", name="channel_known"),
        CheckConstraint(f"lane IN {LANES}", name="lane_known"),
        Index(
            "ix_notifications_pending",
            "next_attempt_at",
            postgresql_where=text(f"status IN {(*WAITING, 'sending')}"),
        ),
        Index("ix_notifications_created_at_id", "created_at", "id"),
        Index(
            "ix_notifications_undelivered",
            "updated_at",
            postgresql_where=text(f"status IN {UNDELIVERED}"),
        ),
        Index("ix_notifications_provider_ref", "provider", "provider_ref"),
        Index("ix_notifications_unit_code", "unit_code"),
        Index("ix_notifications_sent_at", "sent_at"),
        Index("ix_notifications_directive_id", "directive_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    message_id: Mapped[uuid.UUID] = mapped_column(doc="the queue message (outbox row) that caused it")
    kind: Mapped[str] = mapped_column(String(64), doc="what it says, and its templates: focal_point_registered, ...")
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254), doc="e-mail address or E.164 number")
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    directive_id: Mapped[uuid.UUID | None]
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    template_id: Mapped[str | None] = mapped_column(String(32), doc="Zalo: the approved ZNS template")
    template_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB, doc="Zalo: the template's parameters")
    cost_units: Mapped[int | None] = mapped_column(
        SmallInteger, doc="what it is billed by once sent: SMS segments, 1 ZNS message, 0 for an e-mail"
    )
    sms_encoding: Mapped[str | None] = mapped_column(String(8))
    sms_segments: Mapped[int | None] = mapped_column(SmallInteger)
    lane: Mapped[str] = mapped_column(String(8), server_default=text("'normal'"), doc="the queue lane it is sent in")
    urgent: Mapped[bool] = mapped_column(server_default=text("false"), doc="may be sent in quiet hours")
    status: Mapped[str] = mapped_column(String(20), server_default=text("'created'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    provider: Mapped[str | None] = mapped_column(String(64))
    provider_ref: Mapped[str | None] = mapped_column(String(128), doc="the provider's id for the message")
    pinned_provider: Mapped[str | None] = mapped_column(
        String(64), doc="after a timeout, the only provider a retry may use (it may hold the message)"
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sms_counted_on: Mapped[date | None] = mapped_column(Date, doc="the Vietnam day whose SMS cap it counts in")


class SmsDailyCount(Base):
    """SMS sent to one number on one Vietnam day, against ``IOC_SMS_DAILY_CAP``."""

    __tablename__ = "sms_daily_counts"

    recipient: Mapped[str] = mapped_column(String(254), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer)


class Receipt(Base):
    """A delivery receipt as the gateway sent it, kept whether or not it changed anything."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    notification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    applied: Mapped[bool] = mapped_column(doc="whether it moved the notification's status")


class ZaloToken(Base):
    """The OA's token pair. A refresh token works once: it is replaced, with the access token it
    bought, in the transaction that holds this row's lock while renewing."""

    __tablename__ = "zalo_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    renewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    renewals: Mapped[int] = mapped_column(Integer, server_default=text("0"))


idempotency_keys = idempotency_table(Base.metadata)
