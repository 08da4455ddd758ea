"""Container health checks (used by docker-compose.yml), without curl in the images.

    python -m shared.healthcheck http http://127.0.0.1:8000/healthz
    python -m shared.healthcheck worker registry      # the arq worker of that service is alive

A worker is alive while its arq health-check key exists in Redis: the worker rewrites it every
10 seconds with a short expiry, so a hung or dead worker (or one that lost Redis) fails the check.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request

import redis.asyncio as aioredis

from shared import redis_clients
from shared.queues import queue_name
from shared.settings import CommonSettings


def check_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (a URL we were given)
            return bool(response.status == 200)
    except OSError:
        return False


async def check_worker(service: str) -> bool:
    settings = CommonSettings()
    client = redis_clients.client(settings, timeout=3)
    try:
        return bool(await client.exists(f"{queue_name(settings, service)}:health-check"))
    except (OSError, aioredis.RedisError):
        return False
    finally:
        await client.aclose()


def main(argv: list[str]) -> int:
    match argv:
        case ["http", url]:
            healthy = check_http(url)
        case ["worker", service]:
            healthy = asyncio.run(check_worker(service))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
