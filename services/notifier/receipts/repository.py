"""The queries of delivery receipts: the SMS a report is about, its new state, the report itself."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.models import FINAL, Notification, Receipt


async def find_sms(
    session: AsyncSession, *, request_id: uuid.UUID | None, provider: str, sms_id: str | None
) -> uuid.UUID | None:
    """The SMS with our id ``request_id``, or the one ``provider`` knows as ``sms_id``."""
    match = []
    if request_id is not None:
        match.append(Notification.id == request_id)
    if sms_id:
        match.append((Notification.provider == provider) & (Notification.provider_ref == sms_id))
    if not match:
        return None
    return await session.scalar(select(Notification.id).where(or_(*match), Notification.channel == "sms").limit(1))


async def find_zalo(session: AsyncSession, *, tracking_id: uuid.UUID | None, msg_id: str | None) -> uuid.UUID | None:
    """The Zalo notification sent with ``tracking_id`` (our id), or that ZNS knows as ``msg_id``."""
    match = []
    if tracking_id is not None:
        match.append(Notification.id == tracking_id)
    if msg_id:
        match.append(Notification.provider_ref == msg_id)
    if not match:
        return None
    return await session.scalar(select(Notification.id).where(or_(*match), Notification.channel == "zalo").limit(1))


async def settle(session: AsyncSession, notification_id: uuid.UUID, outcome: str, error: str | None) -> bool:
    """Move the notification to ``outcome`` unless it is final already; True when it moved."""
    values: dict[str, Any] = {"status": outcome, "updated_at": func.now()}
    if outcome == "delivered":
        values["delivered_at"] = func.now()
    else:
        values["last_error"] = error
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status.not_in(FINAL))
        .values(**values)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def keep(session: AsyncSession, **fields: Any) -> None:
    session.add(Receipt(**fields))
