"""The pages as people use them, in Debian's chromium: the Office's board, the ward's form, the wall
screen, who may open what, and CSRF. Each page is also checked for horizontal scrolling and by axe-core,
and photographed (tests/web/screenshots/, git-ignored)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import expect

from tests.builders import auth
from tests.web.pages import assert_accessible, assert_no_horizontal_scroll, photograph
from tests.web.stack import OFFICE


async def test_a_ward_person_cannot_open_another_units_page_nor_the_offices(as_ward, stack):
    page = await as_ward.new_page()
    for path in ("/don-vi/06655", "/", "/ap-dung", "/danh-ba"):
        response = await page.goto(stack.web.url + path)
        assert response.status == 403, path
        await expect(page.get_by_role("heading", level=1)).to_have_text("Bạn không có quyền mở trang này")
    await photograph(page, "403")


async def test_a_form_post_without_its_csrf_token_is_refused(as_ward, stack):
    directive = stack.directive_ids["1250/UBND"]
    page = await as_ward.new_page()
    await page.goto(f"{stack.web.url}/don-vi/06652/chi-thi/{directive}")
    response = await page.request.post(
        f"{stack.web.url}/don-vi/06652/chi-thi/{directive}",
        form={"full_name": "Nguyễn Văn An", "phone": "0912345678", "email": "an.nv@halong.gov.vn"},
    )
    assert response.status == 403
    async with httpx.AsyncClient(base_url=stack.registry.url) as api:
        points = (await api.get(f"/v1/directives/{directive}/focal-points", headers=auth(stack.keys[OFFICE]))).json()
    assert all(p["full_name"] != "Nguyễn Văn An" or p["unit_code"] != "06652" for p in points)


async def test_the_boards_counts_equal_the_apis_and_the_filters_stay_in_the_url(as_office, stack):
    directive = stack.directive_ids["984/UBND"]
    async with httpx.AsyncClient(base_url=stack.registry.url) as api:
        compliance = (await api.get(f"/v1/directives/{directive}/compliance", headers=auth(stack.keys[OFFICE]))).json()
    page = await as_office.new_page()
    await page.goto(f"{stack.web.url}/chi-thi/{directive}")
    for status in ("on_time", "late", "missing"):
        await expect(page.locator(f'#compliance [data-count="{status}"]')).to_have_text(str(compliance[status]))
    await expect(page.locator("#compliance tbody tr")).to_have_count(compliance["expected"])

    await page.get_by_label("Tình trạng").select_option("missing")
    await expect(page).to_have_url(re.compile(r"status=missing"))
    await expect(page.locator("#compliance tbody tr")).to_have_count(compliance["missing"])
    await expect(page.locator('#compliance [data-count="shown"]')).to_have_text(str(compliance["missing"]))

    await page.get_by_label("Tình trạng").select_option("")
    await page.get_by_label("Tìm đơn vị hoặc cán bộ").fill("ha khau")
    await expect(page).to_have_url(re.compile(r"q=ha\+khau|q=ha%20khau"))
    await expect(page.locator("#compliance tbody tr")).to_have_count(1)
    await expect(page.locator("#compliance tbody")).to_contain_text("Hà Khẩu")
    # The link keeps the filter: opened afresh, the page shows the same rows.
    fresh = await as_office.new_page()
    await fresh.goto(page.url)
    await expect(fresh.locator("#compliance tbody tr")).to_have_count(1)


async def test_a_registration_posted_through_the_api_shows_on_the_board_and_the_wall_screen(browser, as_office, stack):
    from tests.web.conftest import signed_in_context

    directive = stack.directive_ids["1250/UBND"]
    board = await as_office.new_page()
    await board.goto(f"{stack.web.url}/chi-thi/{directive}?status=on_time")
    screen_context = await signed_in_context(browser, stack, "ops_centre", viewport={"width": 1920, "height": 1080})
    try:
        wall = await screen_context.new_page()
        await wall.goto(f"{stack.web.url}/ioc")
        await expect(wall.locator("body[data-ready]")).to_have_count(1)
        before = int(await wall.locator('[data-figure="on_time"]').inner_text())
        rows_before = await board.locator("#compliance tbody tr[data-status]").count()

        async with httpx.AsyncClient(base_url=stack.registry.url) as api:
            answer = await api.post(
                "/v1/registrations",
                headers=auth(stack.keys[OFFICE]),
                json={
                    "directive_id": directive,
                    "unit_code": "HL-VP",
                    "full_name": "Lê Thị Hoa",
                    "phone": "0987 654 321",
                    "email": "hoa.lt@halong.example",
                },
            )
        assert answer.status_code == 201, answer.text

        await expect(wall.locator('[data-figure="on_time"]')).to_have_text(str(before + 1), timeout=5000)
        await expect(board.locator("#compliance tbody tr[data-status]")).to_have_count(rows_before + 1, timeout=5000)
        await expect(board.locator("#compliance tbody")).to_contain_text("Lê Thị Hoa")
    finally:
        await screen_context.close()


async def test_a_ward_person_nominates_through_the_form_and_the_confirmation_reaches_the_notifier(as_ward, stack):
    directive = stack.directive_ids["1250/UBND"]
    page = await as_ward.new_page()
    await page.goto(f"{stack.web.url}/don-vi/06652")
    await page.get_by_role("link", name=re.compile("Cử đầu mối")).first.click()
    await page.get_by_label("Họ và tên").fill("Nguyễn Văn An")
    await page.get_by_label("Số di động").fill("01681234567")
    await page.get_by_label("Thư điện tử").fill("an.nv@halong.example")
    await page.get_by_role("button", name="Gửi").click()

    summary = page.locator("#error-summary")
    await expect(summary).to_be_focused()
    await expect(summary).to_contain_text("Có lỗi cần sửa")
    await expect(summary.get_by_role("link")).to_contain_text("0381 234 567")  # the old number's new form
    await expect(page.locator("#phone-error")).to_contain_text("0381 234 567")
    await expect(page.get_by_label("Họ và tên")).to_have_value("Nguyễn Văn An")
    await photograph(page, "ward-form-errors")

    await page.get_by_label("Số di động").fill("0912 345 678")
    await page.get_by_role("button", name="Gửi").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đã cử cán bộ đầu mối")
    await expect(page.locator("main")).to_contain_text("Xác nhận được gửi tới 0912 345 678 và an.nv@halong.example")

    async with httpx.AsyncClient(base_url=stack.notifier.url) as api:
        for _ in range(300):  # the notifier's worker, on a machine that may be busy
            found = (
                await api.get(
                    "/v1/notifications",
                    params={"unit_code": "06652", "directive_id": directive},
                    headers=auth(stack.keys[OFFICE]),
                )
            ).json()["items"]
            if any(n["kind"] == "focal_point_registered" for n in found):
                break
            await page.wait_for_timeout(100)
        else:
            raise AssertionError(f"no confirmation reached the notifier: {found}")


async def test_the_wall_screen_shows_a_banner_while_the_adoption_api_is_down_and_recovers(browser, stack):
    from tests.web.conftest import signed_in_context

    context = await signed_in_context(browser, stack, "ops_centre", viewport={"width": 1920, "height": 1080})
    try:
        page = await context.new_page()
        await page.goto(f"{stack.web.url}/ioc")
        figure = await page.locator('[data-figure="staff-rate"]').inner_text()
        await stack.adoption.stop()
        try:
            banner = page.locator(".wall__banner--api")
            await expect(banner).to_contain_text(re.compile(r"Mất kết nối với .* từ \d\d:\d\d"), timeout=8000)
            await expect(page.locator('[data-figure="staff-rate"]')).to_have_text(figure)  # the last figures stay
            await photograph(page, "ioc-banner")
        finally:
            await stack.adoption.start()
        await expect(page.locator(".wall__banner--api")).to_have_count(0, timeout=8000)
    finally:
        await context.close()


async def test_every_page_fits_its_screens_and_passes_axe(browser, stack):
    from tests.web.conftest import signed_in_context

    d984, d1250 = stack.directive_ids["984/UBND"], stack.directive_ids["1250/UBND"]
    pages = {
        "office": [
            "/",
            f"/chi-thi/{d984}",
            f"/chi-thi/{d984}/don-vi/06652",
            f"/chi-thi/{d1250}/nhac",
            "/chi-thi/moi",
            "/danh-ba",
            "/ap-dung",
            "/ap-dung/06652",
            "/doi-mat-khau",
        ],
        "ops_centre": ["/ioc"],
        "unit": ["/don-vi/06652", f"/don-vi/06652/chi-thi/{d1250}"],
    }
    names = {
        f"/chi-thi/{d984}": "directive",
        f"/chi-thi/{d984}/don-vi/06652": "directive-unit",
        f"/chi-thi/{d1250}/nhac": "remind",
        f"/don-vi/06652/chi-thi/{d1250}": "ward-form",
    }
    sizes = [(1920, 1080), (1366, 768)]
    for role, paths in pages.items():
        for width, height in sizes + ([(390, 844)] if role == "unit" else []):
            # axe-core is injected as an inline script, which the pages' CSP forbids: this context ignores it.
            context = await signed_in_context(
                browser, stack, role, viewport={"width": width, "height": height}, bypass_csp=True
            )
            try:
                page = await context.new_page()
                for path in paths:
                    response = await page.goto(stack.web.url + path)
                    assert response.status == 200, path
                    await assert_no_horizontal_scroll(page, path)
                    name = f"{role}-{names.get(path, path.strip('/').replace('/', '-') or 'board')}-{width}x{height}"
                    await photograph(page, name)
                    if path == "/ioc":
                        await expect(page.locator("body[data-ready]")).to_have_count(1)
                        tall = await page.evaluate("document.documentElement.scrollHeight")
                        assert tall <= height, f"the wall screen scrolls: {tall} px in {height}"
                    if width == 1366:
                        await assert_accessible(page, path)
            finally:
                await context.close()
    anonymous = await browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
    page = await anonymous.new_page()
    await page.goto(stack.web.url + "/dang-nhap")
    await assert_accessible(page, "/dang-nhap")
    await photograph(page, "sign-in-1366x768")
    await anonymous.close()
