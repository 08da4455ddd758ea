"""Alembic plumbing every service shares: each service migrates only the schemas it owns, keeps its
own version table inside its own schema, and names its revision files by date."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    return config


def upgrade(script_location: Path, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, database_url), revision)


def run_migrations(owned_schemas: Sequence[str], metadata: Sequence[MetaData]) -> None:
    """The body of a service's ``env.py``: online migrations over asyncpg, owned schemas only."""
    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported")

    def include(name: str | None, type_: str, *_: object) -> bool:
        return type_ != "schema" or name in owned_schemas

    def run(connection: Connection) -> None:
        for schema in owned_schemas:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=list(metadata),
            version_table_schema=owned_schemas[0],
            include_schemas=True,
            include_name=include,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        url = context.config.get_main_option("sqlalchemy.url")
        assert url is not None, "alembic_config sets it"
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(main())
