"""Request-scoped dependencies of the registry: the database session every service has
(``shared.web``), and the roles each endpoint admits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.auth import Principal, Role, require
from shared.web import Session

__all__ = ["Office", "Reader", "Registrar", "Session", "Watcher", "registrar"]

Office = Annotated[Principal, Depends(require(Role.office))]
Reader = Annotated[Principal, Depends(require(Role.office, Role.ops_centre, Role.ward_app))]
# Its callable too: POST /v1/registrations calls it itself when it answers a request without FastAPI.
registrar = require(Role.office, Role.ward_app)
Registrar = Annotated[Principal, Depends(registrar)]
Watcher = Annotated[Principal, Depends(require(Role.office, Role.ops_centre))]
