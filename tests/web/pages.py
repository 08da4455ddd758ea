"""What every page is checked for: no horizontal scroll, no serious or critical axe-core violation,
and a screenshot kept for people to look at (tests/web/screenshots/, git-ignored)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

AXE = Path(__file__).resolve().parents[2] / "services/web/node_modules/axe-core/axe.min.js"
SCREENSHOTS = Path(__file__).parent / "screenshots"


async def assert_no_horizontal_scroll(page: Page, what: str) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{what} scrolls sideways: {widths[0]} px of content in {widths[1]} px"


async def assert_accessible(page: Page, what: str) -> None:
    assert AXE.exists(), "axe-core is missing: run make install (npm ci in services/web)"
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
        "'best-practice']})).violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
        "nodes: v.nodes.slice(0, 3).map(n => n.target)}))"
    )
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, f"{what}: {serious}"


async def photograph(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
