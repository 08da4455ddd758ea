"""The adoption service's settings (environment variables ``IOC_…``; see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from shared.settings import CommonSettings

DEVELOPMENT_KEY = "development-only-subject-key"


class AdoptionSettings(CommonSettings):
    adoption_database_url: str | None = None  # when adoption gets a database of its own
    max_body_bytes: int = 1024 * 1024
    max_events_per_request: int = 1000
    # Concurrent requests' events are stored together (events/writer.py): at most this many
    # transactions at once, each of at most this many events (whole requests; one request at least).
    # Overlapping transactions keep both the app and PostgreSQL busy (the number: docs/performance.md).
    ingest_writers: int = 2
    ingest_group_max_events: int = 8000

    # Subjects (phones, account ids) are keyed-hashed with this secret before they are stored, queued
    # or logged. Changing it makes every person count as new: keep it, and keep it secret.
    subject_hmac_key: SecretStr = SecretStr(DEVELOPMENT_KEY)

    target_staff_rate: float = 1.0  # the dispatch asks for all staff
    # Weekly nudges and the Office's digest: ISO weekday (1 = Monday) and hour, Vietnam time.
    weekly_nudge_weekday: int = 1
    weekly_nudge_hour: int = 8
    office_email: str = "vanphong@halong.example"

    # Metrics GETs are polled by many screens every few seconds.
    metrics_max_age_seconds: int = 5
    aggregate_max_events: int = 20000  # events folded into the aggregates per transaction (at least a batch)
    aggregate_poll_seconds: float = 5.0
    # Under load, folds start at most this often: a fold has a fixed cost (its days' rows of ``daily``
    # are rewritten however few events it holds), so fewer, larger folds cost less an event
    # (docs/performance.md). A quiet service still folds each batch at once.
    aggregate_interval_seconds: float = 0.2

    # Events are partitioned by month (partitions/): the worker makes this month's partition and this
    # many ahead, and with a retention drops the partitions of months before the last N (this month
    # counted; unset: keep every event). The aggregates keep their whole history either way.
    adoption_event_months_ahead: int = Field(default=1, ge=0, le=24)
    adoption_event_retention_months: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _checks(self) -> AdoptionSettings:
        if self.adoption_database_url:
            self.database_url = self.adoption_database_url
        if self.environment == "production" and self.subject_hmac_key.get_secret_value() in ("", DEVELOPMENT_KEY):
            raise ValueError("set IOC_SUBJECT_HMAC_KEY to a secret of your own in production")
        return self


@lru_cache
def get_settings() -> AdoptionSettings:
    return AdoptionSettings()
