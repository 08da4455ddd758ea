"""Subjects (a phone number, an account id) become keyed hashes the moment they arrive.

HMAC-SHA256 with a server secret: without the secret, a hash cannot be tested against a list of
phone numbers (a plain SHA-256 of a Vietnamese mobile number falls to a dictionary of 10^9 entries in
minutes). Phone numbers are first brought to one form, so that "0912 345 678" and "+84912345678"
are the same person.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct

_SEPARATORS = re.compile(r"[\s.\-()]")
_VIETNAMESE_PHONE = re.compile(r"^(?:\+?84|0)(\d{9,10})$")


def canonical_subject(subject: str) -> str:
    compact = _SEPARATORS.sub("", subject)
    match = _VIETNAMESE_PHONE.match(compact)
    if match:
        return "+84" + match.group(1)
    return subject.strip().casefold()


class SubjectHasher:
    """HMAC-SHA256 (RFC 2104) of the canonical subject, the ``hmac`` module's result byte for byte."""

    def __init__(self, key: bytes) -> None:
        # The keyed inner and outer states, computed once; each subject then costs two copies and two
        # updates, less than copying an ``hmac.HMAC``, whose Python layer dominates at this size
        # (docs/performance.md).
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def __call__(self, subject: str) -> bytes:
        inner = self._inner.copy()
        inner.update(canonical_subject(subject).encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_FIRST_8_BYTES_SIGNED = struct.Struct(">q").unpack_from


@functools.lru_cache(maxsize=4096)
def _unit_audience_key(unit_code: str, audience: str) -> int:
    key: int = _FIRST_8_BYTES_SIGNED(hashlib.sha256(f"{unit_code}|{audience}".encode()).digest())[0]
    return key


def person_key(subject_hash: bytes, unit_code: str, audience: str) -> int:
    """A person's 64-bit key: one subject in one unit and audience (the events' timeline index). The
    subject hash's first 8 bytes, XOR a key of (unit, audience): a keyed hash is already uniform, so
    no second hash of it is needed (a SHA-256 an event less). Migration a0003 computes the same in SQL.
    Two people could still share a key; the fold tells them apart by their full identity."""
    first: int = _FIRST_8_BYTES_SIGNED(subject_hash)[0]
    return first ^ _unit_audience_key(unit_code, audience)
