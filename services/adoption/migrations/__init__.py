"""Alembic migrations of the adoption service (schema ``adoption``). Run: ``python -m services.adoption.migrations``."""

from __future__ import annotations

from pathlib import Path

from shared import migrations

HERE = Path(__file__).parent


def upgrade(database_url: str, revision: str = "head") -> None:
    migrations.upgrade(HERE, database_url, revision)
