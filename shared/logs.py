"""Structured JSON logs (structlog) with the request id, phone numbers and e-mails masked.

Logs leave the machine (to files, to a log shipper); the people in them did not agree to that, so
personal contact data is masked wherever it appears, in keys or inside free text.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
_PHONE = re.compile(r"(?<![\w-])(\+?84|0)(\d[\d .-]{5,12})(\d{3})(?!\w)")


def mask(text: str) -> str:
    """'an.nv@halong.gov.vn' → 'a***@halong.gov.vn'; '+84912345678' → '+84******678'."""
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: m.group(1) + "*" * len(re.sub(r"\D", "", m.group(2))) + m.group(3), text)


def _mask_values(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = mask(value)
    return event


# The process's one processor chain, changed in place by every configuration. structlog caches a logger
# on first use with the list it was made with (and its level and output): a later configuration's
# processors (another app's in the same process, structlog.testing.capture_logs) reach it too.
_PROCESSORS: list[Any] = []


def configure_logging(level: str = "INFO", *, json_output: bool = True) -> None:
    _PROCESSORS[:] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _mask_values,
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries (uvicorn, arq, alembic) log through the standard library: same level, same stream,
    # and the same masking (arq prints the start of every job's arguments).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(_MaskingFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


class _MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask(record.getMessage()), None
        return True
