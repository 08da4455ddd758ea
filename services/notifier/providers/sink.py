"""Development sinks: e-mails as ``.eml`` files, SMS and Zalo messages as JSON files under ``IOC_SINK_DIR``.

Files are named by the notification id, so sending the same notification twice leaves one file:
a developer sees exactly what a person would have received, once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path

from services.notifier.providers import Accepted, Outgoing
from services.notifier.providers.smtp import build_email
from shared.sms import is_gsm7
from shared.timeutil import to_vietnam, utcnow


class EmailSink:
    def __init__(self, directory: str, mail_from: str, per_second: float) -> None:
        self.name, self.per_second = "email-sink", per_second
        self.directory, self.mail_from = Path(directory) / "email", mail_from

    async def send(self, message: Outgoing) -> Accepted:
        email = build_email(message, self.mail_from)
        await asyncio.to_thread(_write, self.directory / f"{message.id}.eml", email.as_bytes())
        return Accepted(self.name, email["Message-ID"])

    async def close(self) -> None:
        return None


class SmsSink:
    def __init__(self, directory: str, per_second: float) -> None:
        self.name, self.per_second = "sms-sink", per_second
        self.directory = Path(directory) / "sms"

    async def send(self, message: Outgoing) -> Accepted:
        record = {
            "id": str(message.id),
            "to": message.recipient,
            "name": message.recipient_name,
            "unicode": not is_gsm7(message.body),
            "text": message.body,
        }
        await _write_record(self.directory, message, record)
        return Accepted(self.name, str(message.id))

    async def close(self) -> None:
        return None


class ZaloSink:
    """ZNS as a developer sees it: the template id and parameters that would go to Zalo."""

    def __init__(self, directory: str, per_second: float) -> None:
        self.name, self.per_second = "zalo-sink", per_second
        self.directory = Path(directory) / "zalo"

    async def send(self, message: Outgoing) -> Accepted:
        record = {
            "id": str(message.id),
            "phone": message.recipient.lstrip("+"),
            "name": message.recipient_name,
            "template_id": message.template_id,
            "template_data": message.template_data,
        }
        await _write_record(self.directory, message, record)
        return Accepted(self.name, str(message.id))

    async def close(self) -> None:
        return None


async def _write_record(directory: Path, message: Outgoing, record: Mapping[str, object]) -> None:
    """``record``, stamped with the time, as ``{message id}.json`` in ``directory``."""
    data = json.dumps({**record, "at": to_vietnam(utcnow()).isoformat()}, ensure_ascii=False, indent=1).encode()
    await asyncio.to_thread(_write, directory / f"{message.id}.json", data)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)  # atomic: a reader never sees half a message
