"""Alembic environment of the registry: it owns the ``registry`` and ``auth`` schemas and nothing else."""

from services.api.models import Base
from services.api.people import models as _people  # noqa: F401  (their tables are in AuthBase)
from shared.auth import AuthBase
from shared.migrations import run_migrations

run_migrations(("registry", "auth"), [Base.metadata, AuthBase.metadata])
