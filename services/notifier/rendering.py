"""Turning a message into text with the Jinja2 templates in ``templates/`` (editable by non-programmers).

Template variables are the message's own fields (``directive``, ``unit``, ``focal_point``...), plus
filters for Vietnamese dates and phone numbers. Missing variables are an error, never a blank.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from shared.phones import national_format
from shared.sms import count_segments, fit, unaccent
from shared.timeutil import to_vietnam

SHIPPED = Path(__file__).parent / "templates"


def _moment(value: datetime | str) -> datetime:
    return to_vietnam(datetime.fromisoformat(value) if isinstance(value, str) else value)


def ngay(value: datetime | str) -> str:
    return _moment(value).strftime("%d/%m/%Y")


def gio(value: datetime | str) -> str:
    return _moment(value).strftime("%H:%M ngày %d/%m/%Y")


def gio_ngay(value: datetime | str) -> str:
    """The form of a ZNS time parameter, "09:15 14/02/2020" (at most 20 characters)."""
    return _moment(value).strftime("%H:%M %d/%m/%Y")


def han(value: datetime | str) -> str:
    """An exclusive deadline as the dispatch words it: midnight is "trước ngày 15/02/2020"."""
    moment = _moment(value)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return f"trước ngày {moment:%d/%m/%Y}"
    return f"trước {moment:%H:%M} ngày {moment:%d/%m/%Y}"


def phan_tram(rate: float | None) -> str:
    """0.778 → "77,8%" (Vietnamese writes a decimal comma); 1.0 → "100%"."""
    if rate is None:
        return "?"
    text = f"{rate * 100:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "%"


@lru_cache(maxsize=4)
def environment(directory: str | None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory or SHIPPED),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701
        keep_trailing_newline=False,
        trim_blocks=False,
    )
    env.filters.update(ngay=ngay, gio=gio, gio_ngay=gio_ngay, han=han, so_dt=national_format, phan_tram=phan_tram)
    return env


def has_template(directory: str | None, kind: str, part: str) -> bool:
    try:
        environment(directory).get_template(f"{kind}.{part}.txt")
    except TemplateNotFound:
        return False
    return True


def render(directory: str | None, kind: str, part: str, context: dict[str, Any]) -> str:
    text = environment(directory).get_template(f"{kind}.{part}.txt").render(context)
    return text.strip() + ("\n" if part == "email" else "")


def render_sms(
    directory: str | None, kind: str, context: dict[str, Any], *, unaccented: bool, max_segments: int
) -> tuple[str, str, int]:
    """(text, encoding, segments): one line, unaccented if configured, cut to ``max_segments``."""
    text = " ".join(render(directory, kind, "sms", context).split())
    if unaccented:
        text = unaccent(text)
    text = fit(text, max_segments)
    segments = count_segments(text)
    return text, segments.encoding, segments.count
