"""End to end through a real arq worker: messages in, e-mails at an SMTP server and SMS at a gateway out."""

from __future__ import annotations

from tests.notifier import builders
from tests.support.notifier import enqueue, notification_rows, run_worker_until, settled


async def test_registration_reaches_the_person_and_the_unit(notifier_settings, notifier_db, smtp, gateway):
    message = builders.registered()
    await enqueue(notifier_settings, message)
    await run_worker_until(notifier_settings, settled(notifier_db, 3, notifier_settings))

    (sms,) = gateway.to("0912345678")
    assert sms["Content"].startswith("UBND TP Ha Long: dong chi Nguyen Van Duc da duoc dang ky")
    assert sms["IsUnicode"] == "0" and sms["Brandname"] == "UBND-HALONG"
    (person,) = smtp.handler.to("duc.nv@halong.example")
    assert person["Subject"] == "Xác nhận cán bộ đầu mối – văn bản 984/UBND"
    body = person.get_content()
    assert "Kính gửi đồng chí Nguyễn Văn Đức" in body and "0912 345 678" in body
    assert "09:15 ngày 14/02/2020" in body
    (unit,) = smtp.handler.to("ubnd.haphong@halong.example")
    assert "Phường Hà Phong" in unit["Subject"]

    stored = {r.channel + ":" + r.recipient: r for r in await notification_rows(notifier_db)}
    assert {r.status for r in stored.values()} == {"sent"}
    text = stored["sms:+84912345678"]
    assert str(text.id) == sms["RequestId"]
    assert (text.sms_encoding, text.sms_segments) == ("GSM-7", 1)
    assert text.provider == "sms:esms" and text.provider_ref
