"""Field types the services' request and response models share.

Each request type checks exactly what its JSON Schema (in the OpenAPI documents) states, so that a
request the schema allows is accepted and one it forbids is a 422: lengths count the characters as
sent, text must hold a character that normalisation keeps, integers are JSON integers (``3.0`` is
one, ``"3"`` and ``true`` are not), dates and times are RFC 3339 text with the years the services
can store and show. Rules that depend on stored data, on another field or on the clock are the
services' own and answer 422 with a code listed in ``shared.texts.RULE_CODES``.

``null`` for an optional field means the field is absent (``RequestModel``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, cast, get_args

import msgspec
from annotated_types import GroupedMetadata
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from shared.phones import parse_phone
from shared.text import normalize_text
from shared.timeutil import to_vietnam

# Characters that ``normalize_text`` removes or folds away (whitespace, controls, invisible format
# characters); tests/shared/test_schemas.py checks the class against every code point.
REMOVED_CHARACTERS = "\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u2064\\u3000\\ufeff"
# A JSON Schema pattern (unanchored: it matches anywhere) for "holds a character that is kept".
VISIBLE = f"[^{REMOVED_CHARACTERS}]"

# Years 1900-2199: every instant of them has a UTC and a Vietnam time that Python and PostgreSQL
# represent, so nothing sent can overflow a conversion.
YEAR = "(?:19|2[01])[0-9]{2}"
DATE_PATTERN = f"^{YEAR}-[0-9]{{2}}-[0-9]{{2}}$"
# RFC 3339 (``T`` and ``Z`` in either case, seconds required, no leap second), within those years.
INSTANT_PATTERN = (
    f"^{YEAR}-[0-9]{{2}}-[0-9]{{2}}"  # the date
    "[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9](?:[.][0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"  # the time and offset
)
# A unit's code: GSO codes of wards and communes (06652), the project's own for departments (HL-VP);
# compared and stored upper-case.
UNIT_CODE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

_DATE = re.compile(DATE_PATTERN.replace("$", r"\Z"))
_INSTANT = re.compile(INSTANT_PATTERN.replace("$", r"\Z"))
_ANY_YEAR = re.compile(r"[0-9]{4}(?=-)")
_UUID = re.compile(UUID_PATTERN.replace("$", r"\Z"))
_UNIT_CODE = re.compile(UNIT_CODE_PATTERN.replace("$", r"\Z"))


def _error(kind: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, kind, context or None)


def unit_for_role(unit_code: str | None, role: object, unit_role: object) -> str | None:
    """``unit_code`` of an account whose ``role`` is known (None when the role was itself refused):
    required for ``unit_role``, the one role tied to a unit (a key's ``ward_app``, a person's ``unit``),
    refused for every other."""
    if role == unit_role and unit_code is None:
        raise _error("role_needs_unit")
    if role is not None and role != unit_role and unit_code is not None:
        raise _error("role_forbids_unit")
    return unit_code


def _check_string(value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise _error("string_type")
    if len(value) > max_length:
        raise _error("string_too_long", max_length=max_length)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape ("\ud800"): not Unicode text
        raise _error("string_unicode") from None
    return value


class Rules(GroupedMetadata):
    """A field's validator and the JSON Schema that states its rules, as one piece of ``Annotated``
    metadata (pydantic flattens it): ``Annotated[str, text(200)]``."""

    def __init__(self, check: Callable[[Any], Any], json_schema: dict[str, Any]) -> None:
        self.check, self.json_schema = check, json_schema

    def __iter__(self) -> Iterator[object]:
        return iter((PlainValidator(self.check), WithJsonSchema(self.json_schema)))


def text(max_length: int, **schema: Any) -> Rules:
    """Text stored in NFC with whitespace folded; blank is refused. At most ``max_length`` characters
    as sent, and as stored (NFC can lengthen a few rare characters)."""

    def check(value: object) -> str:
        cleaned = normalize_text(_check_string(value, max_length))
        if not cleaned:
            raise _error("text_blank")
        if len(cleaned) > max_length:
            raise _error("string_too_long", max_length=max_length)
        return cleaned

    return Rules(check, {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": VISIBLE, **schema})


def secret(min_length: int, max_length: int, *, password: bool = True, **schema: Any) -> Rules:
    """A password (or a login as typed at sign-in), taken as typed (not folded, spaces kept), in NFC:
    from ``min_length`` to ``max_length`` characters as sent."""

    def check(value: object) -> str:
        sent = _check_string(value, max_length)
        if len(sent) < min_length:
            raise _error("string_too_short", min_length=min_length)
        return unicodedata.normalize("NFC", sent)

    shape = {"type": "string", "minLength": min_length, "maxLength": max_length}
    return Rules(check, {**shape, **({"format": "password"} if password else {}), **schema})


LOGIN_PATTERN = "^[A-Za-z0-9._-]{3,64}$"
_LOGIN = re.compile(LOGIN_PATTERN.replace("$", r"\Z"))


def _login(value: object) -> str:
    if not isinstance(value, str) or not _LOGIN.match(value):
        raise _error("login_invalid")
    return value.lower()


# A person's login: 3 to 64 letters, digits, dots, hyphens and underscores; stored lower-case.
Login = Annotated[
    str, PlainValidator(_login), WithJsonSchema({"type": "string", "pattern": LOGIN_PATTERN, "examples": ["ha-phong"]})
]


def optional_text(max_length: int, **schema: Any) -> Rules:
    """Like ``text``, but ``null`` and blank text both mean "none"."""

    def check(value: object) -> str | None:
        if value is None:
            return None
        cleaned = normalize_text(_check_string(value, max_length))
        if len(cleaned) > max_length:
            raise _error("string_too_long", max_length=max_length)
        return cleaned or None

    return Rules(check, {"anyOf": [{"type": "string", "maxLength": max_length}, {"type": "null"}], **schema})


def _phone(*, mobile_only: bool) -> Callable[[object], str]:
    def check(value: object) -> str:
        return parse_phone(_check_string(value, 32), mobile_only=mobile_only)

    return check


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" for c in word)


# An address that can receive mail from anywhere, as email-validator reads it (internationalised domains
# allowed): beyond the "email" format, one "@", at most 64 characters before it, a dot in the domain, a
# top-level domain that ends with a letter and is not a special-use one (.test, .local...).
EMAIL_PATTERN = (
    "^[^@]{1,64}@"
    f"(?!(?:[^@]*[.])?(?:{'|'.join(_any_case(d) for d in SPECIAL_USE_DOMAIN_NAMES)})$)"
    "[^@]*[.][^@]*[A-Za-z]$"
)
_EMAIL = re.compile(EMAIL_PATTERN.replace("$", r"\Z"))


@functools.lru_cache(maxsize=4096)
def _email_address(sent: str) -> str:
    """The normalised address of text as sent, or EmailNotValidError. The answer depends on the text
    alone, and the same addresses come again and again (a unit's focal point, replaced or confirmed),
    so the last few thousand are kept; a refusal raises, and is never kept."""
    value = normalize_text(sent)  # whitespace folded, as in all text
    if not _EMAIL.match(value):
        raise EmailNotValidError("not an address mail can reach")
    # Syntax only: a registration must not fail because DNS is slow; delivery is the notifier's job.
    return validate_email(value, check_deliverability=False).normalized


def _email(value: object) -> str:
    try:
        return _email_address(_check_string(value, 254))
    except EmailNotValidError as exc:
        raise _error("email_invalid", reason=str(exc)) from None


Email = Annotated[
    str,
    PlainValidator(_email),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "pattern": EMAIL_PATTERN,
            "description": "an address that can receive mail (surrounding whitespace is ignored); its domain is "
            "returned lower-cased",
            "examples": ["an.nv@halong.gov.vn"],
        }
    ),
]
# Vietnamese numbers in any usual form, returned in E.164. "vn-mobile" and "vn-phone" are this API's
# own formats (shared/phones.py says which numbers they take; none of them is longer than 32 characters).
MobilePhone = Annotated[
    str,
    PlainValidator(_phone(mobile_only=True)),
    WithJsonSchema(
        {
            "type": "string",
            "format": "vn-mobile",
            "description": "a Vietnamese mobile number (it receives SMS): 0912345678, 0912 345 678, "
            "+84912345678 or 84912345678; returned in E.164",
            "examples": ["0912 345 678"],
        }
    ),
]
AnyPhone = Annotated[
    str,
    PlainValidator(_phone(mobile_only=False)),
    WithJsonSchema(
        {
            "type": "string",
            "format": "vn-phone",
            "description": "a Vietnamese number, landline or mobile, in any usual form; returned in E.164",
            "examples": ["0203 3835 555"],
        }
    ),
]


def integer(minimum: int, maximum: int, **schema: Any) -> Rules:
    """A JSON integer: ``3`` and ``3.0`` are one, ``3.5``, ``"3"`` and ``true`` are not."""

    def check(value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _error("int_type")
        if value < minimum:
            raise _error("greater_than_equal", ge=minimum)
        if value > maximum:
            raise _error("less_than_equal", le=maximum)
        return value

    return Rules(check, {"type": "integer", "minimum": minimum, "maximum": maximum, **schema})


_QUERY_INTEGER = re.compile(r"-?[0-9]+\Z")


def query_integer(minimum: int, maximum: int, **schema: Any) -> Rules:
    """An integer in a query string, written as JSON writes it (``12``; not ``+12``, `` 12`` or ``1_2``)."""
    bounded = integer(minimum, maximum).check

    def check(value: object) -> int:
        if isinstance(value, str) and _QUERY_INTEGER.match(value):
            return int(bounded(int(value)))
        raise _error("int_parsing")

    return Rules(check, {"type": "integer", "minimum": minimum, "maximum": maximum, **schema})


def _query_boolean(value: object) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise _error("bool_parsing")


# A boolean in a query string: ``true`` or ``false``.
QueryBoolean = Annotated[bool, PlainValidator(_query_boolean), WithJsonSchema({"type": "boolean"})]


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _error("bool_type")
    return value


Boolean = Annotated[bool, PlainValidator(_boolean), WithJsonSchema({"type": "boolean"})]


def _calendar_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):  # built in Python, not read from JSON
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        if isinstance(value, str) and _DATE.match(_ANY_YEAR.sub("2000", value, count=1)):
            raise _error("year_out_of_range")
        raise _error("date_parsing")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _error("date_parsing") from None


def _instant(value: object) -> datetime:
    """RFC 3339 text as msgspec's parser reads it (digits past the microsecond are rounded, as
    PostgreSQL does), the adoption service's fast decoder too: never a number, nor text that a more
    lenient parser would take, such as a Unix time, a time without seconds or a space for ``T``."""
    if isinstance(value, datetime) and value.tzinfo is not None:  # built in Python, not read from JSON
        return value
    if not isinstance(value, str):
        raise _error("datetime_type")
    if not _INSTANT.match(value):
        # Name the most useful fault: a missing offset, a year out of range, else "not RFC 3339".
        if _INSTANT.match(value + "Z"):
            raise _error("timezone_aware")
        if _INSTANT.match(_ANY_YEAR.sub("2000", value, count=1)):
            raise _error("year_out_of_range")
        raise _error("datetime_parsing")
    try:
        return msgspec.convert(value, datetime)
    except msgspec.ValidationError:
        raise _error("datetime_parsing") from None


def _uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or not _UUID.match(value):
        raise _error("uuid_parsing")
    return uuid.UUID(value)


def _unit_code(value: object) -> str:
    if not isinstance(value, str) or not _UNIT_CODE.match(value):
        raise _error("unit_code_invalid")
    return value.upper()


UnitCode = Annotated[
    str,
    PlainValidator(_unit_code),
    WithJsonSchema({"type": "string", "pattern": UNIT_CODE_PATTERN, "examples": ["06652"]}),
]


# Dates: "YYYY-MM-DD" (Vietnam calendar dates). Instants: RFC 3339 with an offset, returned in
# Vietnam time (+07:00). Both within the years 1900-2199.
CalendarDate = Annotated[
    date,
    PlainValidator(_calendar_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN, "examples": ["2020-02-13"]}),
]
Instant = Annotated[
    datetime,
    PlainValidator(_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": INSTANT_PATTERN,
            "examples": ["2020-02-15T00:00:00+07:00"],
        }
    ),
]
# A UUID written in its usual hyphenated form (either case).
Uuid = Annotated[
    uuid.UUID, PlainValidator(_uuid), WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN})
]


def or_empty(field_type: Any) -> Rules:
    """The rules of ``field_type`` (an ``Annotated`` text type of this module) or empty text (kept as
    ""), for a PATCH field that "" clears: ``Annotated[str, or_empty(Email)]``."""
    _, *metadata = get_args(field_type)
    validate = cast(Callable[[object], object], next(m.func for m in metadata if isinstance(m, PlainValidator)))
    schema = next(m.json_schema for m in metadata if isinstance(m, WithJsonSchema))

    def check(value: object) -> object:
        return "" if value == "" else validate(value)

    return Rules(check, {"anyOf": [schema, {"const": ""}]})


VietnamTime = Annotated[datetime, PlainSerializer(lambda d: to_vietnam(d).isoformat(), return_type=str)]


class RequestModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; ``null`` for an optional
    field means the field is absent (its default applies, and a PATCH leaves it unchanged), since apps
    send explicit nulls for what they leave empty."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fields = cls.model_fields
            return {k: v for k, v in data.items() if not (v is None and k in fields and not fields[k].is_required())}
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
