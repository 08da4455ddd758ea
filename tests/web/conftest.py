"""Fixtures of the web pages' tests: the whole system (``stack``) on a database of their own with the
demo data, a Debian chromium driven by Playwright, and browser contexts signed in as a role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.web.stack import Stack, running_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="session")
async def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path_factory.mktemp("sink")) as running:
        yield running


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
