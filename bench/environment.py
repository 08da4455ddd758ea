"""The bench's throwaway world: a fresh migrated database with units, one directive and an office key
(the registry bench), with the notifier's schema too (the notifier bench, bare; the lanes bench,
seeded), a Redis key space of its own, and their removal afterwards.

The registry is seeded through its own service functions (as ``tests/builders.py`` does), so the data
is exactly what the API would have written.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
import redis.asyncio as aioredis

from services.api.directives import service as directives
from services.api.directives.schemas import DirectiveCreate
from services.api.keys import service as keys
from services.api.keys.schemas import KeyCreate
from services.api.migrations import upgrade
from services.api.settings import RegistrySettings
from services.api.units import service as units
from services.api.units.schemas import UnitCreate
from shared.auth import Role
from shared.db import create_engine, session_factory
from shared.timeutil import VIETNAM, utcnow

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own: nothing else of ours lives there
NOTIFIER_REDIS_URL = "redis://127.0.0.1:6379/12"  # the notifier bench's: arq's job keys are global
LANES_REDIS_URL = "redis://127.0.0.1:6379/10"  # the lanes bench's: its registry's and notifier's jobs


@dataclass
class BenchEnv:
    database: str = field(default_factory=lambda: f"ioc_bench_{uuid.uuid4().hex[:10]}")
    queue_prefix: str = field(default_factory=lambda: f"ioc-bench-{uuid.uuid4().hex[:8]}")
    unit_codes: list[str] = field(default_factory=list)
    directive_id: str = ""
    api_key: str = ""
    created: bool = False
    redis_url: str = REDIS_URL
    # Keys outside ``{queue_prefix}:*`` the run creates (arq's job and result keys cannot be prefixed).
    extra_redis_patterns: list[str] = field(default_factory=list)
    # Also remove arq's keys of every job in the run's queues and every result of a job they ran (for
    # runs whose services pick their own job ids: outbox rows, acknowledgements, cron jobs).
    arq_jobs: bool = False

    @property
    def dsn(self) -> str:
        """libpq form, for asyncpg."""
        return f"{POSTGRES}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        return f"{POSTGRES.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{self.database}"

    def registry_env(self) -> dict[str, str]:
        """The IOC_* variables of the registry under test."""
        return {
            "IOC_DATABASE_URL": self.sqlalchemy_url,
            "IOC_REDIS_URL": self.redis_url,
            "IOC_QUEUE_PREFIX": self.queue_prefix,
            "IOC_ENVIRONMENT": "bench",
            "IOC_LOG_LEVEL": "WARNING",
            "IOC_LOG_JSON": "true",
        }

    def setup(self, unit_count: int) -> None:
        """Create, migrate and seed the database (alembic runs its own event loop, hence sync here)."""
        self.create()
        upgrade(self.sqlalchemy_url)
        asyncio.run(self._seed(unit_count))

    def setup_notifier(self, unit_count: int = 0) -> None:
        """Create the database with the registry's schemas (they hold ``auth``) and the notifier's;
        with ``unit_count``, seeded as :meth:`setup` seeds it."""
        from services.notifier.migrations import upgrade as upgrade_notifier

        self.create()
        upgrade(self.sqlalchemy_url)
        upgrade_notifier(self.sqlalchemy_url)
        if unit_count:
            asyncio.run(self._seed(unit_count))

    def create(self) -> None:
        asyncio.run(_admin(f'CREATE DATABASE "{self.database}"'))
        self.created = True

    async def _seed(self, unit_count: int) -> None:
        engine = create_engine(self._settings(), pool_size=2, max_overflow=0)
        sessions = session_factory(engine)
        try:
            self.unit_codes = [f"BN{i:03d}" for i in range(1, unit_count + 1)]
            for code in self.unit_codes:
                async with sessions() as session:
                    unit = UnitCreate(code=code, name=f"Phường {code}", kind="ward")
                    await units.create_unit(session, unit, by="bench")
            deadline = utcnow() + timedelta(days=30)  # every registration is on time
            async with sessions() as session:
                directive, _ = await directives.create_directive(
                    session,
                    DirectiveCreate(
                        number=f"{uuid.uuid4().int % 10000}/BENCH",
                        title="Cử cán bộ đầu mối (benchmark)",
                        issued_on=utcnow().astimezone(VIETNAM).date() - timedelta(days=1),
                        deadline=deadline,
                        unit_codes=self.unit_codes,
                    ),
                    by="bench",
                )
                self.directive_id = str(directive.id)
            async with sessions() as session:
                # The highest limit a key may carry (1M/min ≈ 16.7k/s): never the bottleneck here.
                created = await keys.create_key(
                    session, KeyCreate(name="bench", role=Role.office, rate_limit_per_minute=1_000_000)
                )
                self.api_key = created.key
        finally:
            await engine.dispose()

    def registry_counts(self) -> dict[str, int]:
        """What the registry wrote: every 201 must be one focal-point version and one outbox row."""

        async def count() -> dict[str, int]:
            conn = await asyncpg.connect(self.dsn)
            try:
                row = await conn.fetchrow(
                    "SELECT (SELECT count(*) FROM registry.focal_points) AS versions,"
                    " (SELECT count(*) FROM registry.focal_points WHERE status = 'active') AS active,"
                    # Other writers (e.g. a directive's notices) may stage messages too: count ours.
                    " (SELECT count(*) FROM registry.outbox"
                    "   WHERE job_name = 'notifier.focal_point.registered') AS outbox"
                )
                return dict(row)
            finally:
                await conn.close()

        return asyncio.run(count())

    def teardown(self) -> None:
        """Drop the database and this run's Redis keys; safe to call after a partial setup."""
        try:
            if self.arq_jobs:
                asyncio.run(_delete_arq_keys(self.queue_prefix, self.redis_url))
            for pattern in (f"{self.queue_prefix}:*", *self.extra_redis_patterns):
                asyncio.run(_delete_redis_keys(pattern, self.redis_url))
        finally:
            if self.created:
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
                self.created = False

    def _settings(self) -> RegistrySettings:
        return RegistrySettings(
            database_url=self.sqlalchemy_url,
            redis_url=self.redis_url,
            queue_prefix=self.queue_prefix,
            log_level="WARNING",
        )


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _delete_redis_keys(pattern: str, url: str = REDIS_URL) -> None:
    """Every key matching ``pattern`` (the registry bench runs no relay, so nothing should appear
    under its prefix; whatever did goes all the same)."""
    client = aioredis.Redis.from_url(url)
    try:
        doomed = [key async for key in client.scan_iter(match=pattern, count=1000)]
        if doomed:
            await client.delete(*doomed)
    finally:
        await client.aclose()


async def _delete_arq_keys(queue_prefix: str, url: str) -> None:
    """arq's keys of a run's jobs, which arq keeps outside any prefix (``arq:job:ID``, ``arq:retry:ID``,
    ``arq:in-progress:ID``, ``arq:result:ID``): those of every job still in a queue named
    ``{queue_prefix}:…``, and every result whose queue is one of them (results are the services' JSON;
    anything else in the database is left alone)."""
    client = aioredis.Redis.from_url(url)
    try:
        queues = [key async for key in client.scan_iter(match=f"{queue_prefix}:*", count=1000, _type="zset")]
        job_ids = [job_id for queue in queues for job_id in await client.zrange(queue, 0, -1)]
        for start in range(0, len(job_ids), 1000):
            chunk = job_ids[start : start + 1000]
            await client.delete(
                *(prefix + job_id for job_id in chunk for prefix in (b"arq:job:", b"arq:retry:", b"arq:in-progress:"))
            )
        results = [key async for key in client.scan_iter(match="arq:result:*", count=1000)]
        for start in range(0, len(results), 1000):
            chunk = results[start : start + 1000]
            doomed = []
            for key, raw in zip(chunk, await client.mget(chunk), strict=True):
                try:
                    queue = json.loads(raw).get("q") if raw else None
                except (ValueError, UnicodeDecodeError, AttributeError):
                    continue
                if isinstance(queue, str) and queue.startswith(f"{queue_prefix}:"):
                    doomed.append(key)
            if doomed:
                await client.delete(*doomed)
    finally:
        await client.aclose()


async def postgres_version() -> str:
    conn = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        return await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
