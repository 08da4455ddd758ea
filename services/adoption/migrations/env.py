"""Alembic environment of the adoption service: it owns the ``adoption`` schema and nothing else."""

from services.adoption.models import Base
from shared.migrations import run_migrations

run_migrations(("adoption",), [Base.metadata])
