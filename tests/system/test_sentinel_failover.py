"""Redis behind Sentinel loses its primary while registrations flow, and nobody notices but the logs.

A primary, a replica and three sentinels (quorum 2) on loopback; the registry and notifier apps and
workers find Redis through the sentinels only (``IOC_REDIS_URL`` names a port nobody listens on).
Registrations are posted continuously; the primary is killed (SIGKILL) mid-flow and the sentinels
promote the replica. Every registration is accepted, before, during and after the failover; every
confirmation (e-mail and SMS to the person, e-mail to the unit) is delivered exactly once; every
outbox message is acknowledged; no process was restarted, and each worker reconnected on its own.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import delete

from services.api.migrations import upgrade as upgrade_registry
from services.api.models import OutboxMessage
from services.notifier.migrations import upgrade as upgrade_notifier
from shared.db import create_engine, session_factory
from shared.settings import CommonSettings
from tests.builders import all_acknowledged, auth, create_directive, create_key, create_unit, registration
from tests.support.databases import create_database, drop_database
from tests.support.processes import Processes, system_environment, until
from tests.support.redis_sentinel import SentinelTopology, sentinel_topology
from tests.support.redis_server import free_port
from tests.support.sms_gateway import Gateway, running
from tests.support.smtp_server import SmtpServer

UNITS = 400  # one registration each at most: a person's e-mails are then theirs alone
BEFORE, AFTER = 30, 30  # registrations posted before the kill, and after the sentinels agree
POSTERS, PAUSE = 3, 0.1  # concurrent posters, and each one's pause between posts
APPS = {"registry": "services.api.app", "notifier": "services.notifier.app"}
WORKERS = ["services.api.worker", "services.notifier.worker"]


def environment(database_url: str, topology: SentinelTopology, smtp: SmtpServer, gateway: Gateway) -> dict[str, str]:
    # Only the database number is read from the URL behind Sentinel: a client that used its address
    # would find nobody there.
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    return {
        **system_environment(database_url, redis_url, smtp, gateway),
        **topology.environment(),
        "IOC_LOG_LEVEL": "INFO",
        # A job the replica had not yet received when the primary died is sent again this soon.
        "IOC_OUTBOX_ACK_TIMEOUT_SECONDS": "5",
    }


@dataclass
class Flow:
    """Registrations posted by a few clients at a steady pace, each to a unit of its own."""

    registry: str
    directive_id: str
    key: str
    codes: list[str]
    statuses: dict[int, int] = field(default_factory=dict)  # registration number → HTTP status
    refusals: list[str] = field(default_factory=list)  # the bodies of answers other than 201
    posted: int = 0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, http: httpx.AsyncClient) -> None:
        await asyncio.gather(*(self._poster(http) for _ in range(POSTERS)))

    async def _poster(self, http: httpx.AsyncClient) -> None:
        while not self.stopping.is_set():
            i = self.posted
            assert i < len(self.codes), "more registrations than units: the failover took too long"
            self.posted += 1
            body = registration(self.directive_id, self.codes[i], full_name=f"Cán bộ {i}", phone=f"+849123{i:05d}")
            body["email"] = f"cb{i}@halong.example"
            response = await http.post(f"{self.registry}/v1/registrations", json=body, headers=auth(self.key))
            self.statuses[i] = response.status_code
            if response.status_code != 201:
                self.refusals.append(response.text[:300])
            await asyncio.sleep(PAUSE)

    async def at_least(self, count: int) -> bool:
        return len(self.statuses) >= count


def metric(port: int, name: str) -> list[float]:
    """The samples of a metric on a worker's metrics port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
        lines = response.read().decode().splitlines()
    return [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + "{")]


async def test_the_system_rides_out_a_sentinel_failover_mid_flow(tmp_path):
    async with sentinel_topology() as topology, running(Gateway()) as gateway:
        if topology is None:
            pytest.fail("this test needs Debian's redis-server (apt install redis-server)")
        name, database_url = await create_database()
        engine = create_engine(CommonSettings(), database_url, pool_size=2, max_overflow=0)
        try:
            for upgrade in (upgrade_registry, upgrade_notifier):
                await asyncio.to_thread(upgrade, database_url)
            db = session_factory(engine)
            codes = [f"HL-S{i:03d}" for i in range(UNITS)]
            for code in codes:
                await create_unit(db, code, kind="department", email=f"{code.lower()}@halong.example")
            async with db() as session, session.begin():  # the units' announcements go to adoption: not here
                await session.execute(delete(OutboxMessage))
            directive = await create_directive(db, codes)
            office = await create_key(db, "office", rate_limit_per_minute=1_000_000)
            with SmtpServer() as smtp:
                processes = Processes(tmp_path, environment(database_url, topology, smtp, gateway))
                ports = {app: free_port() for app in APPS}
                for app, module in APPS.items():
                    processes.app(app, module, ports[app])
                metrics = {module: free_port() for module in WORKERS}
                for module in WORKERS:
                    processes.start(
                        module.split(".")[1] + "-worker",
                        sys.executable,
                        "-m",
                        module,
                        env={"IOC_WORKER_METRICS_PORT": str(metrics[module])},
                    )
                try:
                    flow = Flow(f"http://127.0.0.1:{ports['registry']}", str(directive.id), office, codes)
                    await _run(processes, topology, flow, ports, metrics, db, smtp, gateway)
                finally:
                    processes.stop()
        finally:
            await engine.dispose()
            await drop_database(name)


async def _run(processes, topology, flow, ports, metrics, db, smtp, gateway) -> None:
    async with httpx.AsyncClient(timeout=30) as http:

        async def ready() -> bool:
            try:
                answers = [await http.get(f"http://127.0.0.1:{port}/readyz") for port in ports.values()]
            except httpx.HTTPError:
                return False
            return all(a.status_code == 200 for a in answers)

        await until(ready, 60, "both apps ready, through the sentinels", processes)
        primary, replica = topology.primary.port, topology.replica.port
        assert await topology.master_port() == primary

        listing: Counter[int] = Counter()  # the notifier app's answers meanwhile

        async def list_notifications() -> None:
            while not flow.stopping.is_set():
                response = await http.get(
                    f"http://127.0.0.1:{ports['notifier']}/v1/notifications", headers=auth(flow.key)
                )
                listing[response.status_code] += 1
                await asyncio.sleep(0.5)

        posting = asyncio.gather(flow.run(http), list_notifications())
        try:
            await until(lambda: flow.at_least(BEFORE), 30, f"{BEFORE} registrations", processes)
            await topology.kill_primary()
            killed_at = flow.posted

            async def moved() -> bool:
                return await topology.master_port() == replica

            await until(moved, 30, "the sentinels promoting the replica", processes)
            failed_over_at = flow.posted
            await until(
                lambda: flow.at_least(failed_over_at + AFTER), 30, "registrations after the failover", processes
            )
        finally:
            flow.stopping.set()
            await posting
        count = flow.posted
        assert Counter(flow.statuses.values()) == {201: count}, flow.refusals[:3]  # Redis away never fails one
        assert failed_over_at > killed_at, "registrations were posted while the primary was gone"
        assert set(listing) == {200}, listing

        def sms_count() -> int:
            return len(gateway.accepted)

        def person_emails() -> Counter[str]:
            return Counter(
                m["To"].addresses[0].addr_spec
                for m in smtp.handler.messages
                if m["To"].addresses[0].addr_spec.startswith("cb")
            )

        async def delivered() -> bool:
            return sms_count() >= count and len(person_emails()) >= count and len(smtp.handler.messages) >= 2 * count

        await until(delivered, 60, f"{count} confirmations by SMS and e-mail", processes)

        await until(all_acknowledged(db), 30, "every outbox message acknowledged", processes)
        await asyncio.sleep(2)  # anything sent twice would arrive now

    assert processes.dead() == [], processes.logs()
    assert await topology.master_port() == replica
    emails = Counter(m["To"].addresses[0].addr_spec for m in smtp.handler.messages)
    expected = Counter(
        [f"cb{i}@halong.example" for i in range(count)] + [f"{c.lower()}@halong.example" for c in flow.codes[:count]]
    )
    assert emails == expected, "each person and each unit told once"
    assert Counter(r["Phone"] for r in gateway.accepted.values()) == Counter(f"09123{i:05d}" for i in range(count))
    for module, port in metrics.items():
        reconnects = await asyncio.to_thread(metric, port, "ioc_worker_redis_reconnects_total")
        up = await asyncio.to_thread(metric, port, "ioc_worker_redis_up")
        assert sum(reconnects) >= 1 and set(up) == {1.0}, f"{module} reconnected to the new master on its own"
