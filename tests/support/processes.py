"""The system's processes as children of a test (apps, workers, proxies), each with its output in a
file that is shown when the test fails, and a way to wait for what they should bring about."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.notifier import quiet_hours_away_from_now
from tests.support.sms_gateway import Gateway
from tests.support.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def system_environment(database_url: str, redis_url: str, smtp: SmtpServer, gateway: Gateway) -> dict[str, str]:
    """The environment of a whole system's processes on the test's servers: small pools (many
    processes share the tests' PostgreSQL), fast outbox polls and sweeps, e-mail to ``smtp``, SMS to
    ``gateway``, quiet hours away from now, no metrics port (any number of workers on one machine)."""
    quiet_start, quiet_end = quiet_hours_away_from_now()
    sms = (
        f'[{{"name": "esms", "url": "{gateway.url}", "api_key": "{gateway.api_key}", '
        f'"secret_key": "{gateway.secret_key}", "per_second": 0}}]'
    )
    return {
        **os.environ,
        "IOC_ENVIRONMENT": "test",
        "IOC_DATABASE_URL": database_url,
        "IOC_REDIS_URL": redis_url,
        "IOC_QUEUE_PREFIX": "ioc",
        "IOC_LOG_JSON": "true",
        "IOC_LOG_LEVEL": "WARNING",
        "IOC_WORKER_METRICS_PORT": "0",
        # Many processes share two cores here: a Redis answer may take longer than in production, and
        # the limit is what these tests check, not the fallback to each process's own bucket.
        "IOC_RATE_LIMIT_REDIS_TIMEOUT_SECONDS": "2",
        "IOC_DB_POOL_SIZE": "5",
        "IOC_DB_MAX_OVERFLOW": "5",
        "IOC_LANE_DB_POOL_SIZE": "4",
        "IOC_OUTBOX_POLL_SECONDS": "0.05",
        "IOC_EMAIL_PROVIDER": "smtp",
        "IOC_SMTP_HOST": "127.0.0.1",
        "IOC_SMTP_PORT": str(smtp.port),
        "IOC_SMTP_SECURITY": "none",
        "IOC_EMAIL_PER_SECOND": "0",
        "IOC_SMS_PROVIDER": "gateway",
        "IOC_SMS_GATEWAYS": sms,
        "IOC_SMS_QUIET_START": quiet_start,
        "IOC_SMS_QUIET_END": quiet_end,
        "IOC_STUCK_AFTER_SECONDS": "10",
        "IOC_SWEEP_EVERY_SECONDS": "5",
    }


class Processes:
    """Child processes with their output in files (shown when the test fails)."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *command: str, env: dict[str, str] | None = None) -> None:
        """Start ``command`` with the common environment (and ``env`` over it)."""
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        environment = {**self.env, **(env or {})}
        child = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.children.append((name, child))

    def app(self, name: str, module: str, port: int) -> None:
        """An HTTP app (``module:create_app``) under uvicorn on ``port``."""
        self.start(
            name,
            sys.executable,
            "-m",
            "uvicorn",
            f"{module}:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        )

    def dead(self) -> list[str]:
        return [name for name, child in self.children if child.poll() is not None]

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}"
            for path in sorted(self.directory.glob("*.log"))
        )

    def stop(self) -> None:
        for _, child in self.children:
            child.terminate()
        for _, child in self.children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()


async def until(check: Callable[[], Awaitable[T]], seconds: float, what: str, processes: Processes) -> T:
    """``check()``'s first true result, looked for every 0.25 s; fails the test (with the processes'
    logs) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.25)
    pytest.fail(f"{what} did not happen within {seconds} s; dead: {processes.dead()}\n{processes.logs()}")
