"""Subjects (a phone number, an account id) become keyed hashes the moment they arrive.

HMAC-SHA256 with a server secret: without the secret, a hash cannot be tested against a list of
phone numbers (a plain SHA-256 of a Vietnamese mobile number falls to a dictionary of 10^9 entries in
minutes). Phone numbers are first brought to one form, so that "0912 345 678" and "+84912345678"
are the same person.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_SEPARATORS = re.compile(r"[\s.\-()]")
_VIETNAMESE_PHONE = re.compile(r"^(?:\+?84|0)(\d{9,10})$")


def canonical_subject(subject: str) -> str:
    compact = _SEPARATORS.sub("", subject)
    match = _VIETNAMESE_PHONE.match(compact)
    if match:
        return "+84" + match.group(1)
    return subject.strip().casefold()


class SubjectHasher:
    def __init__(self, key: bytes) -> None:
        # The keyed inner and outer states, computed once: each subject then costs a copy and an update.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __call__(self, subject: str) -> bytes:
        mac = self._keyed.copy()
        mac.update(canonical_subject(subject).encode("utf-8"))
        return mac.digest()


def person_key(subject_hash: bytes, unit_code: str, audience: str) -> int:
    """A person's 64-bit key: one subject in one unit and audience (the events' timeline index).
    Migration a0002 computes the same in SQL."""
    digest = hashlib.sha256(subject_hash + f"{unit_code}|{audience}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
