"""Vietnamese text helpers.

Vietnamese arrives both precomposed (NFC) and decomposed (NFD, e.g. from macOS and some Android
keyboards): "Nguyễn" may be 6 or 8 code points. Everything is stored and compared in NFC with
whitespace folded, so that equal names are equal bytes.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
# C0/C1 control characters other than the whitespace folded above, and Unicode format characters
# (zero-width joiners, bidi overrides) that make two equal-looking names differ.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalize_text(value: str) -> str:
    """NFC, invisible characters removed, surrounding and repeated whitespace folded to one space."""
    value = unicodedata.normalize("NFC", value)
    value = _INVISIBLE.sub("", value)
    return _WHITESPACE.sub(" ", value).strip()


def fold_for_search(value: str) -> str:
    """Lower-case, accents dropped (đ→d): what a search box should match ("ha phong" finds "Hà Phong")."""
    value = unicodedata.normalize("NFD", normalize_text(value).casefold())
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    return value.replace("đ", "d")
