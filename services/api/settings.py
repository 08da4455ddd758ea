"""The registry's settings (environment variables ``IOC_…``; see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import model_validator

from shared.settings import CommonSettings


class RegistrySettings(CommonSettings):
    registry_database_url: str | None = None  # when the registry gets a database of its own
    max_body_bytes: int = 1024 * 1024

    # Reminders to units still without a focal point: "3d" = 3 days before the deadline, "12h" =
    # 12 hours before, "08:00" = that time (Vietnam) on the last day before the deadline.
    reminder_offsets: list[str] = ["3d", "1d", "08:00"]
    # The Office's digest of late and missing units goes out this long after the deadline.
    digest_delay_hours: float = 8.0
    # A notice whose time passed longer ago than this (the worker was down, or the directive was
    # created after it) is recorded as skipped rather than sent late.
    notice_grace_hours: float = 24.0

    # Sign-in: this many failures for one (login, client address) pair within the lock period lock that
    # pair for the lock period (429, the same message whatever was wrong).
    sign_in_max_failures: int = 5
    sign_in_lock_minutes: float = 15.0
    # The Office's "remind now": at most one manual reminder per (directive, unit) in this many minutes.
    manual_reminder_interval_minutes: float = 60.0

    @model_validator(mode="after")
    def _own_database(self) -> RegistrySettings:
        if self.registry_database_url:
            self.database_url = self.registry_database_url
        return self


@lru_cache
def get_settings() -> RegistrySettings:
    return RegistrySettings()
