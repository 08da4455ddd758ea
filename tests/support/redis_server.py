"""Private Redis servers for the tests (Debian's redis-server on a free port), so that tests may flush,
stop and restart them at will: arq's key names (``arq:job:…``) are global and cannot be given a prefix."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import redis.asyncio as aioredis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, on a fixed port across restarts, keeping nothing on disk: a
    restart comes back empty, as after a crash without persistence or a failover to an empty replica."""

    def __init__(self, binary: str, *, password: str = "", args: Sequence[str] = ()) -> None:
        """``password``: the server's requirepass (in ``url`` too); ``args``: more of its options."""
        self.binary, self.port, self.args = binary, free_port(), list(args)
        self.url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{self.port}/0"
        if password:
            self.args += ["--requirepass", password]
        self._directory = tempfile.TemporaryDirectory(prefix="ioc-test-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", self._directory.name, *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url)
        try:
            for _ in range(200):
                try:
                    await client.ping()
                    return
                except (ConnectionError, OSError, aioredis.RedisError):
                    await asyncio.sleep(0.025)
            raise RuntimeError(f"redis-server on port {self.port} did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients, as in a crash)."""
        if self._process is not None:
            self._process.kill()
            await asyncio.to_thread(self._process.wait, 10)
            self._process = None

    async def restart_empty(self, down_for: float = 0.0) -> None:
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()

    @asynccontextmanager
    async def client(self) -> AsyncIterator[aioredis.Redis]:
        """A client of this server, for the test to look inside it or stall it."""
        client = aioredis.Redis.from_url(self.url, socket_timeout=5)
        try:
            yield client
        finally:
            await client.aclose()

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
        self._directory.cleanup()


@asynccontextmanager
async def redis_server() -> AsyncIterator[RedisServer | None]:
    """A started private server, or None when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    server = RedisServer(binary)
    try:
        await server.start()
        yield server
    finally:
        server.close()


@asynccontextmanager
async def private_redis() -> AsyncIterator[str | None]:
    """The URL of a fresh redis-server, or None when the binary is not installed."""
    async with redis_server() as server:
        yield None if server is None else server.url
