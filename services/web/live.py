"""The wall screens' figures: polled once for every open screen, pushed to each as server-sent events.

One poller per process asks the adoption API (with ``If-None-Match``, so an unchanged figure costs a
304) and the registry every ``live_poll_seconds`` while a screen is open, with the service's own key;
the screens never call the APIs. When a poll finds something changed, the view is rendered once and
the same message goes to every screen. An API that stops answering keeps its last figures, marked
with the time it was lost (the screens' "mất kết nối từ HH:MM" banner), until it answers again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.web.clients import SERVICE_NAMES, ApiDown, ApiError, Apis, Caller, Service
from services.web.rendering import templates, vn_time
from services.web.settings import WebSettings
from shared.timeutil import to_vietnam, utcnow, vietnam_today

log = structlog.get_logger("web.live")
RANKED = 5  # units shown as the best and as the worst


class Hub:
    def __init__(self, apis: Apis, settings: WebSettings) -> None:
        self.apis, self.settings = apis, settings
        self.caller = Caller(settings.web_api_key.get_secret_value())
        self.etags: dict[str, tuple[str, Any]] = {}
        self.data: dict[str, Any] = {}
        self.down_since: dict[Service, datetime] = {}
        self.version = 0
        self.message = b""
        self.view: dict[str, Any] = {}
        self.subscribers: set[asyncio.Queue[bytes]] = set()
        self.wanted_at = 0.0
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        self.changed = asyncio.Event()

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def current(self) -> dict[str, Any]:
        """The latest view, polling first when none has been made yet; keeps the poller running."""
        self._want()
        if not self.version:
            await self.poll()
        return self.view

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
        self.subscribers.add(queue)
        self._want()
        try:
            yield queue
        finally:
            self.subscribers.discard(queue)

    def _want(self) -> None:
        self.wanted_at = time.monotonic()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        # Polls while a screen is open or one was shown lately; then stops until the next one.
        while self.subscribers or time.monotonic() - self.wanted_at < self.settings.live_idle_seconds:
            try:
                await self.poll()
            except Exception:  # a poll must never end the poller: the next one tries again
                log.exception("wall screen poll failed")
            await asyncio.sleep(self.settings.live_poll_seconds)

    async def poll(self) -> None:
        async with self.lock:
            today = vietnam_today()
            results = await asyncio.gather(
                self._get("adoption", "/v1/adoption/summary"),
                self._get("adoption", "/v1/adoption/units", sort="staff_rate", order="desc"),
                self._get(
                    "adoption",
                    "/v1/adoption/timeseries",
                    interval="day",
                    **{"from": (today - timedelta(days=27)).isoformat(), "to": today.isoformat()},
                ),
                self._directive(),
            )
            changed = any(results)
            if changed or not self.version or self._banner() != self.view.get("banner"):
                self._publish()

    async def _get(self, service: Service, path: str, **params: Any) -> bool:
        """Fetch into ``self.data[path]``; whether it changed. A 304 keeps what is there."""
        key = path
        etag, _ = self.etags.get(key, ("", None))
        try:
            response = await self.apis.send(
                service,
                "GET",
                path,
                self.caller,
                params=params,
                headers={"If-None-Match": etag} if etag else None,
            )
        except (ApiDown, ApiError) as exc:
            self._lost(service, exc)
            return False
        self.down_since.pop(service, None)
        if response.status_code == 304:
            return False
        body = response.json()
        self.etags[key] = (response.headers.get("etag", ""), body)
        if self.data.get(key) == body:
            return False
        self.data[key] = body
        return True

    async def _directive(self) -> bool:
        """The current directive (the next deadline still ahead, else the latest issued) and its compliance."""
        listed = await self._get("registry", "/v1/directives")
        directives = self.data.get("/v1/directives", {}).get("items", [])
        if not directives:
            return listed
        now = utcnow()
        ahead = [d for d in directives if datetime.fromisoformat(d["deadline"]) > now]
        current = min(ahead, key=lambda d: d["deadline"]) if ahead else directives[0]
        changed = self.data.get("directive") != current
        self.data["directive"] = current
        return await self._compliance(current["id"]) or changed or listed

    async def _compliance(self, directive_id: str) -> bool:
        return await self._get("registry", f"/v1/directives/{directive_id}/compliance")

    def _lost(self, service: Service, exc: Exception) -> None:
        if service not in self.down_since:
            log.warning("wall screen source lost", service=service, error=str(exc))
            self.down_since[service] = utcnow()

    def _banner(self) -> list[dict[str, str]]:
        return [
            {"service": SERVICE_NAMES[service], "since": vn_time(since)}
            for service, since in sorted(self.down_since.items())
        ]

    def _publish(self) -> None:
        self.view = build_view(self.data, self._banner())
        self.version += 1
        html = templates.get_template("ioc/_panels.html").render(view=self.view)
        payload = {
            "version": self.version,
            "html": html,
            "trend": self.view["trend"],
            "deadline": self.view["directive"]["deadline"] if self.view["directive"] else None,
            "banner": self.view["banner"],
        }
        self.message = (
            f"id: {self.version}\nevent: snapshot\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()
        )
        for queue in list(self.subscribers):
            if queue.full():  # a screen that does not read its stream gets the latest message only
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(self.message)


def build_view(data: dict[str, Any], banner: list[dict[str, str]]) -> dict[str, Any]:
    """What the wall screen shows, from the APIs' answers (any of which may be missing)."""
    summary = data.get("/v1/adoption/summary")
    units = [u for u in data.get("/v1/adoption/units") or [] if u.get("staff_rate") is not None]
    points = (data.get("/v1/adoption/timeseries") or {}).get("points", [])
    directive = data.get("directive")
    compliance = data.get(f"/v1/directives/{directive['id']}/compliance") if directive else None
    as_of = summary["as_of"] if summary else None
    return {
        "summary": summary,
        "best": units[:RANKED],
        "worst": sorted(units[-RANKED:], key=lambda u: u["staff_rate"]) if len(units) > RANKED else [],
        "trend": {
            "days": [p["period_end"] for p in points],
            "staff": [p["staff_adopted"] for p in points],
            "citizens": [p["citizens_adopted"] for p in points],
        },
        "directive": {**directive, "compliance": compliance} if directive and compliance else None,
        "as_of": as_of,
        "as_of_label": to_vietnam(datetime.fromisoformat(as_of)).strftime("%H:%M %d/%m/%Y") if as_of else "–",
        "banner": banner,
    }
