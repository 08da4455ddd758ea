"""The operations centre's wall screen: ``/ioc`` and its event stream, for 1920×1080 panels read from
across a room. The page is drawn with the latest figures at once; the stream then sends each change."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from services.web.access import Screen
from services.web.live import Hub
from services.web.rendering import countdown, render
from shared.timeutil import to_vietnam, utcnow

router = APIRouter()
HEARTBEAT_SECONDS = 15.0


@router.get("/ioc")
async def wall_screen(request: Request, session: Screen) -> Response:
    hub: Hub = request.app.state.hub
    view = await hub.current()
    initial = {
        "version": hub.version,
        "trend": view["trend"],
        "deadline": view["directive"]["deadline"] if view["directive"] else None,
        "banner": view["banner"],
    }
    return render(
        request,
        "ioc/screen.html",
        view=view,
        initial=json.dumps(initial, ensure_ascii=False).replace("<", "\\u003c"),
        now_label=to_vietnam(utcnow()).strftime("%H:%M:%S %d/%m/%Y"),
        countdown_label=countdown(initial["deadline"]),
    )


@router.get("/ioc/su-kien")
async def wall_screen_events(request: Request, session: Screen) -> Response:
    """Server-sent events: the current figures at once, then each change, a heartbeat now and then.
    The stream ends after ``live_stream_seconds``; the browser reconnects, and the session is checked again."""
    hub: Hub = request.app.state.hub
    settings = request.app.state.settings
    last_seen = request.headers.get("last-event-id", "")

    async def stream() -> AsyncIterator[bytes]:
        ends = time.monotonic() + settings.live_stream_seconds
        async with hub.subscribe() as queue:
            yield b"retry: 2000\n\n"
            await hub.current()
            if str(hub.version) != last_seen:
                yield hub.message
            while (left := ends - time.monotonic()) > 0:
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=min(HEARTBEAT_SECONDS, left))
                except TimeoutError:
                    yield b": nhip\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
