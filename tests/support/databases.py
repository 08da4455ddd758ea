"""Throwaway PostgreSQL databases for one test session.

Tests use the PostgreSQL already running on this machine (or named by IOC_TEST_POSTGRES_URL), create
their own database and drop it at the end. They never stop or reconfigure the shared server.
"""

from __future__ import annotations

import os
import uuid

import asyncpg

ADMIN_URL = os.environ.get("IOC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SHARED_TEST_REDIS_URL = os.environ.get("IOC_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


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
