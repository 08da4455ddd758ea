"""The system's processes as children of a test (apps, workers, proxies), each with its output in a
file that is shown when the test fails, and a way to wait for what they should bring about."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


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
