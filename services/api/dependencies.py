"""Request-scoped dependencies: a database session that only opens and closes (services commit), the
asyncpg pool, and the roles each endpoint admits."""

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


async def _pool(request: Request) -> asyncpg.Pool:  # async: a plain def would run in a thread
    return request.app.state.pg


# The bare asyncpg pool, for the registry's hot path (registrations; see registrations/repository.py).
# A connection is taken for the statement only, not for the whole request: held from start to end,
# the pool's connections make busy clients queue for them unevenly (a waiter can be overtaken), and
# under overload the slowest registrations wait far longer than the rest (docs/performance.md,
# "Registry").
Pool = Annotated[asyncpg.Pool, Depends(_pool)]

Office = Annotated[Principal, Depends(require(Role.office))]
Reader = Annotated[Principal, Depends(require(Role.office, Role.ops_centre, Role.ward_app))]
Registrar = Annotated[Principal, Depends(require(Role.office, Role.ward_app))]
Watcher = Annotated[Principal, Depends(require(Role.office, Role.ops_centre))]
