"""The whole system for the browser tests: the registry, adoption and notifier apps and their workers,
and the web service, each a real uvicorn server on a free loopback port in the test's event loop, on a
database of the tests' own seeded with the demo data. A server can be stopped and started again on its
port (an API going down under a wall screen)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import text

from services.adoption.app import create_app as adoption_app
from services.adoption.migrations import upgrade as upgrade_adoption
from services.adoption.seed import seed as seed_adoption
from services.adoption.settings import AdoptionSettings
from services.adoption.worker import build_worker as adoption_worker
from services.api.app import create_app as registry_app
from services.api.migrations import upgrade as upgrade_registry
from services.api.seed.demo import demo_keys, demo_people, seed_demo
from services.api.settings import RegistrySettings
from services.api.units.service import announce_all
from services.api.worker import build_worker as registry_worker
from services.notifier.app import create_app as notifier_app
from services.notifier.migrations import upgrade as upgrade_notifier
from services.notifier.settings import NotifierSettings
from services.notifier.worker import build_worker as notifier_worker
from services.web.app import create_app as web_app
from services.web.settings import WebSettings
from shared.db import create_engine, session_factory
from tests.support.databases import create_database, drop_database
from tests.support.redis_server import free_port
from tests.support.workers import running

# The demo keys' names.
OFFICE, WARD, SCREEN = (
    "demo: Văn phòng HĐND và UBND",
    "demo: ứng dụng phường Hà Phong",
    "demo: màn hình Trung tâm điều hành",
)


class Server:
    """An ASGI app served by uvicorn on 127.0.0.1:port until stopped."""

    def __init__(self, make_app: Any, port: int | None = None) -> None:
        self.make_app, self.port = make_app, port or free_port()
        self.task: asyncio.Task[None] | None = None
        self.server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.make_app(), host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the test owns signals
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            self.server.force_exit = True  # open event streams would otherwise hold it
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, 10)
            self.server = self.task = None


@dataclass
class Stack:
    registry: Server
    adoption: Server
    notifier: Server
    web: Server
    keys: dict[str, str]
    directive_ids: dict[str, str]
    registry_sessions: Any
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def serving(*servers: Server) -> AsyncIterator[None]:
    for server in servers:
        await server.start()
    try:
        yield
    finally:
        for server in reversed(servers):
            await server.stop()


@contextlib.asynccontextmanager
async def running_stack(redis_url: str, sink: Path, *, wrap: Any = None) -> AsyncIterator[Stack]:
    """The demo system on a database of its own, every server started; ``wrap(name, app)`` may wrap the
    APIs' apps (a bench counts their requests)."""
    wrap = wrap or (lambda name, app: app)
    name, url = await create_database("ioc_test_web")
    for upgrade in (upgrade_registry, upgrade_notifier, upgrade_adoption):
        await asyncio.to_thread(upgrade, url)
    prefix = f"ioc-web-{uuid.uuid4().hex[:8]}"
    common: dict[str, Any] = {
        "database_url": url,
        "redis_url": redis_url,
        "queue_prefix": prefix,
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
        "worker_metrics_port": 0,
    }
    registry = RegistrySettings(**common, outbox_poll_seconds=0.05)
    notifier = NotifierSettings(**common, email_provider="sink", sms_provider="sink", sink_dir=str(sink))
    adoption = AdoptionSettings(**common, subject_hmac_key="test-subject-key", aggregate_poll_seconds=0.5)
    engine = create_engine(registry)
    sessions = session_factory(engine)
    await seed_demo(sessions)
    keys = await demo_keys(sessions)
    people = {role: (login, password) for role, login, password in await demo_people(sessions)}
    async with sessions() as session:
        await announce_all(session)
        await session.commit()
    async with (
        running(registry_worker(registry, poll_delay=0.05)),
        running(notifier_worker(notifier, poll_delay=0.05)),
        running(adoption_worker(adoption, poll_delay=0.05)),
    ):
        await seed_adoption(adoption, wait_seconds=30)
        servers = [
            Server(lambda: wrap("registry", registry_app(registry))),
            Server(lambda: wrap("adoption", adoption_app(adoption))),
            Server(lambda: wrap("notifier", notifier_app(notifier))),
        ]
        web_settings = WebSettings(
            redis_url=redis_url,
            registry_url=servers[0].url,
            adoption_url=servers[1].url,
            notifier_url=servers[2].url,
            web_api_key=keys[SCREEN],
            session_prefix=f"{prefix}:session",
            live_poll_seconds=1.0,
            log_json=False,
            log_level="WARNING",
        )
        web = Server(lambda: web_app(web_settings))
        for server in (*servers, web):
            await server.start()
        async with sessions() as session:
            rows = (await session.execute(text("SELECT number, id FROM registry.directives"))).all()
        try:
            yield Stack(
                *servers,
                web,
                keys,
                {number: str(id_) for number, id_ in rows},
                sessions,
                extra={"web_settings": web_settings, "people": people},
            )
        finally:
            for server in (web, *servers):
                await server.stop()
    await engine.dispose()
    await drop_database(name)
