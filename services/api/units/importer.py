"""Import units from CSV: the GSO list as the statistics office publishes it, or the project's own format.

GSO format: ``ward_code, ward_name, ward_type[, district_code, …]`` (as in the reference list of
Quảng Ninh); wards become ``ward``, communes ``commune``, townships ``town``, their parent the
district code. Own format: ``code, name, kind, parent_code, email, phone, staff_headcount``.
Re-importing the same file changes nothing; a changed row updates its unit (and is audited).
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.api.audit import service as audit
from services.api.units import service
from services.api.units.schemas import UnitCreate, UnitPatch
from shared.problems import (
    AppError,
    FieldError,
    InvalidFields,
    describe,
    field_errors_from_pydantic,
    render_field_errors,
)

GSO_KINDS = {"Phường": "ward", "Xã": "commune", "Thị trấn": "town", "Đặc khu": "town"}


@dataclass(frozen=True)
class RowError:
    line: int  # in the file, counting the header as line 1
    code: str | None
    error: ValidationError | AppError


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


# A directory is small (Vietnam has about 3,300 wards and communes): a far larger file is the wrong
# file, refused before it is read, so that an import never fills the memory or runs for hours.
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000


def _rows(path: Path) -> list[dict[str, Any]]:
    if (size := path.stat().st_size) > MAX_FILE_BYTES:
        raise ValueError(f"{path.name}: {size:,} bytes; a unit file may have at most {MAX_FILE_BYTES:,}")
    return parse(path.read_text(encoding="utf-8-sig"), path.name)


def parse(content: str, name: str = "CSV") -> list[dict[str, Any]]:
    """The rows of a unit file (either format) as UnitCreate's fields; ValueError if it is neither."""
    try:
        reader = csv.DictReader(io.StringIO(content.removeprefix("\ufeff"), newline=""))
        columns = set(reader.fieldnames or ())
        read = list(itertools.islice(reader, MAX_ROWS + 1))
    except csv.Error as exc:  # a field over the csv module's limit (128 KiB), say
        raise ValueError(f"{name}: not a CSV file ({exc})") from None
    if len(read) > MAX_ROWS:
        raise ValueError(f"{name}: more than {MAX_ROWS:,} rows; a unit file may have at most that many")
    if {"ward_code", "ward_name", "ward_type"} <= columns:
        return [
            {
                "code": r["ward_code"],
                "name": r["ward_name"],
                "kind": GSO_KINDS.get((r["ward_type"] or "").strip(), ""),
                "parent_code": r.get("district_code") or None,
            }
            for r in read
        ]
    if {"code", "name", "kind"} <= columns:
        rows: list[dict[str, Any]] = [
            {k: (v.strip() if isinstance(v, str) and v.strip() else None) for k, v in r.items() if k is not None}
            for r in read
        ]
        for row in rows:
            headcount = row.get("staff_headcount")
            if headcount is not None and headcount.isdigit():
                row["staff_headcount"] = int(headcount)
        return rows
    raise ValueError(
        f"{name}: expected GSO columns (ward_code, ward_name, ward_type) "
        "or code, name, kind[, parent_code, email, phone, staff_headcount]"
    )


def _depths(rows: list[dict[str, str | None]]) -> dict[str | None, int]:
    """Each code's number of ancestors within the file, found by walking up (no recursion: a chain of
    thousands of parents is as easy as one); in a cycle of parents the walk's last unit counts as a top."""
    by_code = {r["code"]: r for r in rows}
    depths: dict[str | None, int] = {}
    for row in rows:
        path: list[str | None] = []
        code = row["code"]
        while code in by_code and code not in depths and code not in path:
            path.append(code)
            code = by_code[code].get("parent_code")
        depth = depths[code] + 1 if code in depths else 0
        for walked in reversed(path):
            depths[walked] = depth
            depth += 1
    return depths


async def import_units(session: AsyncSession, path: Path, *, by: str) -> ImportReport:
    """Import a file: each good row is stored, each bad one reported."""
    return await import_rows(session, _rows(path), by=by)


async def import_rows(session: AsyncSession, rows: list[dict[str, Any]], *, by: str) -> ImportReport:
    report = ImportReport()
    # Parents first, so that a file listing a city after its wards still imports in one pass.
    depths = _depths(rows)
    rows.sort(key=lambda row: depths.get(row["code"], 0))
    for line, row in enumerate(rows, start=2):
        try:
            data = UnitCreate.model_validate(
                {k: v for k, v in row.items() if v is not None and k in UnitCreate.model_fields}
            )
            existing = await service.find_unit(session, data.code)
            if existing is None:
                await service.create_unit(session, data, by=by)
                report.created += 1
                continue
            patch = UnitPatch.model_validate(data.model_dump(exclude={"code", "active"}, exclude_unset=True))
            before = existing.updated_at
            updated = await service.update_unit(session, data.code, patch, by=by)
            if updated.updated_at != before:
                report.updated += 1
            else:
                report.unchanged += 1
        except (ValidationError, AppError) as exc:
            await session.rollback()
            report.errors.append(RowError(line, row.get("code"), exc))
    return report


async def import_csv(engine: AsyncEngine, content: bytes, *, by: str, login: str | None, english: bool) -> ImportReport:
    """Import a CSV sent over HTTP, all or nothing: any bad line and no unit changes (422 naming each
    bad line). The rows' own transactions are savepoints of one transaction, committed at the end."""
    try:
        rows = parse(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidFields(
            FieldError("body", "csv_unreadable", max_rows=f"{MAX_ROWS:,}"), detail_key="units-import-unreadable"
        ) from None
    async with engine.connect() as connection:
        await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
        )
        try:
            report = await import_rows(session, rows, by=by)
            if report.errors:
                await connection.rollback()
                raise _bad_lines(report.errors, english)
            audit.record(
                session,
                "units_imported",
                login=login,
                by=by,
                created=report.created,
                updated=report.updated,
                unchanged=report.unchanged,
            )
            await session.commit()
            await connection.commit()
        finally:
            await session.close()
    return report


def _bad_lines(errors: list[RowError], english: bool) -> InvalidFields:
    shown = errors[:MAX_LINES_SHOWN]
    error = InvalidFields(
        *[
            FieldError(
                "body", "csv_line_invalid", line=e.line, code=e.code or "-", problem=describe(e.error, english=english)
            )
            for e in shown
        ],
        detail_key="units-import-invalid",
        count=len(errors),
    )
    error.extensions["lines"] = [
        {"line": e.line, "unit_code": e.code, "errors": render_field_errors(_field_errors(e.error), english)}
        for e in shown
    ]
    return error


def _field_errors(error: ValidationError | AppError) -> list[FieldError]:
    if isinstance(error, ValidationError):
        return field_errors_from_pydantic(error.errors())
    return error.errors or [FieldError("body", "value_error")]


# A 422 names at most this many bad lines (its `detail` says how many there are).
MAX_LINES_SHOWN = 1000
