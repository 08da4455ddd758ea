"""Database engine and session helpers shared by every service (SQLAlchemy 2, async, asyncpg).

The session dependency only opens and closes: each use case commits in its service function
before returning, so a failed commit can never follow a success response.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, cast

import asyncpg
from sqlalchemy import Column, ColumnElement, MetaData, Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from shared.settings import CommonSettings

# Explicit constraint names, so migrations name the same things the models do.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """The metadata of a service's declarative base: its tables live in ``schema`` (one schema per
    service), their constraints named by the convention above."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def server_settings(settings: CommonSettings) -> dict[str, str]:
    """Session settings of every service connection. JIT off: our statements are short, and on a
    misestimated one (the adoption fold's) compiling costs more than it saves (``docs/performance.md``,
    "Shared")."""
    return {"statement_timeout": str(settings.db_statement_timeout_ms), "application_name": "ioc", "jit": "off"}


# What the services' hand-written statements run on: a connection of their own or one a pool lends.
Connection: TypeAlias = "asyncpg.Connection | asyncpg.pool.PoolConnectionProxy"


def table(model: type[DeclarativeBase]) -> Table:
    """A mapped class's table, for the few statements written by hand (names and columns from the
    model, never typed again)."""
    return cast(Table, model.__table__)


def column_names(columns: Iterable[ColumnElement[Any]]) -> str:
    """``a, b, c``: a column list for a statement written by hand."""
    return ", ".join(cast(Column[Any], column).name for column in columns)


def create_engine(settings: CommonSettings, url: str | None = None, **overrides: Any) -> AsyncEngine:
    """An engine that fails fast when PostgreSQL is away instead of hanging requests."""
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
        "pool_pre_ping": False,  # a dead connection is detected on use and the pool is invalidated
        "connect_args": {
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_statement_timeout_ms / 1000 + 5,
            "server_settings": server_settings(settings),
        },
    }
    options.update(overrides)
    return create_async_engine(url or settings.database_url, **options)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL, for asyncpg.connect (LISTEN, COPY)."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


# Failures that mean "the database cannot be reached right now", not "this request is wrong".
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DBAPIError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    ConnectionError,
    socket.gaierror,
    asyncio.TimeoutError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """True for connection loss, refused connections, pool or statement timeouts, server shutdown."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        if isinstance(
            current,
            asyncpg.PostgresConnectionError
            | asyncpg.InterfaceError
            | asyncpg.CannotConnectNowError
            | asyncpg.TooManyConnectionsError
            | asyncpg.QueryCanceledError
            | asyncpg.AdminShutdownError
            | ConnectionError
            | TimeoutError
            | socket.gaierror,
        ):
            return True
        # asyncio reports "connect call failed" for several addresses as a bare OSError.
        if isinstance(current, OSError) and not isinstance(current, FileNotFoundError | PermissionError):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def violated_constraint(exc: sa_exc.IntegrityError) -> str | None:
    """The name of the constraint or unique index an IntegrityError broke (asyncpg reports it)."""
    current: BaseException | None = exc.orig
    while current is not None:
        name = getattr(current, "constraint_name", None)
        if isinstance(name, str) and name:
            return name
        current = current.__cause__
    return None


async def ensure_database(sqlalchemy_url: str) -> bool:
    """Create the URL's database if it does not exist (via the server's ``postgres`` database).
    Returns True when it was created."""
    dsn = asyncpg_dsn(sqlalchemy_url)
    base, _, name = dsn.rpartition("/")
    name = name.split("?", 1)[0]
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


@asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under a pooled SQLAlchemy connection, for hot paths that skip the ORM.
    A connection that failed is invalidated, so the pool does not hand it out again."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        try:
            assert raw.driver_connection is not None, "a pooled connection is open"
            yield raw.driver_connection
        except BaseException as exc:
            if is_database_unavailable(exc):
                await conn.invalidate()
            raise


async def create_pg_pool(settings: CommonSettings, *, max_size: int | None = None) -> asyncpg.Pool:
    """An asyncpg pool beside the engine's, for the few hot paths that skip the ORM. Created lazily
    (min_size=0) so that an app starts even while PostgreSQL is down, and answers 503 meanwhile."""
    return await asyncpg.create_pool(
        asyncpg_dsn(settings.database_url),
        min_size=0,
        max_size=max_size or settings.db_pool_size,
        timeout=settings.db_connect_timeout_seconds,
        command_timeout=settings.db_statement_timeout_ms / 1000 + 5,
        server_settings=server_settings(settings),
        reset=_end_transaction,
    )


async def _end_transaction(conn: asyncpg.Connection) -> None:
    """On release: only what our hot paths could leave behind (they set no session state, take no
    advisory locks and LISTEN elsewhere), instead of asyncpg's RESET ALL round trip every time."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
