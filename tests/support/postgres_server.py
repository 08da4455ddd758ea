"""A PostgreSQL cluster of the test's own (Debian's server binaries: initdb, pg_ctl) on a free port, for
tests that run many processes (more connections than the shared server spares) or stop the server."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.redis_server import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, binaries: Path, max_connections: int = 400) -> None:
        self.binaries, self.port, self.max_connections = binaries, free_port(), max_connections
        self.directory = Path(tempfile.mkdtemp(prefix="ioc-test-pg-"))
        self.data = self.directory / "data"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        # initdb refuses to run as root: as root, the cluster belongs to the system's postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    async def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            f" -c max_connections={self.max_connections} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off"
        )
        await asyncio.to_thread(
            self._run, str(self.binaries / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        await asyncio.to_thread(
            self._run,
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.directory / "log"),
            "start",
        )

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


@asynccontextmanager
async def postgres_server(max_connections: int = 400) -> AsyncIterator[PostgresServer]:
    binaries = _binaries()
    if binaries is None:
        raise RuntimeError("this test needs Debian's PostgreSQL server binaries (apt install postgresql)")
    server = PostgresServer(binaries, max_connections)
    try:
        await server.start()
        yield server
    finally:
        await asyncio.to_thread(server.close)
