"""Container health checks (used by docker-compose.yml), without curl in the images.

    python -m shared.healthcheck http http://127.0.0.1:8000/healthz
    python -m shared.healthcheck worker registry      # the arq worker of that service is alive
    python -m shared.healthcheck schema services.api.migrations:registry …   # migrated to this image
    python -m shared.healthcheck schema --wait services.api.migrations:registry …

A worker is alive while its arq health-check key exists in Redis: the worker rewrites it every
10 seconds with a short expiry, so a hung or dead worker (or one that lost Redis) fails the check.

``schema`` takes ``package:schema`` pairs (a service's migrations package and the schema holding its
version table) and passes when the database of IOC_DATABASE_URL is at the newest migration this
image holds for each, or past it (a newer release migrated it: a rollback runs on it as the older
release ran during that upgrade). With ``--wait`` it waits until then: the Kubernetes apps' first
init container, so that no pod of a release starts before that release's migrations Job finishes.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import redis.asyncio as aioredis

from shared import redis_clients
from shared.queues import queue_name
from shared.settings import CommonSettings

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

SCHEMA_POLL_SECONDS = 5.0


def check_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (a URL we were given)
            return bool(response.status == 200)
    except OSError:
        return False


async def check_worker(service: str) -> bool:
    settings = CommonSettings()
    client = redis_clients.client(settings, timeout=3)
    try:
        return bool(await client.exists(f"{queue_name(settings, service)}:health-check"))
    except (OSError, aioredis.RedisError):
        return False
    finally:
        await client.aclose()


def _migrations(target: str) -> tuple[ScriptDirectory, str]:
    """``package:schema`` → the package's Alembic scripts and the schema of its version table."""
    from alembic.script import ScriptDirectory  # here: the other checks run without Alembic

    package, _, schema = target.partition(":")
    module = importlib.import_module(package) if package and re.fullmatch(r"[a-z_][a-z0-9_]*", schema) else None
    if module is None or module.__file__ is None:
        raise SystemExit(f"{target!r}: expected a migrations package and a schema, package:schema")
    return ScriptDirectory(str(Path(module.__file__).parent)), schema


async def schemas_behind(targets: list[str], database_url: str) -> list[str]:
    """The targets whose schema is not yet at this image's newest migration (nor past it); each as
    ``schema (database revision → image's)``. A database that does not answer counts as behind."""
    from shared.db import asyncpg_dsn  # here, as Alembic: the other checks start without SQLAlchemy

    behind = []
    try:
        connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=5)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return [f"database unavailable: {type(exc).__name__}"]
    try:
        for target in targets:
            scripts, schema = _migrations(target)
            heads = set(scripts.get_heads())
            known = {script.revision for script in scripts.walk_revisions()}
            try:
                query = f'SELECT version_num FROM "{schema}".alembic_version'  # noqa: S608 (an identifier)
                rows = await connection.fetch(query)
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                rows = []
            current = {row["version_num"] for row in rows}
            if current == heads or current - known:  # at this image's head, or past it
                continue
            behind.append(f"{schema} ({','.join(sorted(current)) or 'none'} → {','.join(sorted(heads))})")
    finally:
        await connection.close()
    return behind


async def wait_for_schemas(targets: list[str], database_url: str) -> None:
    """Return once :func:`schemas_behind` finds none; say on stderr what it waits for."""
    said = None
    while behind := await schemas_behind(targets, database_url):
        if behind != said:
            print(f"waiting for the migrations: {'; '.join(behind)}", file=sys.stderr, flush=True)
            said = behind
        await asyncio.sleep(SCHEMA_POLL_SECONDS)


def main(argv: list[str]) -> int:
    match argv:
        case ["http", url]:
            healthy = check_http(url)
        case ["worker", service]:
            healthy = asyncio.run(check_worker(service))
        case ["schema", "--wait", *targets] if targets:
            asyncio.run(wait_for_schemas(targets, CommonSettings().database_url))
            healthy = True
        case ["schema", *targets] if targets:
            behind = asyncio.run(schemas_behind(targets, CommonSettings().database_url))
            for line in behind:
                print(f"behind: {line}", file=sys.stderr)
            healthy = not behind
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
