"""Vietnam time. The server stores instants in UTC and shows them in Asia/Ho_Chi_Minh (+07:00)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_vietnam(moment: datetime) -> datetime:
    """The same instant, expressed with the +07:00 offset (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM)


def vietnam_today(now: datetime | None = None) -> date:
    return to_vietnam(now or utcnow()).date()


def vietnam_midnight(day: date) -> datetime:
    """00:00 Vietnam time at the start of ``day``, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=VIETNAM)
