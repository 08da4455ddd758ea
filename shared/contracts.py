"""Versioned JSON messages that travel between services over the queues.

A message is self-contained: the notifier never reads the registry's tables, so everything it needs
to address and word a notification is in the message. Adding an optional field is compatible;
anything else means a new ``version`` and a consumer that accepts both for a while.

Each message type names its own route: the job that takes it (``service.domain.verb``, the consuming
service first), the lane of that service's queue it travels in, and the service that sends it (which
the consumer acknowledges, see ``shared/outbox.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

# The services that exchange messages; each has a queue named after it.
REGISTRY = "registry"
NOTIFIER = "notifier"
ADOPTION = "adoption"

# The notifier's lanes, most urgent first (GOV.UK Notify's priority queues): a backlog in one lane
# never queues ahead of another lane's jobs, and shares only the worker process's CPU with them.
# Confirmations and go-live notices, then what the Office set in motion (directives issued,
# reminders), then digests and nudges.
PRIORITY = "priority"
NORMAL = "normal"
BULK = "bulk"
LANES = (PRIORITY, NORMAL, BULK)


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
    """What every message carries: its id (the outbox row's id) and when it happened."""

    job: ClassVar[str]  # the job that takes it; the consuming service is its first part
    sender: ClassVar[str]  # the service whose outbox sends it, and which the consumer acknowledges
    lane: ClassVar[str | None] = None  # None: the consuming service's only queue

    message_id: uuid.UUID
    occurred_at: datetime
    version: Literal[1] = 1

    @classmethod
    def consumer(cls) -> str:
        return cls.job.split(".", 1)[0]


class FocalPointRegistered(Message):
    """A new version became a unit's active focal point; ``superseded`` is the one it replaced."""

    job = "notifier.focal_point.registered"
    sender = REGISTRY
    lane = PRIORITY

    type: Literal["registry.focal_point.registered"] = "registry.focal_point.registered"
    directive: DirectiveRef
    unit: UnitRef
    focal_point: FocalPointRef
    superseded: FocalPointRef | None = None


class FocalPointWithdrawn(Message):
    """The Office withdrew a unit's active focal point: the unit counts as missing again."""

    job = "notifier.focal_point.withdrawn"
    sender = REGISTRY
    lane = PRIORITY

    type: Literal["registry.focal_point.withdrawn"] = "registry.focal_point.withdrawn"
    directive: DirectiveRef
    unit: UnitRef
    focal_point: FocalPointRef
    reason: str


class DirectiveIssued(Message):
    """A directive now addresses ``unit``: its official contact is told what to do and by when."""

    job = "notifier.directive.issued"
    sender = REGISTRY
    lane = NORMAL

    type: Literal["registry.directive.issued"] = "registry.directive.issued"
    directive: DirectiveRef
    unit: UnitRef


class ReminderDue(Message):
    """``unit`` still has no focal point and the reminder ``label`` (e.g. "3d", "08:00") is due."""

    job = "notifier.reminder.due"
    sender = REGISTRY
    lane = NORMAL

    type: Literal["registry.reminder.due"] = "registry.reminder.due"
    directive: DirectiveRef
    unit: UnitRef
    label: str
    due_at: AwareDatetime


class ReminderRequested(Message):
    """The Office asked to remind ``unit``, still without a focal point, now ("Nhắc ngay"). The registry
    sends at most one per (directive, unit) an hour; the notifier's dedupe keys name the message, so a
    replayed job sends nothing new."""

    job = "notifier.reminder.requested"
    sender = REGISTRY
    lane = NORMAL

    type: Literal["registry.reminder.requested"] = "registry.reminder.requested"
    directive: DirectiveRef
    unit: UnitRef
    requested_by: str  # who asked: the person's name, or the key's


class DigestUnit(Contract):
    unit: UnitRef
    status: Literal["late", "missing"]
    focal_point: FocalPointRef | None = None


class DeadlinePassed(Message):
    """The deadline has passed: the Office gets one list of late and missing units with contacts."""

    job = "notifier.directive.deadline_passed"
    sender = REGISTRY
    lane = BULK

    type: Literal["registry.directive.deadline_passed"] = "registry.directive.deadline_passed"
    directive: DirectiveRef
    expected: int
    on_time: int
    units: list[DigestUnit]


class GoLive(Message):
    """The operations centre starts (``operation_starts_at``): every active focal point is told."""

    job = "notifier.directive.go_live"
    sender = REGISTRY
    lane = PRIORITY

    type: Literal["registry.directive.go_live"] = "registry.directive.go_live"
    directive: DirectiveRef
    unit: UnitRef
    focal_point: FocalPointRef


class UnitChanged(Message):
    """A unit was created or changed in the registry's directory (services that keep a copy listen)."""

    job = "adoption.unit.changed"
    sender = REGISTRY

    type: Literal["registry.unit.changed"] = "registry.unit.changed"
    unit: UnitRef
    parent_code: str | None = None
    active: bool
    staff_headcount: int | None = None


class AdoptionNudge(Message):
    """A unit's staff adoption is below target this week: its official contact is reminded."""

    job = "notifier.adoption.lagging"
    sender = ADOPTION
    lane = BULK

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

    job = "notifier.adoption.digest"
    sender = ADOPTION
    lane = BULK

    type: Literal["adoption.weekly_digest"] = "adoption.weekly_digest"
    week: str
    target_rate: float
    staff_total: int
    staff_adopted: int
    citizens_adopted: int
    lagging: list[AdoptionDigestUnit]


# Every message type by the job that takes it.
JOB_MESSAGES: dict[str, type[Message]] = {
    m.job: m
    for m in (
        FocalPointRegistered,
        FocalPointWithdrawn,
        DirectiveIssued,
        ReminderDue,
        ReminderRequested,
        DeadlinePassed,
        GoLive,
        UnitChanged,
        AdoptionNudge,
        AdoptionDigest,
    )
}
