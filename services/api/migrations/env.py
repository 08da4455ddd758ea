"""Alembic environment of the registry: it owns the ``registry`` and ``auth`` schemas and nothing else."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.api.models import Base
from shared.auth import AuthBase

OWNED_SCHEMAS = ("registry", "auth")
target_metadata = [Base.metadata, AuthBase.metadata]


def _include(name: str | None, type_: str, *_: object) -> bool:
    return type_ != "schema" or name in OWNED_SCHEMAS


def _run(connection: Connection) -> None:
    for schema in OWNED_SCHEMAS:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema="registry",
        include_schemas=True,
        include_name=_include,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url"))
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `ioc migrate`")
asyncio.run(_main())
