"""Running a service's app in the test's event loop, as a server process would run it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn


@contextlib.asynccontextmanager
async def serving(app: Any, base_url: str = "http://app.test") -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` run through its lifespan, getting every answer as the server would give it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


@contextlib.asynccontextmanager
async def listening(app: Any, port: int) -> AsyncIterator[None]:
    """``app`` served over HTTP on 127.0.0.1:``port`` in the test's event loop (a stand-in for a
    server outside the system: an SMS gateway, Zalo), until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task
