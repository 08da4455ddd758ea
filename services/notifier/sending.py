"""Creating notifications and sending them: the notifier's use cases.

- A notification row is committed (``created``) before any send; its ``dedupe_key`` makes creation
  idempotent, so a job that runs twice creates and sends each notification once.
- A send first *claims* the row (``created``/``temporary_failure`` → ``sending``, one atomic UPDATE),
  so two workers never send the same row at once; no database session is held while the provider runs.
- Temporary failures are retried with exponential backoff, up to ``max_attempts``; permanent ones are
  not retried. A row stuck in ``sending`` (its worker died) is claimable again after ``stuck_after``.
- SMS and Zalo messages wait out the quiet hours (``IOC_SMS_QUIET_START`` to ``IOC_SMS_QUIET_END``,
  Vietnam time). The claim would let a row marked ``urgent`` through, but no plan marks one, and a
  message to a phone created in quiet hours is inserted waiting.
- Zalo first: with ZNS on, an SMS the plan makes whose kind has a Zalo template goes by ZNS instead
  (dedupe key ``…:zalo``). When ZNS refuses it, or its attempt's outcome is unknown (a timeout, a
  worker that died mid-send: ZNS does not recognise a repeat), the SMS goes at once, as a row of its
  own (``…:sms``), so the person is told once on each channel used.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta

import asyncpg
import orjson
import structlog
from prometheus_client import Counter

from services.notifier import repository
from services.notifier.models import PHONE_CHANNELS
from services.notifier.planning import Draft
from services.notifier.providers import Outgoing, PermanentFailure, Provider, TemporaryFailure
from services.notifier.providers.zalo import Refused
from services.notifier.ratelimit import ProviderRateLimiter
from services.notifier.rendering import has_template, render, render_sms
from services.notifier.settings import NotifierSettings
from services.notifier.zalo_templates import render_zalo, template_for
from shared.db import is_database_unavailable
from shared.sms import count_segments
from shared.timeutil import VIETNAM, to_vietnam, utcnow, vietnam_today

log = structlog.get_logger("notifier.sending")
SENDS = Counter("ioc_notifier_sends_total", "Send attempts by outcome", ["channel", "outcome"])
FALLBACKS = Counter("ioc_notifier_zalo_fallbacks_total", "Zalo notifications replaced by an SMS", ["reason"])

Schedule = Callable[[uuid.UUID, datetime, int], Awaitable[None]]
Claimed = asyncpg.Record  # a notification as ``repository.CLAIMED`` reads it
# A send waits at most this long for its provider's rate limit; beyond, it is rescheduled.
MAX_RATE_WAIT_SECONDS = 5.0


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(settings: NotifierSettings, now: datetime) -> datetime | None:
    """The end of the SMS quiet hours if ``now`` falls inside them, else None."""
    local = to_vietnam(now)
    start, end = _clock(settings.sms_quiet_start), _clock(settings.sms_quiet_end)
    moment = local.time()
    inside = (start <= moment or moment < end) if start > end else (start <= moment < end)
    if not inside:
        return None
    day = local.date() if moment < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=VIETNAM)


def backoff(settings: NotifierSettings, attempts: int, hint: float | None = None) -> float:
    delay = min(settings.retry_max_seconds, settings.retry_base_seconds * 2.0 ** max(0, attempts - 1))
    delay *= random.uniform(0.9, 1.1)  # spread retries so that a recovered provider is not stampeded
    return max(delay, min(hint or 0.0, settings.retry_max_seconds))


class Sender:
    """Sends one lane's notifications, with resources of its own (database pool, HTTP client, SMTP
    connections), so that a backlog in one lane never waits on another lane's."""

    def __init__(
        self,
        settings: NotifierSettings,
        lane: str,
        pg: asyncpg.Pool,
        providers: dict[str, Provider],
        limiter: ProviderRateLimiter,
        schedule: Schedule,
    ) -> None:
        self.settings, self.lane, self.pg, self.providers = settings, lane, pg, providers
        self.limiter, self.schedule = limiter, schedule

    def by_zalo(self, draft: Draft) -> Draft:
        """The draft as a Zalo message when ZNS is on and its kind has a Zalo template; else as it is."""
        if draft.channel != "sms" or "zalo" not in self.providers:
            return draft
        if template_for(self.settings.templates_dir, draft.kind) is None:
            return draft
        key = draft.dedupe_key.removesuffix(":sms") + ":zalo"
        return dataclasses.replace(draft, channel="zalo", dedupe_key=key)

    def materialise(self, message_id: uuid.UUID, draft: Draft) -> dict[str, object]:
        """A draft rendered into the row to insert."""
        s = self.settings
        row: dict[str, object] = {
            "id": uuid.uuid4(),
            "dedupe_key": draft.dedupe_key,
            "message_id": message_id,
            "kind": draft.kind,
            "channel": draft.channel,
            "recipient": draft.recipient,
            "recipient_name": draft.recipient_name,
            "unit_code": draft.unit_code,
            "directive_id": draft.directive_id,
            "lane": self.lane,
            "template_id": None,
            "template_data": None,
        }
        if draft.channel in PHONE_CHANNELS:
            body, encoding, segments = render_sms(
                s.templates_dir,
                draft.kind,
                draft.context,
                unaccented=s.sms_unaccented,
                max_segments=s.sms_max_segments,
            )
            row.update(body=body, sms_encoding=encoding, sms_segments=segments, subject=None, cost_units=segments)
            zalo = template_for(s.templates_dir, draft.kind) if draft.channel == "zalo" else None
            if zalo is not None:  # the body is the text of the SMS that replaces it if need be
                data = render_zalo(zalo, draft.context)
                row.update(
                    template_id=zalo.template_id,
                    template_data=orjson.dumps(data).decode(),
                    sms_encoding=None,
                    sms_segments=None,
                    cost_units=1,
                )
        else:
            subject = render(s.templates_dir, draft.kind, "subject", draft.context).splitlines()[0]
            row.update(
                body=render(s.templates_dir, draft.kind, "email", draft.context),
                subject=subject[:300],
                sms_encoding=None,
                sms_segments=None,
                cost_units=0,
            )
        return row

    async def create_and_send(self, message_id: uuid.UUID, drafts: list[Draft]) -> int:
        """Commit the drafts that do not exist yet, then send them; returns how many were attempted.

        Rows that can go at once are inserted already claimed (``sending``, one attempt): one statement
        fewer a notification. SMS in quiet hours are inserted ``created`` and deferred; rows an earlier
        run of the same job left ``created`` are claimed one by one, as any retry is.
        """
        directory = self.settings.templates_dir
        drafts = [
            self.by_zalo(d)
            for d in drafts
            if has_template(directory, d.kind, "sms" if d.channel in PHONE_CHANNELS else d.channel)
        ]
        if not drafts:
            return 0
        quiet = quiet_until(self.settings, utcnow()) is not None
        rows = [self.materialise(message_id, d) for d in drafts]
        for row in rows:
            row["status"] = "created" if quiet and row["channel"] in PHONE_CHANNELS else "sending"
        results = await repository.create(self.pg, rows)
        await asyncio.gather(*(self._deliver(r) if r["status"] == "sending" else self.send(r["id"]) for r in results))
        return len(results)

    async def send(self, notification_id: uuid.UUID) -> str | None:
        """One send attempt; returns the status it left, or None when there was nothing to do."""
        quiet = quiet_until(self.settings, utcnow())
        claimed = await self._claim(notification_id, quiet_for_sms=quiet is not None)
        if claimed is None:
            if quiet is not None:
                await self._defer_sms(notification_id, quiet)
            return None
        return await self._deliver(claimed)

    async def _deliver(self, claimed: Claimed) -> str | None:
        """Hand a claimed row to its provider and record the outcome."""
        channel = claimed["channel"]
        if channel == "zalo" and (claimed["was"] == "sending" or "zalo" not in self.providers):
            # Its last attempt's worker died mid-send (ZNS may hold it, and would send it again), or
            # Zalo has been turned off since it was created.
            reason = "zalo_off" if "zalo" not in self.providers else "outcome_unknown"
            await self._finish(claimed, "permanent_failure", provider="zalo", error=f"{reason}: not resent by Zalo")
            return await self.fall_back(claimed["id"], claimed["body"], reason=reason)
        provider = self.providers[channel]
        cap = self.settings.sms_daily_cap
        if (
            channel in PHONE_CHANNELS
            and cap
            and not await repository.take_sms_slot(self.pg, claimed["id"], claimed["recipient"], vietnam_today(), cap)
        ):
            return await self._finish(
                claimed, "held_for_cap", provider=provider.name, error=f"{cap} SMS to this number today already"
            )
        taken, wait = await self.limiter.reserve(provider.name, provider.per_second, MAX_RATE_WAIT_SECONDS, self.lane)
        if not taken:  # the provider is saturated for a while: hand the row back and come back later
            await self._release(claimed, utcnow() + timedelta(seconds=wait))
            return None
        await asyncio.sleep(wait)
        outgoing = Outgoing(
            claimed["id"],
            claimed["channel"],
            claimed["recipient"],
            claimed["recipient_name"],
            claimed["subject"],
            claimed["body"],
            pinned_provider=claimed["pinned_provider"],
            template_id=claimed["template_id"],
            template_data=orjson.loads(claimed["template_data"]) if claimed["template_data"] else None,
        )
        try:
            async with asyncio.timeout(self.settings.send_timeout_seconds):  # no extra task, unlike wait_for
                accepted = await provider.send(outgoing)
        except Refused as exc:  # ZNS will not deliver it: the SMS goes now
            await self._finish(claimed, "permanent_failure", error=exc.reason, provider=exc.provider)
            return await self.fall_back(claimed["id"], claimed["body"], reason="refused")
        except PermanentFailure as exc:
            return await self._finish(claimed, "permanent_failure", error=exc.reason, provider=exc.provider)
        except TemporaryFailure as exc:
            return await self._retry_later(claimed, exc.reason, exc.provider, exc.retry_after, pin=exc.ambiguous)
        except TimeoutError:
            if channel == "zalo":  # ZNS may hold it and would send a repeat: the SMS goes instead
                await self._finish(claimed, "permanent_failure", error="timeout", provider=provider.name)
                return await self.fall_back(claimed["id"], claimed["body"], reason="timeout")
            return await self._retry_later(claimed, "timeout", provider.name, None)
        return await self._finish(claimed, "sent", provider=accepted.provider, provider_ref=accepted.provider_ref)

    async def fall_back(self, zalo_id: uuid.UUID, text: str, *, reason: str) -> str | None:
        """Send the SMS that replaces Zalo notification ``zalo_id`` (once: its own dedupe key)."""
        segments = count_segments(text)
        quiet = quiet_until(self.settings, utcnow()) is not None
        row = await repository.fall_back(
            self.pg,
            zalo_id,
            sms_id=uuid.uuid4(),
            encoding=segments.encoding,
            segments=segments.count,
            status="created" if quiet else "sending",
        )
        if row is None:
            return None  # it exists already: an earlier run made it
        FALLBACKS.labels(reason).inc()
        log.info("zalo_fell_back_to_sms", notification=str(zalo_id), sms=str(row["id"]), reason=reason)
        return await (self._deliver(row) if row["status"] == "sending" else self.send(row["id"]))

    async def follow_up_unconfirmed(self, limit: int = 500) -> int:
        """``IOC_ZALO_SMS_AFTER_MINUTES``: an SMS for each Zalo message sent that long ago without a
        delivery receipt. Returns how many SMS it created."""
        minutes = self.settings.zalo_sms_after_minutes
        if minutes <= 0:
            return 0
        made = 0
        for row in await repository.unconfirmed_zalo(self.pg, older_than=minutes * 60, limit=limit):
            if await self.fall_back(row["id"], row["body"], reason="no_receipt") is not None:
                made += 1
        return made

    async def _claim(self, notification_id: uuid.UUID, *, quiet_for_sms: bool) -> Claimed | None:
        return await repository.claim(
            self.pg, notification_id, stuck_after=self.settings.stuck_after_seconds, quiet=quiet_for_sms
        )

    async def _defer_sms(self, notification_id: uuid.UUID, until: datetime) -> None:
        deferred = await repository.defer_sms(self.pg, notification_id, until)
        if deferred is not None:
            log.info("sms_deferred_for_quiet_hours", notification=str(notification_id), until=until.isoformat())
            await self.schedule(notification_id, until, deferred)

    async def _release(self, claimed: Claimed, at: datetime) -> None:
        """Undo a claim (no attempt was made) and schedule the send for ``at``."""
        await repository.release(self.pg, claimed["id"], at)
        await self.schedule(claimed["id"], at, claimed["attempts"] - 1)

    async def _retry_later(
        self, claimed: Claimed, reason: str, provider: str, hint: float | None, *, pin: bool = False
    ) -> str:
        if claimed["attempts"] >= self.settings.max_attempts:
            return await self._finish(
                claimed,
                "permanent_failure",
                provider=provider,
                error=f"gave up after {claimed['attempts']} attempts: {reason}",
            )
        at = utcnow() + timedelta(seconds=backoff(self.settings, claimed["attempts"], hint))
        status = await self._finish(
            claimed,
            "temporary_failure",
            provider=provider,
            error=reason,
            retry_at=at,
            pinned_provider=provider if pin else claimed["pinned_provider"],
        )
        await self.schedule(claimed["id"], at, claimed["attempts"])
        return status

    async def _finish(
        self,
        claimed: Claimed,
        status: str,
        *,
        provider: str,
        provider_ref: str | None = None,
        error: str | None = None,
        retry_at: datetime | None = None,
        pinned_provider: str | None = None,
    ) -> str:
        await self._until_recorded(
            claimed["id"],
            lambda: repository.finish(
                self.pg,
                claimed["id"],
                status,
                provider=provider,
                provider_ref=provider_ref,
                error=error[:1000] if error else None,
                retry_at=retry_at,
                pinned_provider=pinned_provider,
            ),
        )
        SENDS.labels(claimed["channel"], status).inc()
        if status != "sent":
            log.warning(
                "send_failed",
                notification=str(claimed["id"]),
                channel=claimed["channel"],
                status=status,
                provider=provider,
                error=error,
            )
        return status

    async def _until_recorded(self, notification_id: uuid.UUID, record: Callable[[], Awaitable[object]]) -> None:
        """Record an attempt's outcome, waiting out a database that cannot take it (down, or every
        connection in use). The provider has already been called: a job that failed here would run
        again and send an e-mail twice. The wait stays within half of ``stuck_after_seconds``, so the
        sweeper never takes the row back while this worker still holds it; past that the error goes
        up, and the row is swept as a worker's that died mid-send."""
        deadline = asyncio.get_running_loop().time() + self.settings.stuck_after_seconds / 2
        pause = 0.2
        while True:
            try:
                await record()
                return
            except Exception as exc:
                if not is_database_unavailable(exc) or asyncio.get_running_loop().time() + pause > deadline:
                    raise
                log.warning("outcome_not_recorded_yet", notification=str(notification_id), error=type(exc).__name__)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def stuck(self, limit: int = 1000) -> list[tuple[uuid.UUID, str]]:
        """Rows a worker should have sent by now: their job was lost, or their worker died mid-send."""
        return await repository.stuck(self.pg, stuck_after=self.settings.stuck_after_seconds, limit=limit)
