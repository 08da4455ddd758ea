"""The notifier's settings (environment variables ``IOC_…``; see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from shared.settings import CommonSettings


class SmsGateway(BaseModel):
    """One brandname SMS gateway (eSMS.vn-shaped JSON API)."""

    name: str
    url: str = Field(
        description="the send endpoint, e.g. https://…/MainService.svc/json/SendMultipleMessage_V4_post_json/"
    )
    api_key: SecretStr
    secret_key: SecretStr
    brandname: str = "UBND-HALONG"
    sms_type: str = "2"  # eSMS: 2 = brandname customer care
    timeout_seconds: float = 10.0
    per_second: float = 10.0  # the gateway's own rate limit; 0: none


class NotifierSettings(CommonSettings):
    notifier_database_url: str | None = None  # when the notifier gets a database of its own
    max_body_bytes: int = 1024 * 1024

    # E-mail: "smtp" for a real server, "sink" to write .eml files for developers.
    email_provider: Literal["smtp", "sink"] = "sink"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 15.0
    smtp_connections: int = 4  # kept open and reused
    mail_from: str = "Trung tâm điều hành thành phố thông minh Hạ Long <ioc@halong.example>"
    email_per_second: float = 20.0  # the SMTP server's limit; 0: none

    # SMS: "gateway" for the configured gateways (the first, then the next on failure), "sink" for files.
    sms_provider: Literal["gateway", "sink"] = "sink"
    sms_gateways: list[SmsGateway] = []
    # Brandname gateways often refuse accented (Unicode) text, and it costs 2-3x the segments.
    sms_unaccented: bool = True
    sms_max_segments: int = 3
    # SMS to one number a Vietnam day (0: no cap). Beyond it an SMS is held (``held_for_cap``), not sent,
    # and the Office's daily digest lists it: a runaway client cannot run up the bill.
    sms_daily_cap: int = 10
    sms_quiet_start: str = "21:00"  # Vietnam time; SMS wait until the end
    sms_quiet_end: str = "07:00"
    sms_per_second: float = 10.0  # for the sink
    # Delivery receipts: the gateway calls {public_url}/v1/sms/receipts/{gateway}?token=...
    public_url: str = "http://127.0.0.1:8002"
    receipt_token: SecretStr = SecretStr("change-me")

    # Zalo (ZNS): "off" (default), "zns" for Zalo's API, "sink" for files. A notification kind with a
    # template in templates/zalo.toml goes by ZNS to mobile numbers, SMS being the fallback.
    zalo_provider: Literal["off", "zns", "sink"] = "off"
    zalo_send_url: str = "https://business.openapi.zalo.me/message/template"
    zalo_token_url: str = "https://oauth.zaloapp.com/v4/oa/access_token"  # noqa: S105 (a URL)
    zalo_app_id: str = ""
    zalo_app_secret: SecretStr = SecretStr("")  # sent as ``secret_key`` when renewing the access token
    zalo_oa_secret_key: SecretStr = SecretStr("")  # checks the webhook's X-ZEvent-Signature
    # The first refresh token (from the OA admin's authorisation): stored in PostgreSQL on first use,
    # which owns it from then on (each renewal replaces it; a refresh token works once).
    zalo_refresh_token: SecretStr = SecretStr("")
    zalo_renew_ahead_seconds: float = 3600.0  # renew the access token this long before it expires
    zalo_timeout_seconds: float = 10.0
    zalo_per_second: float = 10.0  # the OA's send rate; 0: none
    # An SMS follows a ZNS sent this many minutes ago whose delivery receipt has not arrived (0: never).
    zalo_sms_after_minutes: float = 0.0
    # Estimated cost of one unit per channel (VND): an SMS segment, a ZNS message, an e-mail.
    unit_prices: dict[str, float] = {"sms": 800.0, "zalo": 300.0, "email": 0.0}

    sink_dir: str = ".run/sink"
    templates_dir: str | None = None  # a folder of edited templates; default: the ones shipped
    office_email: str = "vanphong@halong.example"  # the Office's address for digests
    daily_digest_hour: int = 8  # Vietnam time: yesterday's held and failed notifications, to the Office

    # Retries of temporary failures: 30 s, 1 min, 2 min, ... up to max_attempts sends.
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 8
    # The sweeper re-sends rows stuck this long in created/sending (a worker died mid-send).
    stuck_after_seconds: float = 120.0
    sweep_every_seconds: int = 30  # a divisor of 60
    send_timeout_seconds: float = 20.0
    # Jobs in flight in each lane of a worker (priority, normal, bulk): most of a job's time is waiting
    # on a provider or the database (a statement at a time), so many overlap. Each lane has a database
    # pool of its own, so that a backlog in one lane never queues another lane's statements.
    worker_concurrency: int = 100
    lane_db_pool_size: int = 10

    @field_validator("smtp_username", "smtp_password", "templates_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (IOC_SMTP_USERNAME=) means "none", not "log in as the empty user"."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _own_database(self) -> NotifierSettings:
        if self.notifier_database_url:
            self.database_url = self.notifier_database_url
        if self.sms_provider == "gateway" and not self.sms_gateways:
            raise ValueError("IOC_SMS_PROVIDER=gateway needs IOC_SMS_GATEWAYS (a JSON list)")
        if self.zalo_provider == "zns" and not (self.zalo_app_id and self.zalo_app_secret.get_secret_value()):
            raise ValueError("IOC_ZALO_PROVIDER=zns needs IOC_ZALO_APP_ID and IOC_ZALO_APP_SECRET")
        if self.environment == "production" and self.receipt_token.get_secret_value() in ("", "change-me"):
            raise ValueError("set IOC_RECEIPT_TOKEN to a secret of your own in production")
        return self


@lru_cache
def get_settings() -> NotifierSettings:
    return NotifierSettings()
