"""The stack's ceiling: the same server stack as the registry (uvicorn, FastAPI, pydantic, asyncpg)
doing the least a registration could do: validate a similar JSON body, one INSERT, answer 201.

The registry's throughput is compared with this one's, so the comparison measures what the
registry's own code costs, not what the machine, uvicorn or PostgreSQL cost.

    BENCH_CEILING_DSN=postgresql://postgres@127.0.0.1:5432/DB \\
        uvicorn bench.ceiling_app:create_app --factory --workers 1
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

# Its own schema, so it can share the bench's throwaway database without touching the registry's tables.
DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.registrations (
    id uuid PRIMARY KEY,
    directive_id uuid NOT NULL,
    unit_code varchar(32) NOT NULL,
    full_name varchar(200) NOT NULL,
    position varchar(200),
    phone varchar(32) NOT NULL,
    email varchar(254) NOT NULL,
    note text,
    submitted_at timestamptz NOT NULL DEFAULT now()
);
"""

INSERT = """
INSERT INTO bench.registrations (id, directive_id, unit_code, full_name, position, phone, email, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING submitted_at
"""


class RegistrationIn(BaseModel):
    directive_id: uuid.UUID
    unit_code: str = Field(max_length=32)
    full_name: str = Field(max_length=200)
    position: str | None = Field(None, max_length=200)
    phone: str = Field(max_length=32)
    email: str = Field(max_length=254)
    note: str | None = Field(None, max_length=2000)


class RegistrationOut(RegistrationIn):
    id: uuid.UUID
    submitted_at: datetime


def create_app() -> FastAPI:
    dsn = os.environ["BENCH_CEILING_DSN"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As many connections as the registry's asyncpg pool, which registrations use, may hold
        # (IOC_DB_POOL_SIZE, 20 by default).
        app.state.pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        async with app.state.pool.acquire() as conn:
            await conn.execute(DDL)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="bench ceiling", lifespan=lifespan)

    @app.post("/v1/registrations", status_code=201)
    async def register(body: RegistrationIn, request: Request) -> RegistrationOut:
        new_id = uuid.uuid4()
        submitted_at = await request.app.state.pool.fetchval(
            INSERT,
            new_id,
            body.directive_id,
            body.unit_code,
            body.full_name,
            body.position,
            body.phone,
            body.email,
            body.note,
        )
        return RegistrationOut(id=new_id, submitted_at=submitted_at, **body.model_dump())

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    return app
