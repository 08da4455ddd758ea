"""Where Redis is, and every client of it: one server (``IOC_REDIS_URL``) or a master watched by
Redis Sentinel (``IOC_REDIS_SENTINELS``, ``IOC_REDIS_SENTINEL_MASTER``).

Every Redis client of the services is made by :func:`client` (the queues' ``ArqRedis``, the HTTP
apps' rate limits, the health checks) and arq's own view of the same place by :func:`arq_settings`,
so that a process never talks to two Redis deployments.

Behind Sentinel a client is redis-py's ``Sentinel(...).master_for(...)``, which is what arq itself
builds from ``RedisSettings(sentinel=True)``, with the timeouts and the sentinels' password arq's
settings cannot carry. Each new connection asks the sentinels for the master's address, so when the
master moves (a failover) a connection broken by the old one's death is replaced by one to the new
master; a connection still open to a demoted master fails on its first write (READONLY) and is
replaced the same way. Nothing above this module notices a failover other than as a short Redis
outage: the worker processes ride it out as they ride out a restart (``shared.queues``).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast, overload

from arq.connections import RedisSettings
from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from shared.settings import CommonSettings

R = TypeVar("R", bound=Redis)


def arq_settings(settings: CommonSettings) -> RedisSettings:
    """arq's ``RedisSettings`` for the configured Redis: the sentinels and the master's name, or the
    URL's server; the database number (and a username or password) come from the URL."""
    url = RedisSettings.from_dsn(settings.redis_url)
    password = url.password or settings.redis_password.get_secret_value() or None
    sentinels = settings.redis_sentinel_addresses()
    if not sentinels:
        url.password = password
        return url
    return RedisSettings(
        host=sentinels,
        sentinel=True,
        sentinel_master=settings.redis_sentinel_master,
        database=url.database,
        username=url.username,
        password=password,
        ssl=url.ssl,
        conn_timeout=max(1, round(settings.redis_timeout_seconds)),
    )


@overload
def client(settings: CommonSettings, *, timeout: float | None = None) -> Redis: ...
@overload
def client(settings: CommonSettings, *, redis_class: type[R], timeout: float | None = None) -> R: ...
def client(settings: CommonSettings, *, redis_class: type[Redis] = Redis, timeout: float | None = None) -> Redis:
    """A client of the configured Redis (of ``redis_class``: ``Redis``, or arq's ``ArqRedis``).

    It connects on first use and again after any failure, so it may be made while Redis is down;
    each command and connection attempt gives up after ``timeout`` (``redis_timeout_seconds``).
    ``aclose()`` closes everything it opened, the connections to the sentinels included."""
    timeout = settings.redis_timeout_seconds if timeout is None else timeout
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    target = arq_settings(settings)
    if not target.sentinel:  # the URL's own options (and password, before IOC_REDIS_PASSWORD) hold
        if password := settings.redis_password.get_secret_value():
            options["password"] = password
        return cast(Redis, redis_class.from_url(settings.redis_url, **options))
    sentinel_password = settings.redis_sentinel_password.get_secret_value() or None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        target.host,
        sentinel_kwargs={**options, "password": sentinel_password},
        db=target.database,
        username=target.username,
        password=target.password,
        ssl=target.ssl,
        **options,
    )
    master = sentinel.master_for(target.sentinel_master, redis_class=redis_class, connection_pool_class=_MasterPool)
    return cast(Redis, master)


class _MasterPool(SentinelConnectionPool):
    """The master's connections; closing them all closes the connections to the sentinels too (the
    sentinels' clients would otherwise outlive the client that asked them)."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.aclose()
