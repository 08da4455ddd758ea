"""The web service's benchmark: the wall screen ready after navigation, the JS+CSS each page loads, what
50 open wall screens cost the APIs against one, and the web service's resident memory.

The registry, adoption and notifier APIs and their workers run in this process on a throwaway database
with the demo data (tests/web/stack.py); the web service runs alone in a uvicorn process of its own, so
that its memory is its own. Debian's chromium loads the pages through Playwright.

    uv run python -m bench.web
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from bench.processes import ROOT, free_port
from tests.web.stack import SCREEN, running_stack

REDIS_URL = os.environ.get("IOC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TARGETS = {"ready_s": 1.0, "assets_kib": 300.0, "api_ratio": 1.0, "rss_mib": 150.0}


class Counting:
    """Counts the requests an API app answers."""

    def __init__(self, name: str, app, counts: Counter) -> None:
        self.name, self.app, self.counts = name, app, counts

    def __getattr__(self, attribute):  # the app's state and router, for the server
        return getattr(self.app, attribute)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            self.counts[self.name] += 1
        await self.app(scope, receive, send)


async def sign_in(http: httpx.AsyncClient, login: str, password: str) -> None:
    page = await http.get("/dang-nhap")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = await http.post("/dang-nhap", data={"csrf_token": token, "login": login, "password": password})
    assert answer.status_code == 303, answer.text


async def hold_streams(url: str, cookies, count: int, stop: asyncio.Event) -> None:
    async def one() -> None:
        async with (
            httpx.AsyncClient(base_url=url, cookies=cookies, timeout=None) as http,
            http.stream("GET", "/ioc/su-kien") as stream,
        ):
            async for _ in stream.aiter_bytes():
                if stop.is_set():
                    return

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def resident_mib(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(window: float, screens: int) -> dict[str, float]:
    counts: Counter = Counter()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as sink:
        async with running_stack(REDIS_URL, Path(sink), wrap=lambda name, app: Counting(name, app, counts)) as stack:
            await stack.web.stop()  # the web service under test runs in a process of its own
            settings = stack.extra["web_settings"]
            port = free_port()
            env = {
                **os.environ,
                "IOC_REDIS_URL": settings.redis_url,
                "IOC_REGISTRY_URL": settings.registry_url,
                "IOC_ADOPTION_URL": settings.adoption_url,
                "IOC_NOTIFIER_URL": settings.notifier_url,
                "IOC_WEB_API_KEY": stack.keys[SCREEN],
                "IOC_SESSION_PREFIX": settings.session_prefix,
                "IOC_LOG_LEVEL": "WARNING",
            }
            web = subprocess.Popen(  # noqa: ASYNC220 (started once; it runs beside the loop)
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "services.web.app:create_app",
                    "--factory",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                async with httpx.AsyncClient(base_url=url) as http:
                    for _ in range(100):
                        try:
                            if (await http.get("/healthz")).status_code == 200:
                                break
                        except httpx.HTTPError:
                            await asyncio.sleep(0.1)
                login, password = stack.extra["people"]["ops_centre"]
                office_login, office_password = stack.extra["people"]["office"]
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                    context = await browser.new_context(viewport={"width": 1920, "height": 1080})
                    page = await context.new_page()
                    await page.goto(f"{url}/dang-nhap")
                    await page.get_by_label("Tên đăng nhập").fill(office_login)
                    await page.get_by_label("Mật khẩu").fill(office_password)
                    await page.get_by_role("button", name="Đăng nhập").click()
                    await page.wait_for_url(lambda u: "/dang-nhap" not in u)

                    # 1. The wall screen, navigation to figures drawn (median of 5 loads).
                    ready = []
                    for _ in range(5):
                        started = time.perf_counter()
                        await page.goto(f"{url}/ioc")
                        await page.wait_for_selector("body[data-ready]", state="attached")
                        ready.append(time.perf_counter() - started)
                    results["ready_s"] = statistics.median(ready)

                    # 2. JS+CSS per page, gzipped as a server would send them.
                    d = stack.directive_ids["984/UBND"]
                    heaviest = 0.0
                    for path in (
                        "/",
                        f"/chi-thi/{d}",
                        "/danh-ba",
                        "/ap-dung",
                        "/ap-dung/06652",
                        "/ioc",
                        "/don-vi/06652",
                    ):
                        sizes: list[int] = []

                        async def on_response(response, sizes=sizes) -> None:
                            if response.request.resource_type in ("script", "stylesheet"):
                                sizes.append(len(gzip.compress(await response.body())))

                        page.on("response", on_response)
                        await page.goto(url + path, wait_until="networkidle" if path != "/ioc" else "load")
                        await page.wait_for_timeout(300)
                        page.remove_listener("response", on_response)
                        heaviest = max(heaviest, sum(sizes) / 1024)
                    results["assets_kib"] = heaviest
                    await page.goto(f"{url}/dang-nhap")
                    await browser.close()

                # 3. API requests in `window` seconds with one wall screen open, then with `screens`.
                async with httpx.AsyncClient(base_url=url) as http:
                    await sign_in(http, login, password)
                    cookies = http.cookies
                per_window = {}
                for n in (1, screens):
                    stop = asyncio.Event()
                    holder = asyncio.create_task(hold_streams(url, cookies, n, stop))
                    await asyncio.sleep(window)  # streams connected, the poller running
                    before = sum(counts.values())
                    await asyncio.sleep(window)
                    per_window[n] = sum(counts.values()) - before
                    stop.set()
                    await holder
                results["api_one"], results["api_many"] = per_window[1], per_window[screens]
                results["api_ratio"] = per_window[screens] / max(1, per_window[1])
                results["rss_mib"] = resident_mib(web.pid)
            finally:
                web.terminate()
                web.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screens", type=int, default=50)
    parser.add_argument("--window", type=float, default=5.0, help="seconds API requests are counted over")
    options = parser.parse_args()
    results = asyncio.run(measure(options.window, options.screens))
    rows = [
        (
            "wall screen ready after navigation (median of 5)",
            f"{results['ready_s']:.2f} s",
            "≤ 1 s",
            results["ready_s"] <= TARGETS["ready_s"],
        ),
        (
            "JS+CSS of the heaviest page, gzipped",
            f"{results['assets_kib']:.0f} KiB",
            "≤ 300 KB",
            results["assets_kib"] * 1024 <= 300_000,
        ),
        (
            f"API requests per {options.window:g} s: 1 screen; {options.screens} screens",
            f"{results['api_one']:.0f}; {results['api_many']:.0f}",
            "equal (ratio ≤ 1.2)",
            results["api_ratio"] <= 1.2,
        ),
        (
            "web service resident memory (peak)",
            f"{results['rss_mib']:.0f} MiB",
            "≤ 150 MiB",
            results["rss_mib"] <= TARGETS["rss_mib"],
        ),
    ]
    print("| figure | measured | target | |\n|---|---|---|---|")
    for what, measured, target, ok in rows:
        print(f"| {what} | {measured} | {target} | {'pass' if ok else 'FAIL'} |")
    sys.exit(0 if all(ok for *_, ok in rows) else 1)


if __name__ == "__main__":
    main()
