"""The system as it runs beyond one process: two processes of each HTTP app behind a real HAProxy,
three notifier workers and two of each other worker, on a PostgreSQL and a Redis of the test's own.

1,000 registrations go through the proxy while Redis restarts empty halfway; every confirmation is
delivered exactly once, and one key's rate limit holds across both registry processes.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from services.adoption.migrations import upgrade as upgrade_adoption
from services.api.migrations import upgrade as upgrade_registry
from services.notifier.migrations import upgrade as upgrade_notifier
from shared.db import create_engine, session_factory
from shared.settings import CommonSettings
from tests.builders import all_acknowledged, auth, create_directive, create_key, create_unit, registration
from tests.support.postgres_server import postgres_server
from tests.support.processes import Processes, system_environment, until
from tests.support.redis_server import free_port, redis_server
from tests.support.sms_gateway import Gateway, running
from tests.support.smtp_server import SmtpServer

UNITS = 100
REGISTRATIONS = 1000
WARD_LIMIT = 30  # requests a minute for the ward key whose limit is checked across processes
APPS = {"registry": "services.api.app", "notifier": "services.notifier.app", "adoption": "services.adoption.app"}
WORKERS = {"services.api.worker": 2, "services.notifier.worker": 3, "services.adoption.worker": 2}

HAPROXY = """
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
{sections}
"""
SECTION = """
frontend {name}
    bind 127.0.0.1:{port}
    default_backend {name}
backend {name}
    balance roundrobin
{servers}
"""


# Eleven processes start and 1,000 registrations go through them; the test's own waits bound each step.
@pytest.mark.timeout(600)
async def test_two_of_each_app_behind_haproxy_lose_nothing_when_redis_restarts_empty(tmp_path):
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("this test needs Debian's haproxy (make test installs it when it can: apt install haproxy)")
    async with postgres_server() as postgres, redis_server() as redis, running(Gateway()) as gateway:
        assert redis is not None, "this test needs Debian's redis-server"
        database_url = postgres.url.rsplit("/", 1)[0] + "/ioc"
        engine = create_engine(CommonSettings(), postgres.url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text("CREATE DATABASE ioc"))
        await engine.dispose()
        for upgrade in (upgrade_registry, upgrade_notifier, upgrade_adoption):
            await asyncio.to_thread(upgrade, database_url)

        engine = create_engine(CommonSettings(), database_url, pool_size=2, max_overflow=0)
        db = session_factory(engine)
        codes = [f"HL-U{i:03d}" for i in range(UNITS)]
        for code in codes:
            await create_unit(db, code, kind="department", email=f"{code.lower()}@halong.example")
        directive = await create_directive(db, codes)
        office = await create_key(db, "office", rate_limit_per_minute=1_000_000)
        ward = await create_key(db, "ward_app", unit=codes[0], rate_limit_per_minute=WARD_LIMIT)

        with SmtpServer() as smtp:
            processes = Processes(tmp_path, system_environment(database_url, redis.url, smtp, gateway))
            fronts = {name: free_port() for name in APPS}
            sections = []
            for name, module in APPS.items():
                ports = [free_port(), free_port()]
                for n, port in enumerate(ports):
                    processes.app(f"{name}-{n}", module, port)
                servers = "\n".join(f"    server {name}{n} 127.0.0.1:{p}" for n, p in enumerate(ports))
                sections.append(SECTION.format(name=name, port=fronts[name], servers=servers))
            for module, count in WORKERS.items():
                for n in range(count):
                    processes.start(f"{module.split('.')[1]}-worker-{n}", sys.executable, "-m", module)
            config = tmp_path / "haproxy.cfg"
            config.write_text(HAPROXY.format(sections="".join(sections)))
            processes.start("haproxy", haproxy, "-f", str(config), "-db")
            try:
                await _run(processes, fronts, redis, db, directive, office, ward, smtp, gateway, codes)
            finally:
                processes.stop()
        await engine.dispose()


async def _run(processes, fronts, redis, db, directive, office, ward, smtp, gateway, codes) -> None:
    registry = f"http://127.0.0.1:{fronts['registry']}"
    async with httpx.AsyncClient(timeout=30) as http:

        async def every_app_ready() -> bool:
            try:
                answers = [await http.get(f"http://127.0.0.1:{p}/readyz") for p in fronts.values() for _ in range(2)]
            except httpx.HTTPError:
                return False
            return all(a.status_code == 200 for a in answers)

        await until(every_app_ready, 90, "every app answering through the proxy", processes)

        # One key's limit holds across both registry processes (each sees half of the requests).
        answers = await asyncio.gather(
            *(http.get(f"{registry}/v1/units", headers=auth(ward)) for _ in range(2 * WARD_LIMIT))
        )
        statuses = Counter(a.status_code for a in answers)
        assert statuses[200] <= WARD_LIMIT + 2 and statuses[429] >= WARD_LIMIT - 2, statuses

        slots = asyncio.Semaphore(16)

        async def register(i: int) -> int:
            body = registration(directive.id, codes[i % len(codes)], full_name=f"Cán bộ {i}", phone=f"+849123{i:05d}")
            body["email"] = f"cb{i}@halong.example"
            async with slots:
                response = await http.post(f"{registry}/v1/registrations", json=body, headers=auth(office))
            return response.status_code

        first = await asyncio.gather(*(register(i) for i in range(REGISTRATIONS // 2)))
        restart = asyncio.create_task(redis.restart_empty(down_for=1.0))  # while registrations keep coming
        second = await asyncio.gather(*(register(i) for i in range(REGISTRATIONS // 2, REGISTRATIONS)))
        await restart
        assert Counter(first + second) == {201: REGISTRATIONS}

        async def delivered() -> bool:
            return len(gateway.accepted) >= REGISTRATIONS

        await until(delivered, 180, f"{REGISTRATIONS} SMS at the gateway", processes)

        await until(all_acknowledged(db), 60, "every outbox message acknowledged", processes)
        await asyncio.sleep(3)  # anything sent twice would arrive now
    assert processes.dead() == [], processes.logs()
    phones = Counter(request["Phone"] for request in gateway.accepted.values())
    assert len(phones) == REGISTRATIONS and set(phones.values()) == {1}, "each confirmation SMS exactly once"
    person_emails = Counter(
        m["To"].addresses[0].addr_spec for m in smtp.handler.messages if m["To"].addresses[0].addr_spec.startswith("cb")
    )
    assert len(person_emails) == REGISTRATIONS and set(person_emails.values()) <= {1, 2}
    ids = Counter(m["X-IOC-Notification"] for m in smtp.handler.messages)
    assert set(ids.values()) == {1}, "no e-mail sent twice"
