"""The Office's daily digest: what did not reach its recipient yesterday (SMS held for the daily cap,
notifications that failed for good), so that someone reaches those people another way or looks into
the app that sent a number too many messages. It goes once a day, from ``daily_digest_hour``
(Vietnam time), and only when there is something to say."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from services.notifier import repository
from services.notifier.planning import OFFICE_NAME, Draft
from services.notifier.sending import Sender
from shared.timeutil import to_vietnam, utcnow, vietnam_midnight


async def send_daily_digest(sender: Sender, *, now: datetime | None = None) -> int:
    """Send yesterday's digest if it is due and has content; returns the notifications created."""
    settings = sender.settings
    local = to_vietnam(now or utcnow())
    if local.hour < settings.daily_digest_hour:
        return 0
    day = local.date() - timedelta(days=1)
    rows = await repository.undelivered(sender.pg, vietnam_midnight(day), vietnam_midnight(local.date()))
    if not rows:
        return 0
    held: dict[str, dict[str, Any]] = {}  # by number: how many, for whom, from which units
    for r in rows:
        if r["status"] == "held_for_cap":
            entry = held.setdefault(r["recipient"], {"recipient": r["recipient"], "count": 0, "names": [], "units": []})
            entry["count"] += 1
            for key, value in (("names", r["recipient_name"]), ("units", r["unit_code"])):
                if value and value not in entry[key]:
                    entry[key].append(value)
    context: dict[str, Any] = {
        "day": vietnam_midnight(day),
        "cap": settings.sms_daily_cap,
        "held": list(held.values()),
        "failed": [dict(r) for r in rows if r["status"] == "permanent_failure"],
    }
    draft = Draft(
        dedupe_key=f"daily-digest:{day.isoformat()}:email",
        kind="daily_digest",
        channel="email",
        recipient=settings.office_email,
        recipient_name=OFFICE_NAME,
        unit_code=None,
        directive_id=None,
        context=context,
    )
    return await sender.create_and_send(uuid.uuid5(uuid.NAMESPACE_URL, f"daily-digest:{day}"), [draft])
