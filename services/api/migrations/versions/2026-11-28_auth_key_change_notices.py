"""Auth: NOTIFY auth_keys_changed on every change of auth.api_keys, so that API processes drop
their cached principals at once (a revoked key answers 401 on its next request).

Revision ID: 0003
Revises: 0002
Created: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION auth.notify_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('auth_keys_changed', '');
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE OR TRUNCATE ON auth.api_keys
        FOR EACH STATEMENT EXECUTE FUNCTION auth.notify_keys_changed();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_changed ON auth.api_keys")
    op.execute("DROP FUNCTION auth.notify_keys_changed()")
