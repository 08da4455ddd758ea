"""Adoption: events carry ``person``, a 64-bit key of (unit, audience, subject hash), indexed with the
time.

The timeline index was keyed on (unit, audience, 32-byte hash, time), about 60 bytes an entry
against 16 for (person, time): at a million events the smaller index stays in the buffer cache that
inserts and folds read it through (bench/adoption.py). ``person`` is the first 8 bytes of SHA-256(subject_hash || unit || '|' ||
audience): the same in Python (``subjects.person_key``) and in SQL (``PERSON``, tested).

Revision ID: a0002
Revises: a0001
Created: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None

PERSON = (
    "('x' || substr(encode(sha256(subject_hash || convert_to(unit_code || '|' || audience, 'UTF8')), 'hex'), 1, 16))"
    "::bit(64)::bigint"
)


def upgrade() -> None:
    op.add_column("events", sa.Column("person", sa.BigInteger(), nullable=True), schema="adoption")
    op.execute(f"UPDATE adoption.events SET person = {PERSON}")  # noqa: S608 (a constant expression)
    op.alter_column("events", "person", nullable=False, schema="adoption")
    op.drop_index("ix_events_person", table_name="events", schema="adoption")
    op.create_index("ix_events_person", "events", ["person", "occurred_at"], schema="adoption")


def downgrade() -> None:
    op.drop_index("ix_events_person", table_name="events", schema="adoption")
    op.create_index(
        "ix_events_person", "events", ["unit_code", "audience", "subject_hash", "occurred_at"], schema="adoption"
    )
    op.drop_column("events", "person", schema="adoption")
