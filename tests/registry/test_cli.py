"""The administrators' command line says what is wrong in the API's own words (Vietnamese, English with
``--lang en``), and the demo keys file always holds the keys that work."""

from __future__ import annotations

from services.api.units import service as units
from tests.builders import create_unit
from tests.support.cli import ioc


async def test_a_key_for_an_unknown_unit_is_refused_with_the_apis_message(registry_settings, tmp_path):
    create = ("keys", "create", "--role", "ward_app", "--unit", "99999", "--name", "App")
    refused = await ioc(registry_settings, tmp_path, *create)
    assert refused.returncode == 1
    assert "unit_code: Không có đơn vị đang hoạt động với mã: 99999." in refused.stderr
    english = await ioc(registry_settings, tmp_path, "--lang", "en", *create)
    assert "unit_code: No active unit with code: 99999." in english.stderr


async def test_a_ward_key_without_a_unit_says_which_rule_it_breaks(registry_settings, tmp_path):
    refused = await ioc(registry_settings, tmp_path, "keys", "create", "--role", "ward_app", "--name", "App")
    assert refused.returncode == 2
    assert "Vai trò ward_app phải gắn với một đơn vị (unit_code)." in refused.stderr


async def test_an_import_names_each_bad_row_and_its_field_in_vietnamese(db, registry_settings, tmp_path):
    await create_unit(db, "HL-VP", kind="department")
    csv = tmp_path / "units.csv"
    csv.write_text(
        "code,name,kind,parent_code,email,phone,staff_headcount\n"
        "HL-NC6,Phòng Nội chính,ministry,,,,\n"
        "HL-TC,Phòng Tài chính,department,HL-VP,tc@halong.example,,12\n",
        encoding="utf-8",
    )
    result = await ioc(registry_settings, tmp_path, "units", "import", str(csv))
    assert result.returncode == 1
    assert "created 1, updated 0, unchanged 0, rejected 1" in result.stdout
    (line,) = [line for line in result.stderr.splitlines() if "HL-NC6" in line]
    assert line.strip().startswith("dòng 2 (HL-NC6): Một số trường không hợp lệ. kind: Phải là một trong:")


def office_key(keys_file) -> str:
    (line,) = [line for line in keys_file.read_text(encoding="utf-8").splitlines() if "Văn phòng" in line]
    return line.split()[-1]


async def test_fresh_demo_keys_replace_the_old_ones_in_the_keys_file(client, registry_settings, tmp_path):
    keys_file = tmp_path / "demo-keys.txt"
    assert (
        await ioc(registry_settings, tmp_path, "seed", "demo", "--keys", "--keys-file", str(keys_file))
    ).returncode == 0
    first = office_key(keys_file)
    assert (
        await ioc(registry_settings, tmp_path, "seed", "demo", "--keys", "--keys-file", str(keys_file))
    ).returncode == 0
    second = office_key(keys_file)
    assert first != second
    assert (await client.get("/v1/units", headers={"Authorization": f"Bearer {first}"})).status_code == 401
    assert (await client.get("/v1/units", headers={"Authorization": f"Bearer {second}"})).status_code == 200


async def test_the_demo_seed_gives_a_ward_named_with_brackets_a_valid_address(db, registry_settings, tmp_path):
    await create_unit(db, "99001", name="Phường Hà Phong (mới)")
    assert (await ioc(registry_settings, tmp_path, "seed", "demo")).returncode == 0
    async with db() as session:
        unit = await units.get_unit(session, "99001")
    assert unit.email == "ubnd.haphongmoi@halong.example"
