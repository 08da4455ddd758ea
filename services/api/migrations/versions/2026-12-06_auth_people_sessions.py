"""Auth: people, their sessions, sign-in failures and the audit trail; registry: manual reminders.

A session revoked (or its last use moved back), and any change of a person, NOTIFY
``auth_keys_changed`` as key changes do, so that every service's cached principals are dropped at once.

Revision ID: 0009
Revises: 0008
Created: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('office', 'ops_centre', 'unit')", name=op.f("ck_people_role_known")),
        sa.CheckConstraint("(role = 'unit') = (unit_code IS NOT NULL)", name=op.f("ck_people_unit_iff_role_unit")),
        sa.CheckConstraint("login ~ '^[a-z0-9._-]{3,64}$'", name=op.f("ck_people_login_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("login", name=op.f("uq_people_login")),
        schema="auth",
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["auth.people.id"], name=op.f("fk_sessions_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
        schema="auth",
    )
    op.create_index(op.f("ix_sessions_person_id"), "sessions", ["person_id"], unique=False, schema="auth")
    op.create_table(
        "sign_in_failures",
        sa.Column("login", sa.String(length=200), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("login", "client_address", name=op.f("pk_sign_in_failures")),
        schema="auth",
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("login", sa.String(length=200), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("detail", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        schema="auth",
    )
    op.create_index("ix_audit_events_at_id", "audit_events", [sa.text("at DESC"), sa.text("id DESC")], schema="auth")
    op.create_index("ix_audit_events_kind_at", "audit_events", ["kind", sa.text("at DESC")], schema="auth")
    op.create_index("ix_audit_events_login_at", "audit_events", ["login", sa.text("at DESC")], schema="auth")
    op.create_table(
        "manual_reminders",
        sa.Column("directive_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sent_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["directive_id"], ["registry.directives.id"], name=op.f("fk_manual_reminders_directive_id_directives")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["registry.units.id"], name=op.f("fk_manual_reminders_unit_id_units")),
        sa.PrimaryKeyConstraint("directive_id", "unit_id", name=op.f("pk_manual_reminders")),
        schema="registry",
    )
    # The function of migration 0003 sends the NOTIFY every service's key cache listens to.
    op.execute("""
        CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at, last_seen_at ON auth.sessions
        FOR EACH ROW WHEN (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.last_seen_at < OLD.last_seen_at)
        EXECUTE FUNCTION auth.notify_keys_changed();
    """)
    op.execute("""
        CREATE TRIGGER sessions_deleted AFTER DELETE OR TRUNCATE ON auth.sessions
        FOR EACH STATEMENT EXECUTE FUNCTION auth.notify_keys_changed();
    """)
    op.execute("""
        CREATE TRIGGER people_changed AFTER UPDATE OR DELETE OR TRUNCATE ON auth.people
        FOR EACH STATEMENT EXECUTE FUNCTION auth.notify_keys_changed();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER people_changed ON auth.people")
    op.execute("DROP TRIGGER sessions_deleted ON auth.sessions")
    op.execute("DROP TRIGGER sessions_revoked ON auth.sessions")
    op.drop_table("manual_reminders", schema="registry")
    op.drop_index("ix_audit_events_login_at", table_name="audit_events", schema="auth")
    op.drop_index("ix_audit_events_kind_at", table_name="audit_events", schema="auth")
    op.drop_index("ix_audit_events_at_id", table_name="audit_events", schema="auth")
    op.drop_table("audit_events", schema="auth")
    op.drop_table("sign_in_failures", schema="auth")
    op.drop_index(op.f("ix_sessions_person_id"), table_name="sessions", schema="auth")
    op.drop_table("sessions", schema="auth")
    op.drop_table("people", schema="auth")
