"""People's passwords: Argon2id through pwdlib, hashed off the event loop, and the random one-time
passwords given to new and reset accounts.

The parameters are OWASP's for Argon2id (19 MiB, two passes, one lane): a sign-in costs a fraction of
a second of one core and 19 MiB for that moment, which a registry process can afford for a handful at
once. A hash made with other parameters is still verified, and replaced at the next sign-in.
"""

from __future__ import annotations

import asyncio
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
# Verified against when the login is unknown, so that an unknown login takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))
# No 0/O, 1/l/I: a one-time password is read off a screen and typed.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

MIN_LENGTH = 12


def one_time_password() -> str:
    """16 random characters (about 93 bits) in four groups: ``Xk7q-3mPa-...``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(whether it matches, a new hash when the stored one's parameters are outdated). ``None``: no
    such person, checked against a dummy hash all the same."""
    if password_hash is None:
        await asyncio.to_thread(_hasher.verify, password, _DUMMY)
        return False, None
    return await asyncio.to_thread(_hasher.verify_and_update, password, password_hash)
