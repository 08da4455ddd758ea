"""Fixtures of the web pages' tests: the whole system (``stack``) on a database of their own with the
demo data, a Debian chromium driven by Playwright, and browser contexts signed in as a role."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
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
from tests.support.workers import running
from tests.web.stack import Server, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
OFFICE, WARD, SCREEN = (
    "demo: Văn phòng HĐND và UBND",
    "demo: ứng dụng phường Hà Phong",
    "demo: màn hình Trung tâm điều hành",
)


@pytest.fixture(scope="session")
async def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    name, url = await create_database("ioc_test_web")
    for upgrade in (upgrade_registry, upgrade_notifier, upgrade_adoption):
        await asyncio.to_thread(upgrade, url)
    prefix = f"ioc-web-{uuid.uuid4().hex[:8]}"
    common = {
        "database_url": url,
        "redis_url": redis_url,
        "queue_prefix": prefix,
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
        "worker_metrics_port": 0,
    }
    registry = RegistrySettings(**common, outbox_poll_seconds=0.05)
    sink = tmp_path_factory.mktemp("sink")
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
            Server(lambda: registry_app(registry)),
            Server(lambda: adoption_app(adoption)),
            Server(lambda: notifier_app(notifier)),
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


def chromium_installed() -> bool:
    return Path(CHROMIUM).exists()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not chromium_installed():
        pytest.fail("these tests need Debian's chromium (make test installs it when it can: apt install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def sign_in(page: Page, stack: Stack, login: str, password: str) -> None:
    """Signs in through the sign-in page, as a person would."""
    await page.goto(f"{stack.web.url}/dang-nhap")
    await page.get_by_label("Tên đăng nhập").fill(login)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()


async def signed_in_context(browser: Browser, stack: Stack, role: str, **options) -> BrowserContext:
    """A browser context signed in as the demo person of ``role`` (office, ops_centre, or unit of 06652)."""
    context = await browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **options)
    page = await context.new_page()
    await sign_in(page, stack, *stack.extra["people"][role])
    await page.wait_for_url(lambda url: "/dang-nhap" not in url)
    await page.close()
    return context


@pytest.fixture
async def as_office(browser, stack) -> AsyncIterator[BrowserContext]:
    context = await signed_in_context(browser, stack, "office", viewport={"width": 1366, "height": 768})
    yield context
    await context.close()


@pytest.fixture
async def as_ward(browser, stack) -> AsyncIterator[BrowserContext]:
    context = await signed_in_context(browser, stack, "unit", viewport={"width": 390, "height": 844})
    yield context
    await context.close()
