"""Ways to deliver a notification. A provider either returns a receipt or raises one of the two
failures; the caller decides about retries, and never holds a database session while a provider runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from services.notifier.settings import NotifierSettings
    from services.notifier.zalo_tokens import ZaloTokens


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: uuid.UUID  # the notification's id: Message-ID of an e-mail, RequestId of an SMS
    channel: str
    recipient: str
    recipient_name: str | None
    subject: str | None
    body: str
    # Set after an ambiguous attempt (a timeout): only this provider may be tried, since it may
    # already hold the message and only it recognises the id as a repeat.
    pinned_provider: str | None = None
    # Zalo: the approved ZNS template and its parameters (``body`` is then the SMS fallback's text).
    template_id: str | None = None
    template_data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    provider: str
    provider_ref: str | None = None


class TemporaryFailure(Exception):
    """Worth retrying later (SMTP 4xx, gateway 5xx/429, timeouts, connection refused)."""

    # True when the provider may have taken the message anyway: retries must go to it alone.
    ambiguous = False

    def __init__(self, provider: str, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider, self.reason, self.retry_after = provider, reason, retry_after


class PermanentFailure(Exception):
    """Retrying cannot help (SMTP 5xx, a number the gateway rejects)."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider, self.reason = provider, reason


class Provider(Protocol):
    name: str
    per_second: float

    async def send(self, message: Outgoing) -> Accepted: ...

    async def close(self) -> None: ...


def build_providers(
    settings: NotifierSettings, http_client: httpx.AsyncClient, zalo_tokens: ZaloTokens | None = None
) -> dict[str, Provider]:
    """The providers the configuration asks for, by channel (imported here: they import this module).
    Zalo's is there only when ``IOC_ZALO_PROVIDER`` is not ``off``."""
    from services.notifier.providers.sink import EmailSink, SmsSink, ZaloSink
    from services.notifier.providers.sms_gateway import FailoverSms, GatewayProvider
    from services.notifier.providers.smtp import SmtpProvider
    from services.notifier.providers.zalo import ZnsProvider

    email: Provider = (
        SmtpProvider(settings)
        if settings.email_provider == "smtp"
        else EmailSink(settings.sink_dir, settings.mail_from, settings.email_per_second)
    )
    if settings.sms_provider == "gateway":
        callback = (
            settings.public_url.rstrip("/")
            + "/v1/sms/receipts/{name}?token="
            + (settings.receipt_token.get_secret_value())
        )
        sms: Provider = FailoverSms(
            [
                GatewayProvider(g, callback_url=callback.format(name=g.name), client=http_client)
                for g in settings.sms_gateways
            ]
        )
    else:
        sms = SmsSink(settings.sink_dir, settings.sms_per_second)
    providers = {"email": email, "sms": sms}
    if settings.zalo_provider == "zns":
        assert zalo_tokens is not None, "a ZNS provider needs the process's ZaloTokens"
        providers["zalo"] = ZnsProvider(settings, zalo_tokens, http_client)
    elif settings.zalo_provider == "sink":
        providers["zalo"] = ZaloSink(settings.sink_dir, settings.zalo_per_second)
    return providers
