"""Settings every service shares. Each service builds its own class from these pieces.

All variables carry the one prefix ``IOC_`` (see ``.env.example``). Nothing here connects to anything:
services read settings through their own cached ``get_settings()``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: str = Field("development", description="development | test | production")
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/ioc",
        description="SQLAlchemy URL; a service may override it with its own IOC_<SERVICE>_DATABASE_URL",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_prefix: str = Field("ioc", description="prefix of every arq queue name (tests use their own)")
    log_level: str = "INFO"
    log_json: bool = True

    # Connection behaviour: fail fast so that a dead dependency answers 503, never hangs a request.
    db_pool_size: int = 20
    db_max_overflow: int = 20
    db_connect_timeout_seconds: float = 3.0
    # How long a request may queue for a pooled connection under load before it answers 503.
    db_pool_timeout_seconds: float = 10.0
    db_statement_timeout_ms: int = 10_000
    redis_timeout_seconds: float = 1.0
    # How often an idle worker looks for due jobs. arq only starts new jobs when it looks, so this also
    # caps a busy worker's rate (concurrency / poll interval): arq's default (0.5 s) held the notifier
    # well below what it can send (docs/performance.md, "Notifier").
    worker_poll_seconds: float = 0.05
    # Each worker process serves Prometheus metrics on this port (0: none; unset: the service's own
    # default, 9100 registry, 9101 adoption, 9102 notifier) and address.
    worker_metrics_port: int | None = None
    worker_metrics_host: str = "127.0.0.1"

    # The outboxes (registry, adoption): how often the relay looks for new rows, how many it takes at
    # a time, and how long a relayed message may go unacknowledged by its consumer before the relay
    # checks whether Redis still holds it and, if not, sends it again.
    outbox_poll_seconds: float = 0.2
    outbox_batch_size: int = 500
    outbox_ack_timeout_seconds: float = 60.0
    # Acknowledged rows are deleted after this many days (the audit trail is the domain's own tables).
    outbox_retention_days: int = 30

    # Idempotency-Keys are kept this long (the contract promises at least 24 h), then deleted by the
    # service's worker.
    idempotency_retention_hours: int = 48
    # Requests a minute per key, by role, unless the key carries its own limit (each service counts its
    # own requests).
    rate_limit_office: int = 600
    rate_limit_ward_app: int = 120
    rate_limit_ops_centre: int = 1200
    rate_limit_app_backend: int = 6000
    # Per-key rate limits are kept in Redis and shared by every process of a service; while Redis does
    # not answer within the timeout, each process applies them on its own and leaves Redis alone for
    # the retry interval. A process takes up to grant_seconds of a key's rate from Redis at once (at
    # least one request), so a key with a high limit costs a Redis call now and then, not per request.
    rate_limit_shared: bool = True
    rate_limit_redis_timeout_seconds: float = 0.1
    rate_limit_redis_retry_seconds: float = 5.0
    rate_limit_grant_seconds: float = 0.1
    # Origins whose pages may call the APIs from a browser (CORS), e.g. ["https://ioc.halong.gov.vn"];
    # none by default: browsers are refused, server-to-server clients are not concerned.
    cors_origins: list[str] = []
    # A person's session token (POST /v1/sessions on the registry) expires after this many hours without
    # a request on any service; every service checks it.
    session_idle_hours: float = 12.0

    def rate_limits(self) -> dict[str, int]:
        """Requests a minute per key, by role name."""
        return {
            "office": self.rate_limit_office,
            "ward_app": self.rate_limit_ward_app,
            "ops_centre": self.rate_limit_ops_centre,
            "app_backend": self.rate_limit_app_backend,
        }
