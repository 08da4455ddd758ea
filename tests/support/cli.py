"""The administrators' command line (``ioc``, as installed with the project), run as they run it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from services.api.settings import RegistrySettings

IOC = str(Path(sys.executable).with_name("ioc"))


async def ioc(settings: RegistrySettings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ioc *args`` on ``settings``' database and Redis, in ``cwd`` (it may write files there)."""
    env = {
        **os.environ,
        "IOC_DATABASE_URL": settings.database_url,
        "IOC_REGISTRY_DATABASE_URL": settings.database_url,  # overrides IOC_DATABASE_URL when set
        "IOC_REDIS_URL": settings.redis_url,
        "IOC_QUEUE_PREFIX": settings.queue_prefix,
        "IOC_LOG_LEVEL": "WARNING",
        "IOC_LOG_JSON": "false",
    }
    return await asyncio.to_thread(
        subprocess.run, [IOC, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
