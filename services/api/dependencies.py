"""Request-scoped dependencies: a database session that only opens and closes (services commit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, Role, require


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(_session)]


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pg.acquire() as conn:
        yield conn


# The bare asyncpg connection, for the registry's hot path (registrations); see registrations/repository.py.
Connection = Annotated[asyncpg.Connection, Depends(_connection)]

Office = Annotated[Principal, Depends(require(Role.office))]
Reader = Annotated[Principal, Depends(require(Role.office, Role.ops_centre, Role.ward_app))]
Registrar = Annotated[Principal, Depends(require(Role.office, Role.ward_app))]
Watcher = Annotated[Principal, Depends(require(Role.office, Role.ops_centre))]
