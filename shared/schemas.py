"""Field types the services' request and response models share."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic_core import PydanticCustomError

from shared.phones import parse_phone
from shared.text import normalize_text
from shared.timeutil import to_vietnam


def _clean(value: str) -> str:
    cleaned = normalize_text(value)
    if not cleaned:
        raise PydanticCustomError("text_blank", "must not be blank")
    return cleaned


def _clean_optional(value: str | None) -> str | None:
    if value is None:
        return None
    return normalize_text(value) or None


def _email(value: str) -> str:
    try:
        # Syntax only: a registration must not fail because DNS is slow; delivery is the notifier's job.
        return validate_email(normalize_text(value), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError("email_invalid", "invalid e-mail", {"reason": str(exc)}) from None


def _string(value: object) -> object:
    """Reject numbers and booleans where text is expected instead of silently converting them."""
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be a string")
    return value


# Text stored and compared in NFC with whitespace folded; blank is refused.
Text = Annotated[str, BeforeValidator(_string), AfterValidator(_clean)]
OptionalText = Annotated[str | None, BeforeValidator(_string), AfterValidator(_clean_optional)]
Email = Annotated[str, BeforeValidator(_string), AfterValidator(_email)]
MobilePhone = Annotated[str, BeforeValidator(_string), AfterValidator(lambda v: parse_phone(v, mobile_only=True))]
AnyPhone = Annotated[str, BeforeValidator(_string), AfterValidator(lambda v: parse_phone(v, mobile_only=False))]


def _text_only(kind: str):
    """JSON has no date type: accept text only, never a number read as a Unix timestamp."""

    def check(value: object) -> object:
        if not isinstance(value, str | date):
            raise PydanticCustomError(kind, "must be text")
        return value

    return BeforeValidator(check)


def _rfc3339_instant(value: object) -> object:
    """RFC 3339 text with an offset, as msgspec's parser reads it (digits past the microsecond are
    rounded, as PostgreSQL does): never a number, nor text that pydantic alone would take, such as a
    Unix time or a time without seconds. The adoption service's fast decoder uses the same parser."""
    if isinstance(value, datetime):  # built in Python, not read from a request
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "must be text")
    try:
        moment = msgspec.convert(value, datetime)
    except msgspec.ValidationError:
        raise PydanticCustomError("datetime_parsing", "must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise PydanticCustomError("timezone_aware", "must carry an offset")
    return moment


# Dates: "YYYY-MM-DD" (Vietnam calendar dates). Instants: RFC 3339 with an offset, returned in
# Vietnam time (+07:00).
CalendarDate = Annotated[date, _text_only("date_parsing")]
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339_instant)]
VietnamTime = Annotated[datetime, PlainSerializer(lambda d: to_vietnam(d).isoformat(), return_type=str)]


class RequestModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
