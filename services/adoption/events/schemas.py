"""App install/usage events in and out of the API.

An event's rules are written twice, side by side: once for msgspec (``ValidEvent``,
``decode_valid_batch``), which decodes a valid batch at a fraction of pydantic's cost, and once for
pydantic (``EventIn``), which reads a batch holding an invalid event and names every error of each
one (``docs/performance.md``, "Decoding a batch"). A batch is first decoded by msgspec; only when
that fails does pydantic read it. Both read times with msgspec's RFC 3339 parser
(``shared.schemas.Instant``), so the two accept the same events with the same values
(tests/adoption/test_event_decoding.py holds them to it).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from shared.problems import RejectedEvent
from shared.schemas import INSTANT_PATTERN, Instant

Audience = Literal["staff", "citizen"]
EventType = Literal["installed", "activated", "uninstalled"]
EVENT_ID_MAX, UNIT_CODE_MAX, SUBJECT_MAX = 100, 32, 200  # UNIT_CODE_MAX: the pattern's {0,31}, plus one


# Typed dicts, not models: they validate at less cost (``docs/performance.md``), and pydantic's
# reading is only kept for its errors. Their names are the OpenAPI document's.
@with_config(ConfigDict(extra="forbid", strict=True))
class EventIn(TypedDict):
    """One event. ``subject`` identifies a person; it is keyed-hashed on arrival, never stored."""

    # Strict and validated straight from the JSON text. ("$" is the end of the text in pydantic's
    # regular expressions; in Python's, "\Z" is.)
    event_id: Annotated[
        str, Field(min_length=1, max_length=EVENT_ID_MAX, pattern=r"^[\x21-\x7e]+$", examples=["b7c1e2"])
    ]
    unit_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", examples=["06652"])]
    subject: Annotated[str, Field(min_length=1, max_length=SUBJECT_MAX, description="a phone number or account id")]
    audience: Audience
    type: EventType
    occurred_at: Annotated[Instant, Field(examples=["2020-02-20T09:15:00+07:00"])]


@with_config(ConfigDict(extra="forbid", strict=True))
class EventBatchIn(TypedDict):
    """At most ``IOC_MAX_EVENTS_PER_REQUEST`` (1,000) events; each is checked on its own."""

    events: Annotated[list[EventIn], Field(min_length=1)]


class ValidEvent(msgspec.Struct, forbid_unknown_fields=True):
    """One valid event of a request, as the ingest reads it: ``EventIn``'s rules, for msgspec. The
    characters of ``event_id`` and ``unit_code``, and the syntax of ``occurred_at``, are checked by
    ``decode_valid_batch`` for the whole batch at once."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=EVENT_ID_MAX)]
    unit_code: Annotated[str, msgspec.Meta(min_length=1, max_length=UNIT_CODE_MAX)]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=SUBJECT_MAX)]
    audience: Audience
    type: EventType
    # Decoded as text, then, once the batch's times are all RFC 3339 within Instant's years, as an aware
    # datetime: msgspec's own datetime decoding would also take a space for "T" or "+0700".
    occurred_at: Any


class ValidEventBatch(msgspec.Struct, forbid_unknown_fields=True):
    """A request's events, every one valid: ``EventBatchIn``'s rules, for msgspec."""

    events: Annotated[list[ValidEvent], msgspec.Meta(min_length=1)]


_VALID_EVENT_BATCH = msgspec.json.Decoder(ValidEventBatch)
# Not msgspec ``pattern``s: msgspec checks one by calling Python's ``re`` on each string, which would
# cost more than the rest of the decoding. Searched for in the batch's ids and codes joined, a
# character outside the rules costs one call a batch. (The lengths are msgspec's.)
_NOT_IN_EVENT_ID = re.compile(r"[^\x21-\x7e]")
_NOT_IN_UNIT_CODE = re.compile(r"[^A-Za-z0-9-]")
# The batch's times joined by newlines (which no time holds): one match for all of them.
_TIME = INSTANT_PATTERN.removeprefix("^").removesuffix("$")
_TIMES = re.compile(f"(?:{_TIME}\n)*{_TIME}")


def decode_valid_batch(body: bytes) -> list[ValidEvent] | None:
    """The batch's events if the batch and every event in it are valid, else None."""
    try:
        events = _VALID_EVENT_BATCH.decode(body).events
    except msgspec.DecodeError:
        return None
    if _NOT_IN_EVENT_ID.search("".join([e.event_id for e in events])):
        return None
    codes = [e.unit_code for e in events]
    if _NOT_IN_UNIT_CODE.search("".join(codes)) or "-" in "".join([code[0] for code in codes]):
        return None  # a code begins with a letter or digit
    times = [e.occurred_at for e in events]
    try:
        if not _TIMES.fullmatch("\n".join(times)):
            return None
        moments = msgspec.convert(times, list[datetime])
    except (TypeError, msgspec.ValidationError):  # not text; a 30th of February, an hour 24...
        return None
    for event, moment in zip(events, moments, strict=True):
        event.occurred_at = moment
    return events


# The reading that names every error.
CHECKED_BATCH = TypeAdapter(EventBatchIn)


class IngestResult(BaseModel):
    accepted: int = Field(description="new events, counted from now on")
    duplicates: int = Field(description="event ids seen before (or twice in this request): they change nothing")
    rejected: list[RejectedEvent] = Field(description="each invalid event, with its errors")
