"""Import units from CSV: the GSO list as the statistics office publishes it, or the project's own format.

GSO format: ``ward_code, ward_name, ward_type[, district_code, …]`` (as in the reference list of
Quảng Ninh); wards become ``ward``, communes ``commune``, townships ``town``, their parent the
district code. Own format: ``code, name, kind, parent_code, email, phone, staff_headcount``.
Re-importing the same file changes nothing; a changed row updates its unit (and is audited).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.units import service
from services.api.units.schemas import UnitCreate, UnitPatch
from shared.problems import AppError

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


def _rows(path: Path) -> list[dict[str, str | None]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if {"ward_code", "ward_name", "ward_type"} <= columns:
            return [
                {
                    "code": r["ward_code"],
                    "name": r["ward_name"],
                    "kind": GSO_KINDS.get(r["ward_type"].strip(), ""),
                    "parent_code": r.get("district_code") or None,
                }
                for r in reader
            ]
        if {"code", "name", "kind"} <= columns:
            rows = [{k: (v.strip() if v and v.strip() else None) for k, v in r.items()} for r in reader]
            for row in rows:
                headcount = row.get("staff_headcount")
                if headcount is not None and headcount.isdigit():
                    row["staff_headcount"] = int(headcount)  # type: ignore[assignment]
            return rows
    raise ValueError(
        f"{path.name}: expected GSO columns (ward_code, ward_name, ward_type) "
        "or code, name, kind[, parent_code, email, phone, staff_headcount]"
    )


async def import_units(session: AsyncSession, path: Path, *, by: str) -> ImportReport:
    report = ImportReport()
    rows = _rows(path)
    # Parents first, so that a file listing a city after its wards still imports in one pass.
    by_code = {r["code"]: r for r in rows}

    def depth(row: dict[str, str | None], seen: frozenset[str | None] = frozenset()) -> int:
        parent = row.get("parent_code")
        return 0 if parent not in by_code or parent in seen else 1 + depth(by_code[parent], seen | {parent})

    rows.sort(key=depth)
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
