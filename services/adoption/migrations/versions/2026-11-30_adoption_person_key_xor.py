"""Adoption: ``person`` becomes the subject hash's first 8 bytes XOR a key of (unit, audience).

The subject hash is an HMAC, uniform already: hashing it again with the unit and audience (a0002)
cost the app a SHA-256 an event, the busiest process of the ingest (bench/adoption.py). The key of
(unit, audience) is the first 8 bytes of SHA-256(unit || '|' || audience); the same in Python
(``subjects.person_key``) and in SQL (``PERSON``, tested). The timeline index follows the update.

Revision ID: a0003
Revises: a0002
Created: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "a0003"
down_revision = "a0002"
branch_labels = None
depends_on = None

PERSON = (
    "(('x' || encode(substr(subject_hash, 1, 8), 'hex'))::bit(64)::bigint"
    " # ('x' || substr(encode(sha256(convert_to(unit_code || '|' || audience, 'UTF8')), 'hex'), 1, 16))"
    "::bit(64)::bigint)"
)
A0002_PERSON = (
    "('x' || substr(encode(sha256(subject_hash || convert_to(unit_code || '|' || audience, 'UTF8')), 'hex'), 1, 16))"
    "::bit(64)::bigint"
)


def upgrade() -> None:
    op.execute(f"UPDATE adoption.events SET person = {PERSON}")  # noqa: S608 (a constant expression)


def downgrade() -> None:
    op.execute(f"UPDATE adoption.events SET person = {A0002_PERSON}")  # noqa: S608 (a constant expression)
