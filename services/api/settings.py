"""The registry's settings (environment variables ``IOC_…``; see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field

from shared.settings import CommonSettings


class RegistrySettings(CommonSettings):
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/ioc",
        validation_alias=AliasChoices("IOC_REGISTRY_DATABASE_URL", "IOC_DATABASE_URL"),
    )
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("IOC_REGISTRY_HOST", "IOC_HOST"))
    port: int = Field(8000, validation_alias="IOC_REGISTRY_PORT")
    max_body_bytes: int = 1024 * 1024

    # Requests per minute per key, by role, unless the key carries its own limit.
    rate_limit_office: int = 600
    rate_limit_ward_app: int = 120
    rate_limit_ops_centre: int = 1200
    rate_limit_app_backend: int = 6000

    idempotency_retention_hours: int = 48
    # The relay wakes on PostgreSQL NOTIFY at once; this poll is the safety net if a notice is lost.
    outbox_poll_seconds: float = 5.0
    outbox_batch_size: int = 500


@lru_cache
def get_settings() -> RegistrySettings:
    return RegistrySettings()
