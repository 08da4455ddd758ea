"""Vietnamese phone numbers, validated and normalised with ``phonenumbers`` (Google's libphonenumber).

In 2018 the ministry moved every 11-digit mobile number to 10 digits by replacing its network prefix
(for example 0168 → 036). People still write the old form; rather than a bare "invalid", the message
names the new number. The table is the published conversion (Circular 22/2014/TT-BTTTT plan, 2018).
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from pydantic_core import PydanticCustomError

OLD_MOBILE_PREFIXES = {
    # Viettel
    "162": "32",
    "163": "33",
    "164": "34",
    "165": "35",
    "166": "36",
    "167": "37",
    "168": "38",
    "169": "39",
    # MobiFone
    "120": "70",
    "121": "79",
    "122": "77",
    "126": "76",
    "128": "78",
    # VinaPhone
    "123": "83",
    "124": "84",
    "125": "85",
    "127": "81",
    "129": "82",
    # Vietnamobile
    "186": "56",
    "188": "58",
    # Gmobile
    "199": "59",
}
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
_SEPARATORS = re.compile(r"[\s.\-()]")


def _national_digits(raw: str) -> str | None:
    """The digits after the trunk '0' or the country code, if ``raw`` looks like a Vietnamese number."""
    digits = _SEPARATORS.sub("", raw)
    for prefix in ("+84", "0084", "84", "0"):
        if digits.startswith(prefix) and digits[len(prefix) :].isdigit():
            return digits[len(prefix) :]
    return None


def _old_mobile_new_form(raw: str) -> str | None:
    national = _national_digits(raw)
    if national and len(national) == 10 and national[:3] in OLD_MOBILE_PREFIXES:
        new = "0" + OLD_MOBILE_PREFIXES[national[:3]] + national[3:]
        return f"{new[:4]} {new[4:7]} {new[7:]}"
    return None


def parse_phone(raw: str, *, mobile_only: bool) -> str:
    """E.164 form of a Vietnamese number written in any usual way; raises PydanticCustomError."""
    value = raw.strip()
    new_form = _old_mobile_new_form(value)
    if new_form is not None:
        raise PydanticCustomError("phone_old_format", "old 11-digit mobile number", {"value": value, "new": new_form})
    # "84912345678" (no plus) is common in exports from other systems.
    digits = _SEPARATORS.sub("", value)
    if digits.startswith("84") and len(digits) == 11:
        value = "+" + digits
    try:
        number = phonenumbers.parse(value, "VN")
    except NumberParseException:
        raise PydanticCustomError("phone_invalid", "invalid phone number", {"value": value}) from None
    if number.country_code != 84:
        if not phonenumbers.is_valid_number(number):
            raise PydanticCustomError("phone_invalid", "invalid phone number", {"value": value})
        raise PydanticCustomError("phone_not_vietnamese", "not a Vietnamese number", {"value": value})
    # One look at Vietnam's number plan: 84 has one region, where a number is valid exactly when its
    # type is known (``is_valid_number`` is that same test of ``number_type``).
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise PydanticCustomError("phone_invalid", "invalid phone number", {"value": value})
    if mobile_only and kind not in _MOBILE_TYPES:
        raise PydanticCustomError("phone_not_mobile", "not a mobile number", {"value": value})
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def national_format(e164: str) -> str:
    """'+84912345678' → '0912 345 678' (for people and spreadsheets); other text is returned as is."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "VN"), PhoneNumberFormat.NATIONAL)
    except NumberParseException:
        return e164


def is_mobile(e164: str | None) -> bool:
    """Whether an SMS can reach this (already validated) number."""
    if not e164:
        return False
    try:
        return phonenumbers.number_type(phonenumbers.parse(e164, "VN")) in _MOBILE_TYPES
    except NumberParseException:
        return False
