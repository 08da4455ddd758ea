"""An event batch is decoded by msgspec when every event is valid and by pydantic otherwise (schemas.py):
the two must take the same events with the same values, or an event's fate would hang on its
neighbours."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.adoption.events.schemas import CHECKED_BATCH, ValidEvent, decode_valid_batch
from services.adoption.events.service import parse
from shared.problems import AppError

VALID = {
    "event_id": "b7c1e2",
    "unit_code": "06652",
    "subject": "0912 345 678",
    "audience": "staff",
    "type": "installed",
    "occurred_at": "2020-02-20T09:15:00+07:00",
}
TIMES = [
    "2020-02-20T09:15:00Z",
    "2020-02-20t09:15:00z",
    "2020-02-20 09:15:00+07:00",
    "2020-02-20T09:15:00-00:00",
    "2020-02-20T09:15:00+23:59",
    "2020-02-20T09:15:00+0700",
    "2020-02-20T09:15:00.123456+07:00",
    "2020-02-20T09:15:00.1234567+07:00",  # past the microsecond: rounded, as PostgreSQL does
    "2020-02-20T09:15:00.9999995Z",
    "2020-02-20T09:15:00.000000000000001Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2020-02-20T09:15:00",  # no offset
    "2020-02-20",
    "2020-02-20T09:15+07:00",  # no seconds
    "2020-02-20T09:15:00+07",
    "2020-02-20T09:15:00,5Z",
    "2020-02-20_09:15:00Z",
    "2020-02-20T9:15:00Z",
    "20200220T091500Z",
    "2020-02-30T00:00:00Z",
    "2020-02-20T23:59:60Z",
    "2020-02-20T24:00:00Z",
    "2020-02-20T09:15:00+24:00",
    "2020-02-20T09:15:00 +07:00",
    "1582165500",  # a Unix time, as text
    "",
    1582165500,
]
TEXTS = {
    "event_id": ["a", "x" * 100, "x" * 101, "", "a b", "a\n", "\na", "é", "~!{}", "\u0000"],
    "unit_code": ["06652", "ab-1", "a-", "-06652", "0" * 32, "0" * 33, "06652\n", "ab\ncd", "0665 2", "", "Ư"],
    "subject": ["x", "é" * 200, "é" * 201, "", " ", "\u0000", "\ud83d\ude00", "+84 912.345-678"],
    "audience": ["staff", "citizen", "Staff", "robot", ""],
    "type": ["installed", "activated", "uninstalled", "opened", "INSTALLED"],
}
WRONG_TYPES = [1, 1.5, True, None, [], {}]
ONE_KEY_TWICE = json.dumps({"events": [{**VALID, "audience": "citizen"}]})[:-3] + ', "audience": "staff"}]}'
VARIANTS = {  # a label (the test's id) -> a request body
    **{f"occurred_at={t!r}": json.dumps({"events": [{**VALID, "occurred_at": t}]}) for t in TIMES},
    **{f"{k}={v!r}": json.dumps({"events": [{**VALID, k: v}]}) for k, values in TEXTS.items() for v in values},
    **{f"{k}={v!r}": json.dumps({"events": [{**VALID, k: v}]}) for k in VALID for v in WRONG_TYPES},
    # The fast decoding checks the characters of the batch's ids and codes joined: the second event's own.
    **{
        f"second event's {k}={v!r}": json.dumps({"events": [VALID, {**VALID, k: v}]})
        for k in ("event_id", "unit_code")
        for v in TEXTS[k]
    },
    **{f"no {k}": json.dumps({"events": [{n: v for n, v in VALID.items() if n != k}]}) for k in VALID},
    "unknown field": json.dumps({"events": [{**VALID, "device": "iPhone"}]}),
    "unknown envelope field": json.dumps({"events": [VALID], "sent_at": "now"}),
    "no events": json.dumps({"events": []}),
    "events not a list": json.dumps({"events": VALID}),
    "empty object": json.dumps({}),
    "a list": json.dumps([VALID]),
    "trailing text": json.dumps({"events": [VALID]}) + " x",
    "byte order mark": "\ufeff" + json.dumps({"events": [VALID]}),
    "lone surrogate": '{"events": [{"event_id": "a\\ud800", ' + json.dumps(VALID)[1:] + "]}",
    "one key twice": ONE_KEY_TWICE,
    "trailing comma": '{"events": [' + json.dumps(VALID) + ",]}",
}


def decoded_by_msgspec(body: bytes) -> list[ValidEvent] | None:
    return decode_valid_batch(body)


def decoded_by_pydantic(body: bytes) -> list[ValidEvent] | None:
    try:
        return [ValidEvent(**e) for e in CHECKED_BATCH.validate_json(body)["events"]]
    except ValidationError:
        return None


@pytest.mark.parametrize("body", VARIANTS.values(), ids=VARIANTS.keys())
def test_msgspec_and_pydantic_take_the_same_events_with_the_same_values(body):
    encoded = body.encode("utf-8", "surrogatepass")
    fast, reference = decoded_by_msgspec(encoded), decoded_by_pydantic(encoded)
    assert (fast is None) == (reference is None)
    if fast is not None:
        assert fast == reference
        assert [e.occurred_at.utcoffset() for e in fast] == [e.occurred_at.utcoffset() for e in reference]


def test_the_variants_hold_both_valid_and_invalid_events():
    refused = sum(decoded_by_pydantic(body.encode("utf-8", "surrogatepass")) is None for body in VARIANTS.values())
    assert min(refused, len(VARIANTS) - refused) >= 25


def test_an_event_is_read_the_same_beside_an_invalid_one():
    event = {**VALID, "occurred_at": "2020-02-20T09:15:00.9999995+07:00"}
    alone = parse(json.dumps({"events": [event]}).encode())
    beside = parse(json.dumps({"events": [event, {**VALID, "type": "opened"}]}).encode())
    assert alone[1] == {0: beside[1][0]}
    assert beside[2].keys() == {1}
    assert alone[1][0].occurred_at == datetime(2020, 2, 20, 2, 15, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "error"),
    [
        ("1582165500", "datetime_parsing"),
        ("2020-02-20T09:15+07:00", "datetime_parsing"),
        ("2020-02-20_09:15:00Z", "datetime_parsing"),
        ("2020-02-20T09:15:00", "timezone_aware"),
        (1582165500, "datetime_type"),
    ],
)
def test_times_are_rfc_3339_text_with_an_offset(written, error):
    body = json.dumps({"events": [{**VALID, "occurred_at": written}, VALID]}).encode()
    count, valid, problems = parse(body)
    assert (count, list(valid)) == (2, [1])
    assert [(e.field, e.key) for e in problems[0]] == [("occurred_at", error)]


def test_a_batch_with_no_events_list_is_refused_whole():
    with pytest.raises(AppError) as refused:
        parse(b'{"events": {}}')
    assert refused.value.status == 422
