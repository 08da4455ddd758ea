"""Registry: no NOTIFY when an outbox row commits; the relay polls instead.

PostgreSQL serialises every committing transaction that sent a NOTIFY behind one cluster-wide lock,
held through the commit's WAL flush, so registrations committed one fsync at a time: under the
registry benchmark's load, backends queued on ``Lock:object`` (pg_stat_activity; how many:
``docs/performance.md``, "Registry"); without the trigger none do. The relay now looks at the outbox
every ``IOC_OUTBOX_POLL_SECONDS`` (0.2 s): an indexed query that finds nothing most of the time.

Revision ID: 0005
Revises: 0004
Created: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER outbox_inserted ON registry.outbox")
    op.execute("DROP FUNCTION registry.notify_outbox()")


def downgrade() -> None:
    op.execute("""
        CREATE FUNCTION registry.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('registry_outbox', '');
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER outbox_inserted AFTER INSERT ON registry.outbox
        FOR EACH STATEMENT EXECUTE FUNCTION registry.notify_outbox();
    """)
