"""The pages' Jinja2 environment and the filters that write numbers, dates and statuses the Vietnamese way:
``1.234``, ``88,9%``, ``13/02/2020``, ``08:05 13/02/2020`` in Vietnam time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from services.web.settings import HERE
from shared.phones import national_format
from shared.timeutil import to_vietnam, utcnow

STATUS_LABELS = {
    "on_time": ("Đúng hạn", "✓"),
    "late": ("Trễ hạn", "!"),
    "missing": ("Chưa cử", "✕"),
}
NOTIFICATION_STATUS = {
    "created": "Chờ gửi",
    "sending": "Đang gửi",
    "sent": "Đã gửi",
    "delivered": "Đã nhận",
    "temporary_failure": "Lỗi tạm thời, sẽ gửi lại",
    "permanent_failure": "Không gửi được",
    "held_for_cap": "Giữ lại (quá 10 SMS/ngày)",
}
KIND_LABELS = {
    "department": "Phòng, ban",
    "agency": "Cơ quan",
    "ward": "Phường",
    "commune": "Xã",
    "town": "Thị trấn",
    "city": "Thành phố",
    "province": "Tỉnh",
}


def number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{round(value):,}".replace(",", ".")


def percent(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.{digits}f}".replace(".", ",") + "%"


def _moment(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return to_vietnam(datetime.fromisoformat(value) if isinstance(value, str) else value)


def vn_date(value: Any) -> str:
    if value in (None, ""):
        return "–"
    if isinstance(value, str) and len(value) == 10:
        value = date.fromisoformat(value)
    if isinstance(value, datetime | str):
        value = _moment(value)
    return value.strftime("%d/%m/%Y") if value else "–"


def vn_datetime(value: Any) -> str:
    moment = _moment(value)
    return moment.strftime("%H:%M %d/%m/%Y") if moment else "–"


def vn_time(value: Any) -> str:
    moment = _moment(value)
    return moment.strftime("%H:%M") if moment else "–"


def phone(value: str | None) -> str:
    return national_format(value) if value else "–"


def countdown(deadline: Any, now: datetime | None = None) -> str:
    """'Còn 3 ngày 04:05:06' before the deadline, 'Đã quá hạn 2 ngày 01:00:00' after it."""
    moment = _moment(deadline)
    if moment is None:
        return "–"
    left = int((moment - (now or utcnow())).total_seconds())
    days, rest = divmod(abs(left), 86400)
    text = (f"{days} ngày " if days else "") + f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"Còn {text}" if left > 0 else f"Đã quá hạn {text}"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, (status, ""))[0]


def status_mark(status: str) -> str:
    return STATUS_LABELS.get(status, ("", "•"))[1]


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    number=number,
    percent=percent,
    vn_date=vn_date,
    vn_datetime=vn_datetime,
    vn_time=vn_time,
    phone=phone,
    status_label=status_label,
    status_mark=status_mark,
    kind_label=lambda kind: KIND_LABELS.get(kind, kind or "–"),
    notification_status=lambda s: NOTIFICATION_STATUS.get(s, s),
)
templates.env.globals.update(STATUS_LABELS=STATUS_LABELS, KIND_LABELS=KIND_LABELS)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    signed_in = getattr(request.state, "signed_in", None)
    context.setdefault("person", signed_in.person if signed_in else None)
    context.setdefault("csrf_token", request.state.csrf)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
