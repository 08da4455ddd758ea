"""Adoption: events partitioned by month of ``occurred_at`` (Vietnam time), their ids in ``event_ids``.

A unique key of a partitioned table must hold its partition key, so ``events`` can no longer keep
``event_id`` unique by itself: a replay carrying another ``occurred_at`` would be stored again. The
ids move to ``event_ids`` (their primary key is the dedupe, as ``pk_events`` was); ``events`` keeps its
two indexes, now per partition. Months without a partition of their own (older than the first one,
or beyond those the worker made ahead) land in ``events_default`` (``partitions/``).

Every stored event is copied into its month's partition inside the migration's transaction: storing
events waits meanwhile (some seconds for each million events). Deploy it at a quiet hour.

Revision ID: a0006
Revises: a0005
Created: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "a0006"
down_revision = "a0005"
branch_labels = None
depends_on = None

COLUMNS = "event_id, batch_id, unit_code, subject_hash, person, audience, type, occurred_at"
ZONE = "Asia/Ho_Chi_Minh"


def run(statements: str) -> None:
    """Each statement of ``statements`` in turn (separated by blank lines)."""
    for statement in statements.split("\n\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    op.execute("ALTER TABLE adoption.events RENAME TO events_a0005")
    op.execute("ALTER TABLE adoption.events_a0005 RENAME CONSTRAINT pk_events TO pk_events_a0005")
    op.execute("DROP INDEX adoption.ix_events_person")
    op.execute("DROP INDEX adoption.ix_events_batch_id")
    run(f"""
        CREATE TABLE adoption.events (
            event_id varchar(100) NOT NULL,
            batch_id bigint NOT NULL,
            unit_code varchar(32) NOT NULL,
            subject_hash bytea NOT NULL,
            person bigint NOT NULL,
            audience varchar(8) NOT NULL,
            type varchar(12) NOT NULL,
            occurred_at timestamptz NOT NULL,
            CONSTRAINT ck_events_audience_known CHECK (audience IN ('staff', 'citizen')),
            CONSTRAINT ck_events_type_known CHECK (type IN ('installed', 'activated', 'uninstalled'))
        ) PARTITION BY RANGE (occurred_at);

        CREATE INDEX ix_events_batch_id ON adoption.events (batch_id);

        CREATE INDEX ix_events_person ON adoption.events (person, occurred_at, batch_id);

        CREATE TABLE adoption.events_default PARTITION OF adoption.events DEFAULT;

        CREATE TABLE adoption.event_ids (
            event_id varchar(100) NOT NULL,
            CONSTRAINT pk_event_ids PRIMARY KEY (event_id)
        );

        -- A partition for every month that holds events.
        DO $$
        DECLARE
            month timestamp;
        BEGIN
            FOR month IN SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE '{ZONE}')
                         FROM adoption.events_a0005 LOOP
                EXECUTE format(
                    'CREATE TABLE adoption.%I PARTITION OF adoption.events FOR VALUES FROM (%L) TO (%L)',
                    to_char(month, '"events_"YYYY_MM'), month AT TIME ZONE '{ZONE}',
                    (month + interval '1 month') AT TIME ZONE '{ZONE}');
            END LOOP;
        END $$;

        INSERT INTO adoption.events ({COLUMNS}) SELECT {COLUMNS} FROM adoption.events_a0005;

        INSERT INTO adoption.event_ids (event_id) SELECT event_id FROM adoption.events_a0005;

        DROP TABLE adoption.events_a0005;

    """)  # noqa: S608 (constants)


def downgrade() -> None:
    run(f"""
        ALTER TABLE adoption.events RENAME TO events_partitioned;

        DROP INDEX adoption.ix_events_batch_id;

        DROP INDEX adoption.ix_events_person;

        CREATE TABLE adoption.events (
            event_id varchar(100) NOT NULL,
            batch_id bigint NOT NULL,
            unit_code varchar(32) NOT NULL,
            subject_hash bytea NOT NULL,
            person bigint NOT NULL,
            audience varchar(8) NOT NULL,
            type varchar(12) NOT NULL,
            occurred_at timestamptz NOT NULL,
            CONSTRAINT ck_events_audience_known CHECK (audience IN ('staff', 'citizen')),
            CONSTRAINT ck_events_type_known CHECK (type IN ('installed', 'activated', 'uninstalled')),
            CONSTRAINT pk_events PRIMARY KEY (event_id)
        );

        INSERT INTO adoption.events ({COLUMNS}) SELECT {COLUMNS} FROM adoption.events_partitioned;

        DROP TABLE adoption.events_partitioned;

        DROP TABLE adoption.event_ids;

        CREATE INDEX ix_events_batch_id ON adoption.events (batch_id);

        CREATE INDEX ix_events_person ON adoption.events (person, occurred_at, batch_id);

    """)  # noqa: S608 (constants)
