"""The whole system for the browser tests: the registry, adoption and notifier apps and their workers,
and the web service, each a real uvicorn server on a free loopback port in the test's event loop, on a
database of the tests' own seeded with the demo data. A server can be stopped and started again on its
port (an API going down under a wall screen)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.support.redis_server import free_port


class Server:
    """An ASGI app served by uvicorn on 127.0.0.1:port until stopped."""

    def __init__(self, make_app: Any, port: int | None = None) -> None:
        self.make_app, self.port = make_app, port or free_port()
        self.task: asyncio.Task[None] | None = None
        self.server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.make_app(), host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the test owns signals
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            self.server.force_exit = True  # open event streams would otherwise hold it
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, 10)
            self.server = self.task = None


@dataclass
class Stack:
    registry: Server
    adoption: Server
    notifier: Server
    web: Server
    keys: dict[str, str]
    directive_ids: dict[str, str]
    registry_sessions: Any
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def serving(*servers: Server) -> AsyncIterator[None]:
    for server in servers:
        await server.start()
    try:
        yield
    finally:
        for server in reversed(servers):
            await server.stop()
