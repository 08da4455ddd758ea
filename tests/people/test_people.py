"""The Office makes, lists, disables and resets people's accounts, over HTTP and with `ioc people`; a new
or reset password is shown once and must be changed."""

from __future__ import annotations

from tests.builders import auth, create_key, create_unit
from tests.people.builders import sign_in
from tests.support.cli import ioc


async def test_the_office_makes_lists_disables_and_resets_accounts_over_http(client, db):
    await create_unit(db, "06652", name="Phường Hà Phong")
    office = await create_key(db, "office")
    body = {"login": "Ha-Phong", "display_name": "  Nguyễn  Thị Lan ", "role": "unit", "unit_code": "06652"}
    created = await client.post("/v1/people", json=body, headers=auth(office))
    assert created.status_code == 201, created.text
    person = created.json()
    assert person["login"] == "ha-phong" and person["display_name"] == "Nguyễn Thị Lan"
    assert person["must_change_password"] is True and len(person["password"]) >= 16
    again = await client.post("/v1/people", json={**body, "login": "HA-PHONG"}, headers=auth(office))
    assert again.status_code == 409

    listed = (await client.get("/v1/people", headers=auth(office))).json()
    assert [p["login"] for p in listed] == ["ha-phong"] and "password" not in listed[0]
    assert "password_hash" not in str(listed)

    token = await sign_in(client, "ha-phong", person["password"])
    reset = await client.post(f"/v1/people/{person['id']}/password-reset", headers=auth(office))
    assert reset.status_code == 200 and reset.json()["password"] != person["password"]
    assert (await client.get("/v1/sessions/current", headers=auth(token))).status_code == 401  # sessions end
    assert (
        await client.post("/v1/sessions", json={"login": "ha-phong", "password": person["password"]})
    ).status_code == 401
    token = await sign_in(client, "ha-phong", reset.json()["password"])
    assert (await client.get("/v1/units", headers=auth(token))).status_code == 403  # must change it first

    disabled = await client.post(f"/v1/people/{person['id']}/disable", headers=auth(office))
    assert disabled.status_code == 200 and disabled.json()["disabled_at"].endswith("+07:00")
    assert (await client.post(f"/v1/people/{person['id']}/disable", headers=auth(office))).json() == disabled.json()
    assert (await client.get("/v1/sessions/current", headers=auth(token))).status_code == 401
    assert (
        await client.post("/v1/sessions", json={"login": "ha-phong", "password": reset.json()["password"]})
    ).status_code == 401
    missing = await client.post("/v1/people/00000000-0000-4000-8000-000000000000/disable", headers=auth(office))
    assert missing.status_code == 404


async def test_bad_accounts_are_refused_with_the_rule_they_break(client, db):
    await create_unit(db, "06652")
    office = await create_key(db, "office")
    cases = [
        ({"login": "ha phong", "display_name": "Lan", "role": "office"}, "login", "login_invalid"),
        ({"login": "hà-phong", "display_name": "Lan", "role": "office"}, "login", "login_invalid"),
        ({"login": "hp", "display_name": "Lan", "role": "office"}, "login", "login_invalid"),
        ({"login": "ha-phong", "display_name": "Lan", "role": "unit"}, "unit_code", "role_needs_unit"),
        (
            {"login": "ha-phong", "display_name": "Lan", "role": "office", "unit_code": "06652"},
            "unit_code",
            "role_forbids_unit",
        ),
        (
            {"login": "ha-phong", "display_name": "Lan", "role": "unit", "unit_code": "99999"},
            "unit_code",
            "unit_codes_unknown",
        ),
        ({"login": "ha-phong", "display_name": "Lan", "role": "ward_app"}, "role", "literal_error"),
    ]
    for body, field, code in cases:
        refused = await client.post("/v1/people", json=body, headers=auth(office))
        assert refused.status_code == 422, (body, refused.text)
        assert {"field": field, "code": code} in [
            {"field": e["field"], "code": e["code"]} for e in refused.json()["errors"]
        ]
    assert (await client.get("/v1/people", headers=auth(office))).json() == []
    ward = await create_key(db, "ward_app", unit="06652")
    body = {"login": "ke-gian", "display_name": "Kẻ gian", "role": "office"}
    assert (await client.post("/v1/people", json=body, headers=auth(ward))).status_code == 403


async def test_the_command_line_makes_lists_disables_and_resets_accounts(client, db, registry_settings, tmp_path):
    await create_unit(db, "06652")
    made = await ioc(
        registry_settings,
        tmp_path,
        "people",
        "create",
        "--login",
        "ha-phong",
        "--name",
        "Nguyễn Thị Lan",
        "--role",
        "unit",
        "--unit",
        "06652",
    )
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip().splitlines()[-1]
    token = await sign_in(client, "ha-phong", password)
    assert (await client.get("/v1/sessions/current", headers=auth(token))).json()["person"]["must_change_password"]

    demo = await ioc(
        registry_settings,
        tmp_path,
        "people",
        "create",
        "--login",
        "ioc",
        "--name",
        "Trực ban",
        "--role",
        "ops_centre",
        "--no-password-change",
    )
    assert demo.returncode == 0, demo.stderr
    ops = await sign_in(client, "ioc", demo.stdout.strip().splitlines()[-1])
    assert (await client.get("/v1/units", headers=auth(ops))).status_code == 200

    refused = await ioc(
        registry_settings, tmp_path, "people", "create", "--login", "x y", "--name", "N", "--role", "office"
    )
    assert refused.returncode == 2 and "Tên đăng nhập gồm 3 đến 64 ký tự" in refused.stderr

    listed = await ioc(registry_settings, tmp_path, "people", "list")
    assert listed.returncode == 0
    rows = listed.stdout.splitlines()[1:]
    assert [r.split()[:3] for r in rows] == [["ha-phong", "unit", "06652"], ["ioc", "ops_centre", "-"]]
    assert password not in listed.stdout

    reset = await ioc(registry_settings, tmp_path, "people", "reset-password", "HA-PHONG")
    assert reset.returncode == 0, reset.stderr
    new_password = reset.stdout.strip().splitlines()[-1]
    assert new_password != password
    assert (await client.get("/v1/sessions/current", headers=auth(token))).status_code == 401
    await sign_in(client, "ha-phong", new_password)

    disabled = await ioc(registry_settings, tmp_path, "people", "disable", "ioc")
    assert disabled.returncode == 0 and "disabled ioc" in disabled.stdout
    assert (await client.get("/v1/units", headers=auth(ops))).status_code == 401
    unknown = await ioc(registry_settings, tmp_path, "people", "disable", "khong-co")
    assert unknown.returncode == 1 and "Không có tài khoản khong-co." in unknown.stderr


async def test_the_demo_people_get_fresh_passwords_on_every_run(client, registry_settings, tmp_path):
    people_file = tmp_path / "demo-people.txt"
    for _ in range(2):
        seeded = await ioc(registry_settings, tmp_path, "seed", "demo", "--people", "--people-file", str(people_file))
        assert seeded.returncode == 0, seeded.stderr[-2000:]
        if _ == 0:
            first = people_file.read_text(encoding="utf-8")
    lines = [line.split() for line in people_file.read_text(encoding="utf-8").splitlines()]
    assert [(role, login) for role, login, _ in lines] == [
        ("office", "van-phong"),
        ("ops_centre", "ioc"),
        ("unit", "ha-phong"),
    ]
    assert first != people_file.read_text(encoding="utf-8")
    for role, login, password in lines:
        token = await sign_in(client, login, password)
        current = (await client.get("/v1/sessions/current", headers=auth(token))).json()["person"]
        assert current["must_change_password"] is False and current["role"] == role
        if role == "unit":
            assert current["unit_code"] == "06652"
    old = {line.split()[1]: line.split()[2] for line in first.splitlines()}
    assert (await client.post("/v1/sessions", json={"login": "ioc", "password": old["ioc"]})).status_code == 401
