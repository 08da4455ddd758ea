"""App install/usage events in and out of the API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12


# Typed dicts, not models: a batch of 1,000 validates in half the time (2.7 -> 1.4 µs an event,
# measured alone), and the ingest only reads the fields once.
@with_config(ConfigDict(extra="forbid", strict=True))
class EventIn(TypedDict):
    """One event. ``subject`` identifies a person; it is keyed-hashed on arrival, never stored."""

    # Strict and validated straight from the JSON text: dates only as RFC 3339 strings, never numbers.
    event_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$", examples=["b7c1e2"])]
    unit_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", examples=["06652"])]
    subject: Annotated[str, Field(min_length=1, max_length=200, description="a phone number or account id")]
    audience: Literal["staff", "citizen"]
    type: Literal["installed", "activated", "uninstalled"]
    occurred_at: Annotated[AwareDatetime, Field(examples=["2020-02-20T09:15:00+07:00"])]


@with_config(ConfigDict(extra="forbid", strict=True))
class EventBatchIn(TypedDict):
    """At most ``IOC_MAX_EVENTS_PER_REQUEST`` (1,000) events; each is checked on its own."""

    events: Annotated[list[EventIn], Field(min_length=1)]


class FieldErrorOut(BaseModel):
    field: str
    message: str


class Rejected(BaseModel):
    index: int
    errors: list[FieldErrorOut]


class IngestResult(BaseModel):
    accepted: int = Field(description="new events, counted from now on")
    duplicates: int = Field(description="event ids seen before: they change nothing")
    rejected: list[Rejected]
