"""Background loops that outlive their dependencies: a step repeated until cancelled, with a growing
pause after each failure, so that PostgreSQL or Redis being away for minutes costs a log line now
and then, never the process."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("loops")


class Backoff:
    """Pauses after consecutive failures: ``first``, doubling up to ``longest``, with ±10 % jitter so
    that many processes recovering together do not knock on the same second."""

    def __init__(self, first: float = 0.5, longest: float = 30.0) -> None:
        self.first, self.longest = first, longest
        self.failures = 0

    def next(self) -> float:
        delay = min(self.longest, self.first * 2.0**self.failures)
        self.failures += 1
        return delay * random.uniform(0.9, 1.1)

    def reset(self) -> None:
        self.failures = 0


async def repeat(
    step: Callable[[], Awaitable[object]],
    *,
    name: str,
    pause: Callable[[object], float] | float,
    backoff: Backoff | None = None,
) -> None:
    """Run ``step()`` until cancelled. After a success, wait ``pause`` (seconds, or a function of the
    step's result); after a failure, log it and wait the next backoff delay."""
    backoff = backoff or Backoff()
    while True:
        try:
            result = await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = backoff.next()
            log.warning("loop_step_failed", loop=name, error=type(exc).__name__, detail=str(exc)[:200], retry_in=delay)
            await asyncio.sleep(delay)
            continue
        backoff.reset()
        await asyncio.sleep(pause(result) if callable(pause) else pause)


class Tasks:
    """Background tasks started together and cancelled together."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, coroutine: Awaitable[None], *, name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coroutine))
        self._tasks[-1].set_name(name)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # a loop that died on its own has been logged by it already
                log.warning("background_task_failed", task=task.get_name(), error=type(exc).__name__)
        self._tasks.clear()
