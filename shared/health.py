"""``/healthz`` (the process answers) and ``/readyz`` (its database and Redis answer), without auth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

Check = Callable[[], Awaitable[None]]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description='each dependency: "ok", or "unavailable: <kind of error>"')


def database_check(engine_getter: Callable[[], AsyncEngine]) -> Check:
    async def check() -> None:
        async with engine_getter().connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def redis_check(redis_getter: Callable[[], Redis]) -> Check:
    async def check() -> None:
        await redis_getter().ping()

    return check


def health_router(checks: dict[str, Check], timeout_seconds: float = 2.0) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="The database and Redis answer",
        response_model=Readiness,
        responses={
            503: {
                "model": Readiness,
                "description": "Not ready",
                "headers": {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
            }
        },
    )
    async def readyz() -> JSONResponse:
        async def run(check: Check) -> str:
            try:
                await asyncio.wait_for(check(), timeout_seconds)
                return "ok"
            except Exception as exc:  # any failure means "not ready"; say which kind
                return f"unavailable: {type(exc).__name__}"

        results = dict(zip(checks, await asyncio.gather(*(run(c) for c in checks.values())), strict=True))
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": results},
            status_code=200 if ready else 503,
            headers={} if ready else {"Retry-After": "5"},
        )

    return router
