"""Versioned JSON messages that travel between services over the queues.

A message is self-contained: the notifier never reads the registry's tables, so everything it needs
to address and word a notification is in the message. Adding an optional field is compatible;
anything else means a new ``version`` and a consumer that accepts both for a while.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DirectiveRef(Contract):
    id: uuid.UUID
    number: str
    title: str
    deadline: AwareDatetime
    operation_starts_at: AwareDatetime | None = None


class UnitRef(Contract):
    code: str
    name: str
    kind: str
    email: str | None = None
    phone: str | None = None


class FocalPointRef(Contract):
    id: uuid.UUID
    version: int
    full_name: str
    position: str | None = None
    phone: str
    email: str
    submitted_at: AwareDatetime
    on_time: bool


class Message(Contract):
    """What every message carries: its id (the outbox row's id, also the arq job id) and when it happened."""

    message_id: uuid.UUID
    occurred_at: datetime
    version: Literal[1] = 1


class FocalPointRegistered(Message):
    """A new version became a unit's active focal point; ``superseded`` is the one it replaced."""

    type: Literal["registry.focal_point.registered"] = "registry.focal_point.registered"
    directive: DirectiveRef
    unit: UnitRef
    focal_point: FocalPointRef
    superseded: FocalPointRef | None = None


class FocalPointWithdrawn(Message):
    """The Office withdrew a unit's active focal point: the unit counts as missing again."""

    type: Literal["registry.focal_point.withdrawn"] = "registry.focal_point.withdrawn"
    directive: DirectiveRef
    unit: UnitRef
    focal_point: FocalPointRef
    reason: str


class DirectiveIssued(Message):
    """A directive now addresses ``unit``: its official contact is told what to do and by when."""

    type: Literal["registry.directive.issued"] = "registry.directive.issued"
    directive: DirectiveRef
    unit: UnitRef


class ReminderDue(Message):
    """``unit`` still has no focal point and the reminder ``label`` (e.g. "3d", "08:00") is due."""

    type: Literal["registry.reminder.due"] = "registry.reminder.due"
    directive: DirectiveRef
    unit: UnitRef
    label: str
    due_at: AwareDatetime


class DigestUnit(Contract):
    unit: UnitRef
    status: Literal["late", "missing"]
    focal_point: FocalPointRef | None = None


class DeadlinePassed(Message):
    """The deadline has passed: the Office gets one list of late and missing units with contacts."""

    type: Literal["registry.directive.deadline_passed"] = "registry.directive.deadline_passed"
    directive: DirectiveRef
    expected: int
    on_time: int
    units: list[DigestUnit]


class GoLive(Message):
    """The operations centre starts (``operation_starts_at``): every active focal point is told."""

    type: Literal["registry.directive.go_live"] = "registry.directive.go_live"
    directive: DirectiveRef
    unit: UnitRef
    focal_point: FocalPointRef


class UnitChanged(Message):
    """A unit was created or changed in the registry's directory (services that keep a copy listen)."""

    type: Literal["registry.unit.changed"] = "registry.unit.changed"
    unit: UnitRef
    parent_code: str | None = None
    active: bool
    staff_headcount: int | None = None


class AdoptionNudge(Message):
    """A unit's staff adoption is below target this week: its official contact is reminded."""

    type: Literal["adoption.unit.lagging"] = "adoption.unit.lagging"
    unit: UnitRef
    week: str  # ISO week, e.g. "2020-W09"
    staff_total: int
    staff_adopted: int
    staff_rate: float
    target_rate: float


class AdoptionDigestUnit(Contract):
    unit: UnitRef
    staff_total: int | None = None
    staff_adopted: int
    staff_rate: float | None = None
    citizens_adopted: int


class AdoptionDigest(Message):
    """The week's adoption for the Office: the units below target first."""

    type: Literal["adoption.weekly_digest"] = "adoption.weekly_digest"
    week: str
    target_rate: float
    staff_total: int
    staff_adopted: int
    citizens_adopted: int
    lagging: list[AdoptionDigestUnit]


# Job names (service.domain.verb) and the message each one takes as its only argument.
JOB_MESSAGES: dict[str, type[Message]] = {
    "notifier.focal_point.registered": FocalPointRegistered,
    "notifier.focal_point.withdrawn": FocalPointWithdrawn,
    "notifier.directive.issued": DirectiveIssued,
    "notifier.reminder.due": ReminderDue,
    "notifier.directive.deadline_passed": DeadlinePassed,
    "notifier.directive.go_live": GoLive,
    "notifier.adoption.lagging": AdoptionNudge,
    "notifier.adoption.digest": AdoptionDigest,
    "adoption.unit.changed": UnitChanged,
}
