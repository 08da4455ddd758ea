"""Per-provider rate limits shared by every notifier worker: a token bucket kept in Redis.

Callers *reserve* a slot: the bucket may go into debt, and each caller learns how long to wait for
its slot, so concurrent senders queue up fairly instead of polling. A caller unwilling to wait that
long takes nothing and learns when to come back. The Lua script runs atomically on the Redis server
and uses its clock, so workers on different machines agree.
"""

from __future__ import annotations

from redis.asyncio import Redis

_RESERVE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = math.max(0, (1 - tokens) / rate)
local taken = 0
if wait <= max_wait then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return {taken, tostring(wait)}
"""


class ProviderRateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._reserve = redis.register_script(_RESERVE)
        self._prefix = prefix

    async def reserve(self, provider: str, per_second: float, max_wait: float) -> tuple[bool, float]:
        """(taken, wait): if taken, the caller may call ``provider`` after ``wait`` seconds; if not,
        nothing was taken and the slot would have come in ``wait`` seconds."""
        if per_second <= 0:
            return True, 0.0
        taken, wait = await self._reserve(
            keys=[f"{self._prefix}:rate:{provider}"], args=[per_second, max(1.0, per_second), max_wait]
        )
        return bool(int(taken)), float(wait)
