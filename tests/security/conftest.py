"""Fixtures of the security tests: a Redis server the test may stop, stall and start again, and apps of
each service run as separate "processes" (each ``create_app`` call is one) on the session's database."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from services.adoption.app import create_app as create_adoption_app
from services.adoption.migrations import upgrade as upgrade_adoption
from services.adoption.settings import AdoptionSettings
from services.adoption.units.service import apply_unit_change
from services.api.registrations.schemas import RegistrationCreate
from services.notifier.app import create_app as create_notifier_app
from services.notifier.migrations import upgrade as upgrade_notifier
from services.notifier.settings import NotifierSettings
from shared.contracts import UnitChanged, UnitRef
from shared.timeutil import utcnow
from tests.builders import create_directive, create_key, create_unit, register_focal_point
from tests.support.redis_server import free_port


class RedisServer:
    """Debian's redis-server on a port of its own, which the test can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = tempfile.TemporaryDirectory(prefix="ioc-test-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", self._directory.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with self.client() as client:
            for _ in range(200):
                with contextlib.suppress(aioredis.RedisError, OSError):
                    if await client.ping():
                        return
                await asyncio.sleep(0.025)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[aioredis.Redis]:
        client = aioredis.Redis.from_url(self.url, socket_timeout=5)
        try:
            yield client
        finally:
            await client.aclose()

    def close(self) -> None:
        self.stop()
        self._directory.cleanup()


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    try:
        await server.start()
        yield server
    finally:
        server.close()


@contextlib.asynccontextmanager
async def serving(app: Any, base_url: str = "http://app.test") -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` run through its lifespan, getting every answer as the server would give it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


# --- the three services, and a world of two wards to cross -----------------------------------------

RECEIPT_TOKEN = "security-test-receipt-token"
SUBJECT_KEY = "security-test-subject-key"
OTHER_TABLES = (
    "adoption.events, adoption.batches, adoption.daily, adoption.unit_stats, adoption.headcounts, "
    "adoption.reports, adoption.units, adoption.weekly_notices, adoption.idempotency_keys, "
    "notify.receipts, notify.notifications, notify.idempotency_keys"
)


@pytest.fixture(scope="session")
async def other_apps(registry_database, redis_url, queue_prefix, tmp_path_factory) -> AsyncIterator[dict[str, Any]]:
    """The adoption and notifier apps on the session's database (next to the registry's tables)."""
    await asyncio.to_thread(upgrade_adoption, registry_database)
    await asyncio.to_thread(upgrade_notifier, registry_database)
    common = {
        "database_url": registry_database,
        "redis_url": redis_url,
        "queue_prefix": queue_prefix,
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
    }
    adoption = create_adoption_app(AdoptionSettings(**common, subject_hmac_key=SUBJECT_KEY))
    notifier = create_notifier_app(
        NotifierSettings(**common, receipt_token=RECEIPT_TOKEN, sink_dir=str(tmp_path_factory.mktemp("sink")))
    )
    async with adoption.router.lifespan_context(adoption), notifier.router.lifespan_context(notifier):
        yield {"adoption": adoption, "notifier": notifier}


@dataclass
class World:
    """Two wards, A (06652) and B (06653), a department, two directives, a key of every role, and data
    of B's that a key of A must never read or change."""

    apps: dict[str, Any]
    clients: dict[str, httpx.AsyncClient]
    keys: dict[str, str]
    directive_ab: Any = None  # addresses A, B and the department
    directive_b: Any = None  # addresses B only
    registration_a: Any = None
    registration_b: Any = None
    secrets_of_b: list[str] = field(default_factory=list)

    A = "06652"
    B = "06653"

    def client(self, service: str) -> httpx.AsyncClient:
        return self.clients[service]


async def announce(app: Any, code: str, *, kind: str = "ward") -> None:
    async with app.state.sessions() as session:
        await apply_unit_change(
            session,
            UnitChanged(
                message_id=uuid.uuid4(),
                occurred_at=utcnow(),
                active=True,
                staff_headcount=None,
                unit=UnitRef(code=code, name=f"Phường {code}", kind=kind, email=None, phone=None),
            ),
        )


@pytest.fixture
async def world(registry_app, other_apps, db) -> AsyncIterator[World]:
    adoption, notifier = other_apps["adoption"], other_apps["notifier"]
    async with adoption.state.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {OTHER_TABLES} RESTART IDENTITY CASCADE"))
        await conn.execute(text("UPDATE adoption.state SET version = version + 1"))
    for app in (adoption, notifier):
        app.state.rate_limiter._buckets.clear()

    await create_unit(db, World.A, email="haphong@halong.example")
    await create_unit(db, World.B, email="hongha.bimat@halong.example", staff_headcount=77)
    await create_unit(db, "HL-VP", kind="department", name="Văn phòng HĐND và UBND thành phố")
    for code in (World.A, World.B):
        await announce(adoption, code)
    keys = {
        "office": await create_key(db, "office"),
        "ops_centre": await create_key(db, "ops_centre"),
        "app_backend": await create_key(db, "app_backend"),
        "ward_app": await create_key(db, "ward_app", unit=World.A),
        "ward_app_b": await create_key(db, "ward_app", unit=World.B),
    }
    directive_ab = await create_directive(db, [World.A, World.B, "HL-VP"])
    directive_b = await create_directive(db, [World.B])
    registration_a, _ = await register_focal_point(
        db,
        RegistrationCreate(
            directive_id=directive_ab.id,
            unit_code=World.A,
            full_name="Nguyễn Văn An",
            phone="0912 345 678",
            email="an.nv@halong.gov.vn",
        ),
    )
    registration_b, _ = await register_focal_point(
        db,
        RegistrationCreate(
            directive_id=directive_ab.id,
            unit_code=World.B,
            full_name="Phạm Bảo Ngọc",
            phone="0987 654 321",
            email="ngoc.pb.bimat@halong.gov.vn",
            note="ghi chú riêng của phường Hồng Hà",
        ),
    )
    await register_focal_point(
        db,
        RegistrationCreate(
            directive_id=directive_b.id,
            unit_code=World.B,
            full_name="Phạm Bảo Ngọc",
            phone="0987 654 321",
            email="ngoc.pb.bimat@halong.gov.vn",
        ),
    )
    transports = {
        "registry": registry_app,
        "adoption": adoption,
        "notifier": notifier,
    }
    clients = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=f"http://{name}.test"
        )
        for name, app in transports.items()
    }
    world = World(
        apps=transports,
        clients=clients,
        keys=keys,
        directive_ab=directive_ab,
        directive_b=directive_b,
        registration_a=registration_a,
        registration_b=registration_b,
        secrets_of_b=[
            "Phạm Bảo Ngọc",
            "+84987654321",
            "ngoc.pb.bimat@halong.gov.vn",
            "ghi chú riêng",
            "hongha.bimat@halong.example",
        ],
    )
    # B's own adoption figures: a headcount, a report, events.
    b_headers = {"Authorization": f"Bearer {keys['ward_app_b']}"}
    adoption_client = clients["adoption"]
    put = await adoption_client.put(
        f"/v1/adoption/units/{World.B}/headcount", json={"staff": 77, "as_of": "2020-02-20"}, headers=b_headers
    )
    assert put.status_code == 200, put.text
    report = {
        "unit_code": World.B,
        "as_of": "2020-02-20",
        "staff_total": 77,
        "staff_installed": 7,
        "citizens_guided": 3,
    }
    assert (await adoption_client.post("/v1/adoption/reports", json=report, headers=b_headers)).status_code == 201
    try:
        yield world
    finally:
        for client in clients.values():
            await client.aclose()
