"""The web service's settings (environment variables ``IOC_…``; see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import CommonSettings

HERE = Path(__file__).resolve().parent


class WebSettings(CommonSettings):
    # Where the three APIs answer. The web service reads and changes data only through them.
    registry_url: str = "http://127.0.0.1:8000"
    adoption_url: str = "http://127.0.0.1:8001"
    notifier_url: str = "http://127.0.0.1:8002"
    api_timeout_seconds: float = 5.0
    # The web service's own key (role ops_centre): the wall screens' figures are read with it, once for
    # every open screen. `make run` creates it; without it the wall screen shows nothing but its banner.
    web_api_key: SecretStr = Field(SecretStr(""), description="IOC_WEB_API_KEY, an ops_centre key")

    # Sign-in sessions kept in Redis behind a random id in a cookie; idle for this long, they end
    # (the registry's session token expires after the same idle time).
    session_idle_hours: float = 12.0
    session_prefix: str = "ioc:web:session"
    # Cookies are sent over HTTPS only when the page was served over HTTPS (uvicorn's proxy headers
    # tell); set true to require it whatever the scheme.
    cookie_secure: bool = False

    # The wall screens: the web service polls the APIs this often while a screen is open, and ends each
    # screen's event stream after stream_seconds (the browser reconnects at once, and the reconnection
    # checks the person's session again).
    live_poll_seconds: float = 2.0
    live_stream_seconds: float = 600.0
    live_idle_seconds: float = 60.0

    static_dir: Path = HERE / "static"


@lru_cache
def get_settings() -> WebSettings:
    return WebSettings()
