"""Masking of personal data in logs, and the containers' health-check command."""

from __future__ import annotations

import json
import logging

import pytest

from shared import healthcheck
from shared.logs import configure_logging, mask


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("gửi tới +84912345678", "912345", "+84"),
        ("số 0912 345 678 đã nhận", "345", "678"),
        ("thư an.nv@halong.gov.vn", "an.nv", "@halong.gov.vn"),
    ],
)
def test_phones_and_emails_are_masked(text, hidden, kept):
    masked = mask(text)
    assert hidden not in masked and kept in masked


def test_library_log_lines_are_masked_too(capfd):
    configure_logging("INFO", json_output=True)
    logging.getLogger("arq.worker").info("job %s", {"phone": "+84912345678", "email": "an.nv@halong.gov.vn"})
    err = capfd.readouterr().err
    assert "912345678" not in err and "an.nv@" not in err and "halong.gov.vn" in err


def test_structured_events_are_json_with_masked_values(capfd):
    import structlog

    configure_logging("INFO", json_output=True)
    structlog.get_logger("t").info("sent", recipient="+84987654321")
    line = [ln for ln in capfd.readouterr().err.splitlines() if '"sent"' in ln][-1]
    record = json.loads(line)
    assert record["event"] == "sent" and "987654" not in record["recipient"]


async def test_health_check_of_a_worker_reads_its_heartbeat(redis_url, monkeypatch):
    import redis.asyncio as aioredis

    monkeypatch.setenv("IOC_REDIS_URL", redis_url)
    monkeypatch.setenv("IOC_QUEUE_PREFIX", "hc-test")
    assert await healthcheck.check_worker("notifier") is False
    client = aioredis.Redis.from_url(redis_url)
    await client.set("hc-test:notifier:health-check", "ok", ex=5)
    try:
        assert await healthcheck.check_worker("notifier") is True
    finally:
        await client.delete("hc-test:notifier:health-check")
        await client.aclose()


def test_health_check_of_an_http_app_that_does_not_answer():
    assert healthcheck.check_http("http://127.0.0.1:9/healthz") is False
    assert healthcheck.main(["nonsense"]) == 2
