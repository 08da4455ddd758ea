"""Fixtures of the security tests: a Redis server the test may stop, stall and start again, and apps of
each service run as separate "processes" (each ``create_app`` call is one) on the session's database."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support.redis_server import free_port


class RedisServer:
    """Debian's redis-server on a port of its own, which the test can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = tempfile.TemporaryDirectory(prefix="ioc-test-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", self._directory.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with self.client() as client:
            for _ in range(200):
                with contextlib.suppress(aioredis.RedisError, OSError):
                    if await client.ping():
                        return
                await asyncio.sleep(0.025)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[aioredis.Redis]:
        client = aioredis.Redis.from_url(self.url, socket_timeout=5)
        try:
            yield client
        finally:
            await client.aclose()

    def close(self) -> None:
        self.stop()
        self._directory.cleanup()


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    try:
        await server.start()
        yield server
    finally:
        server.close()


@contextlib.asynccontextmanager
async def serving(app: Any, base_url: str = "http://app.test") -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` run through its lifespan, getting every answer as the server would give it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client
