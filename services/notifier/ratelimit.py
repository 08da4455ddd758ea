"""Per-provider rate limits shared by every notifier worker: a token bucket kept in Redis.

The bucket refills at ``per_second`` tokens a second up to one second's worth; the Lua script runs
atomically on the Redis server and uses its clock, so workers on different machines agree.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 60)
return tostring(wait)
"""


class ProviderRateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._take = redis.register_script(_TAKE)
        self._prefix = prefix

    async def acquire(self, provider: str, per_second: float) -> None:
        """Wait until ``provider`` may be called once more."""
        if per_second <= 0:
            return
        burst = max(1.0, per_second)
        while True:
            wait = float(await self._take(keys=[f"{self._prefix}:rate:{provider}"], args=[per_second, burst]))
            if wait <= 0:
                return
            await asyncio.sleep(wait)
