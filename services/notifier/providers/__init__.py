"""Ways to deliver a notification. A provider either returns a receipt or raises one of the two
failures; the caller decides about retries, and never holds a database session while a provider runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: uuid.UUID  # the notification's id: Message-ID of an e-mail, RequestId of an SMS
    channel: str
    recipient: str
    recipient_name: str | None
    subject: str | None
    body: str


@dataclass(frozen=True, slots=True)
class Accepted:
    provider: str
    provider_ref: str | None = None


class TemporaryFailure(Exception):
    """Worth retrying later (SMTP 4xx, gateway 5xx/429, timeouts, connection refused)."""

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
