"""Running a service's app in the test's event loop, as a server process would run it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx


@contextlib.asynccontextmanager
async def serving(app: Any, base_url: str = "http://app.test") -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` run through its lifespan, getting every answer as the server would give it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client
