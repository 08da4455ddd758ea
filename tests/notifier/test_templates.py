"""Every template with every kind of message, as the person receiving it would read it."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime

import pytest

from services.notifier.planning import plan
from services.notifier.rendering import SHIPPED
from services.notifier.sending import Sender
from services.notifier.settings import NotifierSettings
from shared.contracts import DirectiveRef, UnitRef
from shared.sms import count_segments, is_gsm7, unaccent
from shared.timeutil import VIETNAM
from tests.notifier import builders

OLD = builders.focal_point("Trần Thị Hoa", phone="+84987654321", email="hoa.tt@halong.example")
LANDLINE_UNIT = UnitRef(
    code="06655", name="Phường Hà Khẩu", kind="ward", email="ubnd.hakhau@halong.example", phone="+842033825055"
)
BUILDERS = {
    "registered": lambda: builders.registered(superseded=OLD),
    "withdrawn": builders.withdrawn,
    "issued": builders.issued,
    "reminder": builders.reminder,
    "reminder_now": builders.reminder_now,
    "digest": builders.digest,
    "go_live": builders.go_live,
    "adoption_nudge": builders.adoption_nudge,
    "adoption_digest": builders.adoption_digest,
}
# What each kind of message produces: (template, channel, recipient).
EXPECTED = {
    "registered": {
        ("focal_point_registered", "sms", "+84912345678"),
        ("focal_point_registered", "email", "duc.nv@halong.example"),
        ("focal_point_registered_unit", "email", "ubnd.haphong@halong.example"),
        ("focal_point_superseded", "email", "hoa.tt@halong.example"),
    },
    "withdrawn": {
        ("focal_point_withdrawn", "sms", "+84912345678"),
        ("focal_point_withdrawn", "email", "duc.nv@halong.example"),
        ("focal_point_withdrawn_unit", "email", "ubnd.haphong@halong.example"),
    },
    "issued": {
        ("directive_issued", "email", "ubnd.haphong@halong.example"),
        ("directive_issued", "sms", "+84912000652"),
    },
    "reminder": {("reminder_due", "email", "ubnd.haphong@halong.example"), ("reminder_due", "sms", "+84912000652")},
    "reminder_now": {
        ("reminder_requested", "email", "ubnd.haphong@halong.example"),
        ("reminder_requested", "sms", "+84912000652"),
    },
    "digest": {("deadline_digest", "email", "vanphong@halong.example")},
    "go_live": {("go_live", "sms", "+84912345678"), ("go_live", "email", "duc.nv@halong.example")},
    "adoption_nudge": {
        ("adoption_lagging", "email", "ubnd.haphong@halong.example"),
        ("adoption_lagging", "sms", "+84912000652"),
    },
    "adoption_digest": {("adoption_digest", "email", "vanphong@halong.example")},
}


def settings(**overrides) -> NotifierSettings:
    return NotifierSettings(_env_file=None, email_provider="sink", sms_provider="sink", **overrides)


def materialised(message, s: NotifierSettings | None = None) -> list[dict]:
    s = s or settings()
    sender = Sender(s, "normal", None, {}, None, None)  # materialise() only renders
    return [sender.materialise(message.message_id, d) for d in plan(message, office_email=s.office_email)]


def only(rows: list[dict], kind: str, channel: str) -> dict:
    (row,) = [r for r in rows if r["kind"] == kind and r["channel"] == channel]
    return row


@pytest.mark.parametrize("kind", BUILDERS)
def test_every_message_kind_renders_all_its_notifications(kind):
    rows = materialised(BUILDERS[kind]())
    assert {(r["kind"], r["channel"], r["recipient"]) for r in rows} == EXPECTED[kind]
    assert len({r["dedupe_key"] for r in rows}) == len(rows)
    for row in rows:
        assert row["body"].strip() and "{{" not in row["body"] and "{%" not in row["body"]
        assert "None" not in row["body"] and "+84" not in row["body"]  # no blanks, phones in national form
        if row["channel"] == "email":
            assert row["subject"] and "\n" not in row["subject"] and "None" not in row["subject"]
            assert row["body"].endswith("\n")
        else:
            assert row["subject"] is None and "\n" not in row["body"]


def test_every_shipped_template_is_used():
    used = {
        f"{r['kind']}.{part}.txt"
        for build in BUILDERS.values()
        for r in materialised(build())
        for part in (("subject", "email") if r["channel"] == "email" else ("sms",))
    }
    used |= {"daily_digest.subject.txt", "daily_digest.email.txt"}  # the notifier's own (test_daily_cap.py)
    assert used == {p.name for p in SHIPPED.glob("*.txt")}


def test_planning_the_same_message_twice_gives_the_same_dedupe_keys():
    message = builders.registered()
    again = message.model_copy(update={"message_id": uuid.uuid4()})
    keys = [r["dedupe_key"] for r in materialised(message)]
    assert keys == [r["dedupe_key"] for r in materialised(again)]
    assert all(k.startswith(f"registration:{message.focal_point.id}:") for k in keys)


def test_the_984_deadline_reads_before_the_15th_in_every_template():
    issued = materialised(builders.issued())
    email, sms = only(issued, "directive_issued", "email"), only(issued, "directive_issued", "sms")
    assert email["subject"] == "Văn bản 984/UBND: cử cán bộ đầu mối trước ngày 15/02/2020"
    assert "kèm số điện thoại di động và thư điện tử, trước ngày 15/02/2020." in email["body"]
    assert "Trung tâm chính thức vận hành từ 00:00 ngày 25/02/2020." in email["body"]
    assert sms["body"] == (
        "UBND TP Ha Long: theo VB 984/UBND, de nghi Phuong Ha Phong cu 01 can bo dau moi IOC truoc ngay 15/02/2020."
    )
    reminder = only(materialised(builders.reminder()), "reminder_due", "email")
    assert reminder["subject"] == "Nhắc: Phường Hà Phong chưa cử cán bộ đầu mối – hạn trước ngày 15/02/2020"
    assert "Đến 00:00 ngày 14/02/2020," in reminder["body"]


def test_a_deadline_given_in_utc_is_worded_in_vietnam_time():
    utc = builders.DIRECTIVE.model_copy(update={"deadline": datetime(2020, 2, 14, 17, 0, tzinfo=UTC)})
    message = builders.issued().model_copy(update={"directive": utc})
    assert "trước ngày 15/02/2020" in only(materialised(message), "directive_issued", "email")["subject"]
    afternoon = builders.DIRECTIVE.model_copy(update={"deadline": datetime(2020, 2, 14, 17, 30, tzinfo=VIETNAM)})
    message = builders.issued().model_copy(update={"directive": afternoon})
    assert "trước 17:30 ngày 14/02/2020" in only(materialised(message), "directive_issued", "email")["subject"]


def test_the_confirmation_shows_when_and_how_the_person_was_registered():
    body = only(materialised(builders.registered()), "focal_point_registered", "email")["body"]
    assert body.startswith("Kính gửi đồng chí Nguyễn Văn Đức,")
    assert "- Điện thoại: 0912 345 678" in body
    assert "- Thư điện tử: duc.nv@halong.example" in body
    assert "- Thời điểm đăng ký: 09:15 ngày 14/02/2020\n" in body  # on time: no "(sau hạn chót)"
    late = builders.focal_point().model_copy(
        update={"on_time": False, "submitted_at": datetime(2020, 2, 15, 8, 5, tzinfo=VIETNAM)}
    )
    unit = only(materialised(builders.registered(late)), "focal_point_registered_unit", "email")["body"]
    assert "- Thời điểm nhận: 08:05 ngày 15/02/2020 (sau hạn chót trước ngày 15/02/2020)" in unit


def test_a_replacement_also_tells_the_person_replaced():
    rows = materialised(builders.registered(superseded=OLD))
    note = only(rows, "focal_point_superseded", "email")
    assert note["recipient"] == "hoa.tt@halong.example" and note["recipient_name"] == "Trần Thị Hoa"
    assert note["body"].startswith("Kính gửi đồng chí Trần Thị Hoa,")
    assert "Phường Hà Phong đã cử đồng chí Nguyễn Văn Đức thay đồng chí" in note["body"]
    unit = only(rows, "focal_point_registered_unit", "email")["body"]
    assert "Đăng ký này thay thế đồng chí Trần Thị Hoa (0987 654 321)." in unit
    assert not [r for r in rows if r["channel"] == "sms" and r["recipient"] == OLD.phone]
    first = materialised(builders.registered())
    assert not [r for r in first if r["kind"] == "focal_point_superseded"]
    assert "thay thế" not in only(first, "focal_point_registered_unit", "email")["body"]


def test_the_deadline_digest_lists_late_and_missing_units_with_their_contacts():
    (row,) = materialised(builders.digest())
    assert row["recipient"] == "vanphong@halong.example"
    assert row["subject"] == "Văn bản 984/UBND: 1 đơn vị chưa cử, 1 đơn vị cử muộn"
    body = row["body"]
    assert "là trước ngày 15/02/2020." in body and "Tổng số đơn vị: 47; đúng hạn: 36." in body
    missing, late = body.split("Chưa cử (1):")[1].split("Cử muộn (1):")
    assert "- 06655 Phường Hà Khẩu – ĐT 0203 3825 055 – ubnd.hakhau@halong.example" in missing
    assert "06652" not in missing
    assert (
        "- 06652 Phường Hà Phong: Nguyễn Văn Đức, 0912 345 678, duc.nv@halong.example (gửi 09:15 ngày 14/02/2020)"
        in late
    )
    assert "06655" not in late


def test_an_empty_digest_section_says_so():
    message = builders.digest()
    message = message.model_copy(update={"units": [u for u in message.units if u.status == "late"]})
    (row,) = materialised(message)
    assert row["subject"] == "Văn bản 984/UBND: 0 đơn vị chưa cử, 1 đơn vị cử muộn"
    assert "Chưa cử (0):\n- (không có)" in row["body"]


@pytest.mark.parametrize("build", [builders.issued, builders.reminder])
def test_a_unit_whose_phone_is_a_landline_gets_no_sms(build):
    rows = materialised(build(unit=LANDLINE_UNIT))
    assert [(r["channel"], r["recipient"]) for r in rows] == [("email", "ubnd.hakhau@halong.example")]


@pytest.mark.parametrize("kind", BUILDERS)
def test_every_sms_is_unaccented_and_within_the_segment_limit(kind):
    s = settings()
    for row in [r for r in materialised(BUILDERS[kind](), s) if r["channel"] == "sms"]:
        text = row["body"]
        assert is_gsm7(text) and unaccent(text) == text
        assert text.startswith("UBND TP Ha Long")
        counted = count_segments(text)
        assert (row["sms_encoding"], row["sms_segments"]) == (counted.encoding, counted.count) == ("GSM-7", 1)
        assert counted.count <= s.sms_max_segments


def test_a_long_sms_is_cut_to_the_configured_segments():
    fp = builders.focal_point("Tôn Nữ Thị Phương Thảo Nguyên")
    message = builders.withdrawn(fp).model_copy(update={"reason": "Đồng chí chuyển công tác sang Sở Nội vụ. " * 20})
    for max_segments in (1, 2, 3):
        row = only(materialised(message, settings(sms_max_segments=max_segments)), "focal_point_withdrawn", "sms")
        assert row["body"].startswith("UBND TP Ha Long: dang ky can bo dau moi IOC cua dong chi Ton Nu Thi Phuong")
        assert row["body"].endswith("...") and is_gsm7(row["body"])
        assert row["sms_segments"] == count_segments(row["body"]).count == max_segments


def test_accented_sms_when_configured_is_counted_as_ucs2():
    s = settings(sms_unaccented=False)
    row = only(materialised(builders.go_live(), s), "go_live", "sms")
    assert row["body"].startswith("UBND TP Hạ Long: Trung tâm điều hành TP thông minh chính thức vận hành")
    assert row["sms_encoding"] == "UCS-2"
    assert row["sms_segments"] == count_segments(row["body"]).count <= s.sms_max_segments
    assert row["sms_segments"] > 1  # the same text unaccented fits one GSM-7 segment


def test_a_decomposed_name_is_unaccented_in_the_sms():
    fp = builders.focal_point(unicodedata.normalize("NFD", "Nguyễn Thị Ánh Tuyết"))
    row = only(materialised(builders.registered(fp)), "focal_point_registered", "sms")
    assert "dong chi Nguyen Thi Anh Tuyet da duoc dang ky" in row["body"]


def test_an_edited_template_folder_is_used(tmp_path):
    for p in SHIPPED.glob("*.txt"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "reminder_due.sms.txt").write_text("Nhắc {{ unit.name }}: hạn {{ directive.deadline | han }}.\n")
    row = only(materialised(builders.reminder(), settings(templates_dir=str(tmp_path))), "reminder_due", "sms")
    assert row["body"] == "Nhac Phuong Ha Phong: han truoc ngay 15/02/2020."


def test_directive_without_a_start_date_still_renders():
    plain = DirectiveRef(**{**builders.DIRECTIVE.model_dump(), "operation_starts_at": None})
    email = only(materialised(builders.issued().model_copy(update={"directive": plain})), "directive_issued", "email")
    assert "vận hành từ" not in email["body"] and "trước ngày 15/02/2020" in email["body"]


def test_adoption_nudge_and_digest_read_as_vietnamese_percentages():
    (email, sms) = sorted(materialised(builders.adoption_nudge()), key=lambda r: r["channel"])
    assert email["subject"] == "Phường Hà Phong: tỷ lệ cán bộ dùng Smart Quảng Ninh 70% (tuần 2020-W09)"
    assert "21/30 cán bộ" in email["body"] and "mục tiêu 100%" in email["body"]
    assert sms["body"].startswith("UBND TP Ha Long: Phuong Ha Phong moi co 21/30 can bo")
    (digest,) = materialised(builders.adoption_digest())
    assert "700/900 (77,8%)" in digest["body"]
    assert "06652 Phường Hà Phong: 21/30 cán bộ (70%), 120 người dân" in digest["body"]


def test_a_reminder_sent_now_says_when_and_names_the_directive():
    rows = materialised(builders.reminder_now())
    email, sms = only(rows, "reminder_requested", "email"), only(rows, "reminder_requested", "sms")
    assert email["subject"] == "Nhắc: Phường Hà Phong chưa cử cán bộ đầu mối theo văn bản 984/UBND"
    assert email["body"].startswith("Kính gửi Phường Hà Phong,\n\nĐến 10:30 ngày 14/02/2020,")
    assert sms["body"] == (
        "UBND TP Ha Long nhac: Phuong Ha Phong chua cu can bo dau moi IOC theo VB 984/UBND, "
        "han truoc ngay 15/02/2020. De nghi cu ngay."
    )
    again = materialised(builders.reminder_now())
    assert {r["dedupe_key"] for r in rows}.isdisjoint(r["dedupe_key"] for r in again)  # another request
