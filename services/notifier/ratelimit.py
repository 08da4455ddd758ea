"""Per-provider rate limits shared by every notifier worker: a token bucket kept in Redis, in which the
lanes keep their order.

A priority send *reserves* a slot: the bucket may go into debt, and each caller learns how long to
wait for its slot, so concurrent senders queue up fairly instead of polling. The other lanes never
queue: they take a token only while the bucket keeps a floor of tokens above it (higher for bulk than
for normal), so a saturated provider still has a token for the next confirmation at once, and a
reminder goes before a nudge. The Lua script runs atomically on the Redis server and uses its clock,
so workers on different machines agree.
"""

from __future__ import annotations

import asyncio
import random

from redis.asyncio import Redis

from shared.contracts import BULK, NORMAL, PRIORITY

# The floor each lane leaves in the bucket, as a share of the tokens beyond the first.
FLOORS = {PRIORITY: 0.0, NORMAL: 0.2, BULK: 0.4}

_RESERVE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local queue = ARGV[5] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = math.max(0, (1 + floor - tokens) / rate)
local taken = 0
if (queue and wait <= max_wait) or wait == 0 then
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

    async def reserve(self, provider: str, per_second: float, max_wait: float, lane: str) -> tuple[bool, float]:
        """(taken, wait): if taken, the caller may call ``provider`` after ``wait`` seconds; if not,
        nothing was taken and a slot is not expected within ``max_wait`` (retry in ``wait``)."""
        if per_second <= 0:
            return True, 0.0
        burst = max(1.0, per_second)
        floor = FLOORS[lane] * (burst - 1)
        key = f"{self._prefix}:rate:{provider}"
        if lane == PRIORITY:
            taken, wait = await self._reserve(keys=[key], args=[per_second, burst, max_wait, 0, 1])
            return bool(int(taken)), float(wait)
        waited = 0.0
        while True:
            taken, wait = await self._reserve(keys=[key], args=[per_second, burst, max_wait, floor, 0])
            if int(taken):
                return True, 0.0
            wait = float(wait)
            if waited + wait > max_wait:
                return False, wait
            # Several senders wait for the same token: spread them so that one takes it, the rest wait.
            pause = wait + random.uniform(0, 1 / per_second)
            await asyncio.sleep(pause)
            waited += pause
