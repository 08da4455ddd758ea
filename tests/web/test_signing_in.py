"""Signing in and out through the pages, the lockout after five failures, a first password changed at
the first sign-in, and "Nhắc ngay" sent twice reaching the notifier once."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import expect

from tests.builders import auth
from tests.web.conftest import sign_in, signed_in_context
from tests.web.stack import OFFICE

WRONG = "Tên đăng nhập hoặc mật khẩu không đúng"


async def create_person(stack, role: str = "office", unit: str | None = None) -> tuple[str, str]:
    login = f"thu-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=stack.registry.url) as api:
        answer = await api.post(
            "/v1/people",
            headers=auth(stack.keys[OFFICE]),
            json={"login": login, "display_name": "Trần Văn Thử", "role": role, "unit_code": unit},
        )
    assert answer.status_code == 201, answer.text
    return login, answer.json()["password"]


async def test_a_person_signs_in_and_out(browser, stack):
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    response = await page.goto(f"{stack.web.url}/ap-dung")
    assert "/dang-nhap" in page.url and response.status == 200
    cookie = next(c for c in await context.cookies() if c["name"] == "ioc_csrf")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    login, password = stack.extra["people"]["office"]
    await page.get_by_label("Tên đăng nhập").fill(login)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page).to_have_url(re.compile(r"/ap-dung$"))  # back where the person was going
    session = next(c for c in await context.cookies() if c["name"] == "ioc_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]

    await page.get_by_role("button", name="Đăng xuất").click()
    await expect(page.locator(".notice")).to_have_text("Bạn đã đăng xuất.")
    await page.goto(f"{stack.web.url}/")
    await expect(page).to_have_url(re.compile(r"/dang-nhap\?next=/"))
    # The cookie that was stolen before the sign-out opens nothing either.
    await context.add_cookies([{"name": "ioc_session", "value": session["value"], "url": stack.web.url}])
    await page.goto(f"{stack.web.url}/")
    await expect(page).to_have_url(re.compile(r"/dang-nhap"))
    await context.close()


async def test_five_failures_lock_the_login_with_the_same_message(browser, stack):
    login, password = await create_person(stack)
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, stack, login, "")
    await expect(page.locator("#password-error")).to_contain_text("Nhập mật khẩu")
    for _ in range(5):
        await sign_in(page, stack, login, "sai-mat-khau-roi")
        await expect(page.locator("#error-summary")).to_contain_text(WRONG)
    await sign_in(page, stack, login, "sai-mat-khau-lan-sau")
    locked = await page.locator("#error-summary li").inner_text()
    await sign_in(page, stack, login, password)  # the right password: locked all the same, same words
    await expect(page.locator("#error-summary li")).to_have_text(locked)
    assert "15 phút" in locked
    assert "/dang-nhap" in page.url
    await context.close()


async def test_a_new_password_is_changed_at_the_first_sign_in(browser, stack):
    login, password = await create_person(stack, role="unit", unit="06652")
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, stack, login, password)
    await expect(page).to_have_url(re.compile(r"/doi-mat-khau"))
    await page.goto(f"{stack.web.url}/don-vi/06652")
    await expect(page).to_have_url(re.compile(r"/doi-mat-khau"))  # nothing else opens before
    await page.get_by_label("Mật khẩu hiện tại").fill("khong-phai-mat-khau")
    await page.get_by_label("Mật khẩu mới", exact=True).fill("một câu dễ nhớ của tôi")
    await page.get_by_label("Nhập lại mật khẩu mới").fill("một câu dễ nhớ của tôi")
    await page.get_by_role("button", name="Đổi mật khẩu").click()
    await expect(page.locator("#current_password-error")).to_be_visible()
    await page.get_by_label("Mật khẩu hiện tại").fill(password)
    await page.get_by_label("Mật khẩu mới", exact=True).fill("một câu dễ nhớ của tôi")
    await page.get_by_label("Nhập lại mật khẩu mới").fill("một câu dễ nhớ của tôi")
    await page.get_by_role("button", name="Đổi mật khẩu").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đã đổi mật khẩu")
    await page.get_by_role("link", name="Tiếp tục").click()
    await expect(page).to_have_url(re.compile(r"/don-vi/06652$"))
    await context.close()


async def test_remind_now_twice_sends_one_reminder(browser, stack):
    directive = stack.directive_ids["1250/UBND"]
    context = await signed_in_context(browser, stack, "office", viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    await page.goto(f"{stack.web.url}/chi-thi/{directive}?q=hoanh+bo")
    await page.locator("#compliance").get_by_role("link", name=re.compile("Nhắc ngay")).first.click()
    await expect(page.locator("[data-reach]")).to_contain_text("1 đơn vị")
    await page.get_by_role("button", name="Gửi nhắc tới 1 đơn vị").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đã gửi nhắc tới 1 đơn vị")
    code = re.search(r"của: ([\w-]+)", await page.locator("main").inner_text()).group(1)

    await page.go_back()
    await page.goto(f"{stack.web.url}/chi-thi/{directive}/nhac?don_vi={code}")
    await page.get_by_role("button", name="Gửi nhắc tới 1 đơn vị").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Không gửi thêm lời nhắc nào")
    await expect(page.locator("main")).to_contain_text("đã được nhắc trong vòng một giờ")

    async with httpx.AsyncClient(base_url=stack.notifier.url) as api:

        async def reminders() -> list[dict]:
            answer = await api.get(
                "/v1/notifications",
                params={"unit_code": code, "directive_id": directive},
                headers=auth(stack.keys[OFFICE]),
            )
            return [n for n in answer.json()["items"] if n["kind"] == "reminder_requested"]

        for _ in range(100):
            if await reminders():
                break
            await page.wait_for_timeout(100)
        await page.wait_for_timeout(1000)  # a second reminder would have arrived by now
        sent = await reminders()
    assert sent and len({n["channel"] for n in sent}) == len(sent), sent
    await context.close()
