"""Alembic environment of the registry: it owns the ``registry`` and ``auth`` schemas and nothing else."""

from services.api.models import Base
from shared.auth import AuthBase
from shared.migrations import run_migrations

run_migrations(("registry", "auth"), [Base.metadata, AuthBase.metadata])
