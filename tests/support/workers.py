"""Running a service's real worker process (arq on the test Redis) inside the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from shared.queues import WorkerProcess


@asynccontextmanager
async def running(process: WorkerProcess) -> AsyncIterator[WorkerProcess]:
    """``process`` taking jobs for the block's duration; stopped as in production (running jobs finish)."""
    task = asyncio.create_task(process.run())
    try:
        started = asyncio.create_task(process.started())
        await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        yield process
    finally:
        await process.stop()
        await asyncio.wait_for(task, 30)


async def run_until(
    process: WorkerProcess,
    done: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 20.0,  # noqa: ASYNC109
) -> None:
    """Run ``process`` until ``done()`` holds (TimeoutError after ``timeout`` seconds)."""
    async with running(process):
        async with asyncio.timeout(timeout):
            while not await done():
                await asyncio.sleep(0.05)
