"""A private Redis for the test session (Debian's redis-server on a free port), so that tests may
flush it at will: arq's key names (``arq:job:…``) are global and cannot be given a prefix."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def private_redis() -> AsyncIterator[str | None]:
    """The URL of a fresh redis-server, or None when the binary is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ioc-test-redis-") as directory:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = aioredis.Redis.from_url(url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    break
                except (ConnectionError, OSError, aioredis.RedisError):
                    await asyncio.sleep(0.05)
            yield url
        finally:
            await client.aclose()
            process.terminate()
            process.wait(timeout=10)
