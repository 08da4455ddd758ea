"""A batch of events as PostgreSQL's binary COPY stream (the format: "COPY", File Formats, Binary Format).

asyncpg's ``copy_records_to_table`` encodes any table through per-column codecs, and its timestamp
codec compares and converts each datetime in Python. The events' eight columns are known, so a row
here is one ``struct`` call, which costs the app less CPU an event (``docs/performance.md``).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone

from services.adoption.models import Event

# PostgreSQL counts timestamps in microseconds from its own epoch.
POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = _SIGNATURE + struct.pack(">ii", 0, 0)  # no flags, no header extension
_TRAILER = struct.pack(">h", -1)
# The column order of the stream: the batch id first, so that one prefix (field count, then the
# batch id) joins the rows; the variable-width text last. ``_packer``'s format follows this order.
E = Event.__table__.c
COLUMNS = tuple(
    column.name
    for column in (E.batch_id, E.person, E.occurred_at, E.subject_hash, E.audience, E.type, E.unit_code, E.event_id)
)


# An event as stored, before its batch is known: (event_id, unit_code, person, subject_hash, audience,
# type, occurred_at). The event id is printable ASCII and the unit code ASCII letters, digits and '-'
# (the API's patterns); the subject hash 32 bytes; occurred_at in microseconds since POSTGRES_EPOCH.
# A plain tuple rather than a NamedTuple: it is built once an event, in the ingest's busiest loop,
# and a tuple costs least to build.
EventRow = tuple[str, str, int, bytes, str, str, int]


# PostgreSQL's epoch in each fixed offset met (at most one per minute of offset).
_EPOCH_IN: dict[timezone, datetime] = {}


def microseconds(moment: datetime) -> int:
    """An aware datetime as PostgreSQL stores it."""
    zone = moment.tzinfo
    if type(zone) is timezone:  # a fixed offset, as msgspec and pydantic give (one object an offset)
        # Two datetimes with the very same tzinfo subtract as wall times, without a ``utcoffset()``
        # call on either, about half the cost of the subtraction (docs/performance.md). Right for
        # fixed offsets only.
        epoch = _EPOCH_IN.get(zone) or _EPOCH_IN.setdefault(zone, POSTGRES_EPOCH.astimezone(zone))
        delta = moment - epoch
    else:
        delta = moment - POSTGRES_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def timestamp(micros: int) -> datetime:
    return POSTGRES_EPOCH + timedelta(microseconds=micros)


_packers: dict[tuple[int, int, int, int], struct.Struct] = {}


def _packer(audience: int, type_: int, unit_code: int, event_id: int) -> struct.Struct:
    # Each field is its length then its bytes; the batch id and the field count come from the prefix.
    fmt = f">iqiqi32si{audience}si{type_}si{unit_code}si{event_id}s"
    packer = _packers[(audience, type_, unit_code, event_id)] = struct.Struct(fmt)
    return packer


def binary_copy(rows: list[EventRow], batch_id: int) -> bytes:
    """The COPY stream of ``rows`` (columns as ``COLUMNS``), all in batch ``batch_id``."""
    prefix = struct.pack(">hiq", len(COLUMNS), 8, batch_id)
    packed = []
    for event_id, unit_code, person, subject_hash, audience, type_, occurred_at in rows:
        a, t, u, e = audience.encode(), type_.encode(), unit_code.encode(), event_id.encode()
        lengths = (na, nt, nu, ne) = (len(a), len(t), len(u), len(e))
        packer = _packers.get(lengths) or _packer(*lengths)
        packed.append(packer.pack(8, person, 8, occurred_at, 32, subject_hash, na, a, nt, t, nu, u, ne, e))
    return b"".join((_HEADER, prefix, prefix.join(packed), _TRAILER))


def binary_copy_ids(rows: list[EventRow]) -> bytes:
    """The COPY stream of ``rows``' event ids, the one column of ``event_ids``."""
    ids = [row[0].encode() for row in rows]
    return b"".join((_HEADER, b"".join(struct.pack(">hi", 1, len(e)) + e for e in ids), _TRAILER))
