"""Recording a gateway's delivery report.

The report names the message by our ``RequestId`` (the notification id) and/or the gateway's
``SMSID``, and a ``SendStatus``: 5 means delivered to the handset; 4 (rejected) and 6 (cancelled)
mean it never will be; other values are intermediate and change nothing. Every report is kept; late
or duplicate reports never move a final state (``models.FINAL``: ``delivered``, ``permanent_failure``,
``held_for_cap``).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.receipts import repository
from services.notifier.receipts.schemas import STATUS_LENGTH, field

log = structlog.get_logger("notifier.receipts")

DELIVERED = {"5"}
UNDELIVERABLE = {"4", "6"}


async def record(session: AsyncSession, gateway: str, payload: dict[str, Any]) -> bool:
    """Keep ``gateway``'s report and apply it; returns whether it changed the message's state."""
    request_id, sms_id = field(payload, "RequestId"), field(payload, "SMSID", "SmsId")
    status = (field(payload, "SendStatus", "Status") or "")[:STATUS_LENGTH]
    outcome = "delivered" if status in DELIVERED else "permanent_failure" if status in UNDELIVERABLE else None
    provider = f"sms:{gateway}"
    our_id = None
    if request_id:
        with contextlib.suppress(ValueError):  # not one of our ids: the SMSID alone may match
            our_id = uuid.UUID(request_id)
    notification_id = await repository.find_sms(session, request_id=our_id, provider=provider, sms_id=sms_id)
    applied = False
    if notification_id is not None and outcome is not None:
        applied = await repository.settle(
            session, notification_id, outcome, error=f"gateway receipt: SendStatus {status}"
        )
    repository.keep(
        session,
        notification_id=notification_id,
        provider=provider,
        status=status or "?",
        payload=payload,
        applied=applied,
    )
    await session.commit()
    if notification_id is None:
        log.warning("receipt_for_unknown_message", gateway=gateway, request_id=request_id, sms_id=sms_id)
    return applied
