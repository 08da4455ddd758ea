"""Request-scoped dependencies of the registry: the database session and the asyncpg pool every
service has (``shared.web``), and the roles each endpoint admits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.auth import Principal, Role, require
from shared.web import Pool, Session

# The bare asyncpg pool is for the registry's hot path (registrations; see registrations/repository.py).
# A connection is taken for the statement only, not for the whole request: held from start to end, the
# pool's connections make busy clients queue for them unevenly (a waiter can be overtaken), and under
# overload the slowest registrations wait far longer than the rest (docs/performance.md, "Registry").
__all__ = ["Office", "Pool", "Reader", "Registrar", "Session", "Watcher"]

Office = Annotated[Principal, Depends(require(Role.office))]
Reader = Annotated[Principal, Depends(require(Role.office, Role.ops_centre, Role.ward_app))]
Registrar = Annotated[Principal, Depends(require(Role.office, Role.ward_app))]
Watcher = Annotated[Principal, Depends(require(Role.office, Role.ops_centre))]
