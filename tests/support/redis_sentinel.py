"""A Redis Sentinel deployment of the test's own, on loopback and free ports: a primary, a replica and
three sentinels (quorum 2) that notice a dead primary within a second and promote the replica.

Debian's redis-server runs both roles (``redis-server sentinel.conf --sentinel`` is what Debian's
redis-sentinel package runs). Every server and sentinel asks for a password, so that the services'
``IOC_REDIS_PASSWORD`` and ``IOC_REDIS_SENTINEL_PASSWORD`` are exercised too. Nothing is kept on disk.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis

from tests.support.redis_server import RedisServer, free_port

MASTER = "ioc-test"
PASSWORD = "redis-test-secret"
SENTINEL_PASSWORD = "sentinel-test-secret"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000

SENTINEL_CONF = """\
port {port}
bind 127.0.0.1
dir {dir}
requirepass {sentinel_password}
sentinel sentinel-pass {sentinel_password}
sentinel monitor {master} 127.0.0.1 {primary_port} {quorum}
sentinel auth-pass {master} {password}
sentinel down-after-milliseconds {master} {down_after}
sentinel failover-timeout {master} {failover_timeout}
sentinel parallel-syncs {master} 1
sentinel myid {myid}
sentinel known-replica {master} 127.0.0.1 {replica_port}
{known_sentinels}
"""


class SentinelServer:
    """One sentinel; it rewrites its configuration file as it learns, so the file is its own. It is
    told its peers and the replica up front (what it would otherwise learn within seconds)."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary, self.port, self.myid = binary, free_port(), secrets.token_hex(20)
        self.conf = directory / f"sentinel-{self.port}.conf"
        self.client = aioredis.Redis(
            port=self.port, password=SENTINEL_PASSWORD, socket_timeout=2, decode_responses=True
        )
        self._process: subprocess.Popen[bytes] | None = None

    def configure(self, primary_port: int, replica_port: int, peers: list[SentinelServer]) -> None:
        known = "\n".join(f"sentinel known-sentinel {MASTER} 127.0.0.1 {p.port} {p.myid}" for p in peers)
        self.conf.write_text(
            SENTINEL_CONF.format(
                port=self.port,
                dir=self.conf.parent,
                master=MASTER,
                primary_port=primary_port,
                replica_port=replica_port,
                quorum=QUORUM,
                password=PASSWORD,
                sentinel_password=SENTINEL_PASSWORD,
                down_after=DOWN_AFTER_MS,
                failover_timeout=FAILOVER_TIMEOUT_MS,
                myid=self.myid,
                known_sentinels=known,
            )
        )

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self.binary, str(self.conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None


class SentinelTopology:
    """The primary, its replica and three sentinels watching them."""

    def __init__(self, binary: str) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="ioc-test-sentinel-")
        # A replica's first sync starts at once (not after the default 5 s wait for more replicas).
        options = ["--masterauth", PASSWORD, "--repl-diskless-sync-delay", "0"]
        self.primary = RedisServer(binary, password=PASSWORD, args=options)
        self.replica = RedisServer(
            binary, password=PASSWORD, args=[*options, "--replicaof", "127.0.0.1", str(self.primary.port)]
        )
        self.sentinels = [SentinelServer(binary, Path(self._directory.name)) for _ in range(3)]
        for sentinel in self.sentinels:
            peers = [other for other in self.sentinels if other is not sentinel]
            sentinel.configure(self.primary.port, self.replica.port, peers)

    @property
    def addresses(self) -> str:
        """The sentinels as ``IOC_REDIS_SENTINELS`` names them."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def environment(self) -> dict[str, str]:
        """What a service needs to find this Redis: the sentinels, the master's name, the passwords."""
        return {
            "IOC_REDIS_SENTINELS": self.addresses,
            "IOC_REDIS_SENTINEL_MASTER": MASTER,
            "IOC_REDIS_PASSWORD": PASSWORD,
            "IOC_REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
        }

    async def start(self) -> None:
        await self.primary.start()
        await self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        await self._until_watching()

    async def _until_watching(self, seconds: float = 30.0) -> None:
        """Until every sentinel knows the replica and the two other sentinels (a failover needs them)."""
        async with asyncio.timeout(seconds):
            while True:
                try:
                    states = [await s.client.sentinel_master(MASTER) for s in self.sentinels]
                    if all(int(st["num-slaves"]) == 1 and int(st["num-other-sentinels"]) == 2 for st in states):
                        link = await self.replica_link()
                        if link == "up":
                            return
                except (OSError, aioredis.RedisError):
                    pass
                await asyncio.sleep(0.1)

    async def replica_link(self) -> str:
        async with self.replica.client() as client:
            info = await client.info("replication")
        return str(info.get("master_link_status", ""))

    async def master_port(self) -> int | None:
        """The master's port as a majority of the sentinels name it (None while they disagree)."""
        ports = []
        for sentinel in self.sentinels:
            try:
                address = await sentinel.client.sentinel_get_master_addr_by_name(MASTER)
            except (OSError, aioredis.RedisError):
                continue
            if address:
                ports.append(int(address[1]))
        for port in set(ports):
            if ports.count(port) >= QUORUM:
                return port
        return None

    async def kill_primary(self) -> None:
        """SIGKILL the primary: no goodbye to its clients or its replica, as in a crash."""
        await self.primary.stop()

    async def close(self) -> None:
        for sentinel in self.sentinels:
            sentinel.close()
            await sentinel.client.aclose()
        self.replica.close()
        self.primary.close()
        self._directory.cleanup()


@asynccontextmanager
async def sentinel_topology() -> AsyncIterator[SentinelTopology | None]:
    """A started topology, or None when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    topology = SentinelTopology(binary)
    try:
        await topology.start()
        yield topology
    finally:
        await topology.close()
