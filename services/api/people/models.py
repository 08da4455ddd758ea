"""People's accounts, their sessions, the sign-in failures that lock a (login, address) pair, and the
audit trail: tables of the ``auth`` schema, which the registry migrates and manages. Every service
reads people and sessions through ``shared.auth`` (one query, cached)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.auth import AuthBase

PERSON_ROLES = ("office", "ops_centre", "unit")
LOGIN_PATTERN = r"^[a-z0-9._-]{3,64}$"


class Person(AuthBase):
    """Someone who signs in: the Office's staff, the operations centre's operators, a unit's official."""

    __tablename__ = "people"
    __table_args__ = (
        CheckConstraint(f"role IN {PERSON_ROLES}", name="role_known"),
        CheckConstraint("(role = 'unit') = (unit_code IS NOT NULL)", name="unit_iff_role_unit"),
        CheckConstraint(f"login ~ '{LOGIN_PATTERN}'", name="login_format"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SignInSession(AuthBase):
    """One sign-in. The token is stored only as its SHA-256 digest."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class SignInFailure(AuthBase):
    """Failed sign-ins of one (login, client address) pair in the current window, and its lock."""

    __tablename__ = "sign_in_failures"

    login: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column()
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(AuthBase):
    """Something a person did or tried: sign-ins, sign-outs, password changes, accounts, reminders."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at_id", text("at DESC"), text("id DESC")),
        Index("ix_audit_events_kind_at", "kind", text("at DESC")),
        Index("ix_audit_events_login_at", "login", text("at DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    login: Mapped[str | None] = mapped_column(String(200))
    client_address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
