"""Alembic environment of the notifier: it owns the ``notify`` schema and nothing else."""

from services.notifier.models import Base
from shared.migrations import run_migrations

run_migrations(("notify",), [Base.metadata])
