"""Contract messages as the registry would send them, for the notifier's tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from shared.contracts import (
    AdoptionDigest,
    AdoptionDigestUnit,
    AdoptionNudge,
    DeadlinePassed,
    DigestUnit,
    DirectiveIssued,
    DirectiveRef,
    FocalPointRef,
    FocalPointRegistered,
    FocalPointWithdrawn,
    GoLive,
    ReminderDue,
    ReminderRequested,
    UnitRef,
)
from shared.timeutil import VIETNAM

DIRECTIVE = DirectiveRef(
    id=uuid.UUID("2d2a0c1e-0f3a-4d47-9a51-98401ab00984"),
    number="984/UBND",
    title="Chuẩn bị công tác vận hành chính thức Trung tâm điều hành thành phố thông minh",
    deadline=datetime(2020, 2, 15, tzinfo=VIETNAM),
    operation_starts_at=datetime(2020, 2, 25, tzinfo=VIETNAM),
)
UNIT = UnitRef(
    code="06652", name="Phường Hà Phong", kind="ward", email="ubnd.haphong@halong.example", phone="+84912000652"
)


def focal_point(
    name: str = "Nguyễn Văn Đức", phone: str = "+84912345678", email: str = "duc.nv@halong.example", **fields
) -> FocalPointRef:
    return FocalPointRef(
        id=fields.pop("id", uuid.uuid4()),
        version=fields.pop("version", 1),
        full_name=name,
        position="Chuyên viên",
        phone=phone,
        email=email,
        submitted_at=datetime(2020, 2, 14, 9, 15, tzinfo=VIETNAM),
        on_time=True,
        **fields,
    )


def registered(
    fp: FocalPointRef | None = None, superseded: FocalPointRef | None = None, unit: UnitRef = UNIT
) -> FocalPointRegistered:
    return FocalPointRegistered(
        message_id=uuid.uuid4(),
        occurred_at=datetime.now(VIETNAM),
        directive=DIRECTIVE,
        unit=unit,
        focal_point=fp or focal_point(),
        superseded=superseded,
    )


def withdrawn(fp: FocalPointRef | None = None) -> FocalPointWithdrawn:
    return FocalPointWithdrawn(
        message_id=uuid.uuid4(),
        occurred_at=datetime.now(VIETNAM),
        directive=DIRECTIVE,
        unit=UNIT,
        focal_point=fp or focal_point(),
        reason="Chuyển công tác",
    )


def issued(unit: UnitRef = UNIT) -> DirectiveIssued:
    return DirectiveIssued(message_id=uuid.uuid4(), occurred_at=datetime.now(VIETNAM), directive=DIRECTIVE, unit=unit)


def reminder(label: str = "1d", unit: UnitRef = UNIT) -> ReminderDue:
    return ReminderDue(
        message_id=uuid.uuid4(),
        occurred_at=datetime.now(VIETNAM),
        directive=DIRECTIVE,
        unit=unit,
        label=label,
        due_at=DIRECTIVE.deadline - timedelta(days=1),
    )


def reminder_now(unit: UnitRef = UNIT) -> ReminderRequested:
    return ReminderRequested(
        message_id=uuid.uuid4(),
        occurred_at=datetime(2020, 2, 14, 10, 30, tzinfo=VIETNAM),
        directive=DIRECTIVE,
        unit=unit,
        requested_by="Trần Văn Bình",
    )


def digest() -> DeadlinePassed:
    late = DigestUnit(unit=UNIT, status="late", focal_point=focal_point())
    missing = DigestUnit(
        unit=UnitRef(
            code="06655", name="Phường Hà Khẩu", kind="ward", email="ubnd.hakhau@halong.example", phone="+842033825055"
        ),
        status="missing",
    )
    return DeadlinePassed(
        message_id=uuid.uuid4(),
        occurred_at=datetime.now(VIETNAM),
        directive=DIRECTIVE,
        expected=47,
        on_time=36,
        units=[late, missing],
    )


def go_live(fp: FocalPointRef | None = None) -> GoLive:
    return GoLive(
        message_id=uuid.uuid4(),
        occurred_at=datetime.now(VIETNAM),
        directive=DIRECTIVE,
        unit=UNIT,
        focal_point=fp or focal_point(),
    )


def adoption_nudge(unit: UnitRef = UNIT) -> AdoptionNudge:
    return AdoptionNudge(
        message_id=uuid.uuid4(),
        occurred_at=datetime.now(VIETNAM),
        unit=unit,
        week="2020-W09",
        staff_total=30,
        staff_adopted=21,
        staff_rate=0.7,
        target_rate=1.0,
    )


def adoption_digest() -> AdoptionDigest:
    lagging = AdoptionDigestUnit(unit=UNIT, staff_total=30, staff_adopted=21, staff_rate=0.7, citizens_adopted=120)
    return AdoptionDigest(
        message_id=uuid.uuid4(),
        occurred_at=datetime.now(VIETNAM),
        week="2020-W09",
        target_rate=1.0,
        staff_total=900,
        staff_adopted=700,
        citizens_adopted=5000,
        lagging=[lagging],
    )
