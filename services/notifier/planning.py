"""Who is told what, for each message from the registry.

Every notification gets a ``dedupe_key`` naming its cause, so a job that runs twice (arq delivers at
least once) creates each notification once: ``registration:{focal_point}:sms``,
``reminder:{directive}:{unit}:{offset}:email``...
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared.contracts import (
    AdoptionDigest,
    AdoptionNudge,
    DeadlinePassed,
    DirectiveIssued,
    FocalPointRegistered,
    FocalPointWithdrawn,
    GoLive,
    Message,
    ReminderDue,
    ReminderRequested,
)
from shared.phones import is_mobile

OFFICE_NAME = "Văn phòng HĐND và UBND"


@dataclass(frozen=True, slots=True)
class Draft:
    dedupe_key: str
    kind: str  # what it says: the name of its templates
    channel: str  # email | sms
    recipient: str
    recipient_name: str | None
    unit_code: str | None
    directive_id: uuid.UUID | None
    context: dict[str, Any]


def plan(message: Message, *, office_email: str) -> list[Draft]:
    # The templates read the message's own fields (``unit.name``, ``focal_point.phone``...).
    context = dict(message)
    directive = getattr(message, "directive", None)
    unit = getattr(message, "unit", None)
    drafts: list[Draft] = []

    def add(key: str, kind: str, channel: str, recipient: str | None, name: str | None) -> None:
        if recipient and (channel == "email" or is_mobile(recipient)):
            drafts.append(
                Draft(
                    key,
                    kind,
                    channel,
                    recipient,
                    name,
                    unit.code if unit else None,
                    directive.id if directive else None,
                    context,
                )
            )

    match message:
        case FocalPointRegistered(focal_point=fp, superseded=old):
            key = f"registration:{fp.id}"
            add(f"{key}:sms", "focal_point_registered", "sms", fp.phone, fp.full_name)
            add(f"{key}:email", "focal_point_registered", "email", fp.email, fp.full_name)
            add(f"{key}:unit-email", "focal_point_registered_unit", "email", message.unit.email, message.unit.name)
            if old is not None:
                add(f"{key}:superseded-email", "focal_point_superseded", "email", old.email, old.full_name)
        case FocalPointWithdrawn(focal_point=fp):
            key = f"withdrawal:{fp.id}"
            add(f"{key}:sms", "focal_point_withdrawn", "sms", fp.phone, fp.full_name)
            add(f"{key}:email", "focal_point_withdrawn", "email", fp.email, fp.full_name)
            add(f"{key}:unit-email", "focal_point_withdrawn_unit", "email", message.unit.email, message.unit.name)
        case DirectiveIssued(directive=d, unit=u):
            key = f"directive:{d.id}:{u.code}"
            add(f"{key}:email", "directive_issued", "email", u.email, u.name)
            add(f"{key}:sms", "directive_issued", "sms", u.phone, u.name)
        case ReminderDue(directive=d, unit=u, label=label):
            key = f"reminder:{d.id}:{u.code}:{label}"
            add(f"{key}:email", "reminder_due", "email", u.email, u.name)
            add(f"{key}:sms", "reminder_due", "sms", u.phone, u.name)
        case ReminderRequested(directive=d, unit=u, message_id=message_id):
            # The message's id names this request: a replayed job sends nothing new, a later request does.
            key = f"reminder:{d.id}:{u.code}:now:{message_id}"
            add(f"{key}:email", "reminder_requested", "email", u.email, u.name)
            add(f"{key}:sms", "reminder_requested", "sms", u.phone, u.name)
        case DeadlinePassed(directive=d):
            add(f"digest:{d.id}:email", "deadline_digest", "email", office_email, OFFICE_NAME)
        case GoLive(directive=d, focal_point=fp):
            key = f"go-live:{d.id}:{fp.id}"
            add(f"{key}:sms", "go_live", "sms", fp.phone, fp.full_name)
            add(f"{key}:email", "go_live", "email", fp.email, fp.full_name)
        case AdoptionNudge(unit=u, week=week):
            key = f"adoption-nudge:{u.code}:{week}"
            add(f"{key}:email", "adoption_lagging", "email", u.email, u.name)
            add(f"{key}:sms", "adoption_lagging", "sms", u.phone, u.name)
        case AdoptionDigest(week=week):
            add(f"adoption-digest:{week}:email", "adoption_digest", "email", office_email, OFFICE_NAME)
        case _:
            raise ValueError(f"no plan for {type(message).__name__}")
    return drafts
