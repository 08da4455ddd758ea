"""SMS text: GSM-7 / UCS-2 segment counting and Vietnamese without accents.

A message that fits the GSM 03.38 alphabet costs 160 characters for one segment and 153 a segment
when split (the rest carries the concatenation header); anything else is sent as UCS-2 at 70 / 67
UTF-16 units. Characters of the GSM extension table (``^ { } \\ [ ~ ] | €``) take two septets.

Vietnamese letters are not in GSM-7, so an accented SMS costs more than twice as many segments.
Brandname gateways often require unaccented text: :func:`unaccent` converts Vietnamese correctly
(đ→d, Đ→D, ư→u, ơ→o, â→a, tones dropped) rather than replacing letters with "?".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

# Letters whose base is not recovered by dropping combining marks.
_SPECIAL = {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"}
# Typographic characters common in pasted text, with their plain forms.
_PUNCTUATION = {"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "\u00a0": " "}


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count_segments(text: str) -> Segments:
    if is_gsm7(text):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return Segments("GSM-7", sum(sizes), _pack(sizes, single=160, multi=153))
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # astral characters are surrogate pairs
    return Segments("UCS-2", sum(sizes), _pack(sizes, single=70, multi=67))


def _pack(sizes: list[int], *, single: int, multi: int) -> int:
    """Segments needed when a character (an escape pair, a surrogate pair) is never split between two."""
    if sum(sizes) <= single:
        return 1
    count, used = 1, 0
    for size in sizes:
        if used + size > multi:
            count, used = count + 1, 0
        used += size
    return count


def unaccent(text: str) -> str:
    """Vietnamese (and other Latin text) without diacritics: "Kính gửi đồng chí Đức" → "Kinh gui dong chi Duc"."""
    text = "".join(_SPECIAL.get(ch, _PUNCTUATION.get(ch, ch)) for ch in text)
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def fit(text: str, max_segments: int) -> str:
    """``text`` cut (with "...") so that it takes at most ``max_segments`` segments."""
    if count_segments(text).count <= max_segments:
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that still fits with the ellipsis
        middle = (low + high + 1) // 2
        if count_segments(text[:middle].rstrip() + "...").count <= max_segments:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "..."
