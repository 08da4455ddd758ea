"""Where the services find Redis: one server by URL, or the master a set of sentinels names, which a
client follows when the sentinels move it (here a planned failover: the old primary stays up, demoted,
and refuses writes)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from shared import queues, redis_clients
from shared.settings import CommonSettings
from tests.support.redis_sentinel import sentinel_topology


def test_sentinels_are_host_port_pairs():
    settings = CommonSettings(redis_sentinels="10.0.0.1:26379, sentinel-2:26380,[::1]:26381")
    assert settings.redis_sentinel_addresses() == [("10.0.0.1", 26379), ("sentinel-2", 26380), ("::1", 26381)]
    assert CommonSettings(redis_sentinels="").redis_sentinel_addresses() == []
    with pytest.raises(ValidationError, match="IOC_REDIS_SENTINELS"):
        CommonSettings(redis_sentinels="10.0.0.1")


def test_arq_settings_name_the_same_redis_as_the_clients():
    plain = redis_clients.arq_settings(CommonSettings(redis_url="redis://cache:6380/3", redis_password="s3cret"))
    assert (plain.host, plain.port, plain.database, plain.password, plain.sentinel) == (
        "cache",
        6380,
        3,
        "s3cret",
        False,
    )
    in_url = redis_clients.arq_settings(CommonSettings(redis_url="redis://:own@cache:6380/3", redis_password="other"))
    assert in_url.password == "own", "the URL's password comes first"
    sentinel = redis_clients.arq_settings(
        CommonSettings(redis_url="redis://ignored/2", redis_sentinels="s1:26379,s2:26379", redis_sentinel_master="ioc")
    )
    assert (sentinel.host, sentinel.sentinel, sentinel.sentinel_master, sentinel.database) == (
        [("s1", 26379), ("s2", 26379)],
        True,
        "ioc",
        2,
    )


async def test_a_client_follows_the_master_when_the_sentinels_move_it():
    async with sentinel_topology() as topology:
        if topology is None:
            pytest.fail("this test needs Debian's redis-server (apt install redis-server)")
        env = topology.environment()
        settings = CommonSettings(
            redis_url="redis://127.0.0.1:1/0",  # nobody there: only the sentinels say where Redis is
            redis_sentinels=env["IOC_REDIS_SENTINELS"],
            redis_sentinel_master=env["IOC_REDIS_SENTINEL_MASTER"],
            redis_password=env["IOC_REDIS_PASSWORD"],
            redis_sentinel_password=env["IOC_REDIS_SENTINEL_PASSWORD"],
        )
        arq = queues.client(settings)
        plain = redis_clients.client(settings)
        try:
            assert await queues.enqueue_job(arq, "ioc-test:queue", "job", job_id="before")
            await plain.set("written", "before")
            assert await plain.execute_command("WAIT", 1, 5000) == 1  # the replica has it (asynchronous otherwise)
            await topology.sentinels[0].client.sentinel_failover(env["IOC_REDIS_SENTINEL_MASTER"])

            async def moved() -> None:
                while await topology.master_port() != topology.replica.port:
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(moved(), 30)
            # The sentinels demote the old primary when they next look at it (within 10 s): done here
            # at once. The clients' connections still go to it.
            async with topology.primary.client() as old:
                await old.replicaof("127.0.0.1", topology.replica.port)

            async def written_after() -> None:
                while True:
                    try:
                        await plain.set("written", "after")
                        # False: the demoted primary discarded the transaction (its data was replaced)
                        if await queues.enqueue_job(arq, "ioc-test:queue", "job", job_id="after"):
                            return
                    except Exception:  # the demoted primary refuses writes until the client moves
                        pass
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(written_after(), 30)
            assert await role(topology.replica) == "master" and await role(topology.primary) == "slave"
            async with topology.replica.client() as promoted:
                assert await promoted.get("written") == b"after"
                assert await promoted.zcard("ioc-test:queue") == 2, "what was enqueued before the move is kept"
        finally:
            await arq.aclose()
            await plain.aclose()


async def role(server) -> str:
    async with server.client() as client:
        return str((await client.info("replication"))["role"])
