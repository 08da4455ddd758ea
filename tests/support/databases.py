"""Throwaway PostgreSQL databases and Redis key spaces for one test session.

Tests use the PostgreSQL and Redis already running on this machine (or named by IOC_TEST_*), create
their own database and queue prefix, and remove both at the end. They never stop or reconfigure the
shared servers.
"""

from __future__ import annotations

import os
import uuid

import asyncpg
import redis.asyncio as aioredis

ADMIN_URL = os.environ.get("IOC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("IOC_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


async def create_database(prefix: str = "ioc_test") -> tuple[str, str]:
    """A new empty database; returns (its name, its SQLAlchemy URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def delete_redis_keys(url: str, patterns: list[str], job_ids: set[str]) -> None:
    """Remove this session's queues and the arq keys of the jobs it made (arq's key names are global)."""
    client = aioredis.Redis.from_url(url)
    try:
        doomed = []
        for pattern in patterns:
            doomed += [key async for key in client.scan_iter(match=pattern, count=1000)]
        async for key in client.scan_iter(match="arq:*", count=1000):
            if key.decode().rsplit(":", 1)[-1] in job_ids:
                doomed.append(key)
        if doomed:
            await client.delete(*doomed)
    finally:
        await client.aclose()
