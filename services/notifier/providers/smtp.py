"""E-mail over SMTP (aiosmtplib), with a small pool of open connections reused across messages."""

from __future__ import annotations

import asyncio
import contextlib
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import lru_cache

import aiosmtplib

from services.notifier.providers import Accepted, Outgoing, PermanentFailure, TemporaryFailure
from services.notifier.settings import NotifierSettings
from shared.timeutil import utcnow


@lru_cache(maxsize=8)
def _from_header(mail_from: str) -> tuple[str, str]:
    """(encoded From header, its address): the same for every e-mail, so encoded once."""
    name, address = parseaddr(mail_from)
    return formataddr((name, address), charset="utf-8"), address


def build_email(message: Outgoing, mail_from: str) -> MIMEText:
    """A plain-text UTF-8 e-mail with RFC 2047 headers.

    Built with the ``compat32`` API on purpose: ``EmailMessage`` re-folds Vietnamese headers on every
    serialisation, which made building e-mails most of the notifier's CPU (``docs/performance.md``,
    "Notifier").
    """
    email = MIMEText(message.body, "plain", "utf-8")
    sender, address = _from_header(mail_from)
    email["From"] = sender
    email["To"] = formataddr((message.recipient_name or "", message.recipient), charset="utf-8")
    email["Subject"] = Header(message.subject or "", "utf-8")  # type: ignore[assignment]  # compat32 encodes it
    email["Date"] = format_datetime(utcnow())
    # The notification id in the Message-ID: a resend after a crash is recognisable as the same message.
    email["Message-ID"] = make_msgid(idstring=str(message.id), domain=address.rpartition("@")[2] or "ioc.local")
    email["X-IOC-Notification"] = str(message.id)
    return email


class SmtpProvider:
    def __init__(self, settings: NotifierSettings) -> None:
        self.name = f"smtp:{settings.smtp_host}"
        self.per_second = settings.email_per_second
        self._settings = settings
        self._sender = parseaddr(settings.mail_from)[1]
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.smtp_connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_seconds,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )
        await client.connect()
        return client

    async def send(self, message: Outgoing) -> Accepted:
        email = build_email(message, self._settings.mail_from)
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            try:
                if client is None or not client.is_connected:
                    client = await self._connect()
                await client.sendmail(self._sender, [message.recipient], email.as_bytes())
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._keep(client)
                code = min((r.code for r in exc.recipients), default=550)
                raise _classified(self.name, code, "; ".join(r.message for r in exc.recipients)) from None
            except aiosmtplib.SMTPResponseException as exc:
                self._keep(client)
                raise _classified(self.name, exc.code, exc.message) from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await _discard(client)
                raise TemporaryFailure(self.name, f"{type(exc).__name__}: {exc}") from None
            self._keep(client)
        return Accepted(self.name, email["Message-ID"])

    def _keep(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None and client.is_connected:
            self._idle.append(client)

    async def close(self) -> None:
        while self._idle:
            await _discard(self._idle.pop(), quit_first=True)


def _classified(provider: str, code: int, text: str) -> TemporaryFailure | PermanentFailure:
    reason = f"SMTP {code} {text}".strip()
    return TemporaryFailure(provider, reason) if 400 <= code < 500 else PermanentFailure(provider, reason)


async def _discard(client: aiosmtplib.SMTP | None, *, quit_first: bool = False) -> None:
    if client is None:
        return
    with contextlib.suppress(Exception):
        if quit_first and client.is_connected:
            await client.quit()
        client.close()
