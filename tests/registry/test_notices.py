"""Reminders, the deadline digest and go-live notices, decided by the registry's worker."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from services.api.models import OutboxMessage
from services.api.notices import reminder_time, run_schedule
from services.api.registrations.schemas import RegistrationCreate
from shared.timeutil import VIETNAM, utcnow
from tests.builders import create_directive, create_unit, register_focal_point, registration

DEADLINE = datetime(2020, 2, 15, tzinfo=VIETNAM)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("3d", datetime(2020, 2, 12, tzinfo=VIETNAM)),
        ("1d", datetime(2020, 2, 14, tzinfo=VIETNAM)),
        ("12h", datetime(2020, 2, 14, 12, tzinfo=VIETNAM)),
        ("08:00", datetime(2020, 2, 14, 8, tzinfo=VIETNAM)),  # 08:00 on the last day, not on the 15th
    ],
)
def test_reminder_offsets(offset, expected):
    assert reminder_time(DEADLINE, offset) == expected


def test_a_bad_offset_is_refused():
    with pytest.raises(ValueError):
        reminder_time(DEADLINE, "tomorrow")


async def jobs(db, name: str) -> list[dict]:
    async with db() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.job_name == name).order_by(OutboxMessage.created_at)
        )
        return [r.payload for r in rows]


async def register_at(db, directive, code: str, at: datetime) -> None:
    await register_focal_point(db, RegistrationCreate(**registration(directive.id, unit_code=code)), received_at=at)


@pytest.fixture
async def directive(db, registry_app):
    """Three wards; a directive created five days ago, due in twelve hours, go-live two days after."""
    for code in ("06649", "06652", "06655"):
        await create_unit(db, code, email=f"ubnd{code}@halong.example")
    now = utcnow()
    made = await create_directive(db, ["06649", "06652", "06655"], deadline=now + timedelta(hours=12))
    async with registry_app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE registry.directives SET created_at = :t, operation_starts_at = :g"),
            {"t": now - timedelta(days=5), "g": now + timedelta(days=2)},
        )
    return made


@pytest.fixture
def settings(registry_settings):
    return registry_settings.model_copy(
        update={"reminder_offsets": ["3d", "1d", "2h"], "digest_delay_hours": 8.0, "notice_grace_hours": 24.0}
    )


async def test_reminders_go_to_missing_units_once_per_offset(db, directive, settings):
    now = utcnow()
    await register_at(db, directive, "06652", now - timedelta(hours=1))
    # "3d" fell 2.5 days ago (past the grace period): skipped; "1d" fell 12 hours ago: sent; "2h": not yet.
    assert await run_schedule(db, settings, now=now) == 2
    sent = await jobs(db, "notifier.reminder.due")
    assert sorted((j["unit"]["code"], j["label"]) for j in sent) == [("06649", "1d"), ("06655", "1d")]
    assert sent[0]["unit"]["email"].startswith("ubnd")
    assert await run_schedule(db, settings, now=now) == 0  # the same offset never twice

    await register_at(db, directive, "06649", now + timedelta(hours=9))
    assert await run_schedule(db, settings, now=now + timedelta(hours=10, minutes=1)) == 1
    last = [j for j in await jobs(db, "notifier.reminder.due") if j["label"] == "2h"]
    assert [j["unit"]["code"] for j in last] == ["06655"]


async def test_digest_lists_late_and_missing_units_once(db, directive, settings):
    deadline = directive.deadline
    await register_at(db, directive, "06649", deadline - timedelta(hours=1))  # on time
    await register_at(db, directive, "06652", deadline + timedelta(hours=1))  # late
    assert await run_schedule(db, settings, now=deadline + timedelta(hours=7)) >= 0
    assert await jobs(db, "notifier.directive.deadline_passed") == []  # 8 hours after, not 7
    await run_schedule(db, settings, now=deadline + timedelta(hours=8, minutes=1))
    await run_schedule(db, settings, now=deadline + timedelta(hours=9))
    (digest,) = await jobs(db, "notifier.directive.deadline_passed")
    assert digest["expected"] == 3 and digest["on_time"] == 1
    assert {(u["unit"]["code"], u["status"]) for u in digest["units"]} == {("06652", "late"), ("06655", "missing")}
    late = next(u for u in digest["units"] if u["status"] == "late")
    assert late["focal_point"]["phone"] == "+84912345678"


async def test_go_live_reaches_every_active_focal_point(db, directive, settings):
    now = utcnow()
    await register_at(db, directive, "06649", now)
    await register_at(db, directive, "06655", now)
    await run_schedule(db, settings, now=now + timedelta(days=2, minutes=1))
    go_live = await jobs(db, "notifier.directive.go_live")
    assert sorted(j["unit"]["code"] for j in go_live) == ["06649", "06655"]
    assert all(j["focal_point"]["full_name"] == "Nguyễn Văn An" for j in go_live)


async def test_notices_long_overdue_are_skipped_not_sent(db, directive, settings, registry_app):
    # The worker was down until 30 hours past the deadline: reminders are stale now and are skipped
    # (and recorded as such); the digest, 22 hours late, is within the grace period and still goes.
    await run_schedule(db, settings, now=directive.deadline + timedelta(hours=30))
    assert await jobs(db, "notifier.reminder.due") == []
    assert len(await jobs(db, "notifier.directive.deadline_passed")) == 1
    async with registry_app.state.engine.connect() as conn:
        skipped = (
            await conn.execute(
                text(
                    "SELECT label FROM registry.scheduled_notices "
                    "WHERE kind = 'reminder' AND skipped IS NOT NULL ORDER BY label"
                )
            )
        ).all()
    assert [s.label for s in skipped] == ["1d", "2h", "3d"]


async def test_directive_issued_tells_each_addressed_unit(client, db):
    from tests.builders import auth, create_key

    for code in ("06649", "06652"):
        await create_unit(db, code, email=f"ubnd{code}@halong.example")
    office = await create_key(db, "office")
    response = await client.post(
        "/v1/directives",
        headers=auth(office),
        json={
            "number": "984/UBND",
            "title": "Cử cán bộ đầu mối",
            "issued_on": "2020-02-13",
            "deadline": "2020-02-15T00:00:00+07:00",
            "unit_codes": ["06649", "06652"],
        },
    )
    assert response.status_code == 201
    issued = await jobs(db, "notifier.directive.issued")
    assert sorted(j["unit"]["code"] for j in issued) == ["06649", "06652"]
    assert datetime.fromisoformat(issued[0]["directive"]["deadline"]) == DEADLINE
