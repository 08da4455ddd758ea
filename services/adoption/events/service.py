"""Ingesting a batch of app events: validate each, hash subjects, store the new ones.

Each event is checked on its own: the valid ones are taken, the invalid ones come back with their
index and errors. Event ids seen before are duplicates and change nothing (a unique key, not a
lookup). The valid events are stored by the app's ``EventWriter`` (writer.py), in one transaction
with those of other requests waiting at the same moment. The aggregates are the worker's business: a
committed batch wakes it through NOTIFY.
"""

from __future__ import annotations

import gc
import json
from datetime import timedelta

import asyncpg
from pydantic import ValidationError

from services.adoption.events.copy_stream import EventRow, microseconds
from services.adoption.events.schemas import CHECKED_BATCH, IngestResult, ValidEvent, decode_valid_batch
from services.adoption.events.writer import EventWriter
from services.adoption.subjects import SubjectHasher, person_key
from services.adoption.units.service import UnitCodes
from shared.auth import Principal, Role
from shared.problems import (
    AppError,
    FieldError,
    Forbidden,
    RejectedEvent,
    field_errors_from_pydantic,
    render_field_errors,
)
from shared.timeutil import utcnow

# Clocks of phones and servers drift: an event a little in the future is plausible, an hour is not.
FUTURE_TOLERANCE = timedelta(minutes=10)

# Allocations net of frees before the young generation is collected (CPython's default: 700).
GC_YOUNG_THRESHOLD = 50_000


def collect_garbage_less_often() -> None:
    """Raise the process's young-generation threshold to ``GC_YOUNG_THRESHOLD``.

    A batch of 1,000 events allocates thousands of short-lived containers (decoded events, rows,
    hashes), so at the default threshold the collector runs several times a request, only to find
    objects that are freed moments later anyway; those runs are a visible share of the ingest's CPU
    (``docs/performance.md``). Cycles are still collected, less often."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def parse(body: bytes) -> tuple[int, dict[int, ValidEvent], dict[int, list[FieldError]]]:
    """(number of events, valid events by index, errors by index), from the request's JSON text."""
    if (valid := decode_valid_batch(body)) is not None:  # the rule, every event valid: msgspec's decoding
        return len(valid), dict(enumerate(valid)), {}
    try:  # pydantic's reading names every error (and is the reference, should the two ever differ)
        checked = CHECKED_BATCH.validate_json(body)["events"]
        return len(checked), {i: ValidEvent(**e) for i, e in enumerate(checked)}, {}
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    # Some events (or the envelope) are wrong: find which, then take the others on their own.
    if any(len(e["loc"]) < 2 or e["loc"][0] != "events" for e in errors):
        raise AppError(422, "validation-error", errors=field_errors_from_pydantic(errors))
    problems: dict[int, list[FieldError]] = {}
    for error in errors:
        _, index, *rest = error["loc"]
        problems.setdefault(int(index), []).extend(field_errors_from_pydantic([{**error, "loc": rest}]))
    raw = json.loads(body)["events"]
    valid_indices = [i for i in range(len(raw)) if i not in problems]
    checked = []
    if valid_indices:  # validated again from JSON text, so that the strict rules stay the JSON ones
        checked = CHECKED_BATCH.validate_json(json.dumps({"events": [raw[i] for i in valid_indices]}))["events"]
    return len(raw), {i: ValidEvent(**e) for i, e in zip(valid_indices, checked, strict=True)}, problems


async def ingest(
    pool: asyncpg.Pool,
    body: bytes,
    *,
    principal: Principal,
    hasher: SubjectHasher,
    units: UnitCodes,
    writer: EventWriter,
    max_events: int,
    english: bool,
) -> IngestResult:
    """Store the batch's valid, new events; report duplicates and each invalid event's errors."""
    count, valid, problems = parse(body)
    if count > max_events:
        raise AppError(
            422,
            "validation-error",
            "too-many-events",
            limit=max_events,
            count=count,
            errors=[FieldError("events", "too_long", max_length=max_events)],
        )
    # Unit codes are compared upper-case (a ward app's own, the directory's).
    if principal.role is Role.ward_app and any(e.unit_code.upper() != principal.unit_code for e in valid.values()):
        raise Forbidden("forbidden-events-unit", own=principal.unit_code)

    active = await units.active(pool)
    latest_allowed = microseconds(utcnow() + FUTURE_TOLERANCE)
    seen: set[str] = set()
    duplicates_in_request = 0
    rows: list[EventRow] = []
    for index, event in valid.items():
        unit_code, event_id = event.unit_code.upper(), event.event_id
        if unit_code not in active:
            problems.setdefault(index, []).append(FieldError("unit_code", "unit_codes_unknown", codes=unit_code))
        elif (occurred_at := microseconds(event.occurred_at)) > latest_allowed:
            problems.setdefault(index, []).append(FieldError("occurred_at", "occurred_in_future"))
        elif event_id in seen:
            duplicates_in_request += 1  # the same event twice in one request: a duplicate, like a replay
        else:
            seen.add(event_id)
            subject_hash = hasher(event.subject)
            audience = event.audience
            person = person_key(subject_hash, unit_code, audience)
            rows.append((event_id, unit_code, person, subject_hash, audience, event.type, occurred_at))

    rejected = [RejectedEvent(index=i, errors=render_field_errors(problems[i], english)) for i in sorted(problems)]
    if not rows and not duplicates_in_request:
        raise AppError(
            422, "validation-error", "no-valid-event", extensions={"rejected": [r.model_dump() for r in rejected]}
        )
    accepted = await writer.store(pool, rows) if rows else 0
    return IngestResult(accepted=accepted, duplicates=len(rows) - accepted + duplicates_in_request, rejected=rejected)
